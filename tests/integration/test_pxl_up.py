"""`pxl up`: a real Redis of its own whose data survives a restart, an honest banner, and a
clear line when the port is taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ROOT, VALID

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Up:
    """A `pxl up` subprocess and its output."""

    def __init__(self, proc: subprocess.Popen, log: Path, port: int):
        self.proc, self.log, self.port = proc, log, port

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while needle not in (text := self.text()):
            assert self.proc.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
        return text

    def token(self) -> str:
        text = self.wait_for("pxl up: the service is ready")
        return next(x for x in text.splitlines() if "export TOKEN=" in x).split("=", 1)[1]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)


def start_up(tmp_path: Path, port: int, extra_env: dict, *args: str) -> Up:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra_env}
    env.pop("PXL_JWT_SECRET", None)  # pxl up makes a key and prints a token
    env.pop("PXL_WEBHOOK_MASTER_KEY", None)
    env = {k: v for k, v in env.items() if v is not None}  # None in extra_env: unset
    log = tmp_path / f"up-{port}-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             "up", "--port", str(port), "--concurrency", "1", *args],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    return Up(proc, log, port)


def test_jobs_and_tokens_survive_a_restart_of_pxl_up(pxl_env, tmp_path):
    data = tmp_path / "data"
    env = {"PXL_DATA_DIR": str(data), "PXL_WEBHOOK_ALLOWLIST": None}
    port = free_port()
    first = start_up(tmp_path, port, env, "--embedded")
    try:
        token = first.token()
        text = first.text()
        lines = [x for x in text.splitlines() if x.strip()]
        assert f"Data lives in {data}" in text and "redis-server of its own" in text, text
        assert "Webhook signing secret of client 'local': whsec_" in text
        assert "callbacks to this machine" in text
        # the last lines are what a user needs; no Celery banner, no root warning
        assert "export TOKEN=" in lines[-4] and "curl -s -X POST" in lines[-2], text
        assert lines[-1].startswith("Docs:"), text
        # the web console, signed in with the same token (in the #fragment, never sent)
        assert f"Web console, signed in: http://127.0.0.1:{port}/#token={token}" in text, text
        console = httpx.get(f"http://127.0.0.1:{port}/proofs", timeout=10)
        assert console.status_code == 200 and "Proof Console" in console.text
        assert "celery@" not in text and "superuser privileges" not in text, text
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/proofs", json={"formula": VALID},
                            headers={"Authorization": f"Bearer {token}", "Prefer": "wait=20"},
                            timeout=30)
        assert answer.status_code == 200, answer.text
        job_id = answer.json()["id"]
    finally:
        assert first.stop() == 0, first.text()[-2000:]
    assert "pxl up: stopped." in first.text()

    second = start_up(tmp_path, port, env, "--embedded")
    try:
        second.token()
        again = httpx.get(f"http://127.0.0.1:{port}/v1/jobs/{job_id}",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert again.status_code == 200, again.text  # the first run's token and job
        assert again.json()["result"]["verdict"] == "valid"
    finally:
        assert second.stop() == 0, second.text()[-2000:]


def test_a_taken_port_is_one_line_before_any_token(pxl_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = start_up(tmp_path, port, {})
        assert up.proc.wait(timeout=30) == 2
    text = up.text().strip()
    assert len(text.splitlines()) == 1 and "--port" in text and str(port) in text, text
