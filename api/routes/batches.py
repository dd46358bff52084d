"""POST /v1/proofs:batch and GET /v1/batches/{id}: many proof jobs in one request.

Each item is checked and queued like a single ``POST /v1/proofs`` (workers/batches.py keeps
the record); an item that is refused gets its problem document in its place and the rest go
on. The whole batch counts ``ceil(n / 25)`` requests against the client's rate limit. A
batch's ``callback_url`` gets one ``batch.completed`` webhook when its last job ends; its
delivery log is ``GET /v1/batches/{id}/deliveries``, as a job's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.auth import Principal, require_scope
from api.deps import get_settings, get_store, json_body, json_body_openapi, request_id, run_blocking
from api.problems import ProblemError, problem_body, problem_responses, register_problem_type
from api.ratelimit import identity_for, too_many_requests
from api.routes.jobs import JOB_ID_RE, json_response
from api.routes.proofs import check_callback_url, submit_proof
from api.schemas import BatchSubmission, WebhookState
from workers import batches
from workers.webhooks import BATCH, DeliveryConflict, delivery_log, redeliver_batch

router = APIRouter(prefix="/v1", tags=["batches"])

register_problem_type(
    "batch-not-found", 404, "Batch not found",
    "No batch with this id belongs to the caller (unknown, expired or another client's).",
)


class BatchItem(BaseModel):
    index: int
    id: str | None = Field(None, description="The item's proof job (absent when refused).")
    status: str | None = None
    verdict: str | None = None
    error: dict[str, Any] | None = Field(None, description="Why the item was refused "
                                         "(a problem document, as the single route answers).")


class BatchStatus(BaseModel):
    id: str
    created_at: str
    size: int
    counts: dict[str, int] = Field(description="Items by state; `rejected` never became jobs.")
    done: bool = Field(description="Every job of the batch has finished.")
    callback_url: str | None = Field(None, description="Gets one `batch.completed` webhook.")
    items: list[BatchItem]
    links: dict[str, str] = Field(description="`self`; `deliveries` with a `callback_url`.")


def _present(batch: dict, store) -> dict:
    ids = [item["id"] for item in batch["items"] if "id" in item]
    view = batches.status(batch, store.summaries(ids))
    view["links"] = {"self": f"/v1/batches/{batch['id']}"}
    if batch.get("callback_url"):
        view["links"]["deliveries"] = f"/v1/batches/{batch['id']}/deliveries"
    return view


@router.post(
    "/proofs:batch",
    operation_id="submitProofBatch",
    status_code=202,
    response_model=BatchStatus,
    summary="Submit many proof jobs at once",
    description=(
        f"Up to {batches.MAX_BATCH_ITEMS} proof submissions (each as for POST /v1/proofs). "
        "Each item becomes its own proof job or, if refused, carries its problem document; "
        "one bad item does not refuse the others. The batch counts ceil(n / 25) requests "
        "against the rate limit. Follow it with GET /v1/batches/{id}, or each job as usual, "
        "or give a `callback_url` for one `batch.completed` webhook when every job has ended. "
        "Needs scope `proofs:write`."
    ),
    openapi_extra=json_body_openapi(BatchSubmission),
    responses=problem_responses("malformed-json", "body-too-large", "validation-error",
                                "invalid-callback-url"),
)
async def submit_batch(
    request: Request,
    principal: Principal = Depends(require_scope("proofs:write")),
    body: BatchSubmission = Depends(json_body(BatchSubmission)),
) -> Response:
    settings = get_settings(request)
    store = get_store(request)
    extra = batches.rate_cost(len(body.items)) - 1  # the middleware counted the request once
    if extra and settings.rate_limit_enabled:
        limiter = request.app.state.rate_limiter
        decision = await limiter.hit(identity_for(request.scope, settings), cost=extra)
        if not decision.allowed:
            content, headers = too_many_requests(decision, limiter.policy, request.url.path)
            return Response(content, 429, headers=dict((k.decode(), v.decode())
                                                       for k, v in headers))
    rid = request_id(request)
    callback_url = body.callback_url

    def submit_all() -> dict:
        batch_id = batches.new_batch_id()
        if callback_url is not None:
            check_callback_url(callback_url, settings)  # the whole batch is refused (422)
            batches.open_countdown(store.r, store.prefix, batch_id, settings.job_ttl_seconds)
        counted = batch_id if callback_url is not None else None
        items: list[dict] = []
        for index, submission in enumerate(body.items):
            try:
                doc, _created = submit_proof(store, settings, principal.sub, submission,
                                             None, rid, batch_id=counted)
                items.append({"index": index, "id": doc["id"]})
            except ProblemError as exc:
                items.append({"index": index, "error": problem_body(
                    status=exc.status, type_=exc.problem.uri, title=exc.problem.title,
                    detail=exc.detail, instance=None, extensions=exc.extensions)})
        batch, complete = batches.create(store.r, store.prefix, principal.sub, items,
                                         settings.job_ttl_seconds, batch_id=batch_id,
                                         callback_url=callback_url)
        if complete:  # every job ended (or none was made) before the batch was recorded
            store.schedule_webhook(batch["id"], attempt=1, delay=0.0, subject=BATCH)
        return _present(batch, store)

    view = await run_blocking(submit_all)
    return json_response(view, 202, {"Location": view["links"]["self"]})


@router.get(
    "/batches/{batch_id}",
    operation_id="getBatch",
    response_model=BatchStatus,
    summary="A batch's items and their states",
    description="Counts by state and each item's job, status and verdict. Needs `jobs:read`.",
    responses=problem_responses("batch-not-found"),
)
def get_batch(
    batch_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    store = get_store(request)
    return json_response(_present(_load(store, batch_id, principal.sub), store))


def _load(store, batch_id: str, owner: str) -> dict:
    batch = (batches.load(store.r, store.prefix, batch_id, owner)
             if JOB_ID_RE.match(batch_id) else None)
    if batch is None:
        raise ProblemError("batch-not-found", f"No batch {batch_id!r} for this client.")
    return batch


def _callback_log(store, batch_id: str, owner: str) -> dict:
    _load(store, batch_id, owner)
    log = delivery_log(store, BATCH, batch_id, owner)
    if log is None:
        raise ProblemError("no-callback", f"Batch {batch_id!r} has no callback_url.")
    return log


@router.get(
    "/batches/{batch_id}/deliveries",
    operation_id="getBatchDeliveries",
    response_model=WebhookState,
    summary="The delivery log of a batch's callback",
    description=(
        "The batch's `callback_url`, its state (`pending` until the last job has ended and "
        "the `batch.completed` webhook was sent, then `delivered` or `failed`) and every "
        "attempt, as for a job's callback. Needs scope `jobs:read`."
    ),
    responses=problem_responses("batch-not-found", "no-callback"),
)
def get_batch_deliveries(
    batch_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    return json_response(_callback_log(get_store(request), batch_id, principal.sub))


@router.post(
    "/batches/{batch_id}/deliveries:redeliver",
    operation_id="redeliverBatchCallback",
    response_model=WebhookState,
    status_code=202,
    summary="Send a complete batch's callback again",
    description=(
        "Queues a new delivery of the `batch.completed` webhook (with the retry schedule from "
        "its start); the attempts are added to the delivery log. Needs scope `jobs:read`."
    ),
    responses=problem_responses("batch-not-found", "no-callback", "delivery-conflict"),
)
def redeliver_batch_callback(
    batch_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    store = get_store(request)
    _callback_log(store, batch_id, principal.sub)
    try:
        return json_response(redeliver_batch(store, batch_id), 202)
    except DeliveryConflict as exc:
        raise ProblemError("delivery-conflict", str(exc)) from None
