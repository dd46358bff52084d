"""Job metrics hooks (workers/metrics.py) against the real Redis, read back by FleetCollector."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.unit.obs_support import isolated_env, parse_samples, sample
from workers import metrics
from workers.fleet_collector import FleetCollector
from workers.keys import IN_PROGRESS_KEY, broker_prefix, broker_queue_keys, webhook_queue
from workers.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def obs_env(monkeypatch):
    yield from isolated_env(monkeypatch)


def scrape(settings: Settings) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(settings))
    return parse_samples(generate_latest(registry).decode())


def test_counters_and_histograms_round_trip_through_redis(obs_env):
    settings, _ = obs_env
    metrics.job_submitted("proof")
    metrics.job_submitted("proof")
    metrics.job_submitted("v4")
    metrics.job_started("proof", 0.02)
    metrics.job_finished("proof", "succeeded", "Theorem", 0.25, 0.3)  # on the 0.3 bound
    metrics.job_started("proof", 0.5)
    metrics.job_finished("proof", "succeeded", None, 0.9, 1.4)
    metrics.webhook_delivery("delivered")
    metrics.rate_limit_rejection()
    metrics.backpressure_rejection("proof")

    s = scrape(settings)
    assert sample(s, "pxl_redis_up") == 1
    assert sample(s, "pxl_jobs_submitted_total", kind="proof") == 2
    assert sample(s, "pxl_jobs_submitted_total", kind="v4") == 1
    assert sample(s, "pxl_jobs_submitted_total", kind="chrono") == 0  # pre-set
    fin = "pxl_jobs_finished_total"
    assert sample(s, fin, kind="proof", status="succeeded", verdict="theorem") == 1
    assert sample(s, fin, kind="proof", status="succeeded", verdict="none") == 1
    assert sample(s, "pxl_webhook_deliveries_total", outcome="delivered") == 1
    assert sample(s, "pxl_webhook_deliveries_total", outcome="failed") == 0
    assert sample(s, "pxl_rate_limit_rejections_total") == 1
    assert sample(s, "pxl_backpressure_rejections_total", kind="proof") == 1

    e2e = "pxl_job_end_to_end_seconds_bucket"
    assert sample(s, e2e, kind="proof", le="0.2") == 0
    assert sample(s, e2e, kind="proof", le="0.3") == 1  # 0.3 s is inside le="0.3"
    assert sample(s, e2e, kind="proof", le="1.2") == 1
    assert sample(s, e2e, kind="proof", le="2.5") == 2
    assert sample(s, e2e, kind="proof", le="+Inf") == 2
    assert sample(s, "pxl_job_end_to_end_seconds_count", kind="proof") == 2
    assert sample(s, "pxl_job_end_to_end_seconds_sum", kind="proof") == pytest.approx(1.7)
    assert sample(s, "pxl_job_queue_wait_seconds_bucket", kind="proof", le="0.025") == 1
    assert sample(s, "pxl_job_run_seconds_count", kind="proof") == 2
    # every bucket bound is exported for every series, so quantiles use the same grid
    les = {dict(labels)["le"] for (name, labels) in s if name == e2e}
    assert {"0.1", "0.3", "1.2", "+Inf"} <= les
    assert len(les) == len(metrics.LATENCY_BUCKETS) + 1


def test_in_progress_follows_started_and_finished(obs_env):
    settings, _ = obs_env
    metrics.job_started("chrono", 0.0)
    assert sample(scrape(settings), "pxl_jobs_in_progress", kind="chrono") == 1
    metrics.job_finished("chrono", "succeeded", None, 0.1, 0.1)
    assert sample(scrape(settings), "pxl_jobs_in_progress", kind="chrono") == 0


def test_in_progress_of_a_dead_worker_expires(obs_env):
    settings, client = obs_env
    # a run whose worker died: its deadline has passed, so it no longer counts
    client.zadd(settings.key_prefix + IN_PROGRESS_KEY, {"proof\tdead": time.time() - 1})
    client.zadd(settings.key_prefix + IN_PROGRESS_KEY, {"proof\talive": time.time() + 60})
    assert sample(scrape(settings), "pxl_jobs_in_progress", kind="proof") == 1


def test_cancelled_jobs_are_counted_but_not_timed(obs_env):
    settings, _ = obs_env
    metrics.job_finished("proof", "cancelled", None, 0.0, 12.0)
    s = scrape(settings)
    assert (
        sample(s, "pxl_jobs_finished_total", kind="proof", status="cancelled", verdict="none") == 1
    )
    assert sample(s, "pxl_job_end_to_end_seconds_count", kind="proof") is None


def test_queue_depth_sums_every_priority_list_and_reserved_counts_unacked(obs_env):
    settings, client = obs_env
    queue = settings.queue_name
    keys = broker_queue_keys(settings, queue)
    assert len(keys) == 4  # base list + priority steps 3, 6, 9
    for i, key in enumerate(keys):
        client.rpush(key, *[json.dumps({"n": n}) for n in range(i + 1)])  # 1 + 2 + 3 + 4
    unacked = broker_prefix(settings) + "unacked"
    client.hset(unacked, "tag-1", json.dumps([{"body": "x"}, "", queue]))
    client.hset(unacked, "tag-2", json.dumps([{"body": "y"}, "", queue]))
    client.hset(unacked, "tag-3", json.dumps([{"body": "z"}, "", webhook_queue(settings)]))
    client.hset(unacked, "tag-4", "not json")
    client.rpush(broker_queue_keys(settings, webhook_queue(settings))[0], "w")

    s = scrape(settings)
    assert sample(s, "pxl_queue_depth", queue=queue) == 10
    assert sample(s, "pxl_queue_reserved", queue=queue) == 2
    assert sample(s, "pxl_queue_depth", queue=webhook_queue(settings)) == 1
    assert sample(s, "pxl_queue_reserved", queue=webhook_queue(settings)) == 1


def test_workers_online_comes_from_heartbeats(obs_env):
    from workers.jobs import JobStore

    settings, client = obs_env
    assert sample(scrape(settings), "pxl_workers_online") == 0
    store = JobStore(client, settings)
    store.heartbeat("w1@host", {"host": "host", "pid": 1})
    store.heartbeat("w2@host", {"host": "host", "pid": 2})
    assert sample(scrape(settings), "pxl_workers_online") == 2
    store.worker_gone("w2@host")
    assert sample(scrape(settings), "pxl_workers_online") == 1


def test_hooks_never_raise_and_scrape_reports_redis_down(monkeypatch):
    from workers.settings import get_settings

    monkeypatch.setenv("PXL_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    get_settings.cache_clear()
    try:
        metrics.job_submitted("proof")
        metrics.job_started("proof", 0.1)
        metrics.job_finished("proof", "failed", None, 0.1, 0.2)
        metrics.webhook_delivery("retry")
        metrics.rate_limit_rejection()
        metrics.backpressure_rejection("proof")
        s = scrape(get_settings())
        assert sample(s, "pxl_redis_up") == 0
        assert sample(s, "pxl_queue_depth", queue=get_settings().queue_name) is None
    finally:
        get_settings.cache_clear()


def test_label_values_are_bounded():
    assert metrics._label_value(None) == "none"
    assert metrics._label_value("CounterSatisfiable") == "countersatisfiable"
    assert len(metrics._label_value("x" * 500)) == 40


def test_a_failed_ping_is_not_a_failed_webhook_delivery(obs_env):
    """PxlWebhookFailures (monitoring/alerts.yml) tickets the operators when webhooks fail
    after all their retries; a ping (POST /v1/webhooks:ping) is a client testing an endpoint,
    often one that does not work yet, so its one failed attempt must not count there."""
    import socket

    from workers.jobs import JobStore
    from workers.webhooks import run_delivery, send_ping

    settings, client = obs_env
    store = JobStore(client, settings.model_copy(update={"webhook_allowlist": ["127.0.0.1"]}),
                     schedule_webhook=lambda *_args: None)
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ping_id, _log = send_ping(store, "pinger", f"http://127.0.0.1:{port}/hook")
    assert run_delivery(store, ping_id, 1, None, "ping") == "failed"
    s = scrape(settings)
    for outcome in ("failed", "delivered", "retry", "refused"):
        assert sample(s, "pxl_webhook_deliveries_total", outcome=outcome) == 0, outcome
