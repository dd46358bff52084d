"""API fixtures: the real app (create_app) against the real Redis, real `pxl worker` processes,
and bearer tokens minted with the test signing key (auth stays on).

Builds on tests/integration/conftest.py (session env, key prefix and queue per session,
worker subprocess, key cleanup).  Rate limits are raised for the test app: these tests
exercise the API, the limiter has its own tests.
"""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from api.auth import ALL_SCOPES
from tests.hard_formulas import HARD  # noqa: F401 (re-exported for the API tests)
from tests.integration.conftest import pxl_env, store, worker  # noqa: F401 (fixtures)

TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="session")
def api_settings(pxl_env):  # noqa: F811
    from workers.settings import get_settings

    return get_settings().model_copy(
        update={"rate_limit_per_minute": 1_000_000, "rate_limit_burst": 100_000}
    )


@pytest.fixture(scope="session")
def app(api_settings):
    from api.app import create_app

    return create_app(api_settings)


@pytest.fixture(scope="module")
def client(app):
    # A crash is answered as a 500 problem (api.problems.LastResortMiddleware), which the
    # tests' status assertions catch.  Per module, so the app's lifespan (which raises the
    # recursion limit while serving) ends with the module.
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tokens(api_settings):
    """tokens(sub=None, scopes=ALL) -> Authorization headers for a fresh (or given) client."""
    from api.auth import mint_token

    def make(sub: str | None = None, scopes=ALL_SCOPES) -> dict[str, str]:
        sub = sub or f"client-{uuid.uuid4().hex[:8]}"
        return {"Authorization": f"Bearer {mint_token(sub, scopes, settings=api_settings)}"}

    return make


@pytest.fixture
def auth(tokens):
    """Headers of one fresh client with every scope (its own jobs only)."""
    return tokens()


def poll(client, url: str, headers: dict, until=TERMINAL, deadline_s: float = 60.0) -> dict:
    """GET url until the job's status is in `until` (a bounded wait, not a timing assertion)."""
    end = time.monotonic() + deadline_s
    for delay in itertools.chain([0.02, 0.05, 0.1], itertools.repeat(0.2)):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        doc = response.json()
        if doc["status"] in until or time.monotonic() > end:
            return doc
        time.sleep(delay)
    raise AssertionError("unreachable")


def assert_problem(response, status: int, slug: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert body["status"] == status and body["title"]
    assert body["type"] == (f"https://pxl.logos/problems/{slug}" if slug else "about:blank")
    return body
