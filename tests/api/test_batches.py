"""POST /v1/proofs:batch and GET /v1/batches/{id} against the real app, Redis and worker."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from pxl_client import verify_webhook
from tests.api.conftest import HARD, assert_problem
from tests.http_servers import RecordingServer

pytestmark = pytest.mark.integration


def wait_done(client, url: str, headers: dict, limit: float = 240.0) -> dict:
    deadline = time.monotonic() + limit
    while True:
        view = client.get(url, headers=headers).json()
        if view["done"]:
            return view
        assert time.monotonic() < deadline, view["counts"]
        time.sleep(0.5)


@pytest.fixture(scope="module")
def roomy_client(api_settings):
    """The app with room for a 500-job batch (PXL_MAX_LIVE_JOBS_PER_CLIENT is 200)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(api_settings.model_copy(
            update={"max_live_jobs_per_client": 1000}))) as client:
        yield client


def test_a_500_item_batch_runs_end_to_end_with_per_item_results(roomy_client, auth, worker):
    client = roomy_client
    formulas = []
    for i in range(500):
        if i % 50 == 7:
            formulas.append({"formula": f"[](p{i} ->"})  # refused alone: a parse error
        elif i % 2:
            formulas.append({"formula": f"[]p{i} -> p{i}"})  # valid (T)
        else:
            formulas.append({"formula": f"<>p{i} -> []p{i}"})  # invalid
    response = client.post("/v1/proofs:batch", json={"items": formulas}, headers=auth)
    assert response.status_code == 202, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/batches/{batch['id']}"
    assert batch["size"] == 500 and batch["counts"]["rejected"] == 10
    refused = [item for item in batch["items"] if "error" in item and item["error"]]
    assert [item["index"] for item in refused] == [i for i in range(500) if i % 50 == 7]
    assert all(item["error"]["type"].endswith("invalid-formula") for item in refused)

    done = wait_done(client, f"/v1/batches/{batch['id']}", auth)
    assert done["counts"] == {"rejected": 10, "succeeded": 490}
    for item in done["items"]:
        if item.get("id"):
            expected = "valid" if item["index"] % 2 else "invalid"
            assert (item["status"], item["verdict"]) == ("succeeded", expected), item
    one = next(item for item in done["items"] if item.get("id"))
    job = client.get(f"/v1/proofs/{one['id']}", headers=auth).json()
    assert job["result"]["verdict"] == one["verdict"]  # ordinary proof jobs


def test_batches_are_private_and_bounded(client, tokens, worker):
    alice, bob = tokens(), tokens()
    batch = client.post("/v1/proofs:batch", json={"items": [{"formula": "p -> p"}]},
                        headers=alice).json()
    assert_problem(client.get(f"/v1/batches/{batch['id']}", headers=bob), 404,
                   "batch-not-found")
    too_many = {"items": [{"formula": "p"}] * 501}
    assert_problem(client.post("/v1/proofs:batch", json=too_many, headers=alice), 422,
                   "validation-error")
    assert_problem(client.post("/v1/proofs:batch", json={"items": []}, headers=alice), 422,
                   "validation-error")


def test_a_batch_is_charged_in_proportion_to_its_size(api_settings, tokens, pxl_env):
    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = api_settings.model_copy(update={
        "rate_limit_per_minute": 100, "rate_limit_burst": 20,
        "key_prefix": api_settings.key_prefix + "batch-rl:",
    })  # fmt: skip
    headers = tokens()
    with TestClient(create_app(settings)) as client:
        big = {"items": [{"formula": "p -> p"}] * 400}  # 16 requests' worth
        first = client.post("/v1/proofs:batch", json=big, headers=headers)
        assert first.status_code == 202, first.text
        again = client.post("/v1/proofs:batch", json=big, headers=headers)  # 4 tokens left
        assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1


def wait_delivered(client, url: str, headers: dict, limit: float = 60.0) -> dict:
    deadline = time.monotonic() + limit
    while True:
        log = client.get(url, headers=headers).json()
        if log["state"] != "pending":
            return log
        assert time.monotonic() < deadline, log
        time.sleep(0.1)


def test_a_batch_with_a_callback_gets_one_webhook_once_every_item_is_final(
        client, tokens, api_settings, worker):
    from workers.clients import webhook_secret

    sub = f"batcher-{uuid.uuid4().hex[:8]}"
    auth = tokens(sub)
    with RecordingServer() as receiver:
        items = [{"formula": "[]p -> p"}, {"formula": "[](p ->"},
                 {"formula": "<>p -> []p", "callback_url": receiver.url + "/item"},
                 {"formula": HARD, "timeout": 60}]
        response = client.post("/v1/proofs:batch", headers=auth,
                               json={"items": items, "callback_url": receiver.url + "/batch"})
        assert response.status_code == 202, response.text
        batch = response.json()
        deliveries = f"/v1/batches/{batch['id']}/deliveries"
        assert batch["links"]["deliveries"] == deliveries
        assert batch["callback_url"] == receiver.url + "/batch"
        hard = batch["items"][3]["id"]
        # the quick items end; the hard one runs on: no batch webhook yet
        deadline = time.monotonic() + 60
        while client.get(f"/v1/batches/{batch['id']}", headers=auth).json()["counts"] \
                .get("succeeded", 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        log = client.get(deliveries, headers=auth).json()
        assert (log["state"], log["attempts"]) == ("pending", [])
        assert [r["path"] for r in receiver.requests] in ([], ["/item"])
        client.delete(f"/v1/jobs/{hard}", headers=auth)  # the last item ends: cancelled
        log = wait_delivered(client, deliveries, auth)
        time.sleep(1.0)  # room for a second webhook, were one sent
        batch_requests = [r for r in receiver.requests if r["path"] == "/batch"]
        assert len(batch_requests) == 1
        # a redelivery sends it again (the same message), logged
        again = client.post(f"{deliveries}:redeliver", headers=auth)
        assert again.status_code == 202, again.text
        deadline = time.monotonic() + 30
        while len(client.get(deliveries, headers=auth).json()["attempts"]) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert log["state"] == "delivered" and len(log["attempts"]) == 1
    assert log["attempts"][0]["status"] == 200
    assert [r["path"] for r in receiver.requests].count("/item") == 1  # the item's own
    resent = [r for r in receiver.requests if r["path"] == "/batch"]
    assert len(resent) == 2 and resent[1]["headers"]["webhook-id"] == f"msg_{batch['id']}"
    [request] = batch_requests
    assert request["headers"]["webhook-id"] == f"msg_{batch['id']}"
    event = verify_webhook(request["headers"], request["body"], webhook_secret(sub, api_settings))
    assert event["type"] == "batch.completed"
    data = event["data"]
    assert data["id"] == batch["id"] and data["done"] and data["size"] == 4
    assert data["counts"] == {"succeeded": 2, "rejected": 1, "cancelled": 1}
    assert [(i["index"], i.get("status"), i.get("verdict")) for i in data["items"]] == [
        (0, "succeeded", "valid"), (1, None, None), (2, "succeeded", "invalid"),
        (3, "cancelled", None)]
    assert data["items"][1]["error"]["type"].endswith("invalid-formula")
    assert json.loads(request["body"])["data"] == data


def test_a_batch_callback_is_checked_and_optional(client, tokens, worker):
    auth = tokens()
    refused = client.post("/v1/proofs:batch", headers=auth, json={
        "items": [{"formula": "p -> p"}], "callback_url": "http://10.0.0.7/hook"})
    assert_problem(refused, 422, "invalid-callback-url")
    plain = client.post("/v1/proofs:batch", headers=auth,
                        json={"items": [{"formula": "p -> p"}]}).json()
    assert "deliveries" not in plain["links"]
    assert_problem(client.get(f"/v1/batches/{plain['id']}/deliveries", headers=auth), 404,
                   "no-callback")
    assert_problem(client.get(f"/v1/batches/{plain['id']}/deliveries", headers=tokens()), 404,
                   "batch-not-found")
    with RecordingServer() as receiver:
        running = client.post("/v1/proofs:batch", headers=auth, json={
            "items": [{"formula": HARD, "timeout": 60}], "callback_url": receiver.url}).json()
        early = client.post(f"/v1/batches/{running['id']}/deliveries:redeliver", headers=auth)
        assert_problem(early, 409, "delivery-conflict")
        client.delete(f"/v1/jobs/{running['items'][0]['id']}", headers=auth)


def test_a_batch_of_refused_items_only_completes_at_once(client, tokens, api_settings, worker):
    auth = tokens()
    with RecordingServer() as receiver:
        batch = client.post("/v1/proofs:batch", headers=auth, json={
            "items": [{"formula": "[](p ->"}], "callback_url": receiver.url}).json()
        log = wait_delivered(client, batch["links"]["deliveries"], auth)
    assert log["state"] == "delivered"
    [request] = receiver.requests
    assert json.loads(request["body"])["data"]["counts"] == {"rejected": 1}


def test_a_batch_webhook_whose_message_was_lost_is_sent_on_redelivery(client, tokens, store,
                                                                     worker):
    """The API recorded a complete batch and died before queueing its webhook: the log stays
    pending with no attempt, and a redelivery queues it."""
    from workers import batches

    sub = f"lost-{uuid.uuid4().hex[:8]}"
    auth = tokens(sub)
    with RecordingServer() as receiver:
        batch_id = batches.new_batch_id()
        batches.open_countdown(store.r, store.prefix, batch_id, 600)
        _batch, complete = batches.create(store.r, store.prefix, sub, [], 600,
                                          batch_id=batch_id, callback_url=receiver.url)
        assert complete  # ... and nothing was queued
        deliveries = f"/v1/batches/{batch_id}/deliveries"
        assert client.get(deliveries, headers=auth).json()["attempts"] == []
        again = client.post(f"{deliveries}:redeliver", headers=auth)
        assert again.status_code == 202, again.text
        assert (again.json()["state"], again.json()["attempts"]) == ("pending", [])
        log = wait_delivered(client, deliveries, auth)
        time.sleep(1.0)  # room for a second webhook, were one sent
    assert log["state"] == "delivered" and len(log["attempts"]) == 1
    assert len(receiver.requests) == 1
