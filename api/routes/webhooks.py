"""POST /v1/webhooks:ping and GET /v1/webhooks/pings/{id}: test a webhook endpoint.

A ping is a signed ``ping`` webhook (signed, delivered and logged exactly as job callbacks
are: workers/webhooks.py) sent once to the URL the client names, checked by the same rules
as a job's ``callback_url``. A worker sends it (the API may have no egress); its result is
read back as a delivery log, the same shape as ``GET /v1/jobs/{id}/deliveries``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from api.auth import Principal, require_scope
from api.deps import get_settings, get_store, json_body, json_body_openapi
from api.problems import ProblemError, problem_responses, register_problem_type
from api.routes.jobs import JOB_ID_RE, json_response
from api.routes.proofs import check_callback_url
from api.schemas import PingDelivery, PingRequest
from workers.webhooks import PING, delivery_log, send_ping

router = APIRouter(prefix="/v1", tags=["webhooks"])

register_problem_type(
    "ping-not-found", 404, "Ping not found",
    "No ping with this id belongs to the caller (unknown, expired or another client's).",
)


def _view(ping_id: str, log: dict) -> dict:
    return {"id": ping_id, **log, "links": {"self": f"/v1/webhooks/pings/{ping_id}"}}


@router.post(
    "/webhooks:ping",
    operation_id="pingWebhook",
    status_code=202,
    response_model=PingDelivery,
    summary="Send a signed ping webhook to test an endpoint",
    description=(
        "Queues one signed (Standard Webhooks v1, as job callbacks: the caller's secret, two "
        "signatures during a rotation) `ping` webhook to `callback_url`, which is checked as "
        "a job's `callback_url`. Answers 202 with the ping's delivery log and `Location`; "
        "read it there until its `state` is `delivered` or `failed` (one attempt, no "
        "retries). Needs scope `jobs:read`."
    ),
    openapi_extra=json_body_openapi(PingRequest),
    responses={
        202: {"description": "Queued.",
              "headers": {"Location": {"description": "The ping's delivery log.",
                                       "schema": {"type": "string"}}}},
        **problem_responses("malformed-json", "body-too-large", "unsupported-media-type",
                            "validation-error", "invalid-callback-url",
                            "service-unavailable"),
    },
)
def ping_webhook(
    request: Request,
    principal: Principal = Depends(require_scope("jobs:read")),
    body: PingRequest = Depends(json_body(PingRequest)),
) -> Response:
    check_callback_url(body.callback_url, get_settings(request))
    ping_id, log = send_ping(get_store(request), principal.sub, body.callback_url)
    view = _view(ping_id, log)
    return json_response(view, 202, {"Location": view["links"]["self"]})


@router.get(
    "/webhooks/pings/{ping_id}",
    operation_id="getWebhookPing",
    response_model=PingDelivery,
    summary="A ping's delivery log",
    description=(
        "The ping's URL, its state (`pending`, then `delivered` or `failed`) and its attempt: "
        "when, the receiver's status, the latency and the error. Needs scope `jobs:read`."
    ),
    responses=problem_responses("ping-not-found"),
)
def get_ping(
    ping_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    log = (delivery_log(get_store(request), PING, ping_id, principal.sub)
           if JOB_ID_RE.match(ping_id) else None)
    if log is None:
        raise ProblemError("ping-not-found", f"No ping {ping_id!r} for this client.")
    return json_response(_view(ping_id, log))
