"""Backpressure and a missing Redis are 503 problems with Retry-After, never 500s."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import assert_problem

pytestmark = pytest.mark.integration


def app_client(settings) -> TestClient:
    from api.app import create_app

    return TestClient(create_app(settings))  # raises if a request reaches the 500 handler


def test_queue_full_is_503_with_retry_after(api_settings, auth):
    client = app_client(api_settings.model_copy(update={"max_queue_depth": 0}))
    response = client.post("/v1/proofs", json={"formula": "p -> p"}, headers=auth)
    problem = assert_problem(response, 503, "queue-full")
    assert int(response.headers["retry-after"]) >= 1
    assert problem["retry_after"] == int(response.headers["retry-after"])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def test_redis_down_is_503_and_health_unhealthy(api_settings, auth):
    down = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{closed_port()}/3"})
    client = app_client(down)
    response = client.post("/v1/proofs", json={"formula": "p -> p"}, headers=auth)
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"]
    response = client.get("/v1/jobs/01JDX8Q5W7Y0N4F3T2R1V0S9ZA", headers=auth)
    assert_problem(response, 503, "service-unavailable")
    health = client.get("/v1/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy" and health.json()["redis"] is False
    # bad input is still refused first, without touching Redis
    response = client.post("/v1/proofs", json={"formula": "p ->"}, headers=auth)
    assert_problem(response, 422, "invalid-formula")
