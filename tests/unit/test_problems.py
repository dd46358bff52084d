"""RFC 9457 problem machinery and the guarded JSON body reader, on a small app (no Redis)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from api import problems
from api.deps import MAX_JSON_DEPTH, json_body, json_depth
from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, ProblemError
from api.routes.proofs import prefer_wait
from workers.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


class Thing(BaseModel):
    name: str = Field(max_length=10)
    count: int = Field(1, ge=1, le=5)


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.state.settings = Settings(max_body_bytes=1024)
    problems.install(app)

    @app.post("/things")
    async def make(thing: Thing = Depends(json_body(Thing))):
        return {"name": thing.name, "count": thing.count}

    @app.get("/conflict")
    def conflict():
        raise ProblemError("queue-full", "busy", headers={"Retry-After": "7"}, retry_after=7)

    @app.get("/teapot")
    def teapot():
        raise HTTPException(418, "short and stout")

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    return TestClient(app, raise_server_exceptions=False)


def assert_problem(response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    if slug is None:
        assert body["type"] == "about:blank"
    else:
        assert body["type"] == f"https://pxl.logos/problems/{slug}"
    return body


def test_problem_error_carries_headers_and_extensions(client):
    body = assert_problem(client.get("/conflict"), 503, "queue-full")
    assert body["detail"] == "busy" and body["retry_after"] == 7
    assert body["instance"] == "/conflict"
    assert client.get("/conflict").headers["retry-after"] == "7"


def test_plain_http_errors_are_about_blank(client):
    body = assert_problem(client.get("/teapot"), 418)
    assert body["title"] == "I'm a Teapot" or body["title"].lower().startswith("i'm a teapot")
    assert_problem(client.get("/no/such/route"), 404)
    response = client.delete("/things")
    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


def test_last_resort_500_leaks_nothing(client):
    response = client.get("/boom")
    body = assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert "Traceback" not in response.text and body["detail"]


def test_valid_body_passes(client):
    assert client.post("/things", json={"name": "x", "count": 2}).json() == {
        "name": "x",
        "count": 2,
    }
    ok = client.post(
        "/things",
        content=b'{"name":"y"}',
        headers={"content-type": "application/merge-patch+json; charset=UTF-8"},
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "status", "slug"),
    [
        (b'{"name": "x",', "application/json", 400, "malformed-json"),
        (b"", "application/json", 400, "malformed-json"),
        (b"   ", "application/json", 400, "malformed-json"),
        (b'{"name": "\xff\xfe"}', "application/json", 400, "malformed-json"),
        (b'{"name": "x", "count": NaN}', "application/json", 400, "malformed-json"),
        (b'{"name": "x", "count": Infinity}', "application/json", 400, "malformed-json"),
        (
            b'{"name": "x", "count": ' + b"9" * 5000 + b"}",
            "application/json",
            413,
            "body-too-large",
        ),
        (
            b'{"name": "x", "count": ' + b"9" * 900 + b"}",
            "application/json",
            422,
            "validation-error",
        ),
        (b'{"name": "x"}', "text/plain", 415, "unsupported-media-type"),
        (b'{"name": "x"}', "application/json; charset=latin-1", 415, "unsupported-media-type"),
        (b'{"name": "x"}', "application/xml", 415, "unsupported-media-type"),
        (b"[1, 2]", "application/json", 422, "validation-error"),
        (b'"just a string"', "application/json", 422, "validation-error"),
        (b'{"name": "far too long a name"}', "application/json", 422, "validation-error"),
        (b'{"name": "x", "count": 9}', "application/json", 422, "validation-error"),
        (
            b'{"name": "x", "extra": 1, "count": "many"}',
            "application/json",
            422,
            "validation-error",
        ),
    ],
)
def test_bad_bodies_get_the_right_problem(client, content, content_type, status, slug):
    response = client.post("/things", content=content, headers={"content-type": content_type})
    assert_problem(response, status, slug)


def test_huge_integer_is_not_a_crash(client):
    app = FastAPI()
    app.state.settings = Settings(max_body_bytes=64 * 1024)
    problems.install(app)

    @app.post("/things")
    async def make(thing: Thing = Depends(json_body(Thing))):
        return {}

    big = TestClient(app)  # raises if anything reaches the last-resort handler
    response = big.post(
        "/things",
        content=b'{"name": "x", "count": ' + b"9" * 5000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed-json")


def test_missing_content_type_is_415(client):
    response = client.post("/things", content=b'{"name": "x"}', headers={"content-type": ""})
    assert_problem(response, 415, "unsupported-media-type")


def test_validation_problem_lists_errors(client):
    response = client.post("/things", json={"count": 0})
    body = assert_problem(response, 422, "validation-error")
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "name") in locs and ("body", "count") in locs
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])


def test_declared_length_over_limit_is_413_before_reading(client):
    response = client.post("/things", content=b"x" * 2000, headers={"content-type": "text/plain"})
    body = assert_problem(response, 413, "body-too-large")
    assert body["limit"] == 1024


def test_streamed_body_over_limit_is_413(client):
    def chunks():
        for _ in range(10):
            yield b" " * 200  # no Content-Length: sent chunked

    response = client.post(
        "/things", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "body-too-large")


def test_deep_nesting_is_422_not_recursion_error():
    app = FastAPI()
    app.state.settings = Settings(max_body_bytes=1024 * 1024)
    problems.install(app)

    @app.post("/things")
    async def make(thing: Thing = Depends(json_body(Thing))):
        return {}

    deep = TestClient(app)  # raise_server_exceptions: a crash would fail the test
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        response = deep.post("/things", content=body, headers={"content-type": "application/json"})
        assert_problem(response, 422, "json-too-deep")
    # brackets inside strings are not nesting
    body = b'{"name": "' + b"[" * 5000 + b'"}'
    response = deep.post("/things", content=body, headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation-error")


def test_json_depth_ignores_strings_and_escapes():
    assert json_depth('{"a": [[1], {"b": "[[[["}]}') == 3
    text = '{"a": "\\"[[[[" , "b": ' + "[" * 100 + "]" * 100 + "}"
    assert json_depth(text) == 101


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("wait=5", 5),
        ("WAIT = 7", 7),
        ('wait="3"', 3),
        ("wait=0", None),
        ("wait=1000", 30),
        ("wait=-1", None),
        ("wait=abc", None),
        ("return=minimal, wait=4", 4),
        ("wait=4; foo=bar", 4),
        ("respond-async, wait=4", None),
        ("wait=2, wait=9", 2),
        ("handling=lenient", None),
    ],
)
def test_prefer_wait_parsing(header, expected):
    assert prefer_wait(header, 30) == expected


def test_every_problem_type_is_documented():
    text = DOCS.read_text()
    for slug, problem in PROBLEM_TYPES.items():
        assert re.search(rf"`{re.escape(problem.uri)}`|\b{re.escape(slug)}\b", text), (
            f"problem type {slug} is not documented in docs/api.md"
        )
