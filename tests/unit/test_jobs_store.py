"""JobStore on the real test Redis (its Lua scripts and transactions as they run in production):
records, TTLs, events, idempotency, listing, cancel, exactly-once ends, and the exactly-once
completion of a batch (its countdown, moved in the same atomic write that ends a job)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
import redis

from tests.environment import delete_keys, redis_url
from workers import batches, events, keys, metrics
from workers.idempotency import IdempotencyConflict
from workers.jobs import JobStore, QueueFull
from workers.record import JobStatus, is_job_id, new_job_id
from workers.settings import Settings

PARAMS = {"formula": {"atom": "p"}, "formula_text": "p", "timeout": 5.0, "overlay": None}


class Celery:
    """Records what the store asks of Celery."""

    def __init__(self):
        self.enqueued: list[str] = []
        self.revoked: list[str] = []
        self.webhooks: list[tuple[str, int, float]] = []
        self.depth = 0

    def enqueue(self, job_id, params):
        self.enqueued.append(job_id)

    def revoke(self, job_id):
        self.revoked.append(job_id)

    def schedule(self, subject_id, attempt, delay, subject="job"):
        self.webhooks.append((subject_id, attempt, delay) if subject == "job"
                             else (subject_id, attempt, delay, subject))


@pytest.fixture
def prefix():
    """This test's key namespace on the shared test Redis."""
    return f"pxltest-store-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def redis_db(prefix):
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    metrics.bind_redis(client)
    yield client
    metrics.bind_redis(None)
    delete_keys(client, prefix)


@pytest.fixture
def celery():
    return Celery()


@pytest.fixture
def store(redis_db, celery, prefix):
    settings = Settings(
        _env_file=None, key_prefix=prefix, job_ttl_seconds=600, max_queue_depth=10, job_max_attempts=3
    )
    return JobStore(
        redis_db,
        settings,
        enqueue=celery.enqueue,
        revoke=celery.revoke,
        queue_depth=lambda: celery.depth,
        schedule_webhook=celery.schedule,
    )


def submit(store, owner="alice", **kw):
    return store.submit(kind="proof", owner=owner, params=kw.pop("params", PARAMS), **kw)


def names(store, job_id, after=None):
    return [name for _id, name, _data in store.read_events(job_id, after)]


def test_job_ids_are_time_ordered_ulids():
    first, second = new_job_id(1_000.0), new_job_id(1_000.002)
    assert is_job_id(first) and is_job_id(second)
    assert first < second
    assert not is_job_id("nope") and not is_job_id("0" * 25 + "U")


def test_submit_writes_record_with_ttl_event_index_and_enqueues(store, redis_db, celery):
    doc, created = submit(store, request_id="req-1")
    assert created
    assert doc["status"] == "queued" and doc["attempts"] == 0 and doc["kind"] == "proof"
    assert doc["webhook"] is None and doc["request_id"] == "req-1"
    assert celery.enqueued == [doc["id"]]
    assert store.get(doc["id"]) == doc
    assert 0 < redis_db.ttl(store.job_key(doc["id"])) <= 600
    assert 0 < redis_db.ttl(store.events_key(doc["id"])) <= 600
    assert 0 < redis_db.ttl(store.owner_key("alice")) <= 600
    assert names(store, doc["id"]) == ["queued"]


def test_get_hides_other_owners_and_unknown_ids(store):
    doc, _ = submit(store)
    assert store.get(doc["id"], "alice")["id"] == doc["id"]
    assert store.get(doc["id"], "bob") is None
    assert store.get(new_job_id()) is None
    assert store.get("../../etc") is None


def test_idempotency_same_body_same_job_other_body_conflict(store, celery):
    first, created = submit(store, idempotency_key="k1")
    again, created_again = submit(store, idempotency_key="k1")
    assert created and not created_again and again["id"] == first["id"]
    assert celery.enqueued == [first["id"]]
    other = dict(PARAMS, timeout=9.0)
    with pytest.raises(IdempotencyConflict) as info:
        submit(store, idempotency_key="k1", params=other)
    assert info.value.job_id == first["id"]
    # keys are per owner
    bobs, created_bob = submit(store, owner="bob", idempotency_key="k1", params=other)
    assert created_bob and bobs["id"] != first["id"]


def test_idempotency_includes_callback_url(store):
    submit(store, idempotency_key="k2")
    with pytest.raises(IdempotencyConflict):
        submit(store, idempotency_key="k2", callback_url="https://example.com/hook")


def test_queue_full_raises_with_retry_after(store, celery):
    celery.depth = 10
    with pytest.raises(QueueFull) as info:
        submit(store)
    assert info.value.retry_after == store.settings.queue_full_retry_after
    assert celery.enqueued == []


@pytest.mark.parametrize("limit", ["live", "depth"])
def test_an_idempotent_submission_racing_another_cannot_pass_the_limits(
        redis_db, celery, prefix, monkeypatch, limit):
    """With an Idempotency-Key the checks run before the key is claimed and the job written
    after it: a submission landing in between must not take the client over its live-jobs
    limit (or the queue over its depth); the refused one leaves no record and frees its key."""
    from workers import idempotency
    from workers.jobs import TooManyLiveJobs

    queue = f"{prefix}broker:q"
    settings = Settings(_env_file=None, key_prefix=prefix, job_ttl_seconds=600,
                        max_live_jobs_per_client=1 if limit == "live" else 100,
                        max_queue_depth=1 if limit == "depth" else 100)
    store = JobStore(redis_db, settings, queue_depth=lambda: redis_db.llen(queue),
                     job_message=lambda job_id, params, request_id: (queue, job_id),
                     queue_lists=[queue])
    claim = idempotency.claim
    other: list[str] = []
    claims: list[str] = []

    def claim_after_another_submission(client, key, *args, **kwargs):
        claims.append(key)
        if len(claims) == 1:  # another request of the same client gets in first
            other.append(submit(store, idempotency_key="k-other")[0]["id"])
        return claim(client, key, *args, **kwargs)

    monkeypatch.setattr(idempotency, "claim", claim_after_another_submission)
    with pytest.raises(TooManyLiveJobs if limit == "live" else QueueFull):
        submit(store, idempotency_key="k-first")
    assert redis_db.lrange(queue, 0, -1) == other
    assert [doc["id"] for doc in store.list("alice")[0]] == other
    assert not redis_db.exists(store.idempotency_key("alice", "k-first"))
    assert sorted(redis_db.keys(f"{prefix}job:*")) == sorted(
        [store.job_key(other[0]), store.events_key(other[0])])


def test_a_broker_failure_leaves_no_job_behind(redis_db, celery, prefix):
    def refuse(job_id, params):
        raise ConnectionError("broker down")

    settings = Settings(_env_file=None, key_prefix=prefix)
    broken = JobStore(redis_db, settings, enqueue=refuse, revoke=celery.revoke,
                      queue_depth=lambda: 0, schedule_webhook=celery.schedule)
    with pytest.raises(ConnectionError):
        submit(broken, idempotency_key="k")
    assert broken.list("alice") == ([], None)
    assert redis_db.keys(prefix + "*") == [prefix + "metrics:counters"]  # nothing of the job's
    assert set(redis_db.hvals(prefix + "metrics:counters")) == {"0"}  # not counted as submitted
    # the key is free again: a retry after the outage creates the job
    retry = JobStore(redis_db, settings, enqueue=celery.enqueue, revoke=celery.revoke,
                     queue_depth=lambda: 0, schedule_webhook=celery.schedule)
    assert submit(retry, idempotency_key="k")[1] is True


def test_unknown_kind_is_rejected(store):
    with pytest.raises(ValueError):
        store.submit(kind="bogus", owner="a", params={})


def test_list_newest_first_with_cursor_pages(store):
    ids = [submit(store)[0]["id"] for _ in range(7)]
    submit(store, owner="bob")
    page1, cursor1 = store.list("alice", limit=3)
    page2, cursor2 = store.list("alice", limit=3, cursor=cursor1)
    page3, cursor3 = store.list("alice", limit=3, cursor=cursor2)
    got = [d["id"] for d in page1 + page2 + page3]
    assert got == list(reversed(ids))
    assert cursor1 and cursor2 and cursor3 is None
    assert len(page3) == 1
    exact, end = store.list("alice", limit=7)
    assert len(exact) == 7 and end is None


def test_list_filters_by_status_and_kind_and_skips_expired(store, redis_db):
    a = submit(store)[0]["id"]
    b = submit(store)[0]["id"]
    c = store.submit(kind="chrono", owner="alice", params={"operation": "normalize"})[0]["id"]
    store.cancel(a, "alice")
    assert [d["id"] for d in store.list("alice", status="cancelled")[0]] == [a]
    assert [d["id"] for d in store.list("alice", status="queued")[0]] == [c, b]
    assert [d["id"] for d in store.list("alice", kind="chrono")[0]] == [c]
    redis_db.delete(store.job_key(b))  # as if expired
    assert [d["id"] for d in store.list("alice")[0]] == [c, a]
    assert redis_db.zscore(store.owner_key("alice"), b) is None


def test_list_rejects_a_bad_cursor(store):
    with pytest.raises(ValueError):
        store.list("alice", cursor="garbage")


def test_cancel_queued_job_ends_it_now_and_revokes(store, celery):
    doc, _ = submit(store, callback_url="https://example.com/hook")
    cancelled = store.cancel(doc["id"], "alice")
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert celery.revoked == [doc["id"]]
    assert names(store, doc["id"]) == ["queued", "cancelled"]
    assert celery.webhooks == [(doc["id"], 1, 0.0)]  # the end is announced
    # the delivered task then skips it
    assert store.begin(doc["id"]) is None
    assert store.get(doc["id"])["attempts"] == 0
    # cancelling again: unchanged
    assert store.cancel(doc["id"], "alice")["status"] == "cancelled"
    assert names(store, doc["id"]) == ["queued", "cancelled"]


@pytest.mark.parametrize("hook", [None, "https://example.com/hook"])
def test_finish_without_the_document_still_queues_the_callback(store, celery, hook):
    """The worker's finish (document=False) does not decode the final document, but one
    with a callback is decoded and its webhook queued all the same."""
    doc, _ = submit(store, callback_url=hook)
    store.begin(doc["id"])
    assert store.finish(doc["id"], JobStatus.SUCCEEDED, result={"verdict": "valid"},
                        document=False) is True
    assert celery.webhooks == ([(doc["id"], 1, 0.0)] if hook else [])
    assert store.get(doc["id"])["status"] == "succeeded"
    assert store.finish(doc["id"], JobStatus.FAILED, document=False) is None


def test_cancel_of_another_owners_job_is_none(store, celery):
    doc, _ = submit(store)
    assert store.cancel(doc["id"], "mallory") is None
    assert store.get(doc["id"])["status"] == "queued"
    assert celery.revoked == []


def test_cancel_running_job_sets_the_flag_only(store):
    doc, _ = submit(store)
    assert store.begin(doc["id"])["status"] == "running"
    assert not store.cancel_requested(doc["id"])
    answer = store.cancel(doc["id"], "alice")
    assert answer["status"] == "running"
    assert store.cancel_requested(doc["id"])
    ended = store.finish(doc["id"], JobStatus.CANCELLED)
    assert ended["status"] == "cancelled"


def test_begin_counts_deliveries_and_finish_happens_once(store):
    doc, _ = submit(store)
    first = store.begin(doc["id"])
    assert first["status"] == "running" and first["attempts"] == 1
    second = store.begin(doc["id"])  # a redelivery after a worker died
    assert second["attempts"] == 2
    result = {"verdict": "valid"}
    ended = store.finish(doc["id"], JobStatus.SUCCEEDED, result=result)
    assert ended["status"] == "succeeded" and ended["result"] == result
    assert ended["progress"] == 1.0
    assert store.finish(doc["id"], JobStatus.FAILED, error={"type": "x"}) is None
    assert store.begin(doc["id"]) is None  # a late duplicate skips
    events = names(store, doc["id"])
    assert events == ["queued", "started", "started", "succeeded"]
    final = store.read_events(doc["id"])[-1][2]
    assert final["status"] == "succeeded" and final["result"] == result


def test_begin_gives_up_after_max_attempts(store):
    doc, _ = submit(store)
    for _ in range(3):
        assert store.begin(doc["id"]) is not None
    assert store.begin(doc["id"]) is None
    final = store.get(doc["id"])
    assert final["status"] == "failed" and final["error"]["type"] == "too_many_attempts"


def test_begin_of_unknown_job_is_none(store):
    assert store.begin(new_job_id()) is None


def test_finish_requires_a_terminal_status(store):
    doc, _ = submit(store)
    with pytest.raises(ValueError):
        store.finish(doc["id"], JobStatus.RUNNING)


def test_read_events_after_an_id_and_progress(store):
    doc, _ = submit(store)
    store.begin(doc["id"])
    store.progress(doc["id"], 0.5, "half")
    events = store.read_events(doc["id"])
    assert [n for _, n, _ in events] == ["queued", "started", "progress"]
    assert events[2][2] == {"progress": 0.5, "note": "half"}
    assert store.read_events(doc["id"], events[1][0]) == events[2:]
    assert store.read_events(doc["id"], events[2][0]) == []
    assert store.get(doc["id"])["progress"] == 0.5


def test_wait_terminal_returns_the_final_document(store):
    doc, _ = submit(store)
    store.begin(doc["id"])
    assert store.wait_terminal(doc["id"], 0.0)["status"] == "running"
    store.finish(doc["id"], JobStatus.SUCCEEDED, result={"verdict": "invalid"})
    assert store.wait_terminal(doc["id"], 1.0)["result"] == {"verdict": "invalid"}


def test_a_wait_is_woken_by_the_final_event_only(store, monkeypatch):
    """A wait blocks on the job's final list: the started and progress events written
    meanwhile do not end its read (no round trip for nothing); the final one does."""
    reads = []
    original = events.read_events_when_final

    def recording(*args, **kwargs):
        read = original(*args, **kwargs)
        reads.append([name for _id, name, _data in read])
        return read

    monkeypatch.setattr(events, "read_events_when_final", recording)
    doc, _ = submit(store)
    answer = {}
    waiter = threading.Thread(
        target=lambda: answer.update(doc=store.wait_terminal(doc["id"], 20)))
    waiter.start()
    time.sleep(0.2)
    store.begin(doc["id"])
    store.progress(doc["id"], 0.5, "half")
    time.sleep(0.2)
    assert waiter.is_alive() and reads == []
    store.finish(doc["id"], JobStatus.SUCCEEDED, result={"verdict": "valid"})
    waiter.join(10)
    assert answer["doc"]["status"] == "succeeded"
    assert reads == [["started", "progress", "succeeded"]]


@pytest.mark.parametrize("end", ["finish", "cancel"])
def test_the_final_list_is_written_with_the_final_event_only(store, prefix, end):
    doc, _ = submit(store)
    final = keys.final_key(prefix, doc["id"])
    if end == "finish":
        store.begin(doc["id"])
    assert store.r.lrange(final, 0, -1) == []
    if end == "finish":
        store.finish(doc["id"], JobStatus.SUCCEEDED, result={"verdict": "valid"})
    else:
        store.cancel(doc["id"], "alice")
    assert store.r.lrange(final, 0, -1) == ["1"]
    assert 0 < store.r.ttl(final) <= store.settings.job_ttl_seconds
    # a wait on the ended job answers at once, and the list stays for the next waiter
    assert store.wait_terminal(doc["id"], 20)["status"] in ("succeeded", "cancelled")
    assert store.r.lrange(final, 0, -1) == ["1"]


# --- submit_async: the rate limit, the submission and the first slice of a wait in one trip


class Charge:
    """What the API's rate-limit charge (api.ratelimit.DeferredCharge) gives the store."""

    def __init__(self, prefix: str, identity: str, per_minute: int = 1000, burst: int = 100):
        self.keys = keys.ratelimit_keys(prefix, identity)
        self.args = ["", per_minute, 60, repr(60 / per_minute), burst, 1, 1]
        self.replies: list[list] = []
        self.unavailable: Exception | None = None

    @property
    def settled(self) -> bool:
        return bool(self.replies) or self.unavailable is not None

    def keys_and_args(self):
        return self.keys, self.args

    def record(self, reply):
        self.replies.append(reply)


def submit_async(store, *, owner="alice", wait_s=None, rate_limit=None, pool_wrapper=None):
    """store.submit_async on fresh redis.asyncio clients (the API's job path clients)."""
    import redis.asyncio as aioredis

    async def go():
        def client():
            pool = aioredis.BlockingConnectionPool.from_url(
                redis_url(), max_connections=4, decode_responses=True, protocol=2)
            return aioredis.Redis(connection_pool=pool)

        commands, blocking = client(), client()
        if pool_wrapper is not None:
            pool_wrapper(blocking.connection_pool)
        try:
            return await store.submit_async(
                commands, kind="proof", owner=owner, params=PARAMS, rate_limit=rate_limit,
                wait_client=blocking if wait_s else None, wait_s=wait_s)
        finally:
            await commands.aclose()
            await blocking.aclose()

    return asyncio.run(go())


def owner_jobs(store, owner="alice"):
    return store.r.zrange(store.owner_key(owner), 0, -1)


RESULT = {"verdict": "valid", "trace": ["□ ∀ «x»", 'a "quoted" \\ line'], "elapsed_ms": 0.1,
          "tiny": 1e-07, "big": 12345678901234567890, "none": None, "nested": {"b": [1.5, True]}}


def test_submit_async_with_a_wait_answers_the_final_document(store):
    """The job ends within the first slice: the final document comes back in the
    submission's round trip; the event id kept for a longer wait is dropped."""
    def end_the_job():
        for _ in range(200):
            ids = owner_jobs(store)
            if ids:
                store.begin(ids[0])
                store.finish(ids[0], JobStatus.SUCCEEDED, result=RESULT)
                return
            time.sleep(0.01)

    worker = threading.Thread(target=end_the_job)
    worker.start()
    doc, created = submit_async(store, wait_s=20, rate_limit=(charge := Charge(
        store.prefix, "sub:alice")))
    worker.join()
    assert created and doc["status"] == "succeeded" and doc["result"] == RESULT
    assert doc == store.get(doc["id"])
    assert doc["id"] not in store._queued_event_ids
    assert [int(reply[0]) for reply in charge.replies] == [1]
    # the API answers it with the JSON it was stored as: the same bytes as encoding it again
    from api.routes.jobs import job_response, json_response, with_links

    assert doc.text and job_response(doc).body == json_response(with_links(dict(doc))).body


def test_submit_async_with_a_wait_that_runs_out_answers_the_queued_job(store):
    doc, created = submit_async(store, wait_s=0.2)
    assert created and doc["status"] == "queued" and owner_jobs(store) == [doc["id"]]
    # a longer wait reads on after the "queued" event (no round trip for it)
    assert store._queued_event_ids[doc["id"]] == store.read_events(doc["id"])[0][0]
    assert store.r.lrange(keys.final_key(store.prefix, doc["id"]), 0, -1) == []


@pytest.mark.parametrize("wait_s", [None, 30])
def test_submit_async_charges_the_rate_limit_first_and_a_refusal_writes_nothing(store,
                                                                                wait_s):
    from workers.jobs import RateLimited

    charge = Charge(store.prefix, "sub:alice", per_minute=2, burst=2)
    for _ in range(2):
        submit_async(store, wait_s=wait_s and 0.1, rate_limit=charge)
    with pytest.raises(RateLimited):
        submit_async(store, wait_s=wait_s, rate_limit=charge)
    assert [int(reply[0]) for reply in charge.replies] == [1, 1, 0]
    assert float(charge.replies[-1][5]) > 0  # the wait until a request would pass
    assert len(owner_jobs(store)) == 2
    assert store.r.hget(store.prefix + metrics.COUNTERS_KEY,
                        metrics.job_submitted_field("proof")) == "2"
    if wait_s:  # what ended the refused submission's wait at once: its final list
        finals = [k for k in store.r.scan_iter(store.prefix + "job:*:final")]
        assert [store.r.lrange(k, 0, -1) for k in finals] == [["refused"]]
        assert 0 < store.r.pttl(finals[0]) <= 60_000


def test_submit_async_refused_by_the_checks_counts_the_charge(redis_db, celery, prefix):
    from workers.jobs import TooManyLiveJobs

    settings = Settings(_env_file=None, key_prefix=prefix, max_live_jobs_per_client=1)
    store = JobStore(redis_db, settings, enqueue=celery.enqueue,
                     queue_depth=lambda: celery.depth, schedule_webhook=celery.schedule)
    charge = Charge(prefix, "sub:alice")
    submit_async(store, wait_s=0.1, rate_limit=charge)
    with pytest.raises(TooManyLiveJobs):
        submit_async(store, wait_s=30, rate_limit=charge)
    assert [int(reply[0]) for reply in charge.replies] == [1, 1]
    assert [int(reply[1]) for reply in charge.replies] == [999, 998]  # both counted
    assert len(owner_jobs(store)) == 1


def test_a_wait_that_fails_after_the_submission_answers_the_job(store):
    """Once the script's reply has come, trouble with the wait's replies answers the job
    as submitted (it exists), never an error that a retry would turn into a second job;
    the script is never sent again."""
    sent = []

    def failing_reads(pool):
        original = pool.get_connection

        async def get_connection(*args, **kwargs):
            conn = await original(*args, **kwargs)
            reads = {"n": 0}
            read_response, send = conn.read_response, conn.send_packed_command

            async def read(*a, **k):
                reads["n"] += 1
                if reads["n"] == 2:
                    raise redis.ConnectionError("the connection went away")
                return await read_response(*a, **k)

            async def send_packed_command(command, *a, **k):
                sent.append(command)
                return await send(command, *a, **k)

            conn.read_response, conn.send_packed_command = read, send_packed_command
            return conn

        pool.get_connection = get_connection

    doc, created = submit_async(store, wait_s=30, pool_wrapper=failing_reads)
    assert created and doc["status"] == "queued" and owner_jobs(store) == [doc["id"]]
    assert len(sent) == 1
    assert len(store.read_events(doc["id"])) == 1  # one "queued" event: one script run


def test_a_lost_script_reply_marks_the_charge_tried(store):
    """The script ran (job queued, request charged) but its reply was lost: the error goes
    up (the API answers 503) and the charge counts as tried, so the middleware does not
    charge the request a second time."""

    def first_read_fails(pool):
        original = pool.get_connection

        async def get_connection(*args, **kwargs):
            conn = await original(*args, **kwargs)

            async def read(*a, **k):
                raise redis.ConnectionError("the connection went away")

            conn.read_response = read
            return conn

        pool.get_connection = get_connection

    charge = Charge(store.prefix, "sub:alice")
    with pytest.raises(redis.ConnectionError):
        submit_async(store, wait_s=30, rate_limit=charge, pool_wrapper=first_read_fails)
    assert isinstance(charge.unavailable, redis.ConnectionError) and charge.settled
    assert len(owner_jobs(store)) == 1  # the script did run


def test_a_script_error_raises_at_once_without_waiting(store):
    store.r.set(store.owner_key("alice"), "not a sorted set")
    with pytest.raises(redis.ResponseError):
        submit_async(store, wait_s=30)


def test_webhook_state_starts_pending_and_updates_atomically(store, celery):
    doc, _ = submit(store, callback_url="https://example.com/hook")
    assert doc["webhook"] == {"url": "https://example.com/hook", "state": "pending", "attempts": []}
    store.begin(doc["id"])
    store.finish(doc["id"], JobStatus.SUCCEEDED, result={})
    assert celery.webhooks == [(doc["id"], 1, 0.0)]

    def record(hook):
        hook["attempts"].append({"at": "t", "status": 200, "error": None})
        hook["state"] = "delivered"
        return hook

    assert store.update_webhook(doc["id"], record)["state"] == "delivered"
    assert store.update_webhook(doc["id"], lambda hook: None) is None
    assert store.get(doc["id"])["webhook"]["attempts"][0]["status"] == 200

    # A concurrent writer between this update's read and its write: the transaction sees
    # the key change, runs ``change`` again on the new state, and neither update is lost.
    calls = []

    def append_after_a_concurrent_write(hook):
        calls.append(len(hook["attempts"]))
        if len(calls) == 1:
            store.update_webhook(doc["id"], lambda other: {
                **other, "attempts": [*other["attempts"], {"at": "t2", "status": 500}]})
        return {**hook, "attempts": [*hook["attempts"], {"at": "t3", "status": 204}]}

    store.update_webhook(doc["id"], append_after_a_concurrent_write)
    assert calls == [1, 2]  # read the state again after the concurrent write
    final = store.get(doc["id"])["webhook"]["attempts"]
    assert [a["status"] for a in final] == [200, 500, 204]


def test_heartbeats_make_workers_online(store, redis_db):
    store.heartbeat("w1@host", {"host": "host", "pid": 1})
    online = store.workers_online()
    assert [w["id"] for w in online] == ["w1@host"] and online[0]["pid"] == 1
    assert 0 < redis_db.ttl(store.worker_key("w1@host")) <= store.settings.worker_heartbeat_seconds * 3
    store.worker_gone("w1@host")
    assert store.workers_online() == []


def test_the_store_keeps_a_bounded_result(store):
    from workers.record import MAX_RESULT_BYTES

    job_id = submit(store)[0]["id"]
    store.begin(job_id)
    big = {"verdict": "valid", "szs_status": "Theorem", "certificate": "c" * MAX_RESULT_BYTES}
    final = store.finish(job_id, JobStatus.SUCCEEDED, result=big)
    stored = store.get(job_id)["result"]
    assert final["result"] == stored and stored["certificate"] is None
    assert stored["verdict"] == "valid" and "result_truncated" in stored


def test_a_result_over_the_stored_limit_keeps_its_verdict_and_says_what_it_lost():
    from workers.record import MAX_RESULT_BYTES, bounded_result, dumps

    small = {"verdict": "valid", "certificate": "c" * 100, "trace": ["a"]}
    assert bounded_result(small) is small
    big_certificate = {"verdict": "valid", "szs_status": "Theorem", "trace": ["a"],
                       "certificate": "c" * (2 * MAX_RESULT_BYTES)}
    kept = bounded_result(big_certificate)
    assert kept["verdict"] == "valid" and kept["certificate"] is None
    assert "pxl prove" in kept["certificate_omitted"] and kept["trace"] == ["a"]
    big_everything = {"verdict": "invalid", "szs_status": "CounterSatisfiable",
                      "trace": ["t" * 1000] * 1000, "countermodel": {"w": "x" * MAX_RESULT_BYTES}}
    kept = bounded_result(big_everything)
    assert kept["verdict"] == "invalid" and "result_truncated" in kept
    for original in (big_certificate, big_everything):
        assert len(dumps(bounded_result(original))) <= MAX_RESULT_BYTES


# --- a batch's countdown (workers.batches) ------------------------------------------------

BATCH_URL = "https://example.com/batch-hook"


def batch_webhooks(celery, batch_id: str) -> list[tuple]:
    return [call for call in celery.webhooks if call == (batch_id, 1, 0.0, "batch")]


def open_batch(store, jobs: int) -> tuple[str, list[str]]:
    batch_id = batches.new_batch_id()
    batches.open_countdown(store.r, store.prefix, batch_id, 600)
    return batch_id, [submit(store, batch_id=batch_id)[0]["id"] for _ in range(jobs)]


def record_batch(store, batch_id: str, job_ids: list[str]) -> bool:
    items = [{"index": i, "id": job_id} for i, job_id in enumerate(job_ids)]
    _batch, complete = batches.create(store.r, store.prefix, "alice", items, 600,
                                      batch_id=batch_id, callback_url=BATCH_URL)
    return complete


def batch_pending(store, batch_id: str) -> int:
    return int(store.r.get(keys.batch_pending_key(store.prefix, batch_id)))


def _end(store, barrier, job_id: str, how: str) -> None:
    barrier.wait()
    if how == "finish":
        store.finish(job_id, JobStatus.SUCCEEDED, result={"verdict": "invalid"})
    else:
        assert store.cancel(job_id, "alice")["status"] == "cancelled"


def _release(store, barrier, batch_id: str, job_ids: list[str], released: list[bool]) -> None:
    barrier.wait()
    released.append(record_batch(store, batch_id, job_ids))


@pytest.mark.parametrize("ends", [("finish", "finish"), ("finish", "cancel"),
                                  ("cancel", "cancel")])
def test_the_last_two_jobs_ending_at_once_complete_the_batch_exactly_once(store, celery, ends):
    """Two workers end a batch's last two jobs at the same moment (through the finish script
    or the cancel transaction) while the API releases its hold: in every round exactly one
    of the three writes brings the countdown to 0 and queues the batch's webhook."""
    for _round in range(30):
        batch_id, job_ids = open_batch(store, 3)
        for job_id, how in zip(job_ids[1:], ends, strict=True):
            if how == "finish":
                store.begin(job_id)  # a cancel ends only a queued job at once
        store.begin(job_ids[0])
        store.finish(job_ids[0], JobStatus.SUCCEEDED, result={"verdict": "valid"})
        assert batch_webhooks(celery, batch_id) == []  # two still running
        barrier = threading.Barrier(3)
        released: list[bool] = []
        threads = [threading.Thread(target=_end, args=(store, barrier, job_id, how))
                   for job_id, how in zip(job_ids[1:], ends, strict=True)]
        threads.append(threading.Thread(target=_release,
                                        args=(store, barrier, batch_id, job_ids, released)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert batch_pending(store, batch_id) == 0
        assert len(batch_webhooks(celery, batch_id)) + released.count(True) == 1


def test_a_batch_completes_only_when_its_last_job_ends(store, celery):
    batch_id, job_ids = open_batch(store, 2)
    assert not record_batch(store, batch_id, job_ids)  # jobs still queued: the hold goes, 2 remain
    assert batch_pending(store, batch_id) == 2
    store.begin(job_ids[0])
    store.finish(job_ids[0], JobStatus.FAILED, error={"type": "x", "detail": "y"})
    assert batch_webhooks(celery, batch_id) == []
    store.begin(job_ids[1])
    assert store.finish(job_ids[1], JobStatus.SUCCEEDED, result={}) is not None
    assert batch_webhooks(celery, batch_id) == [(batch_id, 1, 0.0, "batch")]
    assert store.finish(job_ids[1], JobStatus.SUCCEEDED, result={}) is None  # a duplicate
    assert batch_pending(store, batch_id) == 0  # not counted twice


def test_a_batch_whose_jobs_all_ended_first_completes_when_recorded(store, celery):
    batch_id, job_ids = open_batch(store, 1)
    store.cancel(job_ids[0], "alice")
    assert batch_webhooks(celery, batch_id) == []  # the submission still holds it
    assert record_batch(store, batch_id, job_ids)


def test_a_redelivered_job_queues_a_completed_batch_webhook_not_yet_sent(store, celery):
    """The process that ended the last job may die before queueing the batch's webhook: the
    redelivery of the job's message (which finds the job ended) queues it."""
    batch_id, job_ids = open_batch(store, 1)
    record_batch(store, batch_id, job_ids)
    store.begin(job_ids[0])
    store.finish(job_ids[0], JobStatus.SUCCEEDED, result={})
    celery.webhooks.clear()  # as if it had died before sending the message
    assert store.begin(job_ids[0]) is None
    assert batch_webhooks(celery, batch_id) == [(batch_id, 1, 0.0, "batch")]
    celery.webhooks.clear()
    store.update_webhook(batch_id, lambda hook: {**hook, "attempts": [{"status": 200}],
                                                 "state": "delivered"}, subject="batch")
    assert store.begin(job_ids[0]) is None
    assert batch_webhooks(celery, batch_id) == []  # sent already: nothing more


def test_a_job_that_the_broker_refused_leaves_the_countdown_as_it_was(store, celery):
    batch_id = batches.new_batch_id()
    batches.open_countdown(store.r, store.prefix, batch_id, 600)

    def refuse(*_args):
        raise ConnectionError("broker down")

    store._job_message, store._enqueue = None, refuse
    with pytest.raises(ConnectionError):
        submit(store, batch_id=batch_id)
    assert batch_pending(store, batch_id) == 1  # only the submission's hold

def test_finish_writes_the_result_cache_entry_and_its_count_with_the_job(store, redis_db):
    from workers import cache
    from workers.metrics import COUNTERS_KEY, proof_cache_field

    counters = store.prefix + COUNTERS_KEY
    entry = store.prefix + "test-cache-entry"
    doc, _ = submit(store)
    store.begin(doc["id"])
    result = {"verdict": "valid", "szs_status": "Theorem", "run_ms": 1.5}
    store.finish(doc["id"], JobStatus.SUCCEEDED, result=result,
                 cache_write=cache.CacheWrite(entry, "bypass"))
    assert cache.lookup(redis_db, entry) == (doc["id"], result)
    assert 0 < redis_db.ttl(entry) <= store.settings.job_ttl_seconds
    assert redis_db.hget(counters, proof_cache_field("bypass")) == "1"

    # Not decisive, not succeeded, or a duplicate end: no entry (the count still goes with
    # the job's end, once).
    for status, result in ((JobStatus.SUCCEEDED, {"verdict": "unknown"}),
                           (JobStatus.FAILED, None), (JobStatus.CANCELLED, None)):
        other, _ = submit(store)
        store.begin(other["id"])
        missed = store.prefix + "test-cache-" + other["id"]
        assert store.finish(other["id"], status, result=result,
                            cache_write=cache.CacheWrite(missed, "miss")) is not None
        assert store.finish(other["id"], status, result=result,
                            cache_write=cache.CacheWrite(missed, "miss")) is None
        assert redis_db.get(missed) is None
    assert redis_db.hget(counters, proof_cache_field("miss")) == "3"


def test_the_lease_of_a_running_job_is_renewed_every_beat_until_it_is_released(
        redis_db, celery, prefix):
    from workers.reconciler import JobLease

    settings = Settings(_env_file=None, key_prefix=prefix, worker_heartbeat_seconds=0.3)
    store = JobStore(redis_db, settings, enqueue=celery.enqueue, queue_depth=lambda: 0)
    jobs = [submit(store)[0]["id"] for _ in range(2)]
    for job_id in jobs:
        assert store.begin(job_id) is not None  # takes the lease (1 s: three beats, rounded)
    with JobLease(store, jobs[0]), JobLease(store, jobs[1]):
        time.sleep(2.5)  # well past the lease taken by begin
        assert all(redis_db.exists(store.lease_key(job_id)) for job_id in jobs)
    time.sleep(1.6)  # released: the lease runs out
    assert not any(redis_db.exists(store.lease_key(job_id)) for job_id in jobs)


def test_a_stale_renewal_does_not_release_the_next_run_of_the_same_job(
        redis_db, celery, prefix, monkeypatch):
    """The renewer finds a job's lease gone (its run ended and the lease lapsed) while the
    same process begins the job again (a retry delivered here): that answer is about the old
    run and must not stop the renewals of the new one, or the reconciler would requeue it
    while it runs."""
    from workers.reconciler import JobLease

    settings = Settings(_env_file=None, key_prefix=prefix, worker_heartbeat_seconds=0.3)
    store = JobStore(redis_db, settings, enqueue=celery.enqueue, queue_depth=lambda: 0)
    job_id = submit(store)[0]["id"]
    assert store.begin(job_id) is not None
    renew = store.renew_lease
    runs: list[JobLease] = []

    def renew_as_the_next_run_begins(held_id):
        if runs:
            return renew(held_id)
        runs[:] = [JobLease(store, job_id)]
        first_run.__exit__(None, None, None)  # the first run ends ...
        redis_db.delete(store.lease_key(job_id))  # ... its lease lapses
        ours = renew(held_id)  # the renewal answers about that lapsed lease
        assert store.begin(job_id) is not None  # the retry begins here meanwhile
        runs[0].__enter__()
        return ours

    monkeypatch.setattr(store, "renew_lease", renew_as_the_next_run_begins)
    first_run = JobLease(store, job_id).__enter__()
    time.sleep(2.5)  # the lease begin took (1 s) has run out unless it is renewed
    assert runs, "the renewer never ran"
    assert redis_db.exists(store.lease_key(job_id))
    runs[0].__exit__(None, None, None)


def test_jobs_ended_by_a_redelivery_count_the_batch_down_too(store, celery):
    """The other two writes that end a job (workers.jobs._begin_otherwise): a redelivered
    job that was cancelled while it ran, and one given up after too many deliveries."""
    batch_id, (cancelled, given_up) = open_batch(store, 2)
    assert not record_batch(store, batch_id, [cancelled, given_up])
    store.begin(cancelled)
    assert store.cancel(cancelled, "alice")["status"] == "running"  # flagged only
    assert store.begin(cancelled) is None  # its worker died; the redelivery ends it
    assert store.get(cancelled)["status"] == "cancelled"
    assert batch_pending(store, batch_id) == 1 and batch_webhooks(celery, batch_id) == []
    for _ in range(store.settings.job_max_attempts):
        assert store.begin(given_up) is not None  # each delivery's worker dies
    assert store.begin(given_up) is None
    assert store.get(given_up)["error"]["type"] == "too_many_attempts"
    assert batch_pending(store, batch_id) == 0
    assert batch_webhooks(celery, batch_id) == [(batch_id, 1, 0.0, "batch")]


def test_a_job_outliving_its_batch_leaves_no_countdown_behind(store, celery):
    """A batch (and its countdown) expires after PXL_JOB_TTL_SECONDS; a job of it that ends
    later must not bring the countdown back as a key without a TTL (Redis would keep it for
    ever), nor complete anything."""
    batch_id, (job_id,) = open_batch(store, 1)
    record_batch(store, batch_id, [job_id])
    countdown = keys.batch_pending_key(store.prefix, batch_id)
    store.r.delete(countdown)  # expired with the batch
    store.begin(job_id)
    assert store.finish(job_id, JobStatus.SUCCEEDED, result={}) is not None
    assert store.r.exists(countdown) == 0
    assert batch_webhooks(celery, batch_id) == []


def test_worker_script_whose_reply_is_lost_raises_and_runs_once(redis_db, prefix, monkeypatch):
    # begin/finish go through _run_script: a reply lost after the script ran must not run it
    # again (a second begin counts a second attempt; a second finish finds the job final)
    from redis.connection import Connection

    from workers.jobs import _run_script

    key = f"{prefix}runs"
    script = redis_db.register_script("return redis.call('INCR', KEYS[1])")
    assert _run_script(redis_db, script, [key], []) == 1  # NOSCRIPT: loaded and run

    read_response, lost = Connection.read_response, []

    def first_reply_lost(self, *args, **kwargs):  # the script's reply; later ones (a
        if not lost:  # reconnection's handshake, a second run) come through
            lost.append(self.read_response)
            raise redis.ConnectionError("reply lost")
        return read_response(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "read_response", first_reply_lost)
    with pytest.raises(redis.ConnectionError):
        _run_script(redis_db, script, [key], [])
    monkeypatch.undo()
    assert lost and redis_db.get(key) == "2"
