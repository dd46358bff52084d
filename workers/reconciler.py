"""Accepted means finished: the reconciler puts stranded jobs back on the queue.

The job record is the source of truth, the broker only carries job ids; this module makes
the two agree again when a process dies at the wrong moment (issue 10):

* **Lost message.**  kombu's blocking pop removes a message from the queue list and only then
  records it as unacknowledged; a process killed in between takes the message with it.  The
  job stays ``queued`` for ever.  -> the job is *republished* (a new message).
* **Dead runner.**  A job whose whole worker tree was killed stays ``running`` with its
  message in kombu's unacked hash until the visibility timeout (615 s by default).  The
  process running a job holds its lease (``P job:<id>:lease``, set by ``begin``, renewed
  every beat by ``JobLease``, ended by ``finish``); without a lease nobody runs it.  -> its
  message is *restored* to the queue.  A message fetched but never begun is restored the
  same way; either only once it has been held four leases (``HELD_LEASES``): a redelivered
  message may wait seconds for a pool process to start and begin it.

A pass (``reconcile``) reads the queue's jobs not yet terminal (``P active:<queue>``)
that are older than a lease, the job queue's lists and the unacked hash; a job in none of
them, or held in unacked with no lease, is a *suspect*.  It is acted on only when a later
pass finds it again in the same state (status and attempts unchanged), so a job between
two steps (just submitted, just popped, just restored) is never touched.  Every worker
process offers to run a pass every beat (``settings.worker_heartbeat_seconds``); a Redis lock
lets one of them do it, cluster-wide.

Bound: a stranded job is back on the queue two passes after its lease ran out (3 beats after
its process died) and its message had been held four leases: 25 s after the death of a job
that had run a minute, 70 s at most, with the default 5 s beat, against the 615 s visibility
timeout.

Never finished twice: restoring or republishing can at worst make a job run twice; the job
store's ``finish`` ends a job once (an atomic check of the status), so the second run's
answer is discarded, and ``begin`` refuses deliveries past ``job_max_attempts``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid

from workers import heartbeats, keys, metrics
from workers.jobs import JobStore
from workers.record import TERMINAL_STATUSES, is_job_id

log = logging.getLogger("pxl.reconciler")

# Put one unacknowledged message back on its queue list, unless it changed meanwhile (kombu
# acknowledged or restored it).  KEYS: unacked hash, unacked index, queue list.
_RESTORE_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
"""

_BATCH = 500  # active jobs read per round trip
HELD_LEASES = 4  # a fetched message is left to its holder for this many leases


def _message_job_id(message: dict) -> str | None:
    job_id = (message.get("headers") or {}).get("id")
    return job_id if isinstance(job_id, str) and is_job_id(job_id) else None


def _queued_ids(store: JobStore) -> set[str]:
    """Ids of the jobs whose messages wait in the job queue's lists."""
    settings = store.settings
    found: set[str] = set()
    for list_key in keys.broker_queue_keys(settings, settings.queue_name):
        for raw in store.r.lrange(list_key, 0, -1):
            try:
                job_id = _message_job_id(json.loads(raw))
            except (ValueError, AttributeError, TypeError):
                continue
            if job_id:
                found.add(job_id)
    return found


def _unacked(store: JobStore) -> dict[str, tuple[str, str, str, float]]:
    """job id -> (delivery tag, the unacked entry, its message, delivered at) for the job
    queue's unacknowledged messages."""
    settings = store.settings
    index = dict(store.r.zrange(keys.broker_unacked_index_key(settings), 0, -1, withscores=True))
    held = {}
    for tag, raw in store.r.hgetall(keys.broker_unacked_key(settings)).items():
        try:
            message, _exchange, routing_key = json.loads(raw)
            job_id = _message_job_id(message)
        except (ValueError, AttributeError, TypeError):
            continue
        if job_id and routing_key == settings.queue_name:
            held[job_id] = (tag, raw, json.dumps(message), index.get(tag, 0.0))
    return held


def reconcile(store: JobStore, now: float | None = None) -> dict[str, list[str]]:
    """One pass (call it under the lock, see ``run_pass``): returns the job ids acted on,
    by action (``restored``, ``republished``)."""
    settings = store.settings
    now = time.time() if now is None else now
    lease = heartbeats.lease_seconds(settings)
    r = store.r
    active_key = keys.active_key(store.prefix, settings.queue_name)
    suspects_key = keys.reconciler_suspects_key(store.prefix, settings.queue_name)
    candidates = r.zrangebyscore(active_key, "-inf", now - lease)
    acted: dict[str, list[str]] = {"restored": [], "republished": []}
    previous = r.hgetall(suspects_key)
    suspects: dict[str, str] = {}
    if candidates:
        queued, held = _queued_ids(store), _unacked(store)
        for start in range(0, len(candidates), _BATCH):
            batch = candidates[start:start + _BATCH]
            with r.pipeline(transaction=False) as pipe:
                for job_id in batch:
                    pipe.hmget(store.job_key(job_id), "status", "attempts")
                    pipe.exists(store.lease_key(job_id))
                replies = pipe.execute()
            for i, job_id in enumerate(batch):
                (status, attempts), leased = replies[2 * i], replies[2 * i + 1]
                if status is None or json.loads(status) in TERMINAL_STATUSES:
                    r.zrem(active_key, job_id)  # expired or ended: not active any more
                    continue
                if leased or job_id in queued:
                    continue  # a live process runs it, or it waits its turn
                entry = held.get(job_id)
                if entry is not None and now - entry[3] < HELD_LEASES * lease:
                    # fetched a short while ago: a redelivery may wait for a pool process to
                    # start (seconds on a loaded host) before one begins it
                    continue
                state = f"{status}:{attempts}:{'held' if entry else 'lost'}"
                if previous.get(job_id) != state:
                    suspects[job_id] = state  # act only if the next pass sees the same
                    continue
                if entry is not None:
                    tag, raw, message, _delivered = entry
                    restored = r.eval(
                        _RESTORE_LUA, 3, keys.broker_unacked_key(settings),
                        keys.broker_unacked_index_key(settings),
                        keys.broker_queue_keys(settings, settings.queue_name)[0],
                        tag, raw, message)
                    if restored:
                        acted["restored"].append(job_id)
                elif store.republish(job_id):
                    acted["republished"].append(job_id)
    with r.pipeline(transaction=True) as pipe:
        pipe.delete(suspects_key)
        if suspects:
            pipe.hset(suspects_key, mapping=suspects)
        pipe.execute()
    for action, job_ids in acted.items():
        for job_id in job_ids:
            metrics.job_reconciled(action)
            log.warning("reconciler: job %s was stranded (%s); %s it", job_id,
                        "its process died" if action == "restored" else "its message was lost",
                        action)
    return acted


def run_pass(store: JobStore) -> dict[str, list[str]] | None:
    """A pass if this process gets the cluster-wide lock for this beat, else None."""
    beat = store.settings.worker_heartbeat_seconds
    lock = keys.reconciler_lock_key(store.prefix, store.settings.queue_name)
    # The lock lasts a little under a beat: one pass per beat, whoever offers first.
    if not store.r.set(lock, uuid.uuid4().hex, nx=True, px=max(100, int(beat * 900))):
        return None
    return reconcile(store)


class JobLease:
    """Renews the lease on the job this process runs, every beat (``begin`` took it;
    ``finish`` ends it).  ``with JobLease(store, job_id): ...``

    One daemon thread per process renews every job held (``_LeaseRenewer``): a thread
    started and stopped for each job cost about a tenth of a small job's worker CPU."""

    def __init__(self, store: JobStore, job_id: str):
        self.store = store
        self.job_id = job_id
        self._hold: object | None = None

    def __enter__(self) -> JobLease:
        self._hold = _renewer(self.store).hold(self.job_id)
        return self

    def __exit__(self, *exc) -> None:
        _renewer(self.store).release(self.job_id, self._hold)


class _LeaseRenewer:
    """The thread renewing, every beat, the leases of the jobs its process holds."""

    def __init__(self, store: JobStore):
        self.store = store
        # job id -> its latest hold: a renewal that answers "not ours" releases only the hold
        # it was made for, not a later run of the same job begun here meanwhile (a retry)
        self._held: dict[str, object] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pxl-job-lease", daemon=True)
        self._thread.start()

    def hold(self, job_id: str) -> object:
        hold = object()
        with self._lock:
            self._held[job_id] = hold
        return hold

    def release(self, job_id: str, hold: object) -> None:
        with self._lock:
            if self._held.get(job_id) is hold:
                del self._held[job_id]

    def _run(self) -> None:
        beat = self.store.settings.worker_heartbeat_seconds
        while True:
            time.sleep(beat)
            with self._lock:
                held = list(self._held.items())
            for job_id, hold in held:
                try:
                    if not self.store.renew_lease(job_id):
                        self.release(job_id, hold)  # not ours any more: stop renewing it
                except Exception:  # noqa: BLE001 - Redis trouble: the next beat tries again
                    log.warning("could not renew the lease of job %s", job_id, exc_info=True)


_renewers: dict[tuple[int, int], _LeaseRenewer] = {}
_renewers_lock = threading.Lock()


def _renewer(store: JobStore) -> _LeaseRenewer:
    """The process's renewer for ``store`` (a forked child starts its own thread)."""
    key = (os.getpid(), id(store))
    renewer = _renewers.get(key)
    if renewer is None:
        with _renewers_lock:
            renewer = _renewers.get(key)
            if renewer is None:
                renewer = _renewers[key] = _LeaseRenewer(store)
    return renewer
