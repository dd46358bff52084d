"""/v1/jobs: read, list, cancel and follow (SSE) jobs of every kind.

Ownership: a client sees only its own jobs (owner = the token's ``sub``);
another client's job is answered exactly like an unknown one (404).

Scopes: reading, listing and following need ``jobs:read``.  Cancelling also needs
only ``jobs:read``: it acts on the caller's own jobs alone, and every client that
submits jobs (``proofs:write`` or ``overlays:write``) holds ``jobs:read`` to see them, so
one scope lets any submitter cancel its work whatever the kind.
"""

from __future__ import annotations

import json
import re
import weakref
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response, StreamingResponse

from api.auth import Principal, require_scope
from api.deps import get_store, run_blocking, wait_slot
from api.problems import ProblemError, problem_responses, register_problem_type
from api.schemas import JobDocument, JobKind, JobPage, JobStatusName, WebhookState
from api.sse import event_stream, resume_point
from workers.record import TERMINAL_STATUSES as TERMINAL
from workers.webhooks import DeliveryConflict, redeliver

router = APIRouter(prefix="/v1", tags=["jobs"])

register_problem_type(
    "no-callback", 404, "No callback",
    "The job (or batch) has no callback_url, so it has no deliveries.",
)
register_problem_type(
    "delivery-conflict", 409, "Delivery not possible now",
    "A redelivery was asked for while the job (or batch) has not finished or a delivery of "
    "its callback is under way; ask again when its webhook state is delivered or failed.",
)

# Job ids are uuid4 hex or ULIDs; anything else cannot name a job, so it is a 404 without a
# Redis round trip (and never reaches a key name).
JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def job_links(doc: dict[str, Any]) -> dict[str, str]:
    job_url = f"/v1/jobs/{doc['id']}"
    self_url = f"/v1/proofs/{doc['id']}" if doc.get("kind") == "proof" else job_url
    return {"self": self_url, "job": job_url, "events": f"{job_url}/events"}


def with_links(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the API answers it: links, and for proof jobs the original contract's
    ``proof_id``."""
    if doc.get("kind") == "proof":
        return {**doc, "proof_id": doc["id"], "links": job_links(doc)}
    return {**doc, "links": job_links(doc)}


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None):
    """JSON written directly (job documents are already plain JSON; no re-validation)."""
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def job_response(doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None):
    text = getattr(doc, "text", None)  # workers.record.StoredDocument: its JSON as stored
    if text is not None and text.endswith("}"):
        # the same bytes json_response(with_links(doc)) writes, without encoding it again
        extra = {k: v for k, v in with_links(doc).items() if k not in doc}
        tail = json.dumps(extra, ensure_ascii=False, separators=(",", ":"))
        body = (text[:-1] + "," + tail[1:] if len(text) > 2 else tail).encode()
        return Response(body, status_code=status, media_type="application/json",
                        headers=headers)
    return json_response(with_links(doc), status, headers)


def not_found(job_id: str) -> ProblemError:
    return ProblemError("job-not-found", f"No job {job_id!r} for this client.", job_id=job_id)


def load_job(store, job_id: str, owner: str, kind: str | None = None) -> dict[str, Any]:
    """The caller's job, or a 404 problem (unknown, expired, another owner's, other kind)."""
    if not JOB_ID_RE.match(job_id):
        raise not_found(job_id)
    doc = store.get(job_id, owner=owner)
    if doc is None or (kind is not None and doc.get("kind") != kind):
        raise not_found(job_id)
    return doc


@router.get(
    "/jobs/{job_id}",
    operation_id="getJob",
    response_model=JobDocument,
    summary="Get a job of any kind",
    responses=problem_responses("job-not-found"),
)
def get_job(
    job_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    return job_response(load_job(get_store(request), job_id, principal.sub))


@router.delete(
    "/jobs/{job_id}",
    operation_id="cancelJob",
    response_model=JobDocument,
    status_code=202,
    summary="Cancel a job",
    description=(
        "Cancels a queued job at once (202) or asks a running one to stop; the prover stops "
        "within a second and the job becomes `cancelled`. A job already finished is returned "
        "unchanged with 200. Needs scope `jobs:read` (the caller's own jobs only)."
    ),
    responses={
        200: {"description": "The job had already finished; unchanged.", "model": JobDocument},
        **problem_responses("job-not-found"),
    },
)
def cancel_job(
    job_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    store = get_store(request)
    doc = load_job(store, job_id, principal.sub)
    if doc["status"] in TERMINAL:
        return job_response(doc, 200)
    cancelled = store.cancel(job_id, principal.sub)
    if cancelled is None:  # expired between the two calls
        raise not_found(job_id)
    # it may have finished between the two calls: then it is unchanged, as above
    finished_meanwhile = cancelled["status"] in TERMINAL and cancelled["status"] != "cancelled"
    return job_response(cancelled, 200 if finished_meanwhile else 202)


@router.get(
    "/jobs",
    operation_id="listJobs",
    response_model=JobPage,
    summary="List the caller's jobs, newest first",
    description=(
        "Summaries (no formula, no result: follow `links.self` for the whole document), at "
        "most `limit` per page. A `status` filter reads an index of the caller's jobs in that "
        "status, however many others there are."
    ),
    responses=problem_responses("validation-error"),
)
def list_jobs(
    request: Request,
    status: Annotated[JobStatusName | None, Query(description="Only jobs in this status.")] = None,
    kind: Annotated[JobKind | None, Query(description="Only jobs of this kind.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
    principal: Principal = Depends(require_scope("jobs:read")),
) -> Response:
    try:
        items, next_cursor = get_store(request).list(
            principal.sub, status=status, kind=kind, limit=limit, cursor=cursor
        )
    except ValueError as exc:  # a cursor the store cannot read
        raise ProblemError(
            "validation-error",
            f"cursor: {exc}",
            errors=[{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}],
        ) from None
    return json_response({"items": [with_links(d) for d in items], "next_cursor": next_cursor})


@router.get(
    "/jobs/{job_id}/events",
    operation_id="streamJobEvents",
    summary="Follow a job as server-sent events",
    description=(
        "A `text/event-stream` of the job's events (`queued`, `started`, `progress`, then one "
        "of `succeeded`/`failed`/`cancelled`), each with `id:` (its Redis stream id), `event:` "
        "and a JSON `data:` line. The stream ends after the final event. Comments "
        "(`: keep-alive`) come every ~15 s without ids. Resume with `Last-Event-ID` (or "
        "`?last_event_id=` where the header cannot be set)."
    ),
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The event stream.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses("job-not-found", "too-many-waits"),
    },
)
async def job_events(
    job_id: str,
    request: Request,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this event id.")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Same as the Last-Event-ID header (EventSource fallback).",
        ),
    ] = None,
    principal: Principal = Depends(require_scope("jobs:read")),
) -> StreamingResponse:
    store = get_store(request)
    await run_blocking(load_job, store, job_id, principal.sub)
    after = resume_point(last_event_id_header or last_event_id)
    slot = wait_slot(principal.sub)  # 429 when the client holds too many streams
    stream = event_stream(store, job_id, after, request, on_close=slot.release)
    # A stream that never starts (the client left at once) never runs its finally: the slot
    # comes back when the generator is collected.
    weakref.finalize(stream, slot.release)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _callback(doc: dict[str, Any]) -> dict[str, Any]:
    if not doc.get("webhook"):
        raise ProblemError("no-callback", f"Job {doc['id']!r} has no callback_url.")
    return doc["webhook"]


@router.get(
    "/jobs/{job_id}/deliveries",
    operation_id="getJobDeliveries",
    response_model=WebhookState,
    summary="The delivery log of a job's callback",
    description=(
        "The callback URL, its state (`pending`, `delivered`, `failed`) and every attempt: "
        "when, the receiver's status, the latency and the error. Needs scope `jobs:read`."
    ),
    responses=problem_responses("job-not-found", "no-callback"),
)
def get_deliveries(
    job_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    return json_response(_callback(load_job(get_store(request), job_id, principal.sub)))


@router.post(
    "/jobs/{job_id}/deliveries:redeliver",
    operation_id="redeliverJobCallback",
    response_model=WebhookState,
    status_code=202,
    summary="Send a finished job's callback again",
    description=(
        "Queues a new delivery of the callback (with the retry schedule from its start); "
        "the attempts are added to the delivery log. Needs scope `jobs:read`."
    ),
    responses=problem_responses("job-not-found", "no-callback", "delivery-conflict"),
)
def redeliver_callback(
    job_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    store = get_store(request)
    doc = load_job(store, job_id, principal.sub)
    _callback(doc)
    try:
        return json_response(redeliver(store, doc), 202)
    except DeliveryConflict as exc:
        raise ProblemError("delivery-conflict", str(exc)) from None
