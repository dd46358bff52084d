"""pxl_client against the real service: a uvicorn server on loopback (auth and rate limits on,
a configured client with a secret), the session's real `pxl worker`, the real Redis.

Covers the client's promises: client-credentials token (and its refresh), submit / get / wait
(event stream, resumed or polled) / cancel / list, both the blocking and the asyncio client,
Retry-After on 429, idempotency keys by default, Standard Webhooks verification of a real
callback, pings, and the `pxl submit/job/events` commands built on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from pxl_client import AsyncClient, Client, PxlError, WebhookVerificationError, verify_webhook
from tests.api.conftest import HARD
from tests.http_servers import RecordingServer, serve_app
from tests.integration.conftest import INVALID, ROOT, VALID

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "console-user", "client-secret-0123456789abcdef"


def clients_doc() -> dict:
    from workers.clients import hash_secret

    return {"clients": {CLIENT_ID: {
        "secret_hash": hash_secret(CLIENT_SECRET),
        "scopes": ["proofs:write", "overlays:write", "jobs:read"],
    }}}  # fmt: skip


@pytest.fixture(scope="module")
def service(pxl_env, worker):
    from workers.settings import get_settings

    # the limiter has its own test below; here it would only slow the many small requests
    settings = get_settings().model_copy(update={
        "clients": clients_doc(), "rate_limit_per_minute": 1_000_000,
        "rate_limit_burst": 100_000,
    })  # fmt: skip
    from api.app import create_app

    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture
def pxl(service):
    with Client(service, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as client:
        yield client


def test_submit_wait_get_list_with_client_credentials(pxl):
    job = pxl.submit(VALID, timeout=10)
    assert job["status"] in {"queued", "running", "succeeded"}
    done = pxl.wait(job["id"], timeout=60)
    assert done["status"] == "succeeded" and done["result"]["verdict"] == "valid"
    fetched = pxl.get(job["id"])
    assert fetched.pop("links")["self"].endswith(job["id"])  # GET adds links to the document
    assert fetched.pop("proof_id") == job["id"]  # and the original contract's proof_id
    assert fetched == done
    refuted = pxl.wait(pxl.submit(INVALID)["id"], timeout=60)
    assert refuted["result"]["verdict"] == "invalid"
    listed = [item["id"] for item in pxl.list(limit=10)["items"]]
    assert job["id"] in listed and refuted["id"] in listed
    assert done["owner"] == CLIENT_ID  # the token came from the client's credentials


def test_an_idempotency_key_is_sent_by_default_and_can_be_reused(pxl):
    first = pxl.submit(VALID, idempotency_key="client-test-same-key")
    again = pxl.submit(VALID, idempotency_key="client-test-same-key")
    assert first["id"] == again["id"]
    assert pxl.submit(VALID)["id"] != pxl.submit(VALID)["id"]  # fresh keys: new jobs


def test_cancel_and_wait_sees_the_cancellation(pxl):
    job = pxl.submit(HARD, timeout=60)
    pxl.cancel(job["id"])
    assert pxl.wait(job["id"], timeout=60)["status"] == "cancelled"


def test_wait_on_a_finished_job_answers_at_once_with_its_document(pxl):
    done = pxl.wait(pxl.submit(VALID)["id"], timeout=60)
    assert pxl.wait(done["id"], timeout=10) == done  # the stream replays up to its end


def test_errors_are_problem_documents(pxl):
    with pytest.raises(PxlError) as refused:
        pxl.submit("[](p ->")
    assert refused.value.status == 422 and refused.value.problem["type"].endswith("invalid-formula")
    with pytest.raises(PxlError) as missing:
        pxl.get("01JDX8Q5W7Y0N4F3T2R1V0S9ZA")
    assert missing.value.status == 404


def test_wrong_credentials_are_an_oauth_error(service):
    with (Client(service, client_id=CLIENT_ID, client_secret="wrong") as client,
          pytest.raises(PxlError) as refused):
        client.submit(VALID)
    assert refused.value.status == 401 and refused.value.problem["error"] == "invalid_client"


def test_the_token_is_fetched_again_before_it_expires(pxl):
    pxl.get(pxl.submit(VALID)["id"])
    first = pxl._options.token.value
    pxl._options.token.expires_at = time.time() + 30  # within the refresh margin
    pxl.list(limit=1)
    assert pxl._options.token.value != first


def test_the_async_client(service):
    async def run():
        async with AsyncClient(service, client_id=CLIENT_ID,
                               client_secret=CLIENT_SECRET) as client:
            jobs = await asyncio.gather(*(client.submit(f) for f in (VALID, INVALID)))
            done = await asyncio.gather(*(client.wait(j["id"], timeout=60) for j in jobs))
            events = [name async for name, _ in client.events(jobs[0]["id"])]
            return done, events

    done, events = asyncio.run(run())
    assert [d["result"]["verdict"] for d in done] == ["valid", "invalid"]
    assert events[0] == "queued" and events[-1] == "succeeded"


def test_429_is_retried_after_retry_after(pxl_env, worker):
    from workers.settings import get_settings

    settings = get_settings().model_copy(update={
        "clients": clients_doc(), "rate_limit_per_minute": 120, "rate_limit_burst": 2,
        "key_prefix": get_settings().key_prefix + "limited:",
    })  # fmt: skip
    from api.app import create_app

    with serve_app(create_app(settings)) as url:
        with Client(url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as client:
            start = time.monotonic()
            for _ in range(5):  # the burst of 2 runs out: the client waits (~0.5 s per 429)
                client.list(limit=1)
            assert time.monotonic() - start >= 0.5  # it did wait (the limiter did refuse)
        with (Client(url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                     max_retries=0) as impatient,
              pytest.raises(PxlError) as refused):
            for _ in range(5):
                impatient.list(limit=1)
        assert refused.value.status == 429


def test_verify_webhook_accepts_the_real_callback_and_refuses_a_tampered_one(pxl):
    with RecordingServer(statuses=(204,)) as receiver:
        job = pxl.wait(pxl.submit(VALID, callback_url=receiver.url + "/hook")["id"], timeout=60)
        deadline = time.monotonic() + 30
        while not receiver.requests:
            assert time.monotonic() < deadline, "no callback arrived"
            time.sleep(0.1)
    from workers.clients import webhook_secret

    secret = webhook_secret(CLIENT_ID)  # what the worker signs with (from the master key)
    headers, body = receiver.requests[0]["headers"], receiver.requests[0]["body"]
    payload = verify_webhook(headers, body, secret)
    assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job["id"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body.replace(b"valid", b"VALID"), secret)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body, "whsec_" + "b3RoZXItc2VjcmV0LW9mLWFub3RoZXItY2xpZW50")


def test_ping_tests_an_endpoint_with_both_clients(pxl, service):
    from workers.clients import webhook_secret

    with RecordingServer(statuses=(200, 503)) as receiver:
        delivered = pxl.ping(receiver.url + "/hook")

        async def run():
            async with AsyncClient(service, client_id=CLIENT_ID,
                                   client_secret=CLIENT_SECRET) as client:
                return await client.ping(receiver.url + "/hook")

        refused = asyncio.run(run())
    assert delivered["state"] == "delivered" and delivered["attempts"][0]["status"] == 200
    assert refused["state"] == "failed" and refused["attempts"][0]["status"] == 503
    first = receiver.requests[0]
    payload = verify_webhook(first["headers"], first["body"], webhook_secret(CLIENT_ID))
    assert payload == {"type": "ping", "timestamp": payload["timestamp"],
                       "data": {"id": delivered["id"]}}
    with pytest.raises(PxlError) as bad:
        pxl.ping("http://10.9.8.7/hook")
    assert bad.value.status == 422 and bad.value.problem["type"].endswith("invalid-callback-url")


def test_the_remote_cli_commands(service):
    env = {**os.environ, "PXL_URL": service, "PXL_CLIENT_ID": CLIENT_ID,
           "PXL_CLIENT_SECRET": CLIENT_SECRET}

    def pxl_cli(*args):
        return subprocess.run(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90,
        )  # fmt: skip

    proved = pxl_cli("submit", VALID, "--wait")
    assert proved.returncode == 0, proved.stderr
    job = json.loads(proved.stdout)
    assert job["result"]["verdict"] == "valid"
    assert pxl_cli("submit", INVALID, "--wait").returncode == 1
    shown = pxl_cli("job", job["id"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == job["id"]
    events = pxl_cli("events", job["id"])
    assert events.returncode == 0
    assert [line.split()[0] for line in events.stdout.splitlines()][-1] == "succeeded"
    refused = pxl_cli("submit", "[](p ->")
    assert refused.returncode == 3 and "422" in refused.stderr
    with RecordingServer(statuses=(204, 500)) as receiver:
        pinged = pxl_cli("ping", receiver.url + "/hook")
        assert pinged.returncode == 0, pinged.stderr
        assert json.loads(pinged.stdout)["attempts"][0]["status"] == 204
        failed = pxl_cli("ping", receiver.url + "/hook")
        assert failed.returncode == 4 and json.loads(failed.stdout)["state"] == "failed"
    assert len(receiver.requests) == 2
    assert pxl_cli("ping", "http://10.0.0.1/hook").returncode == 3


def test_the_example_in_docs_client_md_runs_as_written(service, tokens):
    text = (ROOT / "docs" / "client.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    token = tokens(CLIENT_ID)["Authorization"].removeprefix("Bearer ")
    example = example.replace('"http://127.0.0.1:8080"', repr(service))  # the test's port
    result = subprocess.run([sys.executable, "-c", example], env={**os.environ, "TOKEN": token},
                            cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "valid"
