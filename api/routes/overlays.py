"""/v1/overlays/chrono and /v1/overlays/v4: overlay jobs, submitted like proofs.

The request is checked here (formula or object parsed, operation and options
known) before anything is queued, so bad input is a 4xx at once; the job
carries canonical params and a worker runs ``workers.overlays.jobs``.  Waiting
(``Prefer: wait``), idempotency, callbacks and problems are the proof route's, and so is
the split: a submission without callback or Idempotency-Key runs on the event loop
(``queue_and_wait_async``), the others in a thread.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import Principal, require_scope
from api.deps import get_settings, get_store, json_body, request_id, run_blocking, wait_slot
from api.problems import ProblemError, problem_responses
from api.routes.jobs import TERMINAL, job_response
from api.routes.proofs import (
    HEADER_REFS,
    charged_first,
    enqueue,
    formula_problem,
    job_timeout,
    prefer_wait,
    queue_and_wait_async,
    refused_by_the_limiter,
    wait_for_result,
)
from api.schemas import JobDocument, JobTimeout
from workers.overlays.jobs import OverlayRequestError, chrono_params, v4_params
from workers.prover.errors import FormulaError
from workers.settings import Settings

router = APIRouter(prefix="/v1/overlays", tags=["overlays"])

CPX_DESCRIPTION = (
    "A CPX (chrono) formula as text — PXL plus `At(t, φ)`, `Always(φ)`, `Eventually(φ)`, "
    "`Until(φ, ψ)`, `Since(φ, ψ)`, `Next(φ)`, `Prev(φ)`, `Knows(a, φ)`, `Believes(a, φ)`, "
    "`Intends(a, φ)`, `Eternal(φ)` (φ pure PXL), `Project(t, φ)` with natural t and a — or in "
    'the JSON form (PXL keys plus e.g. `{"at": {"time": 3, "formula": φ}}`, '
    '`{"until": [φ, ψ]}`). See docs/overlays.md.'
)
V4_DESCRIPTION = (
    'A domain-tagged v4 object: `{"kind": "knowledge", "claim": φ}`, `{"kind": "action", '
    '"pre": P, "action": "name", "post": Q, "effect"?: E}` or `{"kind": "value", "x": n, '
    '"y": m}`; formulas are PXL text or the PXL JSON form.'
)
_COMMON = {
    "callback_url": Field(
        None, max_length=2048,
        description="http(s) URL that gets a signed POST when the job ends.",
    ),
}


class ChronoSubmission(BaseModel):
    """POST /v1/overlays/chrono."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"operation": "normalize", "formula": "~[](p & At(2, q))"},
            {"operation": "transform", "formula": "Until(p, Knows(1, q))",
             "options": {"direction": "cpx_to_pxl"}},
            {"operation": "validate", "formula": "Knows(1, p) -> p"},
        ]},
    )

    operation: Literal["transform", "normalize", "validate"] = Field(
        description="`transform` (options.direction `cpx_to_pxl` — the S5 collapse projection, "
        "default — or `pxl_to_cpx`), `normalize` (prover-checked normal form) or `validate` "
        "(well-formedness, then S5 validity of the projection)."
    )
    formula: str | dict[str, Any] = Field(description=CPX_DESCRIPTION)
    options: dict[str, Any] | None = Field(None, description="`transform`: `{\"direction\": …}`.")
    timeout: JobTimeout = None
    callback_url: str | None = _COMMON["callback_url"]


class V4Submission(BaseModel):
    """POST /v1/overlays/v4."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"operation": "validate", "object": {"kind": "knowledge", "claim": "[]p -> p"}},
            {"operation": "adapt", "object": {"kind": "action", "pre": "p", "action": "open",
                                              "post": "q"}},
            {"operation": "translate", "object": {"kind": "value", "x": 1, "y": 2}},
        ]},
    )

    operation: Literal["translate", "validate", "adapt"] = Field(
        description="`translate` (to PXL by the adapter table), `validate` (the conservativity "
        "guard) or `adapt` (the target-side object with the guard's verdict)."
    )
    object: dict[str, Any] = Field(
        description=V4_DESCRIPTION + " The original v1 contract's name `formula` is accepted too.",
        validation_alias=AliasChoices("object", "formula"),
    )
    options: dict[str, Any] | None = Field(None, description="None defined yet.")
    timeout: JobTimeout = None
    callback_url: str | None = _COMMON["callback_url"]


def overlay_params(kind: str, body: ChronoSubmission | V4Submission, settings: Settings) -> dict:
    """Canonical job params, or a 4xx problem (positions for formula errors)."""
    timeout = job_timeout(body.timeout, settings)
    try:
        if kind == "chrono":
            return chrono_params(body.operation, body.formula, body.options, timeout)
        return v4_params(body.operation, body.object, body.options, timeout)
    except FormulaError as exc:
        raise formula_problem(exc) from None
    except OverlayRequestError as exc:
        raise ProblemError(
            "validation-error", f"{exc.field}: {exc.message}",
            errors=[{"loc": ["body", exc.field], "type": "value_error", "msg": exc.message}],
        ) from None


def _submit_and_wait(store, settings, owner, kind, body, idempotency_key, rid, wait):
    """Check, queue and wait (blocking: DNS for the callback, the idempotency claim): one
    thread hop for all of it."""
    params = overlay_params(kind, body, settings)
    doc, _created = enqueue(store, settings, kind=kind, owner=owner, params=params,
                            callback_url=body.callback_url, idempotency_key=idempotency_key,
                            rid=rid)
    return wait_for_result(store, doc, wait)


async def _submit(kind: str, request: Request, principal: Principal, prefer: str | None,
                  idempotency_key: str | None, body) -> Response:
    settings = get_settings(request)
    store = get_store(request)
    wait = prefer_wait(prefer, settings.max_prefer_wait)
    slot = wait_slot(principal.sub) if wait is not None else None  # 429 before any job
    rid = request_id(request)
    try:
        if store.can_submit_async(callback_url=body.callback_url,
                                  idempotency_key=idempotency_key):
            doc = await queue_and_wait_async(
                request, store, settings, kind=kind, owner=principal.sub,
                params_of=lambda: overlay_params(kind, body, settings), wait=wait, rid=rid)
        elif await charged_first(request):
            doc = await run_blocking(
                _submit_and_wait, store, settings, principal.sub, kind, body, idempotency_key,
                rid, wait)
        else:
            doc = None
    finally:
        if slot is not None:
            slot.release()
    if doc is None:
        return refused_by_the_limiter()
    headers = {"Location": f"/v1/jobs/{doc['id']}"}
    if wait is not None:
        headers["Preference-Applied"] = f"wait={wait}"
    return job_response(doc, 200 if doc["status"] in TERMINAL else 202, headers)


def _inline_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


_RESPONSES = {
    200: {"description": "The job finished within the `Prefer: wait` time (or an idempotent "
                         "replay of a finished job).", "model": JobDocument,
          "headers": HEADER_REFS},
    202: {"description": "Queued (or still running after the wait).", "headers": HEADER_REFS},
    **problem_responses(
        "malformed-json", "body-too-large", "formula-too-large", "unsupported-media-type",
        "json-too-deep", "validation-error", "invalid-formula", "formula-limit-exceeded",
        "invalid-callback-url", "idempotency-conflict", "queue-full", "too-many-jobs",
        "too-many-waits",
        "service-unavailable",
    ),
}
_PREFER = Header(description="RFC 7240; `wait=N` asks to wait up to N seconds for the result.")
_IDEMPOTENCY = Header(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
                      description="Makes retries safe: same key and body → the same job.")
_WHAT = (
    "Queues the job like POST /v1/proofs: 202 + `Location` (/v1/jobs/{id}), `Prefer: wait=N` "
    "for a 200 with the finished job, `Idempotency-Key`, `callback_url`. Needs scope "
    "`overlays:write`. "
)


@router.post(
    "/chrono", operation_id="submitChrono", status_code=202, response_model=JobDocument,
    summary="Submit a chrono (CPX) overlay job",
    description=_WHAT + "The result holds `input`/`output` (text and JSON), `chrono_trace`, "
    "the projection's `loss` report, and for validate/normalize the prover's document.",
    openapi_extra=_inline_body(ChronoSubmission), responses=_RESPONSES,
)
async def submit_chrono(
    request: Request,
    principal: Principal = Depends(require_scope("overlays:write")),
    prefer: Annotated[str | None, _PREFER] = None,
    idempotency_key: Annotated[str | None, _IDEMPOTENCY] = None,
    body: ChronoSubmission = Depends(json_body(ChronoSubmission)),
) -> Response:
    return await _submit("chrono", request, principal, prefer, idempotency_key, body)


@router.post(
    "/v4", operation_id="submitV4", status_code=202, response_model=JobDocument,
    summary="Submit a v4 overlay job",
    description=_WHAT + "The result holds the PXL `output` (text and JSON), `v4_trace`, the "
    "guard (`verdict`, `checks` with the prover's documents) and for adapt the `adapted` "
    "object; `adapter_table_sha256` equals the X-V4-SHA header.",
    openapi_extra=_inline_body(V4Submission), responses=_RESPONSES,
)
async def submit_v4(
    request: Request,
    principal: Principal = Depends(require_scope("overlays:write")),
    prefer: Annotated[str | None, _PREFER] = None,
    idempotency_key: Annotated[str | None, _IDEMPOTENCY] = None,
    body: V4Submission = Depends(json_body(V4Submission)),
) -> Response:
    return await _submit("v4", request, principal, prefer, idempotency_key, body)
