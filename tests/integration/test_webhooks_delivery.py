"""Webhook delivery through the real worker to a local HTTP receiver that checks signatures."""

from __future__ import annotations

import json
import time

import pytest

from tests.http_servers import RecordingServer
from tests.integration.conftest import VALID, WorkerProcess, submit_proof
from workers.clients import webhook_secret
from workers.webhooks import verify

pytestmark = pytest.mark.integration


class Receiver(RecordingServer):
    """The recording receiver at a URL with a path and a query, as real endpoints have."""

    @property
    def url(self) -> str:
        return super().url + "/hooks/pxl?x=1"


def wait_webhook(store, job_id: str, state: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        hook = store.get(job_id)["webhook"]
        if hook["state"] == state:
            return hook
        if time.monotonic() > deadline:
            raise AssertionError(f"webhook never reached {state}: {hook}")
        time.sleep(0.05)


def test_signed_webhook_reaches_the_receiver(store, worker):
    with Receiver((200,)) as receiver:
        doc = submit_proof(store, VALID, callback_url=receiver.url)
        hook = wait_webhook(store, doc["id"], "delivered")
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hooks/pxl?x=1"
    assert request["headers"]["host"] == receiver.url.split("/")[2]
    assert verify(webhook_secret("tester"), request["headers"], request["body"])
    assert not verify(webhook_secret("someone-else"), request["headers"], request["body"])
    payload = json.loads(request["body"])
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == doc["id"]
    assert payload["data"]["result"]["verdict"] == "valid"
    assert request["headers"]["webhook-id"] == f"msg_{doc['id']}"
    assert [a["status"] for a in hook["attempts"]] == [200]


def test_failing_receiver_is_retried_until_it_answers(store, worker):
    with Receiver((500, 302, 204)) as receiver:
        doc = submit_proof(store, VALID, callback_url=receiver.url)
        hook = wait_webhook(store, doc["id"], "delivered")
    assert [a["status"] for a in hook["attempts"]] == [500, 302, 204]
    assert hook["attempts"][0]["error"] == "HTTP 500"
    assert "redirect" in hook["attempts"][1]["error"]
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {f"msg_{doc['id']}"}  # the same message id on every retry
    assert all(verify(webhook_secret("tester"), r["headers"], r["body"])
               for r in receiver.requests)


def test_receiver_that_never_answers_ends_failed_after_the_schedule(store, worker):
    # The test schedule (PXL_WEBHOOK_RETRY_SCHEDULE) allows 1 + 2 attempts.
    with Receiver((503,)) as receiver:
        doc = submit_proof(store, VALID, callback_url=receiver.url)
        hook = wait_webhook(store, doc["id"], "failed")
        time.sleep(1.0)  # no further attempt arrives
    assert len(hook["attempts"]) == 3 == len(receiver.requests)
    assert store.get(doc["id"])["status"] == "succeeded"  # the job itself is fine


def test_callback_to_a_refused_address_is_recorded_not_sent(store, worker):
    # Submitted past the API's check (straight to the store): the worker's guard refuses it.
    # A refused address would be refused again: one attempt, not the whole retry schedule.
    doc = submit_proof(store, VALID, callback_url="http://[::1]:9/hook")
    hook = wait_webhook(store, doc["id"], "failed")
    assert len(hook["attempts"]) == 1
    assert hook["attempts"][0]["error"].startswith("refused:")
    assert hook["attempts"][0]["status"] is None


def test_the_guard_runs_again_at_delivery_with_the_allowlist_of_then(pxl_env, tmp_path):
    """Accepted at submission (the API's allowlist names 127.0.0.1), refused at delivery by a
    worker whose allowlist no longer does: nothing reaches the receiver."""
    from workers.settings import get_settings
    from workers.webhooks import validate_callback_url

    queue = pxl_env["PXL_QUEUE_NAME"] + "-allowlist"  # its own queue: only this worker
    settings = get_settings().model_copy(update={"queue_name": queue})
    worker = WorkerProcess({**pxl_env, "PXL_QUEUE_NAME": queue, "PXL_WEBHOOK_ALLOWLIST": "[]"},
                           concurrency=1, settings=settings, log=tmp_path / "worker.log")
    with Receiver((200,)) as receiver:
        validate_callback_url(receiver.url, settings)  # what the API checks at submission
        worker.start()
        try:
            doc = submit_proof(worker.store, VALID, callback_url=receiver.url)
            hook = wait_webhook(worker.store, doc["id"], "failed")
        finally:
            worker.stop()
    assert [(a["status"], a["error"][:8]) for a in hook["attempts"]] == [(None, "refused:")]
    assert receiver.requests == []
