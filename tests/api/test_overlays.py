"""POST /v1/overlays/chrono and /v1/overlays/v4 through the real API, Redis and `pxl worker`.

Each operation runs through the queue; bad input is a 4xx problem before anything is
queued; the proof route's `overlay` field proves the overlay's projection.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.api.conftest import TERMINAL, assert_problem, poll
from tests.hard_formulas import HARD
from workers.clients import webhook_secret
from workers.prover.limits import MAX_DEPTH
from workers.webhooks import verify

pytestmark = pytest.mark.integration

WAIT = {"Prefer": "wait=20"}


def run(client, auth, kind: str, body: dict) -> dict:
    response = client.post(f"/v1/overlays/{kind}", json=body, headers={**auth, **WAIT})
    assert response.status_code in (200, 202), response.text
    doc = response.json()
    if doc["status"] not in ("succeeded", "failed", "cancelled"):
        doc = poll(client, doc["links"]["job"], auth)
    assert doc["kind"] == kind
    assert doc["status"] == "succeeded", doc
    return doc["result"]


def test_chrono_transform_reports_the_loss(client, auth, worker):
    result = run(
        client,
        auth,
        "chrono",
        {
            "operation": "transform",
            "formula": "At(3, p) -> Until(q, Knows(1, r))",
        },
    )
    assert result["direction"] == "cpx_to_pxl"
    assert result["output"]["text"] == "[]p -> q -> <>[]r"
    assert result["output"]["json"] == {
        "implies": [
            {"box": {"atom": "p"}},
            {"implies": [{"atom": "q"}, {"dia": {"box": {"atom": "r"}}}]},
        ]
    }
    assert result["loss"]["times_dropped"] == [3]
    assert result["loss"]["agents_dropped"] == [1]
    assert result["loss"]["approximated"] == {"Until": 1}
    assert any(line.startswith("S5 collapse projection") for line in result["chrono_trace"])


def test_chrono_transform_embedding_from_json(client, auth, worker):
    result = run(
        client,
        auth,
        "chrono",
        {
            "operation": "transform",
            "options": {"direction": "pxl_to_cpx"},
            "formula": {"box": {"atom": "p"}},
        },
    )
    assert result["output"]["text"] == "[]p" and result["loss"] is None


def test_chrono_normalize_is_checked(client, auth, worker):
    result = run(
        client, auth, "chrono", {"operation": "normalize", "formula": "~[](p & At(2, <>q))"}
    )
    assert result["output"]["text"] == "<>~p | []~q"
    assert result["check"]["verdict"] == "valid"
    assert result["check"]["proof"]["certificate"]
    assert result["rewrites"] == len(result["chrono_trace"]) - 1
    assert result["chrono_trace"][-1].startswith("self-check")


def test_chrono_validate_valid_and_invalid(client, auth, worker):
    ok = run(client, auth, "chrono", {"operation": "validate", "formula": "Knows(1, p) -> p"})
    assert ok["verdict"] == "valid" and ok["proof"]["certificate"]
    assert ok["projection"]["text"] == "[]p -> p"
    bad = run(
        client, auth, "chrono", {"operation": "validate", "formula": "Eventually(p) -> Always(p)"}
    )
    assert bad["verdict"] == "invalid"
    assert bad["proof"]["countermodel"]["relation"] == "universal"


def test_v4_operations(client, auth, worker):
    translated = run(
        client,
        auth,
        "v4",
        {
            "operation": "translate",
            "object": {"kind": "action", "pre": "p", "action": "open", "post": "q"},
        },
    )
    assert translated["output"]["text"] == "(p -> eff_open) & (eff_open -> q)"
    assert "verdict" not in translated
    rejected = run(
        client,
        auth,
        "v4",
        {"operation": "validate", "object": {"kind": "knowledge", "claim": "p -> []p"}},
    )
    assert rejected["verdict"] == "rejected"
    assert rejected["guard"]["checks"][0]["proof"]["countermodel"]["worlds"]
    adapted = run(
        client,
        auth,
        "v4",
        {"operation": "adapt", "object": {"kind": "knowledge", "claim": "[]p -> p"}},
    )
    assert adapted["verdict"] == "accepted"
    assert adapted["adapted"]["known"]["text"] == "[]([]p -> p)"
    assert any(line.startswith("guard verdict") for line in adapted["v4_trace"])


def test_v4_result_names_the_table_served_as_x_v4_sha(client, auth, worker):
    response = client.post(
        "/v1/overlays/v4",
        headers={**auth, **WAIT},
        json={"operation": "translate", "object": {"kind": "value", "x": 1, "y": 2}},
    )
    assert response.status_code == 200
    assert response.json()["result"]["adapter_table_sha256"] == response.headers["X-V4-SHA"]


def test_202_location_and_job_document(client, auth, worker):
    response = client.post(
        "/v1/overlays/chrono",
        headers=auth,
        json={"operation": "validate", "formula": "Next(p) -> p"},
    )
    assert response.status_code == 202
    doc = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{doc['id']}"
    assert doc["params"]["formula_text"] == "Next(p) -> p"
    final = poll(client, response.headers["Location"], auth)
    assert final["status"] == "succeeded" and final["result"]["verdict"] == "valid"


def test_a_submission_without_key_or_callback_takes_no_thread(client, auth, worker,
                                                             monkeypatch):
    """As for proofs: queued and waited for on the event loop (redis.asyncio), so a thread
    hop here would be a regression."""
    import api.routes.overlays
    import api.routes.proofs

    def no_thread(*args, **kwargs):
        raise AssertionError("a thread hop on the event-loop path")

    monkeypatch.setattr(api.routes.overlays, "run_blocking", no_thread)
    monkeypatch.setattr(api.routes.proofs, "run_blocking", no_thread)
    for kind, body in (("chrono", {"operation": "validate", "formula": "Next(p) -> p"}),
                       ("v4", {"operation": "validate",
                               "object": {"kind": "knowledge", "claim": "[]p -> p"}})):
        response = client.post(f"/v1/overlays/{kind}", json=body, headers={**auth, **WAIT})
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == kind and response.json()["status"] == "succeeded"
        assert response.headers["Preference-Applied"] == "wait=20"


def test_idempotency(client, auth, worker):
    body = {"operation": "normalize", "formula": "[][]p"}
    key = {"Idempotency-Key": "overlay-key-1"}
    first = client.post("/v1/overlays/chrono", json=body, headers={**auth, **key, **WAIT})
    again = client.post("/v1/overlays/chrono", json=body, headers={**auth, **key})
    assert first.json()["id"] == again.json()["id"]
    other = client.post(
        "/v1/overlays/chrono", json={**body, "formula": "<><>p"}, headers={**auth, **key}
    )
    assert_problem(other, 409, "idempotency-conflict")


def test_scope_overlays_write_is_required(client, tokens):
    response = client.post(
        "/v1/overlays/v4",
        headers=tokens(scopes=("proofs:write",)),
        json={"operation": "translate", "object": {"kind": "value", "x": 1, "y": 2}},
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("kind", "body", "status", "slug", "check"),
    [
        (
            "chrono",
            {"operation": "validate", "formula": "At(x, p)"},
            422,
            "invalid-formula",
            {"line": 1, "column": 4, "code": "syntax"},
        ),
        (
            "chrono",
            {"operation": "validate", "formula": {"at": {"time": -2, "formula": {"atom": "p"}}}},
            422,
            "invalid-formula",
            {"path": "/at/time"},
        ),
        (
            "chrono",
            {"operation": "validate", "formula": "Eternal(Next(p))"},
            422,
            "invalid-formula",
            {"column": 1},
        ),
        ("chrono", {"operation": "simplify", "formula": "p"}, 422, "validation-error", {}),
        (
            "chrono",
            {"operation": "transform", "formula": "p", "options": {"direction": "sideways"}},
            422,
            "validation-error",
            {},
        ),
        (
            "chrono",
            {
                "operation": "transform",
                "formula": "Next(p)",
                "options": {"direction": "pxl_to_cpx"},
            },
            422,
            "validation-error",
            {},
        ),
        (
            "chrono",
            {"operation": "normalize", "formula": "p", "options": {"x": 1}},
            422,
            "validation-error",
            {},
        ),
        (
            "chrono",
            {
                "operation": "validate",
                "formula": "Next(" * (MAX_DEPTH + 5) + "p" + ")" * (MAX_DEPTH + 5),
            },
            422,
            "formula-limit-exceeded",
            {"code": "too_deep"},
        ),
        (
            "v4",
            {"operation": "validate", "object": {"kind": "knowledge", "claim": "p ->"}},
            422,
            "invalid-formula",
            {"path": "/claim", "line": 1, "column": 5},
        ),
        (
            "v4",
            {"operation": "adapt", "object": {"kind": "value", "x": -1, "y": 2}},
            422,
            "invalid-formula",
            {"path": "/x"},
        ),
        (
            "v4",
            {"operation": "adapt", "object": {"kind": "belief"}},
            422,
            "invalid-formula",
            {"path": "/kind"},
        ),
        ("v4", {"operation": "translate"}, 422, "validation-error", {}),
        (
            "v4",
            {"operation": "translate", "object": {"kind": "value", "x": 1, "y": 2}, "timeout": 0},
            422,
            "validation-error",
            {},
        ),
        (
            "chrono",
            {"operation": "normalize", "formula": "p", "timeout": True},
            422,
            "validation-error",
            {},
        ),
    ],
)
def test_bad_requests_are_problems_before_queueing(client, auth, kind, body, status, slug, check):
    problem = assert_problem(
        client.post(f"/v1/overlays/{kind}", json=body, headers=auth), status, slug
    )
    for key, value in check.items():
        assert problem[key] == value, problem


@pytest.mark.parametrize(
    ("overlay", "formula", "verdict", "projected"),
    [
        ("chrono", "Knows(1, p) -> p", "valid", "[]p -> p"),
        ("chrono", {"eventually": {"atom": "p"}}, "invalid", "<>p"),
        ("v4", {"kind": "knowledge", "claim": "p | ~p"}, "valid", "p | ~p"),
        (
            "v4",
            {"kind": "action", "pre": "p", "action": "a", "post": "q"},
            "invalid",
            "(p -> eff_a) & (eff_a -> q)",
        ),
        ("modal", "[]p -> p", "valid", "[]p -> p"),
    ],
)
def test_proofs_overlay_field_proves_the_projection(
    client, auth, worker, overlay, formula, verdict, projected
):
    response = client.post(
        "/v1/proofs", headers={**auth, **WAIT}, json={"formula": formula, "overlay": overlay}
    )
    assert response.status_code in (200, 202), response.text
    doc = response.json()
    if doc["status"] != "succeeded":
        doc = poll(client, doc["links"]["self"], auth)
    assert doc["result"]["verdict"] == verdict
    assert doc["result"]["formula"] == projected


def test_proofs_overlay_field_rejects_bad_overlay_input(client, auth):
    problem = assert_problem(
        client.post("/v1/proofs", headers=auth, json={"formula": "At(1 p)", "overlay": "chrono"}),
        422,
        "invalid-formula",
    )
    assert problem["column"] == 6


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_callback_gets_the_overlay_job(client, tokens, worker):
    owner = "overlay-hook-owner"
    auth = tokens(owner)
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        response = client.post(
            "/v1/overlays/v4",
            headers=auth,
            json={
                "operation": "validate",
                "object": {"kind": "knowledge", "claim": "[]p -> p"},
                "callback_url": url,
            },
        )
        assert response.status_code == 202, response.text
        job_url = response.headers["Location"]
        doc = poll(client, job_url, auth)
        assert doc["status"] == "succeeded"
        for _ in range(100):
            doc = client.get(job_url, headers=auth).json()
            if doc["webhook"] and doc["webhook"]["state"] != "pending":
                break
            threading.Event().wait(0.1)
        assert doc["webhook"]["state"] == "delivered", doc["webhook"]
        mine = [(headers, body) for headers, body in _Hook.received
                if json.loads(body)["data"]["id"] == doc["id"]]
        assert len(mine) == 1, _Hook.received
        headers, body = mine[0]
        headers = {k.lower(): v for k, v in headers.items()}
        assert json.loads(body)["data"]["kind"] == "v4"
        # signed with the owner's webhook secret, over this very body
        assert verify(webhook_secret(owner), headers, body)
        assert not verify(webhook_secret("someone-else"), headers, body)
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("chrono", {"operation": "validate", "formula": f"Knows(1, {HARD})"}),
        ("v4", {"operation": "validate", "object": {"kind": "knowledge", "claim": HARD}}),
    ],
)
def test_cancel_a_running_overlay_job(client, auth, worker, kind, body):
    response = client.post(f"/v1/overlays/{kind}", headers=auth, json={**body, "timeout": 120})
    assert response.status_code == 202, response.text
    job_url = response.headers["Location"]
    running = poll(client, job_url, auth, until={"running"} | TERMINAL)
    assert running["status"] == "running"
    assert client.delete(job_url, headers=auth).status_code == 202
    assert poll(client, job_url, auth)["status"] == "cancelled"
