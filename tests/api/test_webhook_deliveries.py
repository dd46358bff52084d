"""The webhook delivery log, redelivery and secret rotation, through the API, the real worker
and a local receiver (tests/integration/test_webhooks_delivery.Receiver)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from pxl_client import WebhookVerificationError, verify_webhook
from tests.api.conftest import HARD, assert_problem, poll
from tests.integration.conftest import VALID, WorkerProcess
from tests.integration.test_webhooks_delivery import Receiver

pytestmark = pytest.mark.integration


def wait_state(client, job_id: str, auth: dict, state: str, attempts: int,
               limit: float = 30.0) -> dict:
    deadline = time.monotonic() + limit
    while True:
        log = client.get(f"/v1/jobs/{job_id}/deliveries", headers=auth).json()
        if log["state"] == state and len(log["attempts"]) >= attempts:
            return log
        assert time.monotonic() < deadline, log
        time.sleep(0.1)


def test_a_failed_callback_is_logged_and_can_be_redelivered(client, auth, worker):
    # the test env's retry schedule has two retries: three attempts, all refused (HTTP 503)
    with Receiver(statuses=(503, 503, 503, 204)) as receiver:
        job = client.post("/v1/proofs", headers=auth,
                          json={"formula": VALID, "callback_url": receiver.url}).json()
        failed = wait_state(client, job["id"], auth, "failed", 3)
        assert [a["status"] for a in failed["attempts"]] == [503, 503, 503]
        assert all(a["error"] == "HTTP 503" and a["latency_ms"] >= 0 for a in failed["attempts"])
        assert failed["url"] == receiver.url

        response = client.post(f"/v1/jobs/{job['id']}/deliveries:redeliver", headers=auth)
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "pending" and response.json()["round_start"] == 3
        delivered = wait_state(client, job["id"], auth, "delivered", 4)
        assert [a["status"] for a in delivered["attempts"]] == [503, 503, 503, 204]
        assert len(receiver.requests) == 4  # sent again, once
        ids = {r["headers"]["webhook-id"] for r in receiver.requests}
        assert ids == {f"msg_{job['id']}"}  # the same message: receivers can deduplicate
        document = client.get(f"/v1/jobs/{job['id']}", headers=auth).json()
        assert document["webhook"]["state"] == "delivered"


def test_redelivery_is_refused_while_the_job_runs_and_without_a_callback(client, auth, worker):
    with Receiver() as receiver:
        running = client.post("/v1/proofs", headers=auth, json={
            "formula": HARD, "timeout": 60, "callback_url": receiver.url}).json()
        refused = client.post(f"/v1/jobs/{running['id']}/deliveries:redeliver", headers=auth)
        assert_problem(refused, 409, "delivery-conflict")
        client.delete(f"/v1/jobs/{running['id']}", headers=auth)
    plain = client.post("/v1/proofs", json={"formula": VALID}, headers=auth).json()
    poll(client, f"/v1/jobs/{plain['id']}", auth)
    assert_problem(client.get(f"/v1/jobs/{plain['id']}/deliveries", headers=auth), 404,
                   "no-callback")
    other = client.get(f"/v1/jobs/{plain['id']}/deliveries", headers={
        "Authorization": auth["Authorization"].replace("Bearer ", "Bearer x")})
    assert other.status_code == 401


def test_during_a_key_rotation_callbacks_carry_both_signatures(pxl_env, api_settings, tokens,
                                                               tmp_path):
    """A worker with PXL_WEBHOOK_PREVIOUS_MASTER_KEY signs with the new and the old derived
    secret; a receiver holding either verifies the callback."""
    from api.app import create_app
    from workers.clients import webhook_secret

    queue = f"{pxl_env['PXL_QUEUE_NAME']}-rotation"
    previous_key = "the-old-webhook-master-key-" + "o" * 40
    settings = api_settings.model_copy(update={"queue_name": queue})
    worker = WorkerProcess({**pxl_env, "PXL_QUEUE_NAME": queue,
                            "PXL_WEBHOOK_PREVIOUS_MASTER_KEY": previous_key},
                           settings=settings, concurrency=1, log=tmp_path / "worker.log").start()
    try:
        auth = tokens("rotating-client")
        with Receiver() as receiver, TestClient(create_app(settings)) as client:
            job = client.post("/v1/proofs", headers=auth,
                              json={"formula": VALID, "callback_url": receiver.url}).json()
            wait_state(client, job["id"], auth, "delivered", 1)
        request = receiver.requests[0]
        assert len(request["headers"]["webhook-signature"].split()) == 2
        new = webhook_secret("rotating-client", settings)
        old = webhook_secret("rotating-client", settings.model_copy(
            update={"webhook_master_key": previous_key}))
        for secret in (new, old):
            assert verify_webhook(request["headers"], request["body"], secret)["data"]["id"] \
                == job["id"]
        with pytest.raises(WebhookVerificationError):
            verify_webhook(request["headers"], request["body"],
                           "whsec_" + "dW5yZWxhdGVkLXNlY3JldC1vZi1zb21lb25lLWVsc2U=")
    finally:
        worker.stop()
