"""Every kind of bad input gets its RFC 9457 problem with the right 4xx, never a 500.

A crash would be answered by the last-resort handler as a 500 problem, which the status
assertions here catch.
"""

from __future__ import annotations

import json

import pytest

from api.deps import MAX_JSON_DEPTH
from tests.api.conftest import assert_problem
from workers.prover.check import check_result_document
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.settings import Settings

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}
BODY_LIMIT = Settings().max_body_bytes


def post_raw(client, auth, content: bytes, headers=None):
    return client.post("/v1/proofs", content=content, headers={**JSON, **auth, **(headers or {})})


def nested_not(depth: int) -> dict:
    formula: dict = {"atom": "p"}
    for _ in range(depth - 1):
        formula = {"not": formula}
    return formula


@pytest.mark.parametrize(
    ("content", "slug", "status"),
    [
        (b'{"formula": "[]p -> p",', "malformed-json", 400),
        (b"{'formula': 'p'}", "malformed-json", 400),
        (b"", "malformed-json", 400),
        (b'{"formula": "p\xc3\x28"}', "malformed-json", 400),  # invalid UTF-8
        (b'{"formula": "p", "timeout": NaN}', "malformed-json", 400),
        (b'{"formula": "p", "timeout": ' + b"7" * 5000 + b"}", "malformed-json", 400),
        (b"[" * BODY_LIMIT + b"]", "body-too-large", 413),
        (
            b'{"formula": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
            "json-too-deep",
            422,
        ),
        (b'{"formula": "p", "timeout": 1e999}', "validation-error", 422),
        (b"[]", "validation-error", 422),
        (b"null", "validation-error", 422),
    ],
)
def test_unreadable_bodies(client, auth, content, slug, status):
    assert_problem(post_raw(client, auth, content), status, slug)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "formula"),
        ({"formula": None}, "formula"),
        ({"formula": 42}, "formula"),
        ({"formula": ["p"]}, "formula"),
        ({"formula": "p", "timeout": 0}, "timeout"),
        ({"formula": "p", "timeout": 0.5}, "timeout"),
        ({"formula": "p", "timeout": 301}, "timeout"),
        ({"formula": "p", "timeout": "soon"}, "timeout"),
        ({"formula": "p", "timeout": 10**30}, "timeout"),
        ({"formula": "p", "timeout": True}, "timeout"),
        ({"formula": "p", "overlay": "quantum"}, "overlay"),
        ({"formula": "p", "callback_url": 7}, "callback_url"),
        ({"formula": "p", "context": "not an object"}, "context"),
        ({"formula": "p", "context": {"pad": "x" * 5000}}, "context"),  # over 4 KiB
    ],
)
def test_field_validation(client, auth, body, field):
    problem = assert_problem(
        client.post("/v1/proofs", json=body, headers=auth), 422, "validation-error"
    )
    assert any(e["loc"][:2] == ["body", field] for e in problem["errors"]), problem


def test_bad_formula_text_reports_line_and_column(client, auth):
    response = client.post("/v1/proofs", json={"formula": "[]p ->\n  (q & )"}, headers=auth)
    problem = assert_problem(response, 422, "invalid-formula")
    assert problem["code"] == "syntax"
    assert (problem["line"], problem["column"]) == (2, 8)
    assert problem["detail"].startswith("line 2, column 8:")
    assert problem["excerpt"].splitlines() == ["  (q & )", "       ^"]


def test_bad_json_formula_reports_path(client, auth):
    formula = {"implies": [{"atom": "p"}, {"box": {"atom": "not an atom!"}}]}
    problem = assert_problem(
        client.post("/v1/proofs", json={"formula": formula}, headers=auth), 422, "invalid-formula"
    )
    assert problem["code"] == "json" and problem["path"].startswith("/implies/1/box")
    # the original contract's {"type": …} objects are read too; a broken one has its path
    old_style = {"type": "implies", "left": "A", "right": {"type": "box"}}
    problem = assert_problem(
        client.post("/v1/proofs", json={"formula": old_style}, headers=auth), 422, "invalid-formula"
    )
    assert problem["code"] == "json" and problem["path"] == "/right"


def test_formula_limits(client, auth):
    too_big = "p" * (MAX_TEXT_BYTES + 1)
    problem = assert_problem(
        client.post("/v1/proofs", json={"formula": too_big}, headers=auth), 413, "formula-too-large"
    )
    assert problem["code"] == "too_large"
    many = "&".join(["p"] * MAX_NODES)
    problem = assert_problem(
        client.post("/v1/proofs", json={"formula": many}, headers=auth),
        422,
        "formula-limit-exceeded",
    )
    assert problem["code"] == "too_many_nodes"
    deep_text = "~" * MAX_DEPTH + "p"
    problem = assert_problem(
        client.post("/v1/proofs", json={"formula": deep_text}, headers=auth),
        422,
        "formula-limit-exceeded",
    )
    assert problem["code"] == "too_deep"
    deep_json = nested_not(MAX_DEPTH + 1)
    problem = assert_problem(
        client.post("/v1/proofs", json={"formula": deep_json}, headers=auth),
        422,
        "formula-limit-exceeded",
    )
    assert problem["code"] == "too_deep"


def test_deepest_allowed_json_formula_is_accepted(client, auth):
    # MAX_DEPTH levels of formula, as many of JSON: more than json's default recursion allows
    body = json.dumps({"formula": nested_not(MAX_DEPTH), "timeout": 5}).encode()
    response = post_raw(client, auth, body)
    assert response.status_code == 202, response.text
    assert response.json()["params"]["formula_text"].startswith("~~~")
    chained = {"atom": "p"}
    for _ in range(MAX_DEPTH - 1):
        chained = {"and": [{"atom": "q"}, chained]}  # two JSON levels per formula level
    response = post_raw(client, auth, json.dumps({"formula": chained, "timeout": 5}).encode())
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.8/hook",
        "http://[::1]:9000/hook",
        "ftp://example.org/hook",
        "not a url",
        "http://user:pw@127.0.0.1/hook",
    ],
)
def test_refused_callback_urls(client, auth, url):
    response = client.post("/v1/proofs", json={"formula": "p", "callback_url": url}, headers=auth)
    problem = assert_problem(response, 422, "invalid-callback-url")
    assert problem["detail"].startswith("callback_url refused")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", None],
)
def test_wrong_content_type(client, auth, content_type):
    headers = {**auth, "content-type": content_type or ""}
    response = client.post("/v1/proofs", content=b'{"formula": "p"}', headers=headers)
    assert_problem(response, 415, "unsupported-media-type")


def test_oversized_body_refused_by_content_length(client, auth, api_settings):
    body = b'{"formula": "' + b"p" * api_settings.max_body_bytes + b'"}'
    problem = assert_problem(post_raw(client, auth, body), 413, "body-too-large")
    assert problem["limit"] == api_settings.max_body_bytes


def test_oversized_body_refused_while_streaming(client, auth, api_settings):
    def chunks():  # no Content-Length: the count while reading must stop it
        yield b'{"formula": "'
        for _ in range(api_settings.max_body_bytes // 4096 + 2):
            yield b"p" * 4096
        yield b'"}'

    response = client.post("/v1/proofs", content=chunks(), headers={**JSON, **auth})
    assert_problem(response, 413, "body-too-large")


def test_bad_headers(client, auth):
    response = client.post(
        "/v1/proofs", json={"formula": "p"}, headers={**auth, "Idempotency-Key": "k" * 300}
    )
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize(
    "query",
    ["status=done", "kind=magic", "limit=0", "limit=101", "limit=ten", "cursor=not-a-job-id"],
)
def test_bad_list_parameters(client, auth, query):
    assert_problem(client.get(f"/v1/jobs?{query}", headers=auth), 422, "validation-error")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/01JDX8Q5W7Y0N4F3T2R1V0S9ZA",
        "/v1/jobs/nope",
        "/v1/jobs/" + "x" * 300,
        "/v1/proofs/01JDX8Q5W7Y0N4F3T2R1V0S9ZA",
        "/v1/jobs/..%2f..%2fetc/events",
    ],
)
def test_unknown_jobs_are_404(client, auth, path):
    response = client.get(path, headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_job_cancel_and_events_are_404(client, auth):
    job = "/v1/jobs/01JDX8Q5W7Y0N4F3T2R1V0S9ZA"
    assert_problem(client.delete(job, headers=auth), 404, "job-not-found")
    assert_problem(client.get(job + "/events", headers=auth), 404, "job-not-found")


def test_wrong_method_and_route(client, auth):
    response = client.put("/v1/proofs", json={"formula": "p"}, headers=auth)
    assert_problem(response, 405, None)
    assert "POST" in response.headers["allow"]
    assert_problem(client.get("/v1/nothing-here", headers=auth), 404, None)


def test_auth_required_and_scopes_enforced(client, tokens):
    assert_problem(client.post("/v1/proofs", json={"formula": "p"}), 401, None)
    assert_problem(client.get("/v1/jobs"), 401, None)
    bad = {"Authorization": "Bearer not.a.token"}
    assert_problem(client.get("/v1/jobs", headers=bad), 401, None)
    reader = tokens(scopes=["jobs:read"])
    assert_problem(client.post("/v1/proofs", json={"formula": "p"}, headers=reader), 403, None)
    writer = tokens(scopes=["proofs:write"])
    assert_problem(client.get("/v1/jobs", headers=writer), 403, None)
    assert client.get("/v1/health").status_code == 200  # open: no token needed


def test_deepest_allowed_json_formula_runs_to_the_end(client, auth, worker):
    # An even number of negations (MAX_DEPTH - 2) over p, implying p: valid.
    assert (MAX_DEPTH - 2) % 2 == 0
    body = json.dumps({"formula": {"implies": [nested_not(MAX_DEPTH - 1), {"atom": "p"}]}})
    response = post_raw(client, auth, body.encode(), headers={"Prefer": "wait=8"})
    assert response.status_code == 200, response.json()["status"]
    result = response.json()["result"]
    assert result["verdict"] == "valid", result["verdict"]
    assert result["formula"] == "~" * (MAX_DEPTH - 2) + "p -> p"
    report = check_result_document(result)  # the certificate, replayed by the checker
    assert report.ok, report.reason
