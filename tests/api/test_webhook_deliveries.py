"""The webhook delivery log, redelivery, secret rotation and pings, through the API, the real
worker and a local receiver (tests/integration/test_webhooks_delivery.Receiver,
tests/http_servers.RecordingServer)."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from pxl_client import WebhookVerificationError, verify_webhook
from tests.api.conftest import HARD, assert_problem, poll
from tests.http_servers import RecordingServer
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


def wait_ping(client, url: str, auth: dict, limit: float = 30.0) -> dict:
    deadline = time.monotonic() + limit
    while True:
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.text
        if response.json()["state"] != "pending":
            return response.json()
        assert time.monotonic() < deadline, response.json()
        time.sleep(0.1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_ping_arrives_signed_and_its_result_is_readable(client, tokens, api_settings, worker):
    from workers.clients import webhook_secret

    sub = f"pinger-{uuid.uuid4().hex[:8]}"
    auth = tokens(sub)
    with RecordingServer(statuses=(204,)) as receiver:
        url = receiver.url + "/hooks/pxl?x=1"
        response = client.post("/v1/webhooks:ping", headers=auth, json={"callback_url": url})
        assert response.status_code == 202, response.text
        ping = response.json()
        assert (ping["url"], ping["state"], ping["attempts"]) == (url, "pending", [])
        assert response.headers["location"] == ping["links"]["self"] \
            == f"/v1/webhooks/pings/{ping['id']}"
        log = wait_ping(client, response.headers["location"], auth)
    assert log["state"] == "delivered" and log["id"] == ping["id"]
    [attempt] = log["attempts"]
    assert attempt["status"] == 204 and attempt["error"] is None and attempt["latency_ms"] >= 0
    [request] = receiver.requests
    assert request["path"] == "/hooks/pxl?x=1"
    assert request["headers"]["webhook-id"] == f"msg_{ping['id']}"
    event = verify_webhook(request["headers"], request["body"],
                           webhook_secret(sub, api_settings))
    assert event["type"] == "ping" and event["data"] == {"id": ping["id"]}
    with pytest.raises(WebhookVerificationError):  # signed with this client's secret only
        verify_webhook(request["headers"], request["body"],
                       webhook_secret("someone-else", api_settings))
    # another client's ping is nobody's
    assert_problem(client.get(ping["links"]["self"], headers=tokens()), 404, "ping-not-found")
    assert_problem(client.get("/v1/webhooks/pings/nope!", headers=auth), 404, "ping-not-found")


def test_a_ping_to_a_closed_port_records_the_failure_once(client, auth, worker):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    response = client.post("/v1/webhooks:ping", headers=auth, json={"callback_url": url})
    assert response.status_code == 202, response.text
    log = wait_ping(client, response.headers["location"], auth)
    assert log["state"] == "failed"
    [attempt] = log["attempts"]  # a ping is not retried
    assert attempt["status"] is None and attempt["error"].startswith("ConnectError")
    with RecordingServer(statuses=(500,)) as receiver:
        response = client.post("/v1/webhooks:ping", headers=auth,
                               json={"callback_url": receiver.url})
        log = wait_ping(client, response.headers["location"], auth)
    assert log["state"] == "failed" and [(a["status"], a["error"]) for a in log["attempts"]] \
        == [(500, "HTTP 500")]
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(("body", "status", "slug"), [
    ({"callback_url": "http://10.1.2.3/hook"}, 422, "invalid-callback-url"),  # private
    ({"callback_url": "http://169.254.169.254/latest"}, 422, "invalid-callback-url"),
    ({"callback_url": "ftp://example.com/hook"}, 422, "invalid-callback-url"),
    ({"callback_url": "http://user:pw@127.0.0.1/hook"}, 422, "invalid-callback-url"),
    ({"callback_url": ""}, 422, "invalid-callback-url"),
    ({"callback_url": "http://x/" + "a" * 2100}, 422, "validation-error"),
    ({}, 422, "validation-error"),
    ({"callback_url": "http://127.0.0.1:1/", "event": "x"}, 422, "validation-error"),
    ({"callback_url": 7}, 422, "validation-error"),
])
def test_a_bad_ping_url_is_a_problem(client, auth, body, status, slug):
    assert_problem(client.post("/v1/webhooks:ping", headers=auth, json=body), status, slug)


def test_a_ping_needs_a_token_and_a_json_body(client, auth):
    assert client.post("/v1/webhooks:ping", json={"callback_url": "http://127.0.0.1/"}) \
        .status_code == 401
    assert_problem(client.post("/v1/webhooks:ping", headers=auth, content=b"{"), 415,
                   "unsupported-media-type")
    assert_problem(client.post("/v1/webhooks:ping", content=b"{",
                               headers={**auth, "content-type": "application/json"}), 400,
                   "malformed-json")


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
            ping = client.post("/v1/webhooks:ping", headers=auth,
                               json={"callback_url": receiver.url}).json()
            assert wait_ping(client, ping["links"]["self"], auth)["state"] == "delivered"
        new = webhook_secret("rotating-client", settings)
        old = webhook_secret("rotating-client", settings.model_copy(
            update={"webhook_master_key": previous_key}))
        for request, subject in zip(receiver.requests, (job, ping), strict=True):
            assert len(request["headers"]["webhook-signature"].split()) == 2  # job and ping
            for secret in (new, old):
                assert verify_webhook(request["headers"], request["body"],
                                      secret)["data"]["id"] == subject["id"]
            with pytest.raises(WebhookVerificationError):
                verify_webhook(request["headers"], request["body"],
                               "whsec_" + "dW5yZWxhdGVkLXNlY3JldC1vZi1zb21lb25lLWVsc2U=")
    finally:
        worker.stop()
