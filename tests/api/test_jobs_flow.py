"""The job flow over HTTP with the real Redis and a real `pxl worker`: submit, poll, wait,
idempotency, events, cancel, list, health."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from tests.api.conftest import HARD, TERMINAL, assert_problem, poll

pytestmark = pytest.mark.integration


def submit(client, auth, body, **headers):
    return client.post("/v1/proofs", json=body, headers={**auth, **headers})


def check_result(result: dict):
    from workers.prover.check import check_result_document

    report = check_result_document(result)
    assert report.ok, report.reason


def test_submit_then_poll_valid_with_certificate(client, auth, worker):
    response = submit(client, auth, {"formula": "[](p -> q) -> ([]p -> []q)", "timeout": 10})
    assert response.status_code == 202, response.text
    doc = response.json()
    assert response.headers["location"] == f"/v1/proofs/{doc['id']}"
    assert doc["status"] in ("queued", "running", "succeeded") and doc["kind"] == "proof"
    assert doc["links"] == {
        "self": f"/v1/proofs/{doc['id']}",
        "job": f"/v1/jobs/{doc['id']}",
        "events": f"/v1/jobs/{doc['id']}/events",
    }
    assert doc["params"]["formula_text"] == "[](p -> q) -> []p -> []q"
    done = poll(client, response.headers["location"], auth)
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["verdict"], result["szs_status"]) == ("valid", "Theorem")
    proof = json.loads(base64.b64decode(result["certificate"], validate=True))
    assert isinstance(proof, dict) and proof
    assert result["queue_wait_ms"] >= 0 and result["run_ms"] >= 0
    check_result(result)
    # the same job under /v1/jobs
    assert client.get(f"/v1/jobs/{doc['id']}", headers=auth).json()["result"] == result


def test_invalid_formula_in_json_form_has_checked_countermodel(client, auth, worker):
    formula = {"implies": [{"atom": "p"}, {"box": {"atom": "p"}}]}
    response = submit(client, auth, {"formula": formula}, Prefer="wait=20")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["verdict"] == "invalid" and result["countermodel"]
    check_result(result)
    # a corrupted countermodel (p made true everywhere, so p -> []p holds) fails the checker
    bad = json.loads(json.dumps(result))
    for world in bad["countermodel"]["worlds"]:
        world["true_atoms"] = ["p"]
    from workers.prover.check import check_result_document

    assert not check_result_document(bad).ok


def test_coq_option_returns_the_coq_proof(client, auth, worker):
    from workers.prover import parse_formula
    from workers.prover.coq import export_certificate

    response = submit(client, auth, {"formula": "[]p -> p", "coq": True}, Prefer="wait=20")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["verdict"] == "valid"
    assert result["coq_proof"] == export_certificate(parse_formula("[]p -> p"), result["certificate"])
    plain = submit(client, auth, {"formula": "[]p -> p"}, Prefer="wait=20").json()["result"]
    assert "coq_proof" not in plain
    refused = submit(client, auth, {"formula": "[]p -> p", "coq": "yes"})
    assert refused.status_code == 422, refused.text


def test_prefer_wait(client, auth, worker):
    response = submit(client, auth, {"formula": "<>[]p -> []p"}, Prefer="wait=20")
    assert response.status_code == 200, response.text
    assert response.headers["preference-applied"] == "wait=20"
    assert response.json()["status"] == "succeeded"
    assert response.json()["result"]["verdict"] == "valid"
    clamped = submit(client, auth, {"formula": "p | ~p"}, Prefer="wait=9999, return=minimal")
    assert clamped.status_code == 200
    assert clamped.headers["preference-applied"] == "wait=30"
    no_wait = submit(client, auth, {"formula": "p | ~p"}, Prefer="respond-async, wait=5")
    assert no_wait.status_code == 202 and "preference-applied" not in no_wait.headers


def test_prefer_wait_answers_202_when_not_finished(client, auth, worker):
    response = submit(client, auth, {"formula": HARD, "timeout": 30}, Prefer="wait=1")
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=1"
    doc = response.json()
    assert doc["status"] in ("queued", "running")
    assert client.delete(f"/v1/jobs/{doc['id']}", headers=auth).status_code in (200, 202)
    assert poll(client, f"/v1/jobs/{doc['id']}", auth)["status"] == "cancelled"


def test_idempotency(client, auth, tokens, worker):
    key = {"Idempotency-Key": "retry-me-123"}
    first = submit(client, auth, {"formula": "[]p -> p"}, **key)
    assert first.status_code == 202
    job_id = first.json()["id"]
    again = submit(client, auth, {"formula": "[]p -> p"}, **key, Prefer="wait=20")
    assert again.status_code == 200 and again.json()["id"] == job_id
    replay = submit(client, auth, {"formula": "[]p -> p"}, **key)
    assert replay.status_code == 200 and replay.json()["status"] == "succeeded"
    assert replay.headers["location"] == f"/v1/proofs/{job_id}"
    conflict = submit(client, auth, {"formula": "[]p -> []p"}, **key)
    assert_problem(conflict, 409, "idempotency-conflict")
    conflict = submit(client, auth, {"formula": "[]p -> p", "timeout": 5}, **key)
    assert_problem(conflict, 409, "idempotency-conflict")
    # keys are per client: another client's identical key is a new job
    other = submit(client, tokens(), {"formula": "[]p -> p"}, **key)
    assert other.status_code == 202 and other.json()["id"] != job_id


def test_other_clients_jobs_are_404(client, tokens, worker):
    alice, bob = tokens(), tokens()
    job_id = submit(client, alice, {"formula": "p -> p"}).json()["id"]
    for path in (f"/v1/proofs/{job_id}", f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/events"):
        assert_problem(client.get(path, headers=bob), 404, "job-not-found")
    assert_problem(client.delete(f"/v1/jobs/{job_id}", headers=bob), 404, "job-not-found")
    assert client.get(f"/v1/jobs/{job_id}", headers=alice).status_code == 200


def test_proofs_route_only_serves_proof_jobs(client, store, worker):
    from api.auth import mint_token

    owner = "client-kinds"
    doc, _ = store.submit(
        kind="chrono", owner=owner, params={"operation": "validate", "formula": "p"}
    )
    headers = {"Authorization": f"Bearer {mint_token(owner, ['jobs:read'])}"}
    assert_problem(client.get(f"/v1/proofs/{doc['id']}", headers=headers), 404, "job-not-found")
    got = client.get(f"/v1/jobs/{doc['id']}", headers=headers).json()
    assert got["kind"] == "chrono" and got["links"]["self"] == f"/v1/jobs/{doc['id']}"


def read_sse(client, url: str, headers: dict) -> list[dict]:
    """The stream as a list of frames: {"id"?, "event"?, "data"?, "comment"?, "retry"?}."""
    frames = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    for block in text.split("\n\n"):
        if not block:
            continue
        frame: dict = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                frame["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                frame[name] = value
        frames.append(frame)
    return frames


def events_of(frames):
    return [f for f in frames if "event" in f]


def test_event_stream_resume_and_end(client, auth, worker):
    job_id = submit(client, auth, {"formula": "[]p -> <>p"}).json()["id"]
    frames = read_sse(client, f"/v1/jobs/{job_id}/events", auth)  # returns: the stream ended
    events = events_of(frames)
    names = [e["event"] for e in events]
    assert names[0] == "queued" and "started" in names and names[-1] == "succeeded"
    assert all(e["id"] for e in events)
    ids = [tuple(map(int, e["id"].split("-"))) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    final = json.loads(events[-1]["data"])
    assert final["status"] == "succeeded" and final["result"]["verdict"] == "valid"
    assert frames[0].get("retry")
    # resume after the first event: only the later ones
    resumed = events_of(
        read_sse(client, f"/v1/jobs/{job_id}/events", {**auth, "Last-Event-ID": events[0]["id"]})
    )
    assert [e["id"] for e in resumed] == [e["id"] for e in events[1:]]
    by_query = events_of(
        read_sse(client, f"/v1/jobs/{job_id}/events?last_event_id={events[1]['id']}", auth)
    )
    assert [e["id"] for e in by_query] == [e["id"] for e in events[2:]]
    # resuming after the final event: an empty stream that ends
    assert (
        events_of(
            read_sse(
                client, f"/v1/jobs/{job_id}/events", {**auth, "Last-Event-ID": events[-1]["id"]}
            )
        )
        == []
    )


def test_event_stream_heartbeats_have_no_ids(client, auth, worker, monkeypatch):
    import api.sse

    monkeypatch.setattr(api.sse, "HEARTBEAT_SECONDS", 0.2)
    job_id = submit(client, auth, {"formula": HARD, "timeout": 2}).json()["id"]
    frames = read_sse(client, f"/v1/jobs/{job_id}/events", auth)
    beats = [f for f in frames if f.get("comment") == "keep-alive"]
    assert beats and all("id" not in f for f in beats)
    events = events_of(frames)
    assert events[-1]["event"] == "succeeded"
    assert json.loads(events[-1]["data"])["result"]["verdict"] == "unknown"


def test_cancel_running_job(client, auth, worker):
    job_id = submit(client, auth, {"formula": HARD, "timeout": 120}).json()["id"]
    running = poll(client, f"/v1/jobs/{job_id}", auth, until={"running"} | TERMINAL)
    assert running["status"] == "running"
    response = client.delete(f"/v1/jobs/{job_id}", headers=auth)
    assert response.status_code == 202, response.text
    done = poll(client, f"/v1/jobs/{job_id}", auth)
    assert done["status"] == "cancelled"
    events = events_of(read_sse(client, f"/v1/jobs/{job_id}/events", auth))
    assert events[-1]["event"] == "cancelled"
    # cancelling a finished job changes nothing
    again = client.delete(f"/v1/jobs/{job_id}", headers=auth)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_cancel_queued_job(client, auth, worker):
    # fill both pool slots with long jobs so the next one stays queued
    blockers = [
        submit(client, auth, {"formula": HARD, "timeout": 60}).json()["id"]
        for _ in range(worker.concurrency)
    ]
    for job_id in blockers:
        poll(client, f"/v1/jobs/{job_id}", auth, until={"running"} | TERMINAL)
    queued = submit(client, auth, {"formula": "p -> p"}).json()
    assert queued["status"] == "queued"
    response = client.delete(f"/v1/jobs/{queued['id']}", headers=auth)
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    for job_id in blockers:
        client.delete(f"/v1/jobs/{job_id}", headers=auth)
    for job_id in blockers:
        assert poll(client, f"/v1/jobs/{job_id}", auth)["status"] == "cancelled"
    assert client.get(f"/v1/jobs/{queued['id']}", headers=auth).json()["status"] == "cancelled"


def test_listing_and_pagination(client, tokens, worker):
    owner = tokens()
    ids = [
        submit(client, owner, {"formula": f"p{i} -> p{i}"}, Prefer="wait=20").json()["id"]
        for i in range(5)
    ]
    page1 = client.get("/v1/jobs?limit=2", headers=owner).json()
    assert [d["id"] for d in page1["items"]] == ids[::-1][:2]
    assert page1["next_cursor"] and all("links" in d for d in page1["items"])
    page2 = client.get(f"/v1/jobs?limit=2&cursor={page1['next_cursor']}", headers=owner).json()
    page3 = client.get(f"/v1/jobs?limit=2&cursor={page2['next_cursor']}", headers=owner).json()
    assert [d["id"] for d in page2["items"]] == ids[::-1][2:4]
    assert [d["id"] for d in page3["items"]] == ids[:1] and page3["next_cursor"] is None
    everything = client.get("/v1/jobs", headers=owner).json()
    assert [d["id"] for d in everything["items"]] == ids[::-1]
    assert client.get("/v1/jobs?status=queued", headers=owner).json()["items"] == []
    assert (
        len(client.get("/v1/jobs?status=succeeded&kind=proof", headers=owner).json()["items"]) == 5
    )
    assert client.get("/v1/jobs?kind=v4", headers=owner).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert tokens() != owner
    assert client.get("/v1/jobs", headers=tokens()).json()["items"] == []


def test_health(client, worker):
    response = client.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["redis"] is True
    assert body["workers_online"] >= 1
    # the session worker runs the configured pool (PXL_WORKER_POOL): its own heartbeat
    # (prefork) or one per solo process it supervises; both forms are pinned per pool by the
    # pool_worker fixture of the worker-kill tests
    assert any(worker.pid in (w.get("pid"), w.get("supervisor")) for w in body["workers"])
    assert isinstance(body["queue_depth"], int) and body["version"]
    provenance = body["provenance"]
    assert provenance["build_sha"] == response.headers["x-build-sha"]
    assert provenance["v4_sha"] == response.headers["x-v4-sha"]
    assert provenance["coqchk"] == response.headers["x-pxl-coqchk"]


def test_concurrent_waits_do_not_block_each_other(client, auth, worker):
    # a long Prefer: wait in one request must not stall a quick one (the wait runs in a thread)
    slow = submit(client, auth, {"formula": HARD, "timeout": 60}).json()["id"]
    holder: dict = {}

    def long_wait():
        holder["response"] = client.get(f"/v1/jobs/{slow}/events", headers=auth)

    thread = threading.Thread(target=long_wait)
    thread.start()
    quick = submit(client, auth, {"formula": "p -> p"}, Prefer="wait=20")
    assert quick.status_code == 200 and quick.json()["status"] == "succeeded"
    assert thread.is_alive()  # the stream is still open while the quick job was served
    client.delete(f"/v1/jobs/{slow}", headers=auth)
    thread.join(60)
    assert holder["response"].status_code == 200
    assert "event: cancelled" in holder["response"].text


def test_event_stream_ends_cleanly_when_redis_fails(client, app, auth, worker, monkeypatch):
    import redis

    job_id = submit(client, auth, {"formula": "p -> p"}, Prefer="wait=20").json()["id"]
    store = app.state.store
    original = store.read_events
    calls = []

    def failing(job, after=None, block_ms=0):  # fault injection: Redis drops after one read
        calls.append(after)
        if len(calls) > 1:
            raise redis.ConnectionError("connection reset (injected)")
        return original(job, after, block_ms)[:1]

    monkeypatch.setattr(store, "read_events", failing)
    frames = read_sse(client, f"/v1/jobs/{job_id}/events", auth)  # must not raise
    assert [f["event"] for f in events_of(frames)] == ["queued"]
