"""RFC 9457 problem details: every error the API sends is ``application/problem+json``.

Each problem type the service defines is registered once in ``PROBLEM_TYPES``
(slug, status, title, when it happens); its ``type`` URI is
``https://pxl.logos/problems/<slug>`` and docs/api.md documents each (a unit
test keeps the two in step).  Plain HTTP errors that need no more explanation
than their status (unknown route, wrong method) use ``about:blank``.

Routes raise ``ProblemError(slug, detail, **extensions)``; ``install(app)`` adds
the exception handlers, including a last resort that answers 500 without
leaking internals.  ``problem_responses(*slugs)`` declares problems in a route's
``responses=`` so that they appear in the OpenAPI contract.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import kombu.exceptions
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES

log = logging.getLogger("pxl.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://pxl.logos/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str  # when the service answers with it (for docs and the contract)

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


PROBLEM_TYPES: dict[str, ProblemType] = {}


def register_problem_type(slug: str, status: int, title: str, description: str) -> ProblemType:
    """Declare a problem type (other parts of the API register theirs the same way)."""
    problem = ProblemType(slug, status, title, description)
    PROBLEM_TYPES[slug] = problem
    return problem


for _slug, _status, _title, _description in (
    (
        "malformed-json",
        400,
        "Malformed JSON",
        "The request body is not valid JSON: a syntax error, invalid UTF-8, an empty body, "
        "NaN/Infinity, or a number too long to read.",
    ),
    (
        "headers-too-large",
        431,
        "Request header fields too large",
        "The request line and headers exceed 32 KiB, or there are more than 100 header "
        "fields (api/server.py); the connection is closed.",
    ),
    (
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "A request body was sent with a Content-Type other than application/json "
        "(or application/*+json) in UTF-8.",
    ),
    (
        "body-too-large",
        413,
        "Request body too large",
        "The request body (by Content-Length or as streamed) exceeds PXL_MAX_BODY_BYTES.",
    ),
    (
        "json-too-deep",
        422,
        "JSON nested too deeply",
        "The JSON body nests arrays/objects deeper than the service reads "
        "(twice the formula depth limit, plus a little).",
    ),
    (
        "validation-error",
        422,
        "Request validation failed",
        "A field is missing, has the wrong type or is out of range; `errors` lists each "
        "(loc, msg, type) as pydantic reports it.",
    ),
    (
        "invalid-formula",
        422,
        "Invalid formula",
        "The formula does not parse (text) or is not a well-formed JSON formula; `code` is "
        "`syntax` or `json`, text errors carry `line`, `column` and a caret `excerpt`, JSON "
        "errors a `path`.",
    ),
    (
        "formula-limit-exceeded",
        422,
        "Formula over a limit",
        f"The formula has more nodes (`code` too_many_nodes, limit {MAX_NODES:,}) or deeper "
        f"nesting (`code` too_deep, limit {MAX_DEPTH:,}) than the prover accepts.",
    ),
    (
        "formula-too-large",
        413,
        "Formula text too large",
        f"The formula text exceeds {MAX_TEXT_BYTES // 1024} KiB of UTF-8 (`code` too_large).",
    ),
    (
        "invalid-callback-url",
        422,
        "Callback URL refused",
        "callback_url is not an http(s) URL the service may call: unparsable, or it resolves "
        "to a private, loopback, link-local or metadata address not on the operator's allowlist.",
    ),
    (
        "job-not-found",
        404,
        "Job not found",
        "No job with this id exists for the caller: never created, expired, another client's, "
        "or (on /v1/proofs/{id}) a job of another kind.",
    ),
    (
        "idempotency-conflict",
        409,
        "Idempotency key reused",
        "The Idempotency-Key was already used by this client with a different request body.",
    ),
    (
        "too-many-jobs",
        429,
        "Too many live jobs",
        "The client already has PXL_MAX_LIVE_JOBS_PER_CLIENT (200) jobs queued or running; "
        "wait for some to finish. Nothing was created.",
    ),
    (
        "too-many-waits",
        429,
        "Too many waits",
        "The client already holds as many open waits (`Prefer: wait`) and event streams as one "
        "API process allows (20); close one, or poll. Nothing was created.",
    ),
    (
        "queue-full",
        503,
        "Queue full",
        "The job queue is over PXL_MAX_QUEUE_DEPTH; retry after the Retry-After seconds.",
    ),
    (
        "service-unavailable",
        503,
        "Service unavailable",
        "A backing service (Redis) did not answer; retry after the Retry-After seconds.",
    ),
    (
        "internal-error",
        500,
        "Internal server error",
        "An unexpected failure inside the service; the detail carries only a request id to "
        "quote, never internals.",
    ),
):
    register_problem_type(_slug, _status, _title, _description)


class ProblemError(Exception):
    """Raise in a route to answer with a registered problem type."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.problem = PROBLEM_TYPES[slug]
        self.detail = detail
        self.status = status or self.problem.status
        self.headers = headers or {}
        self.extensions = extensions


def problem_body(
    *,
    status: int,
    type_: str,
    title: str,
    detail: str | None,
    instance: str | None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    return body


def problem_response(
    request: Request | None,
    *,
    status: int,
    type_: str = "about:blank",
    title: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    title = title or _phrase(status)
    instance = request.url.path if request is not None else None
    body = problem_body(
        status=status,
        type_=type_,
        title=title,
        detail=detail,
        instance=instance,
        extensions=extensions,
    )
    content = json.dumps(body, ensure_ascii=False, default=str).encode()
    return Response(content, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _problem_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        status=exc.status,
        type_=exc.problem.uri,
        title=exc.problem.title,
        detail=exc.detail,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if detail == _phrase(exc.status_code):
        detail = None
    headers = dict(exc.headers or {})
    if exc.status_code == 413:
        problem = PROBLEM_TYPES["body-too-large"]
        return problem_response(
            request,
            status=413,
            type_=problem.uri,
            title=problem.title,
            detail=detail,
            headers=headers,
        )
    # Subclasses may name their problem (api.auth.AuthError sets `type` and `title`).
    return problem_response(
        request,
        status=exc.status_code,
        type_=getattr(exc, "type", None) or "about:blank",
        title=getattr(exc, "title", None),
        detail=detail,
        headers=headers,
    )


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's error list reduced to JSON-safe loc/msg/type (no echo of the input)."""
    out = []
    for error in errors:
        out.append(
            {
                "loc": [
                    part if isinstance(part, int | str) else str(part)
                    for part in error.get("loc", ())
                ],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return out


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    problem = PROBLEM_TYPES["validation-error"]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        request,
        status=422,
        type_=problem.uri,
        title=problem.title,
        detail=summary or None,
        extensions={"errors": errors},
    )


async def _last_resort_handler(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", None)
    log.exception(
        "unhandled error on %s %s (request %s)", request.method, request.url.path, request_id
    )
    problem = PROBLEM_TYPES["internal-error"]
    detail = "The service failed unexpectedly."
    if request_id:
        detail += f" Quote request id {request_id} when reporting it."
    return problem_response(
        request, status=500, type_=problem.uri, title=problem.title, detail=detail
    )


BACKEND_RETRY_AFTER = "5"  # seconds a client should wait when Redis or the broker is down


async def _backend_down_handler(request: Request, exc: Exception) -> Response:
    log.warning("backend unavailable on %s %s: %s", request.method, request.url.path, exc)
    problem = PROBLEM_TYPES["service-unavailable"]
    return problem_response(
        request,
        status=503,
        type_=problem.uri,
        title=problem.title,
        detail="The job store or queue is not reachable; retry shortly.",
        headers={"Retry-After": BACKEND_RETRY_AFTER},
    )


class LastResortMiddleware:
    """Answers an unhandled exception with the 500 problem *inside* the header middleware.

    Starlette sends the response of an ``Exception`` handler from its outermost layer, past
    every user middleware, so that 500 lacked the security and provenance headers; added by
    ``install`` before ``api.security`` wraps the app, this layer is inside them.  The
    exception is logged here and not raised on (the server would log it again); the
    ``Exception`` handler stays for errors in the middleware outside this layer.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_tracking(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:  # too late for a problem document: the server ends the response
                raise
            response = await _last_resort_handler(Request(scope), exc)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Answer every error the app raises as problem+json."""
    for backend_error in (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        kombu.exceptions.OperationalError,
    ):
        app.add_exception_handler(backend_error, _backend_down_handler)
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(Exception, _last_resort_handler)
    app.add_middleware(LastResortMiddleware)


# --- OpenAPI declarations -----------------------------------------------------------------

PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*slugs: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the problem types a route may answer with.

    Types sharing a status are listed together in that response's description.
    """
    by_status: dict[int, list[ProblemType]] = {}
    for slug in slugs:
        problem = PROBLEM_TYPES[slug]
        by_status.setdefault(problem.status, []).append(problem)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, problems in sorted(by_status.items()):
        lines = [f"`{p.uri}` — {p.title}: {p.description}" for p in problems]
        responses[status] = {
            "description": "Problem types:\n\n" + "\n".join(f"- {line}" for line in lines),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA_REF}},
        }
    return responses
