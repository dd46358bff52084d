"""The webhook receiver printed in docs/jobs.md ("Trying webhooks locally") runs as written and
accepts exactly the callbacks the service signs."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from workers.webhooks import sign

DOC = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks example key


def receiver_source() -> str:
    section = DOC.read_text().split("**Trying webhooks locally.**", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_receiver_verifies_a_signed_callback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = receiver_source()
    assert '("127.0.0.1", 9000)' in source
    script = tmp_path / "receiver.py"
    script.write_text(source.replace('("127.0.0.1", 9000)', f'("127.0.0.1", {port})'))
    proc = subprocess.Popen([sys.executable, "-u", str(script)], env={"WHSEC": SECRET},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = b'{"type": "job.succeeded", "data": {"id": "j1"}}'
        ts = int(time.time())
        good = {"webhook-id": "msg_j1", "webhook-timestamp": str(ts),
                "webhook-signature": sign(SECRET, "msg_j1", ts, body)}
        url = f"http://127.0.0.1:{port}/hook"
        for _ in range(100):
            try:
                answer = httpx.post(url, content=body, headers=good, timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert answer.status_code == 204
        forged = {**good, "webhook-signature": sign(SECRET, "msg_j1", ts, body + b" ")}
        assert httpx.post(url, content=body, headers=forged, timeout=5).status_code == 400
        stale = {**good, "webhook-timestamp": str(ts - 600),
                 "webhook-signature": sign(SECRET, "msg_j1", ts - 600, body)}
        assert httpx.post(url, content=body, headers=stale, timeout=5).status_code == 400
    finally:
        proc.kill()
        out = proc.communicate()[0]
    assert out.splitlines()[0].startswith("verified") and "BAD SIGNATURE" in out, out
