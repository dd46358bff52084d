"""Embedded mode: Celery, kombu and the job store over fakeredis's TCP server, and `pxl up`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.integration.conftest import HARD, ROOT, VALID, WorkerProcess, submit_proof, wait_status

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


def test_pxl_up_without_redis_proves_a_formula_over_http(pxl_env, tmp_path):
    port = free_port()
    dead = free_port()  # nothing listens there: forces the embedded mode
    env = {**os.environ, "PXL_REDIS_URL": f"redis://127.0.0.1:{dead}/0", "PYTHONUNBUFFERED": "1"}
    env.pop("PXL_JWT_SECRET", None)  # pxl up makes an ephemeral key and prints a token
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             "up", "--port", str(port), "--concurrency", "1"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        token = None
        deadline = time.monotonic() + 60
        while token is None:
            text = log.read_text(errors="replace")
            if "service is ready" in text:
                lines = text.splitlines()
                token = lines[lines.index(next(x for x in lines if "A token" in x)) + 2].strip()
            assert proc.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert "TRY-OUT MODE" in text and "NOTHING PERSISTS" in text
        assert "curl -s -X POST" in text
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/proofs",
            json={"formula": VALID},
            headers={"Authorization": f"Bearer {token}", "Prefer": "wait=20"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["verdict"] == "valid"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text(errors="replace")[-2000:]
    assert "pxl up: stopped." in log.read_text(errors="replace")
