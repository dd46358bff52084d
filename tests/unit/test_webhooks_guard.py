"""Standard Webhooks signing and the SSRF guard on callback URLs."""

from __future__ import annotations

import ipaddress

import pytest

from workers.settings import Settings
from workers.webhooks import (
    CallbackURLError,
    forbidden_reason,
    retry_delay,
    sign,
    validate_callback_url,
    verify,
)


def settings(**kw) -> Settings:
    # explicit, so that an integration session's PXL_WEBHOOK_ALLOWLIST cannot leak in
    return Settings(_env_file=None, **{"webhook_allowlist": [], **kw})


# --- signing ---------------------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_reference_vector():
    # The example of the Standard Webhooks specification and its reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_verify_accepts_the_signed_message_and_rejects_tampering():
    secret = "whsec_" + "c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3ODkw"
    body = b'{"type":"job.succeeded"}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(secret, "msg_1", 1700000000, body),
    }
    assert verify(secret, headers, body, now=1700000010)
    assert not verify(secret, headers, body + b" ", now=1700000010)
    assert not verify(secret, {**headers, "webhook-id": "msg_2"}, body, now=1700000010)
    assert not verify("whsec_b3RoZXI=", headers, body, now=1700000010)
    assert not verify(secret, headers, body, now=1700000000 + 3600)  # too old


# --- the guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://10.0.0.5/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped"),
        ("http://[::ffff:8.8.8.8]/hook", "IPv4-mapped"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://100.64.0.1/", "not a globally routable"),
        ("http://[2002:7f00:1::]/", "embedding"),
        ("http://localhost:9000/hook", "resolves to an address the service does not call"),
    ],
)
def test_non_public_destinations_are_refused(url, why):
    with pytest.raises(CallbackURLError, match=why):
        validate_callback_url(url, settings())


def test_refusing_an_internal_name_does_not_disclose_what_it_resolves_to():
    # issue 10, finding 8: the 422 named the resolved address ("localhost (127.0.0.1)")
    with pytest.raises(CallbackURLError) as refused:
        validate_callback_url("http://localhost:9000/hook", settings())
    message = str(refused.value)
    assert "localhost" in message
    for disclosed in ("127.0.0.1", "::1", "loopback"):
        assert disclosed not in message


@pytest.mark.parametrize(
    "url, why",
    [
        ("ftp://example.com/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("https://user:pw@example.com/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://exa mple.com/", "whitespace"),
        ("", "non-empty"),
        ("http://example.com:99999/", "valid URL"),
        ("http://" + "a" * 3000 + ".com/", "longer"),
        ("http://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_malformed_urls_are_refused(url, why):
    with pytest.raises(CallbackURLError, match=why):
        validate_callback_url(url, settings())


def test_callback_url_error_is_a_value_error():
    assert issubclass(CallbackURLError, ValueError)


def test_public_addresses_pass():
    assert validate_callback_url("https://93.184.215.14/hook", settings())
    assert validate_callback_url("http://[2606:4700:4700::1111]:8443/x", settings())
    assert forbidden_reason(ipaddress.ip_address("8.8.8.8")) is None


def test_the_allowlist_opens_named_addresses_hosts_and_networks():
    s = settings(webhook_allowlist=["127.0.0.1", "10.1.0.0/16", "localhost"])
    assert validate_callback_url("http://127.0.0.1:8080/hook", s)
    assert validate_callback_url("http://10.1.2.3/hook", s)
    assert validate_callback_url("http://localhost:9/hook", s)
    with pytest.raises(CallbackURLError):
        validate_callback_url("http://10.2.0.1/hook", s)
    with pytest.raises(CallbackURLError):
        validate_callback_url("http://[::ffff:10.2.0.1]/hook", s)
    only_v4 = settings(webhook_allowlist=["127.0.0.1"])
    with pytest.raises(CallbackURLError):
        validate_callback_url("http://[::1]/hook", only_v4)


def test_retry_schedule_is_jittered_and_ends():
    s = settings(webhook_retry_schedule=[10, 100], webhook_retry_jitter=0.2)
    first = [retry_delay(s, 1) for _ in range(50)]
    assert all(8 <= d <= 12 for d in first) and len(set(first)) > 1
    assert 80 <= retry_delay(s, 2) <= 120
    assert retry_delay(s, 3) is None


# --- the delivery task's bookkeeping (real Redis, DB from PXL_TEST_REDIS_DB; nothing is sent) ---


@pytest.fixture
def hook_store():
    import uuid

    import redis

    from tests.environment import redis_url
    from workers import metrics
    from workers.jobs import JobStore
    from workers.record import JobStatus

    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    prefix = f"pxltest-hook-{uuid.uuid4().hex[:8]}:"
    metrics.bind_redis(client)
    scheduled: list[tuple[str, int, float]] = []
    store = JobStore(client, settings(key_prefix=prefix), enqueue=lambda *a: None,
                     revoke=lambda *a: None, queue_depth=lambda: 0,
                     schedule_webhook=lambda *a: scheduled.append(a))
    doc, _ = store.submit(kind="proof", owner="o", params={"formula": {"atom": "p"}},
                          callback_url="https://example.com/hook")
    store.begin(doc["id"])
    store.finish(doc["id"], JobStatus.SUCCEEDED, result={"verdict": "valid"})
    assert scheduled == [(doc["id"], 1, 0.0, "job")]
    scheduled.clear()
    try:
        yield store, doc["id"], scheduled
    finally:
        metrics.bind_redis(None)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.mark.integration
def test_a_long_wait_hops_instead_of_sending(hook_store):
    import time

    from workers.webhooks import run_delivery

    store, job_id, scheduled = hook_store
    assert run_delivery(store, job_id, 2, time.time() + 3600) == "waiting"
    [(again_id, attempt, delay, subject)] = scheduled
    assert subject == "job"
    assert (again_id, attempt) == (job_id, 2) and 3590 < delay <= 3600
    assert store.get(job_id)["webhook"]["attempts"] == []


@pytest.mark.integration
def test_stale_or_concurrent_deliveries_are_dropped(hook_store):
    from workers.webhooks import run_delivery

    store, job_id, scheduled = hook_store
    assert run_delivery(store, job_id, 3, None) == "duplicate"  # attempt 1 has not happened
    assert scheduled == []
    store.r.set(f"{store.job_key(job_id)}:webhook:1", "1", ex=50)  # another worker is on it
    assert run_delivery(store, job_id, 1, None) == "duplicate"
    assert store.get(job_id)["webhook"]["attempts"] == []
    # ... or died on it: the same attempt is looked at again after the lock expires
    [(again_id, attempt, delay, subject)] = scheduled
    assert subject == "job"
    assert (again_id, attempt) == (job_id, 1) and 50 <= delay <= 52


@pytest.mark.integration
def test_a_redelivery_requeues_a_first_attempt_never_made_and_not_a_retry_under_way(hook_store):
    from workers.webhooks import DeliveryConflict, redeliver

    store, job_id, scheduled = hook_store
    # the job ended, its first attempt was never made (its message lost): queued again
    assert redeliver(store, store.get(job_id))["state"] == "pending"
    assert scheduled == [(job_id, 1, 0, "job")]
    store.update_webhook(job_id, lambda hook: {**hook, "attempts": [{"status": 503}]})
    with pytest.raises(DeliveryConflict):  # retries are under way
        redeliver(store, store.get(job_id))
