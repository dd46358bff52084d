"""The app on a real uvicorn server (loopback, the options `pxl serve` uses): events stream as
they happen, a client that disconnects stops its stream's Redis reads, and oversized request
heads are refused with 431 as they arrive."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import Counter

import httpx
import pytest
import uvicorn

from api.server import MAX_HEADER_BYTES, MAX_HEADER_FIELDS, uvicorn_options
from tests.api.conftest import HARD

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(app):
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                       **uvicorn_options())
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def read_counter(app, monkeypatch):
    """Counts the job store's event reads per job id."""
    store = app.state.store
    counts: Counter = Counter()
    original = store.read_events

    def counting(job_id, after=None, block_ms=0):
        counts[job_id] += 1
        return original(job_id, after, block_ms)

    monkeypatch.setattr(store, "read_events", counting)
    return counts


def settled(counts: Counter, key: str, limit_s: float = 15.0) -> bool:
    """True once the count stops growing for 2.5 s (reads are 1 s slices), within limit_s."""
    end = time.monotonic() + limit_s
    last = counts[key]
    while time.monotonic() < end:
        time.sleep(2.5)
        if counts[key] == last:
            return True
        last = counts[key]
    return False


def test_events_stream_live_and_stop_on_disconnect(live, auth, worker, read_counter):
    with httpx.Client(base_url=live, headers=auth, timeout=30) as http:
        job_id = http.post("/v1/proofs", json={"formula": HARD, "timeout": 60}).json()["id"]
        try:
            with http.stream("GET", f"/v1/jobs/{job_id}/events") as response:
                assert response.status_code == 200
                seen = []
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        seen.append(line.removeprefix("event: "))
                    if "started" in seen:
                        break
            # the first events arrived while the job is still running: real streaming
            assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
            assert seen[:2] == ["queued", "started"]
            # the client hung up: the server stops reading this job's stream
            assert settled(read_counter, job_id)
            assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
        finally:
            http.delete(f"/v1/jobs/{job_id}")
        with http.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "0"}
        ) as response:
            data = [
                json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
            ]
        assert data[-1]["status"] == "cancelled"


def test_prefer_wait_over_http(live, auth, worker):
    with httpx.Client(base_url=live, headers=auth, timeout=30) as http:
        response = http.post(
            "/v1/proofs", json={"formula": "[]p -> [][]p"}, headers={"Prefer": "wait=10"}
        )
        assert response.status_code == 200
        assert response.headers["preference-applied"] == "wait=10"
        assert response.json()["result"]["verdict"] == "valid"


def _send_until_answered(address: tuple[str, int], head: bytes, chunk: int = 4096):
    """Send ``head`` in chunks, stopping as soon as the server answers; return the answer."""
    with socket.create_connection(address, timeout=10) as sock:
        sent = 0
        while sent < len(head):
            if select.select([sock], [], [], 0.05 if sent > MAX_HEADER_BYTES else 0)[0]:
                break
            try:
                sock.sendall(head[sent:sent + chunk])
            except OSError:  # the server closed the connection: its answer is waiting
                break
            sent += chunk
        answer = b""
        while chunk_in := sock.recv(65536):
            answer += chunk_in
        return answer, sent


def test_a_1_mb_header_is_refused_with_431_before_it_is_read(live):
    host, port = live.removeprefix("http://").split(":")
    head = (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1024 * 1024
            + b"\r\n\r\n")
    answer, sent = _send_until_answered((host, int(port)), head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 431"), answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["type"] == "https://pxl.logos/problems/headers-too-large"
    assert sent < 256 * 1024  # refused while arriving, not after reading the megabyte
    assert httpx.get(f"{live}/v1/health", timeout=10).status_code == 200  # still serving


def test_too_many_header_fields_is_431_and_normal_heads_pass(live):
    many = {f"x-field-{i}": "v" for i in range(MAX_HEADER_FIELDS + 1)}
    response = httpx.get(f"{live}/v1/health", headers=many, timeout=10)
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-content-type-options"] == "nosniff"
    just_under = {"x-pad": "a" * (MAX_HEADER_BYTES - 1024)}
    assert httpx.get(f"{live}/v1/health", headers=just_under, timeout=10).status_code == 200
