"""Schemathesis against the published contract (openapi/prooftoken.yaml): no input gives a 5xx.

Every operation of the contract is called with generated data through the real ASGI app, a real
Redis (DB from PXL_TEST_REDIS_DB) and a valid token holding every scope, so requests get past
authentication into the routes. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.auth import ALL_SCOPES, mint_token
from tests.environment import redis_url
from workers.settings import Settings

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "prooftoken.yaml"
REDIS_URL = redis_url()
TAG = uuid.uuid4().hex[:8]
SETTINGS = Settings(
    redis_url=REDIS_URL,
    key_prefix=f"pxltest-fuzz-{TAG}:",
    queue_name=f"pxltest-fuzz-{TAG}",
    jwt_secret=base64.urlsafe_b64encode(b"schemathesis-run-signing-key-012345").decode(),
    auth_disabled=False,
    webhook_allowlist=[],
    rate_limit_per_minute=1_000_000,
    rate_limit_burst=1_000_000,
    max_queue_depth=100_000,
    max_live_jobs_per_client=100_000,
)

schema = schemathesis.openapi.from_path(CONTRACT)


@pytest.fixture(scope="module")
def app():
    application = create_app(SETTINGS)
    yield application
    r = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"{SETTINGS.key_prefix}*", f"{SETTINGS.queue_name}*"):
        keys = list(r.scan_iter(pattern))
        if keys:
            r.delete(*keys)


@pytest.fixture(scope="module")
def bearer():
    return {"Authorization": f"Bearer {mint_token('fuzzer', ALL_SCOPES, settings=SETTINGS)}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case, app, bearer):
    if case.headers:
        # Prefer: wait=N would hold the request open for a job no worker runs here
        case.headers = {k: v for k, v in case.headers.items() if k.lower() != "prefer"}
    if case.operation.path != "/v1/auth/token":
        case.headers = {**(case.headers or {}), **bearer}
    response = case.call(app=app)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )


# --- generated text and JSON at every route (issue 10, finding 2) -----------------------------
#
# The contract says little about what a formula string may hold, so schemathesis alone never
# wrote `At(<4,301 nines>, p)`.  These strategies speak the formula languages (PXL, CPX, the JSON
# forms, v4 objects), with numbers of every size, and hit every route with them.

from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_WORDS = ["p", "q", "~", "!", "[]", "<>", "&", "|", "->", "<->", "(", ")", ",", " ", "true",
          "false", "At(", "Knows(", "Project(", "Believes(", "Intends(", "Always(", "Next(",
          "Until(", "Since(", "Eternal(", "box", "dia", "not", "\u00ac", "\u25a1", "\x00"]
_KEYS = ["atom", "const", "not", "and", "or", "implies", "iff", "box", "dia", "at", "time",
         "agent", "formula", "knows", "project", "always", "until", "eternal", "kind", "claim",
         "pre", "post", "action", "effect", "x", "y", "knowledge", "value", "direction"]
_digits = st.one_of(
    st.integers(0, 2**70).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "0" * n + "1"),
)
formula_text = st.lists(
    st.one_of(st.sampled_from(_WORDS), _digits, st.text(max_size=6)), max_size=24
).map("".join)
json_value = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(-(10**4000), 10**4000),
        st.floats(allow_nan=False, allow_infinity=False), formula_text, st.sampled_from(_KEYS),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=6)), inner,
                        max_size=3),
    ),
    max_leaves=12,
)
submission = st.fixed_dictionaries(
    {"formula": st.one_of(formula_text, json_value)},
    optional={
        "operation": st.one_of(st.sampled_from(["validate", "normalize", "transform", "translate",
                                                "project", "adapt", "guard"]), formula_text),
        "overlay": st.one_of(st.sampled_from(["chrono", "v4", "none"]), json_value),
        "object": json_value,
        "options": json_value,
        "timeout": json_value,
        "callback_url": st.one_of(st.sampled_from(["http://localhost/x", "http://10.0.0.1/",
                                                   "https://[::1]:99999/", "ftp://x"]),
                                  formula_text),
    },
)


@pytest.fixture(scope="module")
def live(app, bearer):
    """A TestClient (lifespan on) and a finished job of the fuzzer, for the job routes."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        job = client.post("/v1/proofs", json={"formula": "p"}, headers=bearer).json()
        client.delete(f"/v1/jobs/{job['id']}", headers=bearer)
        yield client, job["id"]


def _header(text: str) -> bytes:
    """Generated text as a header value: any bytes but the line breaks HTTP cannot carry."""
    return text.encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")


def _no_5xx(response) -> None:
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text[:300]}"
    )


@given(path=st.sampled_from(["/v1/proofs", "/v1/overlays/chrono", "/v1/overlays/v4"]),
       body=submission)
@example(path="/v1/overlays/chrono", body={"operation": "validate", "formula": f"At({'9' * 4301}, p)"})
@example(path="/v1/proofs", body={"overlay": "chrono", "formula": f"Knows({'9' * 4301}, p)"})
@example(path="/v1/proofs", body={"formula": {"atom": "a" * 300_000}})
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_generated_submissions_never_give_5xx(live, bearer, path, body):
    client, _ = live
    _no_5xx(client.post(path, json=body, headers=bearer))


@given(raw=st.one_of(st.binary(max_size=64), formula_text.map(str.encode),
                     st.builds(lambda d: b'{"formula": "p", "timeout": ' + d.encode() + b"}",
                               _digits)))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_generated_raw_bodies_never_give_5xx(live, bearer, raw):
    client, _ = live
    for path in ("/v1/proofs", "/v1/overlays/chrono", "/v1/overlays/v4"):
        _no_5xx(client.post(path, content=raw,
                            headers={**bearer, "content-type": "application/json"}))
    _no_5xx(client.post("/v1/auth/token", content=raw,
                        headers={"content-type": "application/x-www-form-urlencoded"}))


@given(text=formula_text, number=_digits)
@example(text="x", number="18446744073709551616")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
def test_generated_paths_queries_and_headers_never_give_5xx(live, bearer, text, number):
    from urllib.parse import quote

    client, job_id = live
    segment = quote(text, safe="") or "x"
    for last_event_id in (number, f"{number}-{number}", text):
        headers = {**bearer, "Last-Event-ID": _header(last_event_id)}
        _no_5xx(client.get(f"/v1/jobs/{job_id}/events", headers=headers))
    for url in (f"/v1/jobs/{segment}", f"/v1/proofs/{segment}",
                f"/v1/jobs?limit={number}&status={segment}&cursor={segment}",
                f"/v1/jobs?cursor={number}", f"/v1/jobs/{job_id}/events?last_event_id={number}"):
        _no_5xx(client.get(url, headers=bearer))
    _no_5xx(client.delete(f"/v1/jobs/{segment}", headers=bearer))
    _no_5xx(client.get("/v1/health", headers={"Prefer": _header(text)}))
