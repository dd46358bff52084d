"""The job store: job records in Redis, the single source of truth for every kind of work.

A job is its record (workers.record: a hash of JSON fields), its event stream
(workers.events), an entry in its owner's index (a sorted set ordered by id) and, when the
submission carried one, an idempotency entry (workers.idempotency); workers.keys names them
all.  The queue only carries the job id (no result backend), so an unknown id is simply
absent here (the API's 404).  The store hands jobs to the queue through the callables it is
given (workers.celery_app.job_store): it imports nothing of Celery.

Every status change is atomic on the job hash (a Lua script, or a WATCH/MULTI transaction
for the rare cases), so a job leaves a non-terminal status exactly once and gets exactly one
final event however often its message is delivered.

Longer than 400 lines on purpose: it is one class holding every status transition of a job
(submit, begin, progress, finish, cancel, the callback's state), so the exactly-once rules
can be checked in one reading; everything else it used to hold has moved below it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from workers import cache, events, heartbeats, idempotency, keys, metrics
from workers.limits import RATE_LIMIT_LUA
from workers.record import (
    BATCH,
    CANCEL,
    DOCUMENT_FIELDS,
    KINDS,
    PREVIEW,
    QUEUE_WAIT_S,
    RUNNER,
    STARTED_TS,
    SUBMITTED_TS,
    SUMMARY_FIELDS,
    TERMINAL_STATUSES,
    VERDICT,
    JobStatus,
    StoredDocument,
    bounded_result_json,
    decode,
    decode_summary,
    dumps,
    formula_preview,
    id_floor,
    is_job_id,
    new_job_id,
    rfc3339,
)
from workers.settings import Settings

# The owner's status index (workers.keys.owner_status_key, built here from the prefix and the
# owner's JSON): the job leaves the live statuses' sets and joins ``to``'s.
_MOVE_STATUS_LUA = """
local function move_status(prefix, owner_json, job_id, to, ttl)
  local base = prefix .. 'owner:' .. cjson.decode(owner_json) .. ':status:'
  redis.call('ZREM', base .. 'queued', job_id)
  redis.call('ZREM', base .. 'running', job_id)
  redis.call('ZADD', base .. to, 0, job_id)
  redis.call('EXPIRE', base .. to, ttl)
end
"""

# The end of a job of a batch with a callback counts the batch down (workers.keys
# .batch_pending_key, built here from the prefix) in the same atomic write that ends the job;
# the one write that brings it to 0 answers the batch's id: exactly one caller queues the
# batch's webhook however many jobs end at the same moment.  A countdown that expired with
# its batch stays gone (a DECR would make it anew, without a TTL, for ever).
_BATCH_COUNTDOWN_LUA = """
local function batch_countdown(prefix, job_key)
  local batch = redis.call('HGET', job_key, '__BATCH__')
  if not batch or batch == '' then return '' end
  local countdown = prefix .. 'batch:' .. batch .. ':pending'
  if redis.call('EXISTS', countdown) == 0 then return '' end
  if redis.call('DECR', countdown) == 0 then return batch end
  return ''
end
""".replace("__BATCH__", BATCH)
# the same as one script, queued in finish paths that are WATCH transactions
_BATCH_COUNTDOWN_EVAL = _BATCH_COUNTDOWN_LUA + "return batch_countdown(ARGV[1], KEYS[1])"

# finish(): a job leaves a non-terminal status once, with exactly one final event, and
# leaves the active set; its lease ends; its batch is counted down.  Returns {document, the
# batch id when this was the batch's last job or '', the stored webhook field (JSON, 'null'
# for none)}.  KEYS: job, events, metrics' 3, active, lease, the final list, and the result
# cache's entry to write (optional); ARGV[15]: the key prefix, ARGV[16]: the verdict (or
# ''), ARGV[17]: the result cache's counter to increment (or '').
_FINISH_LUA = _MOVE_STATUS_LUA + _BATCH_COUNTDOWN_LUA + """
local current = redis.call('HMGET', KEYS[1], 'id', 'status', 'owner')
if not current[1] then return false end
local s = current[2]
if s == '"succeeded"' or s == '"failed"' or s == '"cancelled"' then return false end
local fields = {'status', ARGV[1], 'finished_at', ARGV[2], 'result', ARGV[3], 'error', ARGV[4],
                '__VERDICT__', ARGV[16]}
if ARGV[5] ~= '' then table.insert(fields, 'progress'); table.insert(fields, ARGV[5]) end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZREM', KEYS[6], string.sub(current[1], 2, -2))  -- no longer active (its id)
redis.call('DEL', KEYS[7])  -- its lease
move_status(ARGV[15], current[3], string.sub(current[1], 2, -2), ARGV[8], ARGV[6])
local names = {__NAMES__}
local raw = redis.call('HMGET', KEYS[1], unpack(names))
local parts = {}
for i, name in ipairs(names) do parts[i] = '"' .. name .. '":' .. (raw[i] or 'null') end
local doc = '{' .. table.concat(parts, ',') .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[8], 'data', doc)
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('RPUSH', KEYS[8], '1')  -- what waits block on (workers.events)
redis.call('EXPIRE', KEYS[8], ARGV[6])
local completed_batch = batch_countdown(ARGV[15], KEYS[1])
local webhook = raw[__WEBHOOK__] or 'null'
__METRICS__
local job_id = string.sub(current[1], 2, -2)
__CACHE__
if ARGV[17] ~= '' then redis.pcall('HINCRBY', KEYS[3], ARGV[17], 1) end  -- the cache's count
return {doc, completed_batch, webhook}
""".replace("__WEBHOOK__", str(DOCUMENT_FIELDS.index("webhook") + 1)).replace("__NAMES__", ", ".join(f"'{name}'" for name in DOCUMENT_FIELDS)).replace(
    "__METRICS__", metrics.FINISHED_LUA).replace("__VERDICT__", VERDICT).replace(
    "__CACHE__", cache.FINISH_LUA)


# begin(), the common case: a queued (or redelivered running) job, not cancelled, with
# deliveries left, becomes running (and its runner takes the lease) in one round trip.
# Anything else answers {0} and begin() decides in a WATCH transaction.  Returns the record's
# fields.  KEYS: job, events, metrics' 2, lease; ARGV[10]: the lease's seconds, ARGV[11]: the
# key prefix.
_BEGIN_LUA = _MOVE_STATUS_LUA + """
local raw = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
if not h['id'] then return false end
local s = h['status']
local attempts = tonumber(h['attempts']) or 0
if s == '"succeeded"' or s == '"failed"' or s == '"cancelled"' or h['_cancel'] == '1'
   or attempts >= tonumber(ARGV[6]) then
  return {0}
end
attempts = attempts + 1
redis.call('HSET', KEYS[1], 'status', '"running"', 'started_at', ARGV[2],
           'attempts', tostring(attempts), '_started_ts', ARGV[1], '_runner', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[5], ARGV[3], 'EX', ARGV[10])  -- the lease of the running process
if s ~= '"running"' then
  move_status(ARGV[11], h['owner'], cjson.decode(h['id']), 'running', ARGV[4])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', 'started',
           'data', '{"status":"running","attempt":' .. attempts .. '}')
redis.call('EXPIRE', KEYS[2], ARGV[4])
local kind = string.lower(string.sub(string.gsub(h['kind'] or '"none"', '"', ''), 1, 40))
local queue_wait = tonumber(ARGV[1]) - (tonumber(h['_submitted_ts']) or tonumber(ARGV[1]))
__METRICS__
return raw
""".replace("__METRICS__", metrics.STARTED_LUA)


# submit(): the rate limit (optional: the API's charge of this request, workers.limits), the
# checks (the owner's live jobs, the queue's depth) and the job's writes in one round trip:
# record, owner index, active set, the owner's queued set, the "queued" event, the queue
# message, the submission counter and its batch's countdown.  KEYS: the owner's queued and
# running sets, record, owner index, active, events, counters, the message's list, the
# batch's countdown, the job's final list, the limiter's two keys, then the queue's lists
# whose lengths are its depth.  ARGV: check, write the record, write the rest ('1'/'0'),
# live limit, max depth, TTL, job id, now, id floor, events maxlen, event data, message (''
# none), counter field, in a batch ('1'/'0'), wake ('1': a refusal pushes onto the final
# list, so that a wait pipelined after this script ends at once), the limiter's 7 arguments
# (workers.limits.ARGS; all '': no limit), then the record's fields and values.
# Returns {'limited', 0} (refused by the rate limit: nothing written, nothing counted),
# {'live', n} or {'full', n} (refused), {'checked'} (checks only) or {'queued', the event's
# id}; with a limit, its 6 values follow (workers.limits).
_SUBMIT_LUA = RATE_LIMIT_LUA + """
local limit = nil
local function answer(reply)
  if reply[1] ~= 'queued' and reply[1] ~= 'checked' and ARGV[15] == '1' then
    redis.call('RPUSH', KEYS[10], 'refused')
    redis.call('PEXPIRE', KEYS[10], 60000)
  end
  if limit then
    for i = 1, 6 do reply[#reply + 1] = limit[i] end
  end
  return reply
end
if ARGV[17] ~= '' then  -- a quota: a limit to charge
  limit = rate_limit(KEYS[11], KEYS[12], unpack(ARGV, 16, 22))
  if limit[1] == 0 then return answer({'limited', 0}) end
end
if ARGV[1] == '1' then
  local live = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
  if live >= tonumber(ARGV[4]) then return answer({'live', live}) end
  local depth = 0
  for i = 13, #KEYS do depth = depth + redis.call('LLEN', KEYS[i]) end
  if depth >= tonumber(ARGV[5]) then return answer({'full', depth}) end
end
if ARGV[3] ~= '1' then return answer({'checked'}) end
local ttl, job_id = ARGV[6], ARGV[7]
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[3], unpack(ARGV, 23, #ARGV))
  redis.call('EXPIRE', KEYS[3], ttl)
end
redis.call('ZADD', KEYS[4], 0, job_id)
redis.call('ZREMRANGEBYLEX', KEYS[4], '-', '(' .. ARGV[9])
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], ARGV[8], job_id)
redis.call('ZADD', KEYS[1], 0, job_id)
redis.call('EXPIRE', KEYS[1], ttl)
local event = redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[10], '*',
                         'event', 'queued', 'data', ARGV[11])
redis.call('EXPIRE', KEYS[6], ttl)
if ARGV[14] == '1' then  -- counted up with its creation, so its end can never come first
  redis.call('INCR', KEYS[9])
end
if ARGV[12] ~= '' then redis.call('LPUSH', KEYS[8], ARGV[12]) end
redis.pcall('HINCRBY', KEYS[7], ARGV[13], 1)  -- a metric never breaks a job
return answer({'queued', event})
"""
_SUBMIT_LUA_BYTES = _SUBMIT_LUA.encode()  # sent with every EVAL (_submit_and_wait)
_NO_LIMIT = ["", "", "", "", "", "", ""]


class RateLimited(Exception):
    """The submission's rate-limit charge (``submit_async``'s ``rate_limit``) refused it:
    nothing was written."""


class _Submission:
    """One submission's document and the keys and arguments of its _SUBMIT_LUA calls."""

    def __init__(self, store: JobStore, kind: str, owner: str, params: dict,
                 callback_url: str | None, request_id: str | None, batch_id: str | None = None,
                 rate_limit=None):
        settings = store.settings
        now = time.time()
        self.job_id = job_id = new_job_id(now)
        self.kind, self.params = kind, params
        self.doc = {
            "id": job_id, "kind": kind, "owner": owner, "status": JobStatus.QUEUED.value,
            "progress": None, "submitted_at": rfc3339(now), "started_at": None,
            "finished_at": None, "attempts": 0, "params": params, "result": None,
            "error": None,
            "webhook": {"url": callback_url, "state": "pending", "attempts": []}
            if callback_url else None,
            "request_id": request_id,
        }
        self.fields = {name: dumps(self.doc[name]) for name in DOCUMENT_FIELDS}
        self.fields[SUBMITTED_TS] = repr(now)
        self.fields[PREVIEW] = dumps(formula_preview(params))
        if batch_id:
            self.fields[BATCH] = batch_id
        self.key = store.job_key(job_id)
        self.owner_key = store.owner_key(owner)
        self.final_key = keys.final_key(store.prefix, job_id)
        message_list, message = (store._job_message(job_id, params, request_id)
                                 if store._job_message is not None else ("", ""))
        self.rate_limit = rate_limit
        limit_keys, self._limit_args = (rate_limit.keys_and_args() if rate_limit is not None
                                        else ([self.key, self.key], _NO_LIMIT))
        self.keys = [
            keys.owner_status_key(store.prefix, owner, JobStatus.QUEUED),
            keys.owner_status_key(store.prefix, owner, JobStatus.RUNNING),
            self.key, self.owner_key, keys.active_key(store.prefix, settings.queue_name),
            store.events_key(job_id), store.prefix + metrics.COUNTERS_KEY,
            message_list or self.key,
            keys.batch_pending_key(store.prefix, batch_id) if batch_id else self.key,
            self.final_key, *limit_keys,
            *store._queue_lists,
        ]
        ttl = settings.job_ttl_seconds
        self._args = [
            settings.max_live_jobs_per_client, settings.max_queue_depth, ttl, job_id,
            repr(now), id_floor(now - ttl), settings.job_events_maxlen,
            dumps({"status": "queued"}), message, metrics.job_submitted_field(kind),
            "1" if batch_id else "0",
        ]

    def args(self, *, check: bool, record: bool, rest: bool, wake: bool = False,
             limit: bool = False) -> list:
        """``limit``: charge the rate limit given (the first of this submission's calls
        only); ``wake``: a refusal also ends a wait on the final list (submit_and_wait)."""
        fields = [item for pair in self.fields.items() for item in pair] if record else []
        return ["1" if check else "0", "1" if record else "0", "1" if rest else "0",
                *self._args, "1" if wake else "0",
                *(self._limit_args if limit and self.rate_limit is not None else _NO_LIMIT),
                *fields]


class _Wait:
    """The state of one ``wait_terminal``: where in the job's stream it is, until when."""

    def __init__(self, store: JobStore, job_id: str, timeout_s: float):
        self.job_id = job_id
        self.deadline = time.monotonic() + max(0.0, timeout_s)
        with store._lock:
            # after the "queued" event the submission just wrote: one round trip less
            self.after = store._queued_event_ids.pop(job_id, None) or "0"
        self.remaining = 0.0

    def block_ms(self) -> int:
        """How long the next read may block: slices are capped so that an expired job
        cannot hold the wait forever."""
        self.remaining = self.deadline - time.monotonic()
        block_ms = int(min(self.remaining, 5.0) * 1000) if self.remaining > 0 else 0
        return max(1, block_ms) if block_ms else 0

    def final(self, read: list[tuple[str, str, dict]]) -> dict | None:
        """The final document, if one of these events (the next ones read) carries it."""
        for event_id, name, data in read:
            self.after = event_id
            if name in TERMINAL_STATUSES and data.get("id") == self.job_id:
                return data
        return None

    def read_again(self, read: list) -> bool:
        """Events came but not the final one, and there is time left: read on without
        looking at the record."""
        return bool(read) and self.remaining > 0

    def ends_with(self, doc: dict | None) -> bool:
        """Whether the wait answers this record: gone, terminal, or the time is up."""
        return doc is None or doc["status"] in TERMINAL_STATUSES or self.remaining <= 0


class TooManyLiveJobs(Exception):
    """The client already has settings.max_live_jobs_per_client jobs queued or running (429):
    no client can fill the queue, or Redis, for the others."""

    def __init__(self, limit: int):
        super().__init__(f"at most {limit} queued or running jobs per client")
        self.limit = limit


class QueueFull(Exception):
    """Backpressure: more jobs are waiting than settings.max_queue_depth (HTTP 503)."""

    def __init__(self, depth: int, retry_after: int):
        super().__init__(f"queue is full ({depth} jobs waiting); retry in {retry_after} s")
        self.depth = depth
        self.retry_after = retry_after


_WAIT_SLICE_S = 5.0  # the longest one blocking read of a wait lasts (_Wait.block_ms)


def _free_connection(client) -> bool:
    """Whether ``client``'s pool hands out a connection now, without waiting."""
    can = getattr(client.connection_pool, "can_get_connection", None)
    return bool(can and can())


async def _submit_and_wait(client, sub: _Submission, args: list,
                           block_s: float) -> tuple[list, dict | None]:
    """The submission script, then the first slice of its wait, in one round trip on one of
    ``client``'s connections: EVAL (the script's source, so a Redis that lost its script
    cache still runs it), BLMOVE of the job's final list onto itself (as
    workers.events.read_events_when_final; a refusal fills that list, so the BLMOVE ends at
    once) and XREVRANGE of the job's last event, which is the final one once the list has
    its element.  Redis runs one connection's commands in order.  (the script's reply, the
    final document or None).

    No retry: a script that ran must never run again (redis-py's retries would send the
    whole round trip again).  Its reply is read first: an error there raises (the
    connection is dropped, and Redis ends the BLMOVE queued behind it); once it has come,
    trouble with the wait's replies only ends the wait (the job exists: answered as it is).
    """
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_packed_command(conn.pack_commands([
            ("EVAL", _SUBMIT_LUA_BYTES, len(sub.keys), *sub.keys, *args),
            ("BLMOVE", sub.final_key, sub.final_key, "LEFT", "LEFT", block_s),
            ("XREVRANGE", sub.keys[5], "+", "-", "COUNT", 1),
        ]))
        reply = await conn.read_response()
    except BaseException:
        await conn.disconnect()
        await pool.release(conn)
        raise
    final = None
    try:
        await conn.read_response()  # the BLMOVE: its element, or None after block_s
        last = await conn.read_response()
    except BaseException as exc:
        await conn.disconnect()
        await pool.release(conn)
        if not isinstance(exc, redis.RedisError | OSError):
            raise
        return reply, None
    await pool.release(conn)
    if reply[0] == "queued" and last:
        _event_id, pairs = last[0]
        fields = dict(zip(pairs[::2], pairs[1::2], strict=False))
        if fields.get("event") in TERMINAL_STATUSES:
            data = StoredDocument(fields.get("data", "{}"))
            if data.get("id") == sub.job_id:
                final = data
    return reply, final


def _run_script(client: redis.Redis, script, keys_: list, args: list):
    """``script(keys=..., args=...)`` for the worker's per-job scripts (begin, finish),
    without redis-py's machinery around every command (its retry wrapper, observability
    hooks, response callbacks): EVALSHA on a pooled connection, read, release.  A script
    Redis does not know (NOSCRIPT, so it did not run) goes through ``script()`` itself, which
    loads it.  Connection trouble raises, as through the worker's client (no retries): the
    script may have run before its reply was lost, and a second run would count a second
    attempt (``begin``) or find the job final and skip its webhook (``finish``)."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command("EVALSHA", script.sha, len(keys_), *keys_, *args)
        reply = conn.read_response()
    except redis.exceptions.NoScriptError:
        pool.release(conn)
        return script(keys=keys_, args=args)
    except BaseException:
        conn.disconnect()
        pool.release(conn)
        raise
    pool.release(conn)
    return reply


def redis_client_script(client: redis.Redis, source: str):
    """A registered script (EVALSHA, loading it when Redis does not know it yet)."""
    return client.register_script(source)


def _execute(pipe, job_commands: int) -> list:
    """Execute a pipeline whose first ``job_commands`` commands are the job's own and the rest
    metrics writes: errors of the former raise, of the latter are logged (metrics never
    break a job)."""
    results = pipe.execute(raise_on_error=False)
    for position, outcome in enumerate(results):
        if isinstance(outcome, redis.WatchError):
            raise outcome
        if isinstance(outcome, Exception):
            if position < job_commands:
                raise outcome
            metrics.log.warning("metrics not recorded: %s", outcome)
    return results


def _runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _no_queue(*_args):
    raise RuntimeError("this JobStore has no queue (workers.celery_app.job_store makes one)")


def _verdict(result: dict | None) -> str | None:
    return result.get("verdict") if isinstance(result, dict) else None


class JobStore:
    """Reads and writes job records.  Thread-safe; one per process is enough."""

    def __init__(self, redis_client: redis.Redis, settings: Settings, *,
                 enqueue: Callable[[str, dict], None] | None = None,
                 revoke: Callable[[str], None] | None = None,
                 queue_depth: Callable[[], int] | None = None,
                 schedule_webhook: Callable[[str, int, float], None] | None = None,
                 job_message: Callable[[str, dict, str | None], tuple[str, str]] | None = None,
                 queue_lists: list[str] | None = None,
                 blocking_client: redis.Redis | None = None):
        self.r = redis_client
        # blocking reads (waits, event streams) use their own connections when given
        self.blocking_r = blocking_client or redis_client
        self.settings = settings
        self.prefix = settings.key_prefix
        # The queue the store hands jobs to, through these seams: the store knows nothing of
        # Celery.  workers.celery_app.job_store passes the Celery ones; unit tests pass
        # others; a store given none (heartbeats, reading) refuses to submit.
        self._enqueue = enqueue or _no_queue
        self._revoke = revoke or _no_queue
        self._queue_depth = queue_depth or _no_queue
        self._schedule_webhook = schedule_webhook or _no_queue
        # (list key, payload) of a job's queue message, when the queue can take it as a plain
        # Redis push: submit() then writes it in the job's own transaction, else calls enqueue.
        self._job_message = job_message
        # The Redis lists holding the queue's waiting messages, when the queue has them: the
        # submission script counts them itself (else it asks queue_depth first).
        self._queue_lists = list(queue_lists or ())
        self._lock = threading.Lock()
        self._finish_script = redis_client_script(self.r, _FINISH_LUA)
        self._begin_script = redis_client_script(self.r, _BEGIN_LUA)
        self._submit_script = redis_client_script(self.r, _SUBMIT_LUA)
        self._async_scripts: dict[int, Any] = {}  # id(async client) -> its submit script
        self._queued_event_ids: dict[str, str] = {}  # job id -> its "queued" event (see submit)

    # --- keys (workers.keys, under this store's prefix) ------------------------------------

    def job_key(self, job_id: str) -> str:
        return keys.job_key(self.prefix, job_id)

    def events_key(self, job_id: str) -> str:
        return keys.events_key(self.prefix, job_id)

    def owner_key(self, owner: str) -> str:
        return keys.owner_key(self.prefix, owner)

    def lease_key(self, job_id: str) -> str:
        return keys.lease_key(self.prefix, job_id)

    def idempotency_key(self, owner: str, key: str) -> str:
        return keys.idempotency_key(self.prefix, owner, key)

    def worker_key(self, worker_id: str) -> str:
        return keys.worker_key(self.prefix, worker_id)

    # --- submission ----------------------------------------------------------------------

    def submit(self, *, kind: str, owner: str, params: dict, callback_url: str | None = None,
               idempotency_key: str | None = None, request_id: str | None = None,
               batch_id: str | None = None) -> tuple[dict, bool]:
        """Record and queue a job; (its document, True) or, for a replayed Idempotency-Key,
        (the earlier job, False).  ``batch_id``: the job counts toward that batch's countdown
        (workers.batches.open_countdown opened it)."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {', '.join(KINDS)}")
        ttl = self.settings.job_ttl_seconds
        fingerprint = idempotency.params_fingerprint(kind, params, callback_url)
        idem_key = self.idempotency_key(owner, idempotency_key) if idempotency_key else None
        if idem_key:
            existing = self._replay(idem_key, owner, fingerprint)
            if existing:
                return existing, False
        self._check_queue_depth(kind)
        sub = _Submission(self, kind, owner, params, callback_url, request_id, batch_id)
        job_id, key = sub.job_id, sub.key
        if idem_key:
            # The checks, the record, the claim of the key (which may lose a race), then the
            # checks again with the rest; without a key all of it is one round trip (below).
            self._submitted(sub, self._submit_script(
                keys=sub.keys, args=sub.args(check=True, record=False, rest=False)))
            with self.r.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=sub.fields)
                pipe.expire(key, ttl)
                pipe.execute()
            if not idempotency.claim(self.r, idem_key, job_id, fingerprint, ttl):
                # Lost a race with the same key: drop our unannounced record, answer theirs.
                self.r.delete(key)
                existing = self._replay(idem_key, owner, fingerprint)
                if existing:
                    return existing, False
                raise idempotency.IdempotencyConflict("(expired)")
            # The checks again, in the write's own round trip: submissions of the same client
            # that came in since the first check must not take it over its limits.
            reply = self._submit_script(
                keys=sub.keys, args=sub.args(check=True, record=False, rest=True))
            if reply[0] != "queued":  # refused: drop the unannounced record, free the key
                self.r.delete(key, idem_key)
        else:
            reply = self._submit_script(
                keys=sub.keys, args=sub.args(check=True, record=True, rest=True))
        self._submitted(sub, reply)
        try:
            if self._job_message is None:
                self._enqueue(job_id, params)
        except Exception:
            self._queued_event_ids.pop(job_id, None)
            # The broker refused: leave no job behind that no worker will ever see.
            with self.r.pipeline(transaction=True) as pipe:
                pipe.delete(key, self.events_key(job_id))
                pipe.zrem(sub.owner_key, job_id)
                pipe.zrem(keys.active_key(self.prefix, self.settings.queue_name), job_id)
                pipe.zrem(keys.owner_status_key(self.prefix, owner, JobStatus.QUEUED), job_id)
                if idem_key:
                    pipe.delete(idem_key)
                if batch_id:  # the batch's submission holds it above 0: no completion here
                    pipe.decr(keys.batch_pending_key(self.prefix, batch_id))
                job_commands = len(pipe.command_stack)
                # it was counted as submitted above, in the same round trip as the record
                metrics.write_job_submitted(pipe, self.settings, kind, -1)
                _execute(pipe, job_commands)
            raise
        if self.settings.redis_min_replica_acks:
            self._await_replicas(key)
        return sub.doc, True

    def can_submit_async(self, *, callback_url: str | None, idempotency_key: str | None) -> bool:
        """Whether ``submit_async`` takes this submission: one round trip, nothing blocking
        (no callback URL to resolve, no idempotency claim, a queue message the store writes
        itself, no replica acknowledgements to wait for); else ``submit``, in a thread."""
        return (callback_url is None and idempotency_key is None
                and self._job_message is not None and bool(self._queue_lists)
                and not self.settings.redis_min_replica_acks)

    async def submit_async(self, client, *, kind: str, owner: str, params: dict,
                           request_id: str | None = None, rate_limit=None, wait_client=None,
                           wait_s: float | None = None) -> tuple[dict, bool]:
        """``submit`` of a submission ``can_submit_async`` takes, on ``client`` (a
        redis.asyncio client of the same Redis, decoding responses): the same script, so
        the same checks and writes, without a thread.

        ``rate_limit``: the request's rate-limit charge (api.ratelimit.DeferredCharge:
        ``keys_and_args()``, then ``record(values)`` of workers.limits' reply), made first
        by the same script; RateLimited when it refuses (nothing written).

        ``wait_client``, ``wait_s``: a ``Prefer: wait`` follows (wait_terminal_async on
        ``wait_client``, redis.asyncio for blocking reads).  When that client has a
        connection free, the script and the first slice of the wait (up to 5 s) go in one
        round trip (``_submit_and_wait``), and the document answered is the final one if
        the job ended within it."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {', '.join(KINDS)}")
        sub = _Submission(self, kind, owner, params, None, request_id, rate_limit=rate_limit)
        try:
            return await self._submit_async(sub, client, wait_client, wait_s)
        except (redis.RedisError, OSError) as exc:
            # The script may have run and charged the request before its reply was lost:
            # the charge counts as tried, so the answer (a 503) is not charged again.
            if rate_limit is not None and not rate_limit.settled:
                rate_limit.unavailable = exc
            raise

    async def _submit_async(self, sub: _Submission, client, wait_client,
                            wait_s: float | None) -> tuple[dict, bool]:
        if wait_client is not None and wait_s and wait_s > 0 and _free_connection(wait_client):
            reply, final = await _submit_and_wait(
                wait_client, sub, sub.args(check=True, record=True, rest=True, wake=True,
                                           limit=True), min(float(wait_s), _WAIT_SLICE_S))
            self._submitted(sub, reply)
            if final is not None:
                with self._lock:
                    self._queued_event_ids.pop(sub.job_id, None)
                return final, True
            return sub.doc, True
        script = self._async_scripts.get(id(client))
        if script is None or script.registered_client is not client:
            script = self._async_scripts[id(client)] = client.register_script(_SUBMIT_LUA)
        reply = await script(keys=sub.keys,
                             args=sub.args(check=True, record=True, rest=True, limit=True))
        self._submitted(sub, reply)
        return sub.doc, True

    def _check_queue_depth(self, kind: str) -> None:
        """The depth check for a queue whose lists the store does not know (the script
        counts them otherwise)."""
        if not self._queue_lists:
            depth = self.queue_depth()
            if depth >= self.settings.max_queue_depth:
                metrics.backpressure_rejection(kind)
                raise QueueFull(depth, self.settings.queue_full_retry_after)

    def _submitted(self, sub: _Submission, reply: list) -> None:
        """Act on the submission script's reply: refusals raise, a queued job's event id is
        kept for a wait that follows."""
        outcome = reply[0]
        if sub.rate_limit is not None and len(reply) >= 7:  # the limit's values follow
            sub.rate_limit.record(reply[-6:])
        if outcome == "limited":
            raise RateLimited()
        if outcome == "live":
            raise TooManyLiveJobs(self.settings.max_live_jobs_per_client)
        if outcome == "full":
            metrics.backpressure_rejection(sub.kind)
            raise QueueFull(int(reply[1]), self.settings.queue_full_retry_after)
        if outcome == "queued":
            self._remember_event(sub.job_id, reply[1])

    def _await_replicas(self, key: str) -> None:
        """Answer only once enough replicas hold the job (PXL_REDIS_MIN_REPLICA_ACKS).

        WAIT covers the writes of its own connection; the broker's message went over
        another one before, so a write of ours after it (the record's TTL again) makes WAIT
        cover the message too: replication applies writes in order. Too few acknowledgements
        is a 503 (a Redis timeout): the client retries with its Idempotency-Key and finds the
        job if it survived, or makes it anew if a failover lost it.
        """
        wanted = self.settings.redis_min_replica_acks
        with self.r.pipeline(transaction=False) as pipe:
            pipe.expire(key, self.settings.job_ttl_seconds)
            pipe.wait(wanted, self.settings.redis_replica_ack_timeout_ms)
            acked = pipe.execute()[-1]
        if acked < wanted:
            raise redis.TimeoutError(
                f"the job reached {acked} of {wanted} Redis replicas in time; retry with the "
                "same Idempotency-Key"
            )

    def _remember_event(self, job_id: str, event_id: str) -> None:
        """The id of the "queued" event just written, so that a wait_terminal right after
        the submission (Prefer: wait) starts reading after it: one round trip less."""
        with self._lock:
            if len(self._queued_event_ids) >= 4096:  # submissions nobody waited for
                self._queued_event_ids.clear()
            self._queued_event_ids[job_id] = event_id

    def _replay(self, idem_key: str, owner: str, fingerprint: str) -> dict | None:
        job_id = idempotency.claimed_job(self.r, idem_key, fingerprint)
        return self.get(job_id, owner) if job_id else None

    # --- reading -------------------------------------------------------------------------

    def get(self, job_id: str, owner: str | None = None) -> dict | None:
        if not is_job_id(job_id):
            return None
        raw = self.r.hgetall(self.job_key(job_id))
        if not raw or "id" not in raw:
            return None
        doc = decode(raw)
        if owner is not None and doc["owner"] != owner:
            return None
        return doc

    def list(self, owner: str, *, status: str | None = None, kind: str | None = None,
             limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
        """Summaries (workers.record.SUMMARY_FIELDS, ``formula_preview``, ``verdict``,
        ``error_type``) of the owner's jobs, newest first.  A status filter reads the owner's
        index of that status, so it costs the same however many other jobs the owner has; a
        kind filter reads the summaries it skips (at most 5,000 per call).  ``cursor`` is the id of the last job of
        the previous page; the returned cursor is None on the last page."""
        if cursor is not None and not is_job_id(cursor):
            raise ValueError("invalid cursor")
        limit = max(1, min(int(limit), 500))
        index = (keys.owner_status_key(self.prefix, owner, status) if status
                 else self.owner_key(owner))
        upper = "(" + cursor if cursor else "+"
        page: list[dict] = []
        scanned = 0
        last_seen: str | None = None
        batch = limit + 1 if not kind else max(limit + 1, 50)
        while True:
            ids = self.r.zrevrangebylex(index, upper, "-", start=0, num=batch)
            if not ids:
                return page, None
            expired = []
            for job_id, summary in self.summaries(ids).items():
                scanned += 1
                if summary is None:
                    expired.append(job_id)
                    continue
                if status and summary["status"] != status:
                    continue  # moved on since this page's index read
                if kind and summary["kind"] != kind:
                    last_seen = job_id
                    continue
                if len(page) == limit:
                    # One more match exists beyond this page.
                    if expired:
                        self.r.zrem(index, *expired)
                    return page, page[-1]["id"]
                page.append(summary)
                last_seen = job_id
            if expired:
                self.r.zrem(index, *expired)
            if len(ids) < batch:
                return page, None
            upper = "(" + ids[-1]
            if scanned >= 5000 and last_seen:
                # A sparse kind filter: hand back a cursor rather than scanning without end.
                return page, (page[-1]["id"] if len(page) == limit else last_seen)

    def summaries(self, job_ids: list[str]) -> dict[str, dict | None]:
        """Each job's summary (as ``list`` gives them; None for a job that has expired), in
        the order of ``job_ids``, read in one pipeline."""
        with self.r.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(self.job_key(job_id), *SUMMARY_FIELDS, VERDICT, "error", PREVIEW)
            rows = pipe.execute()
        return {job_id: decode_summary(row) for job_id, row in zip(job_ids, rows, strict=True)}

    def read_events(self, job_id: str, after: str | None = None,
                    block_ms: int = 0) -> list[tuple[str, str, dict]]:
        """The job's events after ``after`` (see workers.events.read_events)."""
        client = self.blocking_r if block_ms else self.r
        return events.read_events(client, self.prefix, job_id, after, block_ms)

    def wait_terminal(self, job_id: str, timeout_s: float) -> dict | None:
        """The job's document once it is terminal, or the latest one after ``timeout_s``.

        Blocks on the job's event stream only: the final event carries the whole public
        document as it was written, so the hash is read only when the wait ends without one
        (timeout, or a job that expired or never existed)."""
        wait = _Wait(self, job_id, timeout_s)
        client = self.blocking_r
        while True:
            read = events.read_events_when_final(client, self.prefix, job_id, wait.after,
                                                 wait.block_ms())
            final = wait.final(read)
            if final is not None:
                return final
            if wait.read_again(read):
                continue
            doc = self.get(job_id)
            if wait.ends_with(doc):
                return doc

    async def wait_terminal_async(self, client, job_id: str, timeout_s: float) -> dict | None:
        """``wait_terminal`` on ``client`` (a redis.asyncio client of the same Redis for
        blocking reads, decoding responses, RESP2), without a thread."""
        wait = _Wait(self, job_id, timeout_s)
        while True:
            read = await events.read_events_when_final_async(
                client, self.prefix, job_id, wait.after, wait.block_ms())
            final = wait.final(read)
            if final is not None:
                return final
            if wait.read_again(read):
                continue
            raw = await client.hgetall(self.job_key(job_id)) if is_job_id(job_id) else None
            doc = decode(raw) if raw and "id" in raw else None
            if wait.ends_with(doc):
                return doc

    # --- cancellation --------------------------------------------------------------------

    def cancel(self, job_id: str, owner: str) -> dict | None:
        """Queued: cancelled now (and its message revoked).  Running: the cancel flag is set;
        the worker's should_stop sees it and the job ends cancelled.  Terminal: unchanged."""
        if not is_job_id(job_id):
            return None
        key = self.job_key(job_id)
        outcome: dict[str, Any] = {}

        def txn(pipe: redis.client.Pipeline) -> None:
            outcome.clear()
            raw = pipe.hgetall(key)
            if not raw or "id" not in raw:
                return
            doc = decode(raw)
            outcome["doc"] = doc
            if doc["owner"] != owner or doc["status"] in TERMINAL_STATUSES:
                return
            pipe.multi()
            pipe.hset(key, CANCEL, "1")
            if doc["status"] == JobStatus.QUEUED.value:
                outcome["doc"] = self._write_terminal(pipe, doc, raw, JobStatus.CANCELLED)
                outcome["ended"] = True

        results = self.r.transaction(txn, key)
        doc = outcome.get("doc")
        if doc is None or doc["owner"] != owner:
            return None
        if outcome.get("ended"):
            self._after_terminal(doc, run_s=0.0, results=results)
            self._revoke(job_id)
        return doc

    def runner_of(self, job_id: str) -> str | None:
        """host:pid of the process that ran (or runs) the job's latest delivery."""
        return self.r.hget(self.job_key(job_id), RUNNER)

    def republish(self, job_id: str) -> bool:
        """Hand a job that is not terminal to the queue again (its message was lost); False
        when it is gone or terminal.  begin() makes any extra delivery harmless."""
        raw = self.r.hmget(self.job_key(job_id), "status", "params")
        if raw[0] is None or json.loads(raw[0]) in TERMINAL_STATUSES:
            return False
        self._enqueue(job_id, json.loads(raw[1]))
        return True

    def renew_lease(self, job_id: str) -> bool:
        """Extend this process's lease on a running job; False once it is not ours."""
        lease = self.lease_key(job_id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.get(lease)
            pipe.expire(lease, heartbeats.lease_seconds(self.settings), xx=True)
            holder, _ = pipe.execute()
        return holder == _runner_id()

    def cancel_requested(self, job_id: str) -> bool:
        return self.r.hget(self.job_key(job_id), CANCEL) == "1"

    # --- the worker's side of the lifecycle ----------------------------------------------

    def begin(self, job_id: str) -> dict | None:
        """Mark a delivered job running (attempts + 1) and return its document (plus
        ``QUEUE_WAIT_S``: seconds from submission to this start), or None when the delivery
        must not run: the job is unknown/expired, already terminal, cancelled while queued,
        or has used up settings.job_max_attempts deliveries."""
        key = self.job_key(job_id)
        now = time.time()
        metric_keys, metric_args = metrics.started_script_args(self.settings, now)
        reply = _run_script(
            self.r, self._begin_script,
            [key, self.events_key(job_id), *metric_keys, self.lease_key(job_id)],
            [repr(now), dumps(rfc3339(now)), _runner_id(), self.settings.job_ttl_seconds,
             self.settings.job_events_maxlen, self.settings.job_max_attempts, *metric_args,
             heartbeats.lease_seconds(self.settings), self.prefix])
        if not reply:
            return None
        if len(reply) > 1:
            raw = dict(zip(reply[::2], reply[1::2], strict=True))
            doc = decode(raw)
            doc.update(status=JobStatus.RUNNING.value, started_at=rfc3339(now),
                       attempts=doc["attempts"] + 1)
            doc[QUEUE_WAIT_S] = now - float(raw.get(SUBMITTED_TS, now))
            metrics.started_recorded(doc["kind"])
            return doc
        return self._begin_otherwise(job_id)

    def _begin_otherwise(self, job_id: str) -> dict | None:
        """begin() for a job that is terminal, cancelled while queued or out of deliveries."""
        key = self.job_key(job_id)
        outcome: dict[str, Any] = {}

        def txn(pipe: redis.client.Pipeline) -> int | None:
            outcome.clear()
            raw = pipe.hgetall(key)
            if not raw or "id" not in raw:
                return
            doc = decode(raw)
            if doc["status"] in TERMINAL_STATUSES:
                outcome["skipped"] = doc
                outcome["batch"] = raw.get(BATCH)
                return
            pipe.multi()
            if raw.get(CANCEL) == "1":
                outcome["ended"] = self._write_terminal(pipe, doc, raw, JobStatus.CANCELLED)
                return len(pipe.command_stack)
            if doc["attempts"] >= self.settings.job_max_attempts:
                error = {"type": "too_many_attempts",
                         "detail": f"the job was delivered {doc['attempts']} times without "
                                   "finishing (its worker kept dying); giving up"}
                outcome["ended"] = self._write_terminal(
                    pipe, doc, raw, JobStatus.FAILED, error=error)
                return len(pipe.command_stack)
            now = time.time()
            doc.update(status=JobStatus.RUNNING.value, started_at=rfc3339(now),
                       attempts=doc["attempts"] + 1)
            pipe.hset(key, mapping={
                "status": dumps(doc["status"]), "started_at": dumps(doc["started_at"]),
                "attempts": dumps(doc["attempts"]), STARTED_TS: repr(now),
                RUNNER: _runner_id(),
            })
            pipe.expire(key, self.settings.job_ttl_seconds)
            pipe.set(self.lease_key(job_id), _runner_id(),
                     ex=heartbeats.lease_seconds(self.settings))
            self._move_status(pipe, doc, JobStatus.RUNNING)
            events.append_event(pipe, self.settings, job_id, "started",
                                {"status": "running", "attempt": doc["attempts"]})
            queue_wait_s = now - float(raw.get(SUBMITTED_TS, now))
            doc[QUEUE_WAIT_S] = queue_wait_s
            outcome["started"] = doc
            job_commands = len(pipe.command_stack)
            metrics.write_job_started(pipe, self.settings, doc["kind"], queue_wait_s)
            return job_commands

        results = self._transaction(key, txn)
        if "ended" in outcome:
            self._after_terminal(outcome["ended"], run_s=0.0, results=results)
            return None
        if "started" in outcome:
            return outcome["started"]
        if "skipped" in outcome:
            # the process that ended it may have died before queueing these
            self._ensure_webhook_scheduled(outcome["skipped"])
            if outcome["batch"]:
                self._ensure_batch_webhook_scheduled(outcome["batch"])
        return None

    def timings(self, job_id: str) -> tuple[float | None, float | None]:
        """(submitted, started) as epoch seconds."""
        sub, start = self.r.hmget(self.job_key(job_id), SUBMITTED_TS, STARTED_TS)
        return (float(sub) if sub else None, float(start) if start else None)

    def progress(self, job_id: str, fraction: float, note: str = "") -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        key = self.job_key(job_id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, "progress", dumps(fraction))
            pipe.expire(key, self.settings.job_ttl_seconds)
            events.append_event(pipe, self.settings, job_id, "progress",
                                {"progress": fraction, "note": note})
            pipe.execute()

    def finish(self, job_id: str, status: JobStatus | str, *, result: dict | None = None,
               error: dict | None = None, kind: str | None = None,
               cache_write: cache.CacheWrite | None = None,
               document: bool = True) -> dict | bool | None:
        """Make the job terminal.  Returns the final document if this call ended it, None when
        it was already terminal (a duplicate delivery) or is gone.  ``kind`` (the job's, for
        the metrics' labels) is read from the record when not given.  ``cache_write``: what
        the proof leaves for the result cache (workers.cache), written with the job.
        ``document=False``: True instead of the document (not decoded; the worker does not
        read it).

        One Lua script: the status check, the record, the final event (the whole document,
        assembled from the stored JSON fields), the metrics and the result cache's entry in
        one atomic round trip."""
        status = JobStatus(status)
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"{status.value} is not a terminal status")
        result, result_json = bounded_result_json(result)
        now = time.time()
        metric_keys, metric_args = metrics.finished_script_args(
            self.settings, kind or self._kind(job_id), status.value, _verdict(result))
        script_keys = [self.job_key(job_id), self.events_key(job_id), *metric_keys,
                       keys.active_key(self.prefix, self.settings.queue_name),
                       self.lease_key(job_id), keys.final_key(self.prefix, job_id)]
        if (cache_write is not None and cache_write.entry_key
                and status is JobStatus.SUCCEEDED and cache.cacheable(result)):
            script_keys.append(cache_write.entry_key)
        cache_count = (metrics.proof_cache_field(cache_write.outcome)
                       if cache_write is not None and cache_write.outcome else "")
        reply = _run_script(
            self.r, self._finish_script, script_keys,
            [dumps(status.value), dumps(rfc3339(now)), result_json, dumps(error),
             dumps(1.0) if status is JobStatus.SUCCEEDED else "",
             self.settings.job_ttl_seconds, self.settings.job_events_maxlen,
             status.value, repr(now), *metric_args, self.prefix, _verdict(result) or "",
             cache_count])
        if not reply:
            return None
        metrics.finished_recorded()
        # reply[2]: the stored webhook field ('null' for none): the document is decoded only
        # when it has a webhook to queue or the caller wants it
        doc = json.loads(reply[0]) if document or reply[2] != "null" else None
        if doc is not None:
            self._ensure_webhook_scheduled(doc)
        if reply[1]:
            self.schedule_webhook(reply[1], attempt=1, delay=0.0, subject="batch")
        return doc if document else True

    def _kind(self, job_id: str) -> str:
        raw = self.r.hget(self.job_key(job_id), "kind")
        return json.loads(raw) if raw else "none"

    def _transaction(self, key: str,
                     txn: Callable[[redis.client.Pipeline], int | None]) -> list | None:
        """WATCH ``key`` and run ``txn(pipe)``, which reads, calls ``pipe.multi()``, queues its
        writes and returns how many of the queued commands are the job's own (metrics writes
        may follow them: one round trip), or None when it writes nothing.  Retried when
        ``key`` changed meanwhile.  Errors of the job's commands raise; the metrics' are
        logged and ignored, as the metrics hooks never break a job.  The commands' results,
        or None when nothing was written."""
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    job_commands = txn(pipe)
                    if job_commands is None:
                        return None
                    return _execute(pipe, job_commands)
                except redis.WatchError:
                    continue

    def _write_terminal(self, pipe, doc: dict, raw: dict, status: JobStatus,
                        result: dict | None = None, error: dict | None = None) -> dict:
        now = time.time()
        doc.update(status=status.value, finished_at=rfc3339(now), result=result, error=error)
        if status is JobStatus.SUCCEEDED:
            doc["progress"] = 1.0
        doc["_end_to_end_s"] = now - float(raw.get(SUBMITTED_TS, now))
        key = self.job_key(doc["id"])
        pipe.hset(key, mapping={**{name: dumps(doc[name]) for name in
                                   ("status", "finished_at", "result", "error", "progress")},
                                VERDICT: _verdict(result) or ""})
        self._move_status(pipe, doc, status)
        pipe.expire(key, self.settings.job_ttl_seconds)
        pipe.zrem(keys.active_key(self.prefix, self.settings.queue_name), doc["id"])
        pipe.delete(self.lease_key(doc["id"]))
        public = {name: doc[name] for name in DOCUMENT_FIELDS}
        events.append_event(pipe, self.settings, doc["id"], status.value, public, final=True)
        if raw.get(BATCH):  # where in the transaction's results the countdown's answer is
            doc["_batch_countdown_at"] = len(pipe.command_stack)
            pipe.eval(_BATCH_COUNTDOWN_EVAL, 1, key, self.prefix)
        return doc

    def _move_status(self, pipe, doc: dict, to: JobStatus) -> None:
        """Queue the owner's status index update (what _MOVE_STATUS_LUA does in scripts)."""
        for live in (JobStatus.QUEUED, JobStatus.RUNNING):
            pipe.zrem(keys.owner_status_key(self.prefix, doc["owner"], live), doc["id"])
        target = keys.owner_status_key(self.prefix, doc["owner"], to)
        pipe.zadd(target, {doc["id"]: 0})
        pipe.expire(target, self.settings.job_ttl_seconds)

    def _after_terminal(self, doc: dict, run_s: float, results: list | None = None) -> None:
        """After a WATCH transaction ended the job (``results``: its commands' results)."""
        end_to_end = doc.pop("_end_to_end_s", 0.0)
        countdown_at = doc.pop("_batch_countdown_at", None)
        metrics.job_finished(doc["kind"], doc["status"], _verdict(doc["result"]), run_s,
                             end_to_end)
        self._ensure_webhook_scheduled(doc)
        if countdown_at is not None and results and results[countdown_at]:
            self.schedule_webhook(results[countdown_at], attempt=1, delay=0.0, subject="batch")

    def _ensure_webhook_scheduled(self, doc: dict) -> None:
        """Queue the first callback of a terminal job.  Called again when a redelivered task
        finds the job already terminal, so a worker dying between the final write and this
        call does not lose the callback; deliveries deduplicate by attempt number."""
        hook = doc.get("webhook")
        if hook and hook.get("state") == "pending" and not hook.get("attempts"):
            self.schedule_webhook(doc["id"], attempt=1, delay=0.0)

    def _ensure_batch_webhook_scheduled(self, batch_id: str) -> None:
        """Queue the first attempt of a batch's webhook if the batch is complete (its countdown
        is 0) and nothing was sent yet: the redelivery path of a batch's job, as above."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.get(keys.batch_pending_key(self.prefix, batch_id))
            pipe.hget(keys.webhook_log_key(self.prefix, "batch", batch_id), "webhook")
            pending, raw_hook = pipe.execute()
        hook = json.loads(raw_hook) if raw_hook else None
        if pending == "0" and hook and hook["state"] == "pending" and not hook["attempts"]:
            self.schedule_webhook(batch_id, attempt=1, delay=0.0, subject="batch")

    def schedule_webhook(self, subject_id: str, *, attempt: int, delay: float,
                         subject: str = "job") -> None:
        """Queue delivery attempt ``attempt`` of a webhook in ``delay`` seconds: a job's
        callback, a batch's (``subject="batch"``) or a ping (``"ping"``)."""
        self._schedule_webhook(subject_id, attempt, delay, subject)

    def update_webhook(self, subject_id: str, change: Callable[[dict], dict | None], *,
                       subject: str = "job") -> dict | None:
        """Apply ``change`` to a delivery log (a job's ``webhook``, or a batch's or ping's:
        workers.keys.webhook_log_key) atomically; returns the new state, or None when its
        subject is gone or ``change`` declined (returned None)."""
        key = keys.webhook_log_key(self.prefix, subject, subject_id)
        outcome: dict[str, Any] = {}

        def txn(pipe: redis.client.Pipeline) -> None:
            outcome.clear()
            raw = pipe.hget(key, "webhook")
            if raw is None or not pipe.exists(key):
                return
            hook = json.loads(raw)
            new = change(hook) if hook else None
            if new is None:
                return
            pipe.multi()
            pipe.hset(key, "webhook", dumps(new))
            outcome["hook"] = new

        self.r.transaction(txn, key)
        return outcome.get("hook")

    # --- liveness and queue (heartbeats and queue depth, as this store sees them) --------

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False

    def heartbeat(self, worker_id: str, info: dict) -> None:
        heartbeats.heartbeat(self.r, self.settings, worker_id, info)

    def worker_gone(self, worker_id: str) -> None:
        heartbeats.worker_gone(self.r, self.settings, worker_id)

    def workers_online(self) -> list[dict]:
        return heartbeats.workers_online(self.r, self.settings)

    def queue_depth(self) -> int:
        return self._queue_depth()
