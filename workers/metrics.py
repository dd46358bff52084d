"""Fleet-wide job metrics: their definitions, and the hooks that record them into Redis.

Jobs run in Celery worker processes on any number of hosts, and the API may run several
processes; a per-process Prometheus registry would show each scrape only one process's share.
So the hooks below add their observations to Redis (one pipelined round trip of ``HINCRBY`` /
``HINCRBYFLOAT``, atomic across processes) under ``settings.key_prefix``, and
``workers.fleet_collector`` (registered by ``api.metrics`` for ``GET /v1/metrics``) turns those
hashes, the broker's queue lists and the workers' heartbeats into Prometheus metrics at scrape
time.

Redis layout (``P`` = ``settings.key_prefix``):

* ``P metrics:counters`` hash — field ``<name>\\t<labels JSON>`` → count.
* ``P metrics:histograms`` hash — field ``<name>\\t<labels JSON>\\t<le>`` → observations whose
  smallest bucket bound is ``le`` (``+Inf`` beyond the last), plus ``…\\tsum`` and ``…\\tcount``;
  the collector makes the buckets cumulative.
* ``P metrics:in_progress`` sorted set — member ``<kind>\\t<token>`` per running job, scored by a
  deadline so a job whose worker died stops counting by itself (after ``max_job_timeout`` + 60 s).

Hooks never raise: a metrics failure is logged (at most once a minute) and the job goes on.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable

from prometheus_client.utils import floatToGoString

from workers.connection import make_client
from workers.keys import COUNTERS_KEY, HISTOGRAMS_KEY, IN_PROGRESS_KEY
from workers.settings import Settings, get_settings

log = logging.getLogger("pxl.metrics")

# Bounds include 0.1, 0.3 and 1.2 s so that "P95 < 300 ms" (and an Apdex with T = 0.3 s,
# tolerating 1.2 s) reads exactly from a bucket instead of being interpolated.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.2, 2.5, 5, 10, 30, 60, 120, 300,
)  # fmt: skip

WEBHOOK_OUTCOMES = ("delivered", "retry", "failed", "refused")

# name -> (help, label names)
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pxl_jobs_submitted_total": ("Jobs accepted and enqueued.", ("kind",)),
    "pxl_jobs_finished_total": (
        "Jobs that reached a terminal status (verdict: the prover's answer, or none).",
        ("kind", "status", "verdict"),
    ),
    "pxl_webhook_deliveries_total": (
        "Webhook delivery attempts by outcome (delivered, retry, failed, refused).",
        ("outcome",),
    ),
    "pxl_rate_limit_rejections_total": ("Requests refused with 429 by the rate limiter.", ()),
    "pxl_proof_cache_total": (
        "Proof jobs answered from the result cache (hit) or proved (miss); bypass: no-cache.",
        ("outcome",),
    ),
    "pxl_backpressure_rejections_total": (
        "Submissions refused with 503 because the queue was over max_queue_depth.",
        ("kind",),
    ),
    "pxl_jobs_reconciled_total": (
        "Stranded jobs the reconciler put back: restored (its delivery's process died) or "
        "republished (its message was lost).",
        ("action",),
    ),
}
RECONCILE_ACTIONS = ("restored", "republished")
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pxl_job_queue_wait_seconds": ("From submission to a worker starting the job.", ("kind",)),
    "pxl_job_run_seconds": ("From a worker starting the job to its terminal status.", ("kind",)),
    "pxl_job_end_to_end_seconds": ("From submission to the job's terminal status.", ("kind",)),
}
GAUGES: dict[str, str] = {
    "pxl_jobs_in_progress": "Jobs a worker is running now.",
    "pxl_queue_depth": "Jobs waiting in the broker queue: sum of LLEN over its priority lists.",
    "pxl_queue_reserved": "Jobs fetched by a worker and not yet acknowledged (Redis unacked).",
    "pxl_workers_online": "Workers whose heartbeat is current.",
    "pxl_redis_up": "1 if the metrics scrape could read Redis, else 0.",
}

SEP = "\t"


# --- writing -------------------------------------------------------------------------------

_bound_client = None
_clients: dict[tuple[str, float], object] = {}
_clients_lock = threading.Lock()
_last_failure_log = 0.0
_running_token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pxl_metrics_running_token", default=None
)
_pending_token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pxl_metrics_pending_token", default=None
)


def bind_redis(client) -> None:
    """Record into this client instead of one made from ``settings.redis_url`` (None: unbind)."""
    global _bound_client
    _bound_client = client


def redis_for(settings: Settings):
    """The client the hooks record with (and the collector reads with)."""
    if _bound_client is not None:
        return _bound_client
    key = (settings.redis_url, tuple(settings.redis_sentinels), settings.metrics_redis_timeout)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = make_client(
                    settings,
                    decode_responses=True,
                    socket_timeout=settings.metrics_redis_timeout,
                    socket_connect_timeout=settings.metrics_redis_timeout,
                )
                _clients[key] = client
    return client


def _labels_json(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _label_value(value: object) -> str:
    """Bounded label values: lower-case, at most 40 characters, ``none`` for missing."""
    text = "none" if value is None or value == "" else str(value)
    return text.lower()[:40]


def _bucket_le(value: float) -> str:
    for bound in LATENCY_BUCKETS:
        if value <= bound:
            return format_le(bound)
    return "+Inf"


def format_le(bound: float) -> str:
    return floatToGoString(bound)


def _record(write: Callable[[object, str, Settings], None]) -> None:
    """Run ``write(pipeline, key_prefix, settings)`` and execute it; never raise."""
    global _last_failure_log
    try:
        settings = get_settings()
        pipe = redis_for(settings).pipeline(transaction=False)
        write(pipe, settings.key_prefix, settings)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - a metric must never break a job or a request
        now = time.monotonic()
        if now - _last_failure_log > 60:
            _last_failure_log = now
            log.warning("metrics not recorded: %s: %s", type(exc).__name__, exc)


def _count(pipe, prefix: str, name: str, labels: dict[str, str], amount: int = 1) -> None:
    pipe.hincrby(prefix + COUNTERS_KEY, name + SEP + _labels_json(labels), amount)


def _observe(pipe, prefix: str, name: str, labels: dict[str, str], value: float) -> None:
    if value is None or not math.isfinite(value):
        return
    value = max(0.0, float(value))
    series = name + SEP + _labels_json(labels) + SEP
    key = prefix + HISTOGRAMS_KEY
    pipe.hincrby(key, series + _bucket_le(value), 1)
    pipe.hincrby(key, series + "count", 1)
    pipe.hincrbyfloat(key, series + "sum", value)


def job_submitted(kind: str, amount: int = 1) -> None:
    _record(lambda p, _prefix, settings: write_job_submitted(p, settings, kind, amount))


def write_job_submitted(pipe, settings: Settings, kind: str, amount: int = 1) -> None:
    """Add the write of job_submitted to the caller's pipeline."""
    pipe.hincrby(settings.key_prefix + COUNTERS_KEY, job_submitted_field(kind), amount)


@functools.lru_cache(maxsize=64)
def job_submitted_field(kind: str) -> str:
    """The counters' field of job_submitted (the job store's submission script counts it)."""
    return "pxl_jobs_submitted_total" + SEP + _labels_json({"kind": _label_value(kind)})


def job_started(kind: str, queue_wait_s: float) -> None:
    _record(lambda p, prefix, settings: write_job_started(p, settings, kind, queue_wait_s))


def write_job_started(pipe, settings: Settings, kind: str, queue_wait_s: float) -> None:
    """Add the writes of job_started to the caller's pipeline (the job store puts them in the
    transaction that marks the job running: one round trip)."""
    kind = _label_value(kind)
    token = uuid.uuid4().hex
    _running_token.set(kind + SEP + token)
    now = time.time()
    key = settings.key_prefix + IN_PROGRESS_KEY
    pipe.zremrangebyscore(key, "-inf", now)  # forget runs whose worker died
    pipe.zadd(key, {kind + SEP + token: now + settings.max_job_timeout + 60})
    _observe(pipe, settings.key_prefix, "pxl_job_queue_wait_seconds", {"kind": kind},
             queue_wait_s)


def job_finished(
    kind: str, status: str, verdict: str | None, run_s: float, end_to_end_s: float
) -> None:
    _record(lambda p, _prefix, settings: write_job_finished(
        p, settings, kind, status, verdict, run_s, end_to_end_s))
    finished_recorded()


def write_job_finished(
    pipe, settings: Settings, kind: str, status: str, verdict: str | None, run_s: float,
    end_to_end_s: float,
) -> None:
    """Add the writes of job_finished to the caller's pipeline; call finished_recorded()
    once they were executed."""
    kind = _label_value(kind)
    member = _running_token.get()
    labels = {"kind": kind, "status": _label_value(status), "verdict": _label_value(verdict)}
    prefix = settings.key_prefix
    if member is not None:
        pipe.zrem(prefix + IN_PROGRESS_KEY, member)
    _count(pipe, prefix, "pxl_jobs_finished_total", labels)
    if labels["status"] != "cancelled":  # its duration is the client's choice, not ours
        _observe(pipe, prefix, "pxl_job_run_seconds", {"kind": kind}, run_s)
        _observe(pipe, prefix, "pxl_job_end_to_end_seconds", {"kind": kind}, end_to_end_s)


def _buckets_lua() -> str:
    """LATENCY_BUCKETS as Lua tables (bounds and their ``le`` labels), written into the
    scripts' source: parsed once when Redis loads a script, not on every call."""
    bounds = ", ".join(repr(float(b)) for b in LATENCY_BUCKETS)
    les = ", ".join(f"'{le}'" for le in [*(format_le(b) for b in LATENCY_BUCKETS), "+Inf"])
    return f"local latency_bounds = {{{bounds}}}\nlocal latency_les = {{{les}}}\n"


# For scripts that record job_finished inside Redis (the job store's finish): the same
# fields as write_job_finished, the durations measured by Redis from the job's timestamps.
# KEYS[3..5]: counters, histograms, in-progress; ARGV[10..14]: see finished_script_args.
FINISHED_LUA = _buckets_lua() + """
local now = tonumber(ARGV[9])
local times = redis.call('HMGET', KEYS[1], '_submitted_ts', '_started_ts')
if ARGV[10] ~= '' then redis.pcall('ZREM', KEYS[5], ARGV[10]) end
redis.pcall('HINCRBY', KEYS[3], ARGV[11], 1)
if ARGV[12] == '1' then
  local function observe(series, since)
    local value = since and math.max(0, now - since) or 0
    local le = latency_les[#latency_les]
    for i, b in ipairs(latency_bounds) do if value <= b then le = latency_les[i]; break end end
    redis.pcall('HINCRBY', KEYS[4], series .. le, 1)
    redis.pcall('HINCRBY', KEYS[4], series .. 'count', 1)
    redis.pcall('HINCRBYFLOAT', KEYS[4], series .. 'sum', string.format('%.6f', value))
  end
  observe(ARGV[13], tonumber(times[2]))
  observe(ARGV[14], tonumber(times[1]))
end
"""


# For scripts that record job_started inside Redis (the job store's begin), after setting the
# Lua locals ``kind`` (the label value) and ``queue_wait`` (seconds).  KEYS[3..4]: in-progress,
# histograms; ARGV[7..9]: see started_script_args.
STARTED_LUA = _buckets_lua() + """
local member = kind .. '\t' .. ARGV[7]
redis.pcall('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[8])  -- forget runs whose worker died
redis.pcall('ZADD', KEYS[3], tonumber(ARGV[8]) + tonumber(ARGV[9]), member)
local series = 'pxl_job_queue_wait_seconds\t{"kind":"' .. kind .. '"}\t'
local value = math.max(0, queue_wait)
local le = latency_les[#latency_les]
for i, b in ipairs(latency_bounds) do if value <= b then le = latency_les[i]; break end end
redis.pcall('HINCRBY', KEYS[4], series .. le, 1)
redis.pcall('HINCRBY', KEYS[4], series .. 'count', 1)
redis.pcall('HINCRBYFLOAT', KEYS[4], series .. 'sum', string.format('%.6f', value))
"""


def started_script_args(settings: Settings, now: float) -> tuple[list[str], list[str]]:
    """(KEYS[3..4], ARGV[7..9]) of STARTED_LUA; then call started_recorded(kind)."""
    token = uuid.uuid4().hex
    _pending_token.set(token)
    keys = [settings.key_prefix + IN_PROGRESS_KEY, settings.key_prefix + HISTOGRAMS_KEY]
    return keys, [token, repr(now), str(settings.max_job_timeout + 60)]


def started_recorded(kind: str) -> None:
    """The script recorded the start of a job of ``kind``: remember its in-progress entry."""
    _running_token.set(_label_value(kind) + SEP + (_pending_token.get() or ""))


def finished_script_args(
    settings: Settings, kind: str, status: str, verdict: str | None
) -> tuple[list[str], list[str]]:
    """(KEYS[3..5], ARGV[10..14]) of FINISHED_LUA for a job ending now."""
    keys, args = _finished_script_args(settings.key_prefix, kind, status, verdict)
    return list(keys), [_running_token.get() or "", *args]


@functools.lru_cache(maxsize=256)
def _finished_script_args(prefix: str, kind: str, status: str,
                          verdict: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """finished_script_args but the token: the same few label sets for every job."""
    kind = _label_value(kind)
    labels = {"kind": kind, "status": _label_value(status), "verdict": _label_value(verdict)}
    kind_labels = _labels_json({"kind": kind})
    keys = (prefix + COUNTERS_KEY, prefix + HISTOGRAMS_KEY, prefix + IN_PROGRESS_KEY)
    args = (
        "pxl_jobs_finished_total" + SEP + _labels_json(labels),
        "0" if labels["status"] == "cancelled" else "1",  # its duration is the client's choice
        "pxl_job_run_seconds" + SEP + kind_labels + SEP,
        "pxl_job_end_to_end_seconds" + SEP + kind_labels + SEP,
    )
    return keys, args


def finished_recorded() -> None:
    """The running job's in-progress entry was removed: forget its token."""
    _running_token.set(None)


def webhook_delivery(outcome: str) -> None:
    """outcome: delivered | retry | failed | refused"""
    labels = {"outcome": _label_value(outcome)}
    _record(lambda p, prefix, _s: _count(p, prefix, "pxl_webhook_deliveries_total", labels))


def proof_cache(outcome: str) -> None:
    """outcome: hit | miss | bypass (a proof job's use of the result cache)"""
    _record(lambda p, _prefix, settings: write_proof_cache(p, settings, outcome))


def write_proof_cache(pipe, settings: Settings, outcome: str) -> None:
    """proof_cache's count on a pipeline of the caller's."""
    pipe.hincrby(settings.key_prefix + COUNTERS_KEY, proof_cache_field(outcome), 1)


@functools.lru_cache(maxsize=16)
def proof_cache_field(outcome: str) -> str:
    """The counters' field of proof_cache (the job store's finish script counts it)."""
    return "pxl_proof_cache_total" + SEP + _labels_json({"outcome": _label_value(outcome)})


def rate_limit_rejection() -> None:
    """A request refused with 429 (called by the rate limiter)."""
    _record(lambda p, prefix, _s: _count(p, prefix, "pxl_rate_limit_rejections_total", {}))


def backpressure_rejection(kind: str) -> None:
    """A submission refused with 503 because the queue is full (called where QueueFull is mapped)."""
    labels = {"kind": _label_value(kind)}
    _record(lambda p, prefix, _s: _count(p, prefix, "pxl_backpressure_rejections_total", labels))


def job_reconciled(action: str) -> None:
    """action: restored | republished (workers.reconciler)."""
    labels = {"action": _label_value(action)}
    _record(lambda p, prefix, _s: _count(p, prefix, "pxl_jobs_reconciled_total", labels))
