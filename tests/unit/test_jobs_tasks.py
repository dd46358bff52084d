"""The task body (workers.tasks.execute) and JobContext, on the real test Redis with stand-in
runners."""

from __future__ import annotations

import uuid

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from tests.environment import delete_keys, redis_url
from workers import metrics, runners, tasks
from workers.jobs import JobStore
from workers.runners import JobContext
from workers.settings import Settings

PARAMS = {"formula": {"atom": "p"}, "formula_text": "p", "timeout": 5.0, "overlay": None}


@pytest.fixture
def store(monkeypatch):
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    metrics.bind_redis(client)
    settings = Settings(_env_file=None, key_prefix=f"pxltest-tasks-{uuid.uuid4().hex[:10]}:")
    store = JobStore(client, settings, enqueue=lambda *a: None, revoke=lambda *a: None,
                     queue_depth=lambda: 0, schedule_webhook=lambda *a: None)
    monkeypatch.setattr(tasks, "worker_store", lambda: store)
    yield store
    metrics.bind_redis(None)
    delete_keys(client, settings.key_prefix)


def started(store, kind="proof", params=PARAMS):
    doc, _ = store.submit(kind=kind, owner="o", params=params)
    return store.begin(doc["id"])


def with_runner(monkeypatch, fn):
    monkeypatch.setitem(runners.RUNNERS, "proof", fn)
    monkeypatch.setattr(tasks, "RUNNERS", runners.RUNNERS)


def test_a_real_proof_succeeds_with_timings(store):
    doc = started(store, params={**PARAMS, "formula": {"implies": [{"atom": "p"},
                                                                     {"atom": "p"}]}})
    assert tasks.execute(store, doc) == "succeeded"
    final = store.get(doc["id"])
    assert final["result"]["verdict"] == "valid"
    assert final["result"]["queue_wait_ms"] >= 0 and final["result"]["run_ms"] >= 0
    # A proof job's answer is explained: the console draws its tableau and lemma outline.
    assert final["result"]["tableau"] is not None and final["result"]["outline"] is not None


def test_bad_input_fails_without_retry(store, monkeypatch):
    def bad(params, ctx):
        raise ValueError("line 1, column 3: unexpected ')'")

    with_runner(monkeypatch, bad)
    doc = started(store)
    assert tasks.execute(store, doc) == "failed"
    final = store.get(doc["id"])
    assert final["error"] == {"type": "invalid_input", "detail": "line 1, column 3: unexpected ')'"}


def test_soft_time_limit_is_an_unknown_timeout_verdict(store, monkeypatch):
    def slow(params, ctx):
        raise SoftTimeLimitExceeded()

    with_runner(monkeypatch, slow)
    doc = started(store)
    assert tasks.execute(store, doc) == "succeeded"
    result = store.get(doc["id"])["result"]
    assert result["verdict"] == "unknown" and result["szs_status"] == "Timeout"
    assert result["formula"] == "p"


def test_redis_trouble_propagates_for_a_celery_retry(store, monkeypatch):
    import redis

    def flaky(params, ctx):
        raise redis.ConnectionError("gone")

    with_runner(monkeypatch, flaky)
    doc = started(store)
    with pytest.raises(redis.ConnectionError):
        tasks.execute(store, doc)
    assert store.get(doc["id"])["status"] == "running"  # the retry will run it again


def test_a_crashing_runner_fails_the_job_as_internal(store, monkeypatch):
    with_runner(monkeypatch, lambda params, ctx: {}["missing"])
    doc = started(store)
    assert tasks.execute(store, doc) == "failed"
    assert store.get(doc["id"])["error"]["type"] == "internal"


def test_a_runner_that_sees_the_cancel_flag_ends_cancelled(store, monkeypatch):
    def obedient(params, ctx):
        assert not ctx.should_stop()
        store.cancel(ctx.job_id, "o")
        ctx._checked_at = float("-inf")  # skip the cache for the test
        assert ctx.should_stop()
        return {"verdict": "unknown", "szs_status": "User"}

    with_runner(monkeypatch, obedient)
    doc = started(store)
    assert tasks.execute(store, doc) == "cancelled"
    assert store.get(doc["id"])["status"] == "cancelled"
    names = [n for _i, n, _d in store.read_events(doc["id"])]
    assert names == ["queued", "started", "cancelled"]


def test_a_result_that_beat_the_cancel_request_stands(store, monkeypatch):
    def quick(params, ctx):
        store.cancel(ctx.job_id, "o")  # arrives, but the runner never looks
        return {"verdict": "valid", "szs_status": "Theorem"}

    with_runner(monkeypatch, quick)
    doc = started(store)
    assert tasks.execute(store, doc) == "succeeded"
    final = store.get(doc["id"])
    assert final["status"] == "succeeded" and final["result"]["verdict"] == "valid"
    names = [n for _i, n, _d in store.read_events(doc["id"])]
    assert names == ["queued", "started", "succeeded"]


def test_hard_time_limit_handler_records_unknown_timeout(store):
    doc = started(store)
    tasks.run_job.on_failure(TimeLimitExceeded(20.0), doc["id"], [doc["id"]], {}, None)
    final = store.get(doc["id"])
    assert final["status"] == "succeeded" and final["result"]["szs_status"] == "Timeout"


def test_exhausted_retries_fail_the_job(store):
    import redis

    doc = started(store)
    tasks.run_job.on_failure(redis.ConnectionError("down"), doc["id"], [doc["id"]], {}, None)
    final = store.get(doc["id"])
    assert final["status"] == "failed" and final["error"]["type"] == "infrastructure"


def test_job_context_caches_the_cancel_flag():
    class Store:
        calls = 0

        def cancel_requested(self, job_id):
            Store.calls += 1
            return Store.calls >= 2

    # begin() read the flag as the job started, so the first poll waits poll_seconds
    cached = JobContext(Store(), "j", poll_seconds=3600)
    assert [cached.should_stop() for _ in range(5)] == [False] * 5
    assert Store.calls == 0
    uncached = JobContext(Store(), "j", poll_seconds=0)
    assert uncached.should_stop() is False and Store.calls == 1
    assert uncached.should_stop() is True  # the second call sees the flag
    assert uncached.should_stop() is True and Store.calls == 2  # sticky once seen


def test_time_limits_follow_the_job_timeout():
    from workers.celery_app import time_limits, visibility_timeout

    s = Settings(_env_file=None, job_time_limit_grace=5, job_hard_time_limit_margin=10,
                 max_job_timeout=300, broker_visibility_timeout=None, default_job_timeout=30)
    assert time_limits(s, 30) == (35, 45)
    assert time_limits(s, None) == (s.default_job_timeout + 5, s.default_job_timeout + 15)
    assert visibility_timeout(s) > time_limits(s, s.max_job_timeout)[1]


def test_hard_limit_watchdog_fires_for_the_armed_job_only():
    import threading

    fired: list[str] = []
    event = threading.Event()

    def on_expiry(job_id):
        fired.append(job_id)
        event.set()

    watchdog = tasks.HardLimitWatchdog(on_expiry, tick=0.01)
    watchdog.arm("disarmed-in-time", 0.2)
    watchdog.disarm()
    watchdog.arm("overran", 0.0)
    assert event.wait(10)
    assert fired == ["overran"]  # once, and never the job that was disarmed
    watchdog.arm("next", 3600)
    assert watchdog._armed[0] == "next"
