"""The client: every operation is written once, as a generator of HTTP steps (sans-I/O), and
run by a blocking driver (``Client``) or an asyncio driver (``AsyncClient``).

What every call does for the caller:

* a bearer token from client credentials (``POST /v1/auth/token``), kept until a minute before
  it expires and fetched again once if the API answers 401; or a fixed token given by the user;
* ``429`` and ``503`` are retried after their ``Retry-After`` (at most ``max_retries`` times,
  each wait capped at ``max_retry_wait``); connection errors are retried with exponential
  backoff — safe, because reads are idempotent and every submission carries an
  ``Idempotency-Key`` (a fresh UUID unless the caller gives one);
* errors are ``PxlError`` with the RFC 9457 problem document the API sent.

``wait`` follows the job's event stream (``GET /v1/jobs/{id}/events``), resuming with
``Last-Event-ID`` after a dropped connection, and falls back to polling with backoff when the
stream cannot be had. Its ``timeout`` is checked between stream connections and polls (a
stream stays open while the job runs: the server's keep-alives arrive every 15 s).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
TOKEN_REFRESH_MARGIN_S = 60.0
POLL_INTERVALS_S = (0.1, 0.2, 0.5, 1.0, 2.0)  # then 2 s between polls


class PxlError(Exception):
    """The API answered an error: ``status`` and the problem document (``problem``)."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        title = problem.get("title") or problem.get("error") or "error"
        detail = problem.get("detail") or problem.get("error_description") or ""
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))


class WebhookVerificationError(Exception):
    """A received webhook's signature, id or timestamp does not check out."""


def verify_webhook(headers: dict[str, str], body: bytes | str, secret: str,
                   ) -> dict[str, Any]:
    """Check a callback (Standard Webhooks v1: ``webhook-id``, ``webhook-timestamp`` within
    5 minutes, ``webhook-signature``) and return its JSON payload; raises
    ``WebhookVerificationError`` otherwise. ``secret`` is the ``whsec_...`` signing secret."""
    from standardwebhooks.webhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError as LibraryError

    try:
        return Webhook(secret).verify(body, dict(headers))
    except LibraryError as exc:
        raise WebhookVerificationError(str(exc)) from None


# --- steps a generator yields to its driver ----------------------------------------------


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Stream:
    """Read a server-sent event stream to its end: the driver answers with (events, error)."""

    request: httpx.Request


@dataclass
class _Token:
    value: str | None = None
    expires_at: float = 0.0
    fixed: bool = False


@dataclass
class _Options:
    client_id: str | None
    client_secret: str | None
    scope: str | None
    max_retries: int
    max_retry_wait: float
    token: _Token = field(default_factory=_Token)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"title": response.reason_phrase,
                                                 "detail": response.text[:200]}


def _retry_after(response: httpx.Response, attempt: int, cap: float) -> float:
    value = response.headers.get("Retry-After", "")
    seconds = float(value) if value.isdigit() else min(2.0 ** attempt, cap)
    return min(max(seconds, 0.1), cap)


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str | None, str, str]]:
    """(id, event, data) of each event in a text/event-stream, given its lines."""
    event_id, name, data = None, "message", []
    for line in lines:
        if not line:
            if data:
                yield event_id, name, "\n".join(data)
            event_id, name, data = None, "message", []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "id":
                event_id = value
            elif key == "event":
                name = value
            elif key == "data":
                data.append(value)


class _Operations:
    """The operations, as generators of steps (httpx.Request, _Sleep, _Stream)."""

    _options: _Options

    def _authorized(self, request: httpx.Request) -> Generator[Any, Any, None]:
        token = self._options.token
        if not token.fixed and (token.value is None
                                or time.time() > token.expires_at - TOKEN_REFRESH_MARGIN_S):
            yield from self._fetch_token()
        if token.value:
            request.headers["Authorization"] = f"Bearer {token.value}"

    def _fetch_token(self) -> Generator[Any, Any, None]:
        options = self._options
        if not (options.client_id and options.client_secret):
            return  # no credentials: requests go without a token (auth may be off)
        form = {"grant_type": "client_credentials"}
        if options.scope:
            form["scope"] = options.scope
        # client_secret_basic; RFC 6749 2.3.1: id and secret form-encoded before base64
        credentials = f"{quote_plus(options.client_id)}:{quote_plus(options.client_secret)}"
        basic = base64.b64encode(credentials.encode()).decode()
        request = self._build("POST", "/v1/auth/token", data=form,
                              headers={"Authorization": f"Basic {basic}"})
        response = yield from self._send(request, authorize=False)
        if response.status_code != 200:
            raise PxlError(response.status_code, _problem(response))
        body = response.json()
        options.token.value = body["access_token"]
        options.token.expires_at = time.time() + float(body.get("expires_in", 3600))

    def _send(self, request: httpx.Request, *, authorize: bool = True,
              ) -> Generator[Any, Any, httpx.Response]:
        """Send with token, retries on 429/503 and connection errors; the final response."""
        options, refreshed = self._options, False
        for attempt in range(options.max_retries + 1):
            if authorize:
                yield from self._authorized(request)
            try:
                response = yield request
            except httpx.TransportError:
                if attempt == options.max_retries:
                    raise
                yield _Sleep(min(0.2 * 2 ** attempt, options.max_retry_wait))
                continue
            if (response.status_code == 401 and authorize and not refreshed
                    and not options.token.fixed):
                options.token.value, refreshed = None, True  # expired or rotated: once more
                continue
            if response.status_code in (429, 503) and attempt < options.max_retries:
                yield _Sleep(_retry_after(response, attempt, options.max_retry_wait))
                continue
            return response
        return response

    def _json(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 202),
              **kwargs) -> Generator[Any, Any, Any]:
        response = yield from self._send(self._build(method, path, **kwargs))
        if response.status_code not in ok:
            raise PxlError(response.status_code, _problem(response))
        return response.json()

    # --- operations ---------------------------------------------------------------------

    def _submit(self, path: str, body: dict, idempotency_key: str | None,
                wait: float | None) -> Generator[Any, Any, dict]:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if wait:
            headers["Prefer"] = f"wait={int(wait)}"
        return (yield from self._json("POST", path, json=body, headers=headers))

    def _wait(self, job_id: str, timeout: float | None) -> Generator[Any, Any, dict]:
        deadline = None if timeout is None else time.monotonic() + timeout
        last_id: str | None = None
        for _ in range(5):  # streams, resumed after a drop; then polling
            headers = {"Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            request = self._build("GET", f"/v1/jobs/{job_id}/events", headers=headers)
            yield from self._authorized(request)
            events, error = yield _Stream(request)
            for event_id, name, data in events:
                last_id = event_id or last_id
                if name in TERMINAL_STATUSES:
                    return json.loads(data)
            if isinstance(error, PxlError) and error.status not in (429, 503):
                raise error
            if deadline is not None and time.monotonic() > deadline:
                break
        return (yield from self._poll(job_id, deadline))

    def _ping(self, callback_url: str, wait: float | None) -> Generator[Any, Any, dict]:
        log = yield from self._json("POST", "/v1/webhooks:ping",
                                    json={"callback_url": callback_url})
        deadline = time.monotonic() + (wait or 0.0)
        for n in itertools.count():
            if log["state"] != "pending" or time.monotonic() > deadline:
                return log
            yield _Sleep(POLL_INTERVALS_S[min(n, len(POLL_INTERVALS_S) - 1)])
            log = yield from self._json("GET", log["links"]["self"])
        raise AssertionError("unreachable")

    def _poll(self, job_id: str, deadline: float | None) -> Generator[Any, Any, dict]:
        for n in itertools.count():
            job = yield from self._json("GET", f"/v1/jobs/{job_id}")
            if job["status"] in TERMINAL_STATUSES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']}")
            yield _Sleep(POLL_INTERVALS_S[min(n, len(POLL_INTERVALS_S) - 1)])


class _ClientBase(_Operations):
    def __init__(self, base_url: str, *, token: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, scope: str | None = None,
                 timeout: float = 30.0, max_retries: int = 5, max_retry_wait: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._options = _Options(client_id, client_secret, scope, max_retries, max_retry_wait)
        if token:
            self._options.token = _Token(token, float("inf"), fixed=True)

    def _build(self, method: str, path: str, **kwargs) -> httpx.Request:
        return self._http.build_request(method, self.base_url + path, **kwargs)

    @staticmethod
    def _proof_body(formula: str | dict, timeout: float | None, overlay: str | None,
                    callback_url: str | None) -> dict:
        body: dict[str, Any] = {"formula": formula}
        for name, value in (("timeout", timeout), ("overlay", overlay),
                            ("callback_url", callback_url)):
            if value is not None:
                body[name] = value
        return body


class Client(_ClientBase):
    """The blocking client. Use it as a context manager (or call ``close``)."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(base_url, **kwargs)
        self._http = httpx.Client(timeout=self.timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, operation: Generator[Any, Any, Any]) -> Any:
        try:
            step, reply, error = next(operation), None, None
        except StopIteration as stop:  # an operation that needed no I/O
            return stop.value
        while True:
            if isinstance(step, _Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, _Stream):
                reply = self._read_stream(step.request)
            else:
                try:
                    reply = self._http.send(step)
                except httpx.TransportError as exc:
                    error = exc
            try:
                step = operation.throw(error) if error else operation.send(reply)
            except StopIteration as stop:
                return stop.value
            reply, error = None, None

    def _read_stream(self, request: httpx.Request) -> tuple[list, Exception | None]:
        events: list = []
        try:
            with self._http.stream(request.method, request.url, headers=request.headers,
                                   timeout=httpx.Timeout(self.timeout, read=60.0)) as response:
                if response.status_code != 200:
                    response.read()
                    return events, PxlError(response.status_code, _problem(response))
                for event in parse_sse(response.iter_lines()):
                    events.append(event)
        except httpx.TransportError as exc:
            return events, exc
        return events, None

    def submit(self, formula: str | dict, *, timeout: float | None = None,
               overlay: str | None = None, callback_url: str | None = None,
               idempotency_key: str | None = None, wait: float | None = None) -> dict:
        """Submit a proof job; the job document (finished if ``wait`` seconds sufficed)."""
        body = self._proof_body(formula, timeout, overlay, callback_url)
        return self._run(self._submit("/v1/proofs", body, idempotency_key, wait))

    def submit_overlay(self, overlay: str, body: dict, *, idempotency_key: str | None = None,
                       wait: float | None = None) -> dict:
        """Submit a ``chrono`` or ``v4`` overlay job with the route's body."""
        return self._run(self._submit(f"/v1/overlays/{overlay}", body, idempotency_key, wait))

    def get(self, job_id: str) -> dict:
        return self._run(self._json("GET", f"/v1/jobs/{job_id}"))

    def wait(self, job_id: str, timeout: float | None = None) -> dict:
        """The finished job: event stream with resume, else polling. ``TimeoutError`` after
        ``timeout`` seconds (None: no limit)."""
        return self._run(self._wait(job_id, timeout))

    def cancel(self, job_id: str) -> dict:
        return self._run(self._json("DELETE", f"/v1/jobs/{job_id}"))

    def list(self, *, status: str | None = None, kind: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> dict:
        """One page of the caller's jobs: ``{"items": [...], "next_cursor": ...}``."""
        params = {k: v for k, v in (("status", status), ("kind", kind), ("limit", limit),
                                    ("cursor", cursor)) if v is not None}
        return self._run(self._json("GET", "/v1/jobs", params=params))

    def ping(self, callback_url: str, *, wait: float | None = 30.0) -> dict:
        """Have the service send a signed ``ping`` webhook to ``callback_url``; its delivery
        log once it was sent (``state`` ``delivered`` or ``failed``), or still ``pending``
        after ``wait`` seconds (0 or None: at once)."""
        return self._run(self._ping(callback_url, wait))

    def events(self, job_id: str) -> Iterator[tuple[str, dict]]:
        """The job's events as they happen: (event name, data), until the final one."""
        request = self._build("GET", f"/v1/jobs/{job_id}/events")
        self._run(self._authorized(request))
        with self._http.stream("GET", request.url, headers=request.headers,
                               timeout=httpx.Timeout(self.timeout, read=60.0)) as response:
            if response.status_code != 200:
                response.read()
                raise PxlError(response.status_code, _problem(response))
            for _event_id, name, data in parse_sse(response.iter_lines()):
                yield name, json.loads(data)


class AsyncClient(_ClientBase):
    """The asyncio client: the same methods, as coroutines."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(base_url, **kwargs)
        self._http = httpx.AsyncClient(timeout=self.timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, operation: Generator[Any, Any, Any]) -> Any:
        try:
            step, reply, error = next(operation), None, None
        except StopIteration as stop:  # an operation that needed no I/O
            return stop.value
        while True:
            if isinstance(step, _Sleep):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, _Stream):
                reply = await self._read_stream(step.request)
            else:
                try:
                    reply = await self._http.send(step)
                except httpx.TransportError as exc:
                    error = exc
            try:
                step = operation.throw(error) if error else operation.send(reply)
            except StopIteration as stop:
                return stop.value
            reply, error = None, None

    async def _read_stream(self, request: httpx.Request) -> tuple[list, Exception | None]:
        events: list = []
        try:
            async with self._http.stream(
                request.method, request.url, headers=request.headers,
                timeout=httpx.Timeout(self.timeout, read=60.0),
            ) as response:  # fmt: skip
                if response.status_code != 200:
                    await response.aread()
                    return events, PxlError(response.status_code, _problem(response))
                lines = [line async for line in response.aiter_lines()]
                events.extend(parse_sse(iter(lines)))
        except httpx.TransportError as exc:
            return events, exc
        return events, None

    async def submit(self, formula: str | dict, *, timeout: float | None = None,
                     overlay: str | None = None, callback_url: str | None = None,
                     idempotency_key: str | None = None, wait: float | None = None) -> dict:
        body = self._proof_body(formula, timeout, overlay, callback_url)
        return await self._run(self._submit("/v1/proofs", body, idempotency_key, wait))

    async def submit_overlay(self, overlay: str, body: dict, *,
                             idempotency_key: str | None = None,
                             wait: float | None = None) -> dict:
        return await self._run(
            self._submit(f"/v1/overlays/{overlay}", body, idempotency_key, wait)
        )

    async def get(self, job_id: str) -> dict:
        return await self._run(self._json("GET", f"/v1/jobs/{job_id}"))

    async def wait(self, job_id: str, timeout: float | None = None) -> dict:
        return await self._run(self._wait(job_id, timeout))

    async def cancel(self, job_id: str) -> dict:
        return await self._run(self._json("DELETE", f"/v1/jobs/{job_id}"))

    async def list(self, *, status: str | None = None, kind: str | None = None,
                   limit: int | None = None, cursor: str | None = None) -> dict:
        params = {k: v for k, v in (("status", status), ("kind", kind), ("limit", limit),
                                    ("cursor", cursor)) if v is not None}
        return await self._run(self._json("GET", "/v1/jobs", params=params))

    async def ping(self, callback_url: str, *, wait: float | None = 30.0) -> dict:
        return await self._run(self._ping(callback_url, wait))

    async def events(self, job_id: str) -> AsyncIterator[tuple[str, dict]]:
        request = self._build("GET", f"/v1/jobs/{job_id}/events")
        await self._run(self._authorized(request))
        async with self._http.stream("GET", request.url, headers=request.headers,
                                     timeout=httpx.Timeout(self.timeout, read=60.0)) as response:
            if response.status_code != 200:
                await response.aread()
                raise PxlError(response.status_code, _problem(response))
            lines: list[str] = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line == "":  # an event is complete
                    for _event_id, name, data in parse_sse(iter(lines)):
                        yield name, json.loads(data)
                    lines = []
