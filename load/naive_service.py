"""The naive service we are compared with: a FastAPI endpoint that queues a Celery no-op task
and blocks on its result, the way a FastAPI + Celery tutorial writes it.

It is the yardstick of load/side_by_side.py, written for this repository (the shape of the
shared platform baseline, not its code): Redis as broker and result backend, a sync route
(FastAPI runs it in its thread pool) calling ``delay().get()``, a prefork worker, and the
settings a careful deployment would pick anyway (late ack, requeue on worker loss, one
prefetched message per process, JSON only, task events off).  It checks no token, keeps no
record, emits no event and counts no metric: everything our job path does beyond this is
overhead to be paid for.

    NAIVE_REDIS_URL=redis://127.0.0.1:6400/0 celery -A load.naive_service worker -P prefork -c 2
    NAIVE_REDIS_URL=... uvicorn --factory load.naive_service:create_app --port 8100
"""

from __future__ import annotations

import os

from celery import Celery
from fastapi import FastAPI
from pydantic import BaseModel

REDIS_URL = os.environ.get("NAIVE_REDIS_URL", "redis://127.0.0.1:6379/14")
QUEUE = os.environ.get("NAIVE_QUEUE", "naive")
RESULT_TIMEOUT_S = 30.0

celery = Celery("naive", broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
    task_default_queue=QUEUE,
    worker_send_task_events=False,
    task_send_sent_event=False,
    broker_connection_retry_on_startup=True,
)


@celery.task(name="naive.noop")
def noop(value: int) -> int:
    return value


class Payload(BaseModel):
    x: int


def create_app() -> FastAPI:
    app = FastAPI(title="naive", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.post("/noop")
    def run_noop(payload: Payload) -> dict:
        return {"x": noop.delay(payload.x).get(timeout=RESULT_TIMEOUT_S)}

    return app
