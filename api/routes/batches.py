"""POST /v1/proofs:batch and GET /v1/batches/{id}: many proof jobs in one request.

Each item is checked and queued like a single ``POST /v1/proofs`` (workers/batches.py keeps
the record); an item that is refused gets its problem document in its place and the rest go
on. The whole batch counts ``ceil(n / 25)`` requests against the client's rate limit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import Principal, require_scope
from api.deps import get_settings, get_store, json_body, json_body_openapi, request_id, run_blocking
from api.problems import ProblemError, problem_body, problem_responses, register_problem_type
from api.ratelimit import identity_for, too_many_requests
from api.routes.jobs import JOB_ID_RE, json_response
from api.routes.proofs import submit_proof
from api.schemas import ProofSubmission
from workers import batches

router = APIRouter(prefix="/v1", tags=["batches"])

register_problem_type(
    "batch-not-found", 404, "Batch not found",
    "No batch with this id belongs to the caller (unknown, expired or another client's).",
)


class BatchSubmission(BaseModel):
    """POST /v1/proofs:batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [
            {"formula": "[]p -> p"}, {"formula": "<>p -> []p", "timeout": 5},
        ]}]},
    )
    items: list[ProofSubmission] = Field(
        min_length=1, max_length=batches.MAX_BATCH_ITEMS,
        description=f"1..{batches.MAX_BATCH_ITEMS} proof submissions, each as for "
        "POST /v1/proofs.",
    )  # fmt: skip


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
    items: list[BatchItem]
    links: dict[str, str]


def _present(batch: dict, store) -> dict:
    ids = [item["id"] for item in batch["items"] if "id" in item]
    view = batches.status(batch, store.summaries(ids))
    view["links"] = {"self": f"/v1/batches/{batch['id']}"}
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
        "against the rate limit. Follow it with GET /v1/batches/{id}, or each job as usual. "
        "Needs scope `proofs:write`."
    ),
    openapi_extra=json_body_openapi(BatchSubmission),
    responses=problem_responses("malformed-json", "body-too-large", "validation-error"),
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

    def submit_all() -> dict:
        items: list[dict] = []
        for index, submission in enumerate(body.items):
            try:
                doc, _created = submit_proof(store, settings, principal.sub, submission,
                                             None, rid)
                items.append({"index": index, "id": doc["id"]})
            except ProblemError as exc:
                items.append({"index": index, "error": problem_body(
                    status=exc.status, type_=exc.problem.uri, title=exc.problem.title,
                    detail=exc.detail, instance=None, extensions=exc.extensions)})
        batch = batches.create(store.r, store.prefix, principal.sub, items,
                               settings.job_ttl_seconds)
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
    batch = (batches.load(store.r, store.prefix, batch_id, principal.sub)
             if JOB_ID_RE.match(batch_id) else None)
    if batch is None:
        raise ProblemError("batch-not-found", f"No batch {batch_id!r} for this client.")
    return json_response(_present(batch, store))
