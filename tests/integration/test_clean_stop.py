"""Stopping `pxl worker` and `pxl up` with a job running: a visible grace period, then the job
goes back on the queue (not lost), no process of the service is left, and the job ends exactly
once on a worker started afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    HARD,
    ROOT,
    WorkerProcess,
    final_events,
    submit_proof,
    wait_status,
)
from tests.integration.test_pxl_up import free_port, start_up
from workers.processes import descendants

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRACE = 1.0


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_all_gone(pids: list[int], within: float) -> None:
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "processes left behind"


def finish_elsewhere(store, pxl_env, job_id: str, tmp_path) -> None:
    """The requeued job ends exactly once on a worker started after the stop."""
    doc = store.get(job_id)
    assert doc["status"] in ("queued", "running"), doc  # not lost, not ended by the stop
    later = WorkerProcess(pxl_env, concurrency=1, log=tmp_path / "later.log").start()
    try:
        done = store.wait_terminal(job_id, 60)
        assert done and done["status"] == "succeeded", done
        assert done["result"]["verdict"] == "unknown"  # the job's own timeout, on the new worker
    finally:
        later.stop()
    assert final_events(store, job_id) == ["succeeded"]


def test_ctrl_c_of_pxl_worker_waits_then_requeues_and_leaves_nothing(pxl_env, store, tmp_path):
    env = {**os.environ, "PXL_SHUTDOWN_GRACE_SECONDS": str(GRACE), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "worker.log"
    worker = WorkerProcess(env, concurrency=1, log=log).start()
    doc = submit_proof(store, HARD, timeout=8.0)
    wait_status(store, doc["id"], "running")
    tree = descendants(worker.pid)
    assert tree  # the supervisor's worker process
    worker.proc.send_signal(signal.SIGINT)
    assert_all_gone(tree, GRACE + 2)
    assert worker.proc.wait(10) == 0
    text = log.read_text(errors="replace")
    assert "waiting for 1 running job" in text and "Ctrl-C again to stop now" in text, text
    assert f"requeued 1 unfinished job: {doc['id']}" in text, text
    finish_elsewhere(store, pxl_env, doc["id"], tmp_path)


def test_second_ctrl_c_of_pxl_up_stops_at_once(pxl_env, store, tmp_path):
    # pxl up on the test Redis (it answers at PXL_REDIS_URL); a long grace that the second
    # Ctrl-C cuts short.
    up = start_up(tmp_path, free_port(), {"PXL_SHUTDOWN_GRACE_SECONDS": "60"})
    try:
        doc = submit_proof(store, HARD, timeout=8.0)
        wait_status(store, doc["id"], "running")
        tree = descendants(up.proc.pid)
        assert len(tree) >= 3  # the API, the worker's supervisor and its process
        up.proc.send_signal(signal.SIGINT)
        up.wait_for("waiting for 1 running job")
        up.proc.send_signal(signal.SIGINT)
        assert_all_gone(tree, 2)
        assert up.proc.wait(10) == 0
    finally:
        up.stop()
    assert "requeued 1 unfinished job" in up.text()
    finish_elsewhere(store, pxl_env, doc["id"], tmp_path)


def test_sigterm_without_running_jobs_stops_at_once(pxl_env, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
         "worker", "--concurrency", "2"],
        env={**os.environ, "PXL_SHUTDOWN_GRACE_SECONDS": "60"}, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 30
    while len(tree := descendants(proc.pid)) < 2:  # both worker processes started
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)  # not the 60 s grace: nothing was running
    assert proc.returncode == 0 and "stopping (no running job)" in out, out
    assert_all_gone(tree, 1)
