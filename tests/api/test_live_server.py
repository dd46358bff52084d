"""The app on a real uvicorn server (loopback): events stream as they happen, and a client
that disconnects stops its stream's Redis reads."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx
import pytest
import uvicorn

from tests.api.conftest import HARD

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(app):
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
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
