"""The last-resort embedded mode: Celery, kombu and the job store over fakeredis's TCP server
(`pxl up` with no redis-server binary; tests/integration/test_pxl_up.py has the real one)."""

from __future__ import annotations

import socket

import pytest

from tests.integration.conftest import HARD, VALID, WorkerProcess, submit_proof, wait_status

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_and_store_run_over_the_embedded_redis(pxl_env, tmp_path):
    from workers.celery_app import app_for, job_store
    from workers.embedded import EmbeddedRedis, redis_answers
    from workers.settings import get_settings

    with EmbeddedRedis() as embedded:
        assert redis_answers(embedded.url)
        settings = get_settings().model_copy(update={"redis_url": embedded.url})
        worker = WorkerProcess({**pxl_env, "PXL_REDIS_URL": embedded.url}, concurrency=1,
                               log=tmp_path / "worker.log", settings=settings)
        worker.start()  # its heartbeat arrived through the embedded server
        try:
            store = job_store(settings)
            # BRPOP delivery, transactions, and the blocking stream read of wait_terminal
            doc = submit_proof(store, VALID)
            done = store.wait_terminal(doc["id"], 20)
            assert done["status"] == "succeeded" and done["result"]["verdict"] == "valid"
            # pub/sub: a broadcast control command reaches the worker and it replies
            replies = app_for(settings).control.ping(timeout=3.0)
            assert any(worker_name.startswith("pxl-") for r in replies for worker_name in r)
            # cancellation of a running job
            long = submit_proof(store, HARD, timeout=60.0)
            wait_status(store, long["id"], "running")
            store.cancel(long["id"], "tester")
            assert store.wait_terminal(long["id"], 10)["status"] == "cancelled"
        finally:
            worker.stop()
