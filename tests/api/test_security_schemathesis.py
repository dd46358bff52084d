"""Schemathesis against the published contract (openapi/prooftoken.yaml): no input gives a 5xx.

Every operation of the contract is called with generated data through the real ASGI app, a real
Redis (DB from PXL_TEST_REDIS_DB) and a valid token holding every scope, so requests get past
authentication into the routes. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.auth import ALL_SCOPES, mint_token
from workers.settings import Settings

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "prooftoken.yaml"
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('PXL_TEST_REDIS_DB', '15')}"
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
