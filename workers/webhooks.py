"""Webhooks: Standard Webhooks v1 signing, an SSRF guard, and retried delivery.

Three subjects send webhooks, each through ``pxl.deliver_webhook`` (a worker: the API may
have no egress), signed alike and logged alike:

* a job with a ``callback_url``, when it ends: ``{"type": "job.succeeded", "timestamp":
  "...", "data": {<job document>}}`` (``job.failed``, ``job.cancelled``);
* a batch with a ``callback_url``, once, when its last job ends (workers.batches):
  ``{"type": "batch.completed", ..., "data": {<the batch's status>}}``;
* a ping (``POST /v1/webhooks:ping``), to test an endpoint: ``{"type": "ping", ...,
  "data": {"id": <ping id>}}``, one attempt, no retries.

The headers: ``webhook-id`` (``msg_<subject id>``, the same on every retry so receivers
can deduplicate), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">``), keyed by
the owner's secret (``whsec_<base64>``, workers.clients.webhook_secret; two signatures
during a rotation).

A non-2xx answer, a redirect, a timeout or a host that does not resolve is a failed attempt;
the next one waits ``settings.webhook_retry_schedule[n]`` seconds +-``webhook_retry_jitter``;
after the last the delivery is ``failed``.  An address the SSRF guard refuses (the host
resolves elsewhere than at submission) fails the delivery at once: a retry would be refused
too.  Every attempt is recorded in the subject's delivery log ``{"url", "state",
"attempts": [{"at", "status", "latency_ms", "error"}]}``: a job's ``webhook`` field, or the
hash workers.keys.webhook_log_key names for a batch or a ping.

SSRF guard: the host is resolved and every address must be globally routable (no private,
loopback, link-local, multicast, reserved, unspecified, metadata or IPv4-mapped IPv6
addresses) unless ``settings.webhook_allowlist`` names the host or a network holding the
address.  The request then goes to the checked address itself (no second lookup that a
rebinding DNS could answer differently), with the original Host header and TLS name, and
redirects are not followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import ssl
import time
from urllib.parse import urlsplit

import httpx

from workers import batches, keys, metrics
from workers.clients import WEBHOOK_SECRET_PREFIX, webhook_secrets
from workers.jobs import JobStore
from workers.record import DOCUMENT_FIELDS, TERMINAL_STATUSES, dumps, new_job_id, rfc3339
from workers.settings import Settings

SIGNATURE_VERSION = "v1"
JOB, BATCH, PING = "job", "batch", "ping"  # what a webhook is about (its subject)
SUBJECTS = (JOB, BATCH, PING)
MAX_URL_LENGTH = 2048
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"),
                       ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackURLError(ValueError):
    """The callback URL is malformed or points where the service must not send requests."""


class CallbackHostUnresolved(CallbackURLError):
    """The callback host does not resolve (now): refused at submission, retried at delivery."""


# --- signing ------------------------------------------------------------------------------


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after ``whsec_``."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        return base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX):])
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signatures(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one signature per secret, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def verify(secret: str, headers: dict, body: bytes, *, tolerance_s: int = 300,
           now: float | None = None) -> bool:
    """Check a received webhook (what a receiver does; used by the tests)."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts = lower.get("webhook-id"), lower.get("webhook-timestamp")
    sigs = lower.get("webhook-signature", "")
    if not msg_id or not ts or not ts.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(ts)) > tolerance_s:
        return False
    expected = sign(secret, msg_id, int(ts), body)
    return any(hmac.compare_digest(expected, s) for s in sigs.split())


# --- the SSRF guard -----------------------------------------------------------------------


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why the service must not connect to ``ip``, or None when it is a public address."""
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and forbidden_reason(embedded):
            return "an IPv6 address embedding a non-public IPv4 address"
    checks = (
        ("is_loopback", "a loopback address"), ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"), ("is_unspecified", "the unspecified address"),
        ("is_reserved", "a reserved address"), ("is_private", "a private address"),
    )
    for attr, reason in checks:
        if getattr(ip, attr):
            return reason
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _allowlist(settings: Settings) -> tuple[set[str], list]:
    names, nets = set(), []
    for entry in settings.webhook_allowlist:
        entry = entry.strip()
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return names, nets


def _split(url: str) -> tuple[str, str, int]:
    if not isinstance(url, str) or not url:
        raise CallbackURLError("callback_url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise CallbackURLError(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise CallbackURLError("callback_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackURLError(f"callback_url is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CallbackURLError("callback_url must use http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CallbackURLError("callback_url has no host")
    if parts.username is not None or parts.password is not None:
        raise CallbackURLError("callback_url must not carry credentials")
    return scheme, host, port or (443 if scheme == "https" else 80)


def resolve_checked(host: str, port: int, settings: Settings) -> list[IPAddress]:
    """The host's addresses, all of them allowed; raises CallbackURLError otherwise."""
    names, nets = _allowlist(settings)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise CallbackHostUnresolved(
                f"callback_url host {host!r} does not resolve: {exc}"
            ) from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0])
                                       for i in infos))
        if not addresses:
            raise CallbackHostUnresolved(f"callback_url host {host!r} has no addresses")
    if host.lower() in names:
        return addresses
    for ip in addresses:
        reason = forbidden_reason(ip)
        if reason and not any(ip in net for net in nets if net.version == ip.version):
            if literal is None:
                # Neither the address nor its kind: a client must not learn how internal
                # names resolve (the message reaches the client in a 422 and the job document).
                raise CallbackURLError(
                    f"callback_url host {host!r} resolves to an address the service does not "
                    "call (not public); PXL_WEBHOOK_ALLOWLIST can name hosts it may call"
                )
            raise CallbackURLError(
                f"callback_url {ip} is {reason}; the service does not call such addresses "
                "unless PXL_WEBHOOK_ALLOWLIST names them"
            )
    return addresses


def validate_callback_url(url: str, settings: Settings) -> str:
    """Check a callback URL at submission (scheme, form, the SSRF guard); returns it."""
    _scheme, host, port = _split(url)
    resolve_checked(host, port, settings)
    return url


# --- delivery ---------------------------------------------------------------------------


def _encode(event_type: str, data: dict) -> bytes:
    body = {"type": event_type, "timestamp": rfc3339(time.time()), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def payload(doc: dict) -> bytes:
    """A job's callback: its document (without the delivery log)."""
    return _encode(f"job.{doc['status']}",
                   {name: doc[name] for name in DOCUMENT_FIELDS if name != "webhook"})


def _log(store: JobStore, subject: str, subject_id: str) -> tuple[str, dict] | None:
    """(owner, delivery log) of a batch or a ping, None when it has none or is gone."""
    owner, hook = store.r.hmget(keys.webhook_log_key(store.prefix, subject, subject_id),
                                "owner", "webhook")
    return (json.loads(owner), json.loads(hook)) if owner and hook else None


def _batch_complete(store: JobStore, batch_id: str) -> bool:
    return store.r.get(keys.batch_pending_key(store.prefix, batch_id)) == "0"


def _subject(store: JobStore, subject: str, subject_id: str) -> tuple[str, dict, object] | None:
    """(owner, delivery log, what the body is made of) of a webhook due now; None when its
    subject is gone, has no webhook, or is not ready (a job not ended, a batch not complete)."""
    if subject == JOB:
        doc = store.get(subject_id)
        if doc is None or not doc["webhook"] or doc["status"] not in TERMINAL_STATUSES:
            return None
        return doc["owner"], doc["webhook"], doc
    found = _log(store, subject, subject_id)
    if found is None or (subject == BATCH and not _batch_complete(store, subject_id)):
        return None
    return found[0], found[1], None


def _body(store: JobStore, subject: str, subject_id: str, source: object) -> bytes:
    if subject == JOB:
        return payload(source)
    if subject == PING:
        return _encode("ping", {"id": subject_id})
    batch = json.loads(store.r.get(keys.batch_key(store.prefix, subject_id)) or "null")
    if batch is None:
        raise LookupError(f"batch {subject_id} has expired")
    view = batches.status(batch, store.summaries([i["id"] for i in batch["items"] if "id" in i]))
    return _encode("batch.completed", batches.completed_payload_data(view))


def post(url: str, body: bytes, headers: dict, settings: Settings, *,
         verify: ssl.SSLContext | bool = True) -> int:
    """POST to a checked address of the URL's host (trying each in turn until one accepts
    the connection); returns the HTTP status.  TLS verifies the certificate for the URL's
    host name, sent as SNI, although the connection goes to the address."""
    scheme, host, port = _split(url)
    default_port = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    error: httpx.ConnectError | None = None
    with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                      trust_env=False, verify=verify) as client:
        for ip in resolve_checked(host, port, settings):
            target = httpx.URL(url).copy_with(host=str(ip), port=port)
            try:
                response = client.post(target, content=body, extensions=extensions,
                                       headers={**headers, "host": host_header})
            except httpx.ConnectError as exc:
                error = exc
                continue
            return response.status_code
    assert error is not None
    raise error


def retry_delay(settings: Settings, attempt: int) -> float | None:
    """Seconds before attempt ``attempt + 1`` (jittered), None after the last attempt."""
    schedule = settings.webhook_retry_schedule
    if attempt > len(schedule):
        return None
    base = float(schedule[attempt - 1])
    jitter = settings.webhook_retry_jitter
    return max(0.0, base * (1 + random.uniform(-jitter, jitter)))


def run_delivery(store: JobStore, subject_id: str, attempt: int, not_before: float | None,
                 subject: str = JOB) -> str:
    """One delivery attempt (the body of ``pxl.deliver_webhook``) of a job's callback, a
    batch's or a ping."""
    settings = store.settings
    now = time.time()
    if subject not in SUBJECTS:
        return "gone"  # a message this version does not know how to deliver
    if not_before is not None and now < not_before - 0.05:
        # Long waits hop through several short Celery countdowns (see celery_app).
        store.schedule_webhook(subject_id, attempt=attempt, delay=not_before - now,
                               subject=subject)
        return "waiting"
    due = _subject(store, subject, subject_id)
    if due is None:
        return "gone"
    owner, hook, source = due
    if hook["state"] != "pending" or len(hook["attempts"]) != attempt - 1:
        return "duplicate"
    lock = keys.webhook_lock_key(store.prefix, subject, subject_id, attempt)
    if not store.r.set(lock, "1", nx=True, ex=int(settings.webhook_timeout_seconds * 3 + 60)):
        # Another delivery of this attempt is under way, or its worker died mid-request.
        # Look again once the lock has expired: a recorded attempt makes that a no-op.
        store.schedule_webhook(subject_id, attempt=attempt,
                               delay=max(1, store.r.ttl(lock)) + 1, subject=subject)
        return "duplicate"

    record = {"at": rfc3339(now), "status": None, "latency_ms": None, "error": None}
    outcome = "retry"
    try:
        body = _body(store, subject, subject_id, source)
        msg_id, ts = f"msg_{subject_id}", int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "logos-pxl-core-webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": signatures(webhook_secrets(owner, settings), msg_id,
                                            ts, body),
        }
        sent = time.monotonic()
        try:
            status = post(hook["url"], body, headers, settings)
        finally:
            record["latency_ms"] = round((time.monotonic() - sent) * 1000.0, 1)
        record["status"] = status
        if 200 <= status < 300:
            outcome = "delivered"
        else:
            record["error"] = ("redirects are not followed" if 300 <= status < 400
                               else f"HTTP {status}")
    except CallbackHostUnresolved as exc:  # DNS may answer later: retry
        record["error"] = f"not sent: {exc}"
    except CallbackURLError as exc:
        record["error"] = f"refused: {exc}"
        outcome = "refused"
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except LookupError as exc:  # WebhookSecretMissing (never send unsigned), batch expired
        record["error"] = f"not sent: {exc}"

    # A refused address is refused again on every retry: the delivery fails at once; a ping
    # tests the endpoint as it is now: one attempt.  A redelivery starts the retry schedule
    # again (its attempts count from round_start).
    delay = (None if outcome in ("delivered", "refused") or subject == PING
             else retry_delay(settings, attempt - hook.get("round_start", 0)))

    def change(current: dict) -> dict | None:
        if current.get("state") != "pending" or len(current.get("attempts", [])) != attempt - 1:
            return None
        current["attempts"].append(record)
        if outcome == "delivered":
            current["state"] = "delivered"
        elif delay is None:
            current["state"] = "failed"
        return current

    new = store.update_webhook(subject_id, change, subject=subject)
    if new is None:
        return "duplicate"
    final = new["state"]
    if subject != PING:  # a client's test of an endpoint is not the service failing to deliver
        metrics.webhook_delivery("failed" if final == "failed" else outcome)
    if final == "pending":
        store.schedule_webhook(subject_id, attempt=attempt + 1, delay=delay, subject=subject)
    return final


class DeliveryConflict(Exception):
    """A redelivery was asked for while its subject or a delivery has not finished."""


def _redeliver(store: JobStore, subject: str, subject_id: str) -> dict:
    def change(current: dict) -> dict | None:
        if current.get("state") == "pending":
            # No attempt yet: its message may be lost (the process that was to publish it
            # died), so it is queued again; were it not lost, the attempt number makes the
            # second message a no-op.  With attempts, retries are under way.
            return None if current.get("attempts") else current
        current["state"] = "pending"
        current["round_start"] = len(current.get("attempts", []))
        return current

    new = store.update_webhook(subject_id, change, subject=subject)
    if new is None:
        raise DeliveryConflict("a delivery of this callback is under way")
    store.schedule_webhook(subject_id, attempt=len(new["attempts"]) + 1, delay=0,
                           subject=subject)
    return new


def redeliver(store: JobStore, doc: dict) -> dict:
    """Send a finished job's callback again (a new round of the retry schedule); the
    webhook state as it now is. ``DeliveryConflict`` while the job or a delivery runs."""
    if doc["status"] not in TERMINAL_STATUSES:
        raise DeliveryConflict("the job has not finished; its callback is sent when it does")
    return _redeliver(store, JOB, doc["id"])


def redeliver_batch(store: JobStore, batch_id: str) -> dict:
    """Send a complete batch's webhook again, as ``redeliver`` does a job's."""
    if not _batch_complete(store, batch_id):
        raise DeliveryConflict("the batch has jobs not yet ended; its webhook is sent when "
                               "the last one ends")
    return _redeliver(store, BATCH, batch_id)


def delivery_log(store: JobStore, subject: str, subject_id: str, owner: str) -> dict | None:
    """The owner's batch's or ping's delivery log; None when it has none, has expired or is
    another client's."""
    found = _log(store, subject, subject_id)
    return found[1] if found and found[0] == owner else None


def send_ping(store: JobStore, owner: str, url: str) -> tuple[str, dict]:
    """Record a ping of ``url`` (checked by the caller: validate_callback_url) and queue its
    one delivery; (its id, its delivery log). Kept as long as job records."""
    ping_id = new_job_id()
    hook = {"url": url, "state": "pending", "attempts": []}
    key = keys.webhook_log_key(store.prefix, PING, ping_id)
    with store.r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"owner": dumps(owner), "webhook": dumps(hook)})
        pipe.expire(key, store.settings.job_ttl_seconds)
        pipe.execute()
    try:
        store.schedule_webhook(ping_id, attempt=1, delay=0.0, subject=PING)
    except Exception:
        store.r.delete(key)  # the broker refused: no ping that no worker will ever send
        raise
    return ping_id, hook
