"""Which workers are alive: each worker's heartbeat, read by the API's health check, the
``pxl_workers_online`` metric and the compose health check.

A worker writes ``workers.keys.worker_key`` (its record, with a TTL of three beats) and its
score in ``workers.keys.workers_key`` every settings.worker_heartbeat_seconds (the Celery
bootstep in workers.celery_app); it counts as online while its last beat is that recent.

The process running a job holds the job's lease (workers.keys.lease_key) the same way: set
when the job begins, renewed every beat while it runs, gone ``lease_seconds`` after the
process dies (workers.reconciler acts on that).
"""

from __future__ import annotations

import json
import os
import time

from workers import keys
from workers.record import dumps, rfc3339
from workers.settings import Settings

SUPERVISOR_ENV = "PXL_WORKER_SUPERVISOR"  # "<pid>:<processes>" in the supervised children


def supervisor_info() -> dict:
    """Heartbeat fields of a supervised child: its supervisor's pid and how many it runs."""
    raw = os.environ.get(SUPERVISOR_ENV, "")
    pid, _, processes = raw.partition(":")
    if not (pid.isdigit() and processes.isdigit()):
        return {}
    return {"supervisor": int(pid), "processes": int(processes)}


def lease_seconds(settings: Settings) -> int:
    """How long a job's lease outlives its last renewal: three beats."""
    return max(1, int(settings.worker_heartbeat_seconds * 3))


def heartbeat(client, settings: Settings, worker_id: str, info: dict) -> None:
    now = time.time()
    ttl = lease_seconds(settings)
    record = {"id": worker_id, "last_seen": rfc3339(now), **info}
    workers = keys.workers_key(settings.key_prefix)
    with client.pipeline(transaction=True) as pipe:
        pipe.set(keys.worker_key(settings.key_prefix, worker_id), dumps(record), ex=ttl)
        pipe.zadd(workers, {worker_id: now})
        pipe.zremrangebyscore(workers, "-inf", now - 3600)
        pipe.execute()


def worker_gone(client, settings: Settings, worker_id: str) -> None:
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.worker_key(settings.key_prefix, worker_id))
        pipe.zrem(keys.workers_key(settings.key_prefix), worker_id)
        pipe.execute()


def workers_online(client, settings: Settings) -> list[dict]:
    since = time.time() - settings.worker_heartbeat_seconds * 3
    ids = client.zrangebyscore(keys.workers_key(settings.key_prefix), since, "+inf")
    if not ids:
        return []
    raws = client.mget([keys.worker_key(settings.key_prefix, i) for i in ids])
    return [json.loads(raw) for raw in raws if raw]
