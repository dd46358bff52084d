"""The fleet's job metrics read back from Redis at scrape time (``GET /v1/metrics``).

``FleetCollector`` (registered by ``api.metrics``) turns what the hooks of workers.metrics
recorded, the broker's queue lists and the workers' heartbeats into Prometheus metrics.  It
reads those keys through workers.keys, never through the job store or the Celery app.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from workers import heartbeats
from workers.keys import (
    COUNTERS_KEY,
    HISTOGRAMS_KEY,
    IN_PROGRESS_KEY,
    broker_queue_keys,
    broker_unacked_key,
    webhook_queue,
)
from workers.metrics import (
    COUNTERS,
    GAUGES,
    HISTOGRAMS,
    LATENCY_BUCKETS,
    RECONCILE_ACTIONS,
    SEP,
    WEBHOOK_OUTCOMES,
    format_le,
    log,
    redis_for,
)
from workers.record import KINDS
from workers.settings import Settings, get_settings


def _split_series(field: str) -> tuple[str, dict[str, str], str | None] | None:
    parts = field.split(SEP)
    try:
        labels = json.loads(parts[1])
    except (IndexError, ValueError):
        return None
    if not isinstance(labels, dict):
        return None
    return parts[0], labels, parts[2] if len(parts) > 2 else None


def _le_key(le: str) -> float:
    try:
        return float(le)
    except ValueError:
        return math.inf


def counter_families(raw: dict[str, str]) -> list:
    families = {}
    for name, (doc, label_names) in COUNTERS.items():
        families[name] = CounterMetricFamily(name, doc, labels=label_names)
    seen: set[tuple[str, tuple]] = set()
    for field, value in raw.items():
        parsed = _split_series(field)
        if parsed is None or parsed[0] not in families:
            continue
        name, labels, _ = parsed
        label_names = COUNTERS[name][1]
        values = tuple(str(labels.get(n, "")) for n in label_names)
        families[name].add_metric(values, float(value))
        seen.add((name, values))
    # Known series start at 0 so that the first increment shows in rate()/increase().
    defaults = {
        "pxl_jobs_submitted_total": [(k,) for k in KINDS],
        "pxl_backpressure_rejections_total": [(k,) for k in KINDS],
        "pxl_webhook_deliveries_total": [(o,) for o in WEBHOOK_OUTCOMES],
        "pxl_rate_limit_rejections_total": [()],
        "pxl_jobs_reconciled_total": [(a,) for a in RECONCILE_ACTIONS],
    }
    for name, series in defaults.items():
        for values in series:
            if (name, values) not in seen:
                families[name].add_metric(values, 0.0)
    return list(families.values())


def histogram_families(raw: dict[str, str]) -> list:
    series: dict[tuple[str, tuple], dict] = {}
    for field, value in raw.items():
        parsed = _split_series(field)
        if parsed is None or parsed[0] not in HISTOGRAMS or parsed[2] is None:
            continue
        name, labels, part = parsed
        values = tuple(str(labels.get(n, "")) for n in HISTOGRAMS[name][1])
        entry = series.setdefault((name, values), {"buckets": {}, "sum": 0.0, "count": 0.0})
        if part == "sum":
            entry["sum"] = float(value)
        elif part == "count":
            entry["count"] = float(value)
        else:
            entry["buckets"][part] = entry["buckets"].get(part, 0.0) + float(value)

    all_les = [format_le(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    families = {
        name: HistogramMetricFamily(name, doc, labels=label_names)
        for name, (doc, label_names) in HISTOGRAMS.items()
    }
    for (name, values), entry in sorted(series.items()):
        les = sorted(set(all_les) | set(entry["buckets"]), key=_le_key)
        cumulative, buckets = 0.0, []
        for le in les:
            cumulative += entry["buckets"].get(le, 0.0)
            buckets.append((le, cumulative))
        # count is written in the same pipeline as the bucket; keep +Inf == count regardless
        buckets[-1] = ("+Inf", max(cumulative, entry["count"]))
        families[name].add_metric(list(values), buckets, entry["sum"])
    return list(families.values())


def in_progress_family(members: Iterable[str]):
    counts = dict.fromkeys(KINDS, 0)
    for member in members:
        kind = member.split(SEP, 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    family = GaugeMetricFamily(
        "pxl_jobs_in_progress", GAUGES["pxl_jobs_in_progress"], labels=("kind",)
    )
    for kind, count in sorted(counts.items()):
        family.add_metric([kind], count)
    return family


def count_reserved(unacked_values: Iterable[str], queues: Iterable[str]) -> dict[str, int]:
    """Per queue, how many kombu ``unacked`` entries (JSON ``[payload, exchange, routing_key]``)
    it owns; a task is routed with its queue's name as routing key."""
    counts = dict.fromkeys(queues, 0)
    for raw in unacked_values:
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if routing_key in counts:
            counts[routing_key] += 1
    return counts


class FleetCollector:
    """Prometheus collector for the whole fleet's job metrics, read from Redis at scrape time.

    Queue depth (the queue-depth SLO metric) is defined here:

    * ``pxl_queue_depth{queue}`` = Σ ``LLEN`` over every Redis list kombu keeps for the queue:
      the base list and one per priority step (``workers.keys.broker_queue_keys``), i.e.
      messages no worker has fetched yet. Reported for the job queue (``settings.queue_name``)
      and the webhook queue (``<queue_name>.webhooks``).
    * ``pxl_queue_reserved{queue}`` = entries of kombu's ``unacked`` hash routed to the queue:
      messages a worker fetched and has not acknowledged. With ``task_acks_late`` that is
      prefetched tasks plus running ones (a task is acknowledged when it returns). A killed
      worker's messages stay there until kombu restores them after the visibility timeout.
    """

    def __init__(self, settings: Settings | None = None, redis=None):
        self._settings = settings
        self._redis = redis

    def describe(self):
        return []  # no description: collect() needs Redis, which registration must not touch

    def collect(self):
        settings = self._settings or get_settings()
        redis = self._redis or redis_for(settings)
        prefix = settings.key_prefix
        queues = [settings.queue_name, webhook_queue(settings)]
        up = GaugeMetricFamily("pxl_redis_up", GAUGES["pxl_redis_up"])
        try:
            pipe = redis.pipeline(transaction=False)
            pipe.hgetall(prefix + COUNTERS_KEY)
            pipe.hgetall(prefix + HISTOGRAMS_KEY)
            pipe.zrangebyscore(prefix + IN_PROGRESS_KEY, time.time(), "+inf")
            pipe.hvals(broker_unacked_key(settings))
            list_counts = []
            for queue in queues:
                keys = broker_queue_keys(settings, queue)
                list_counts.append(len(keys))
                for key in keys:
                    pipe.llen(key)
            counters, histograms, running, unacked, *lengths = pipe.execute()
            workers = _workers_online(redis, settings)
        except Exception as exc:  # noqa: BLE001 - report Redis as down, keep the scrape working
            log.warning("fleet metrics unavailable: %s: %s", type(exc).__name__, exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from counter_families(counters)
        yield from histogram_families(histograms)
        yield in_progress_family(running)
        depth = GaugeMetricFamily("pxl_queue_depth", GAUGES["pxl_queue_depth"], labels=["queue"])
        reserved = GaugeMetricFamily(
            "pxl_queue_reserved", GAUGES["pxl_queue_reserved"], labels=["queue"]
        )
        reserved_counts = count_reserved(unacked, queues)
        for queue, n in zip(queues, list_counts, strict=True):
            depth.add_metric([queue], sum(int(x) for x in lengths[:n]))
            lengths = lengths[n:]
            reserved.add_metric([queue], reserved_counts[queue])
        yield depth
        yield reserved
        online = GaugeMetricFamily("pxl_workers_online", GAUGES["pxl_workers_online"])
        online.add_metric([], workers)
        yield online


def _workers_online(redis, settings: Settings) -> int:
    """How many workers have a current heartbeat."""
    return len(heartbeats.workers_online(redis, settings))
