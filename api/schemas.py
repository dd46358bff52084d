"""Pydantic models of the /v1 request and response bodies (the shapes in the OpenAPI contract).

Responses are written as plain JSON by the routes (the job document comes from
the job store as it is); these models describe them for the contract and
validate requests.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from workers.batches import MAX_BATCH_ITEMS
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.webhooks import MAX_URL_LENGTH

MAX_CONTEXT_BYTES = 4096  # the original contract's `context`, stored with the job

JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKind = Literal["proof", "chrono", "v4"]
Overlay = Literal["modal", "chrono", "v4"]

FORMULA_DESCRIPTION = (
    "The formula, as text (`[]p -> p`, `□(p → q)`, `BOX(p)`) or in the JSON form: "
    '`{"atom":"p"}`, `{"const":true}`, `{"not":φ}`, `{"and":[φ,…]}`, `{"or":[φ,…]}`, '
    '`{"implies":[φ,ψ]}`, `{"iff":[φ,ψ]}`, `{"box":φ}`, `{"dia":φ}`. '
    f"Limits: {MAX_TEXT_BYTES // 1024} KiB of text, {MAX_NODES:,} nodes, "
    f"nesting depth {MAX_DEPTH:,}."
)



def _not_a_boolean(value: Any) -> Any:
    # JSON true/false would otherwise pass as 1.0/0.0 seconds
    if isinstance(value, bool):
        raise ValueError("timeout is a number of seconds, not a boolean")
    return value


JobTimeout = Annotated[
    Annotated[float, Field(ge=1, le=300, allow_inf_nan=False)] | None,
    BeforeValidator(_not_a_boolean),
    Field(
        description="Seconds the prover may spend (1..300, default 30 = PXL_DEFAULT_JOB_TIMEOUT); "
        "past it the verdict is `unknown` (SZS Timeout).",
    ),
]


class ProofSubmission(BaseModel):
    """POST /v1/proofs: is this S5 (PXL) formula valid?"""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"formula": "[]p -> p", "timeout": 30},
                {"formula": {"implies": [{"box": {"atom": "p"}}, {"atom": "p"}]}},
            ],
        },
    )

    formula: str | dict[str, Any] = Field(description=FORMULA_DESCRIPTION)
    timeout: JobTimeout = None
    callback_url: str | None = Field(
        None,
        max_length=MAX_URL_LENGTH,
        description="http(s) URL that gets a signed (Standard Webhooks v1) POST when the job ends.",
    )
    overlay: Overlay = Field(
        "modal",
        description="`modal`: plain PXL/S5; `chrono` or `v4`: the overlay's reading.",
    )
    context: dict[str, Any] | None = Field(
        None,
        description="The original v1 contract's proof context: kept with the job and returned "
        "in its `params.context`; the prover does not read it. At most 4 KiB of JSON.",
    )
    coq: StrictBool = Field(
        False,
        description="For a valid verdict, also return a Coq proof of it (`coq_proof`, the text "
        "of a .v file; check it with `pxl coq-check FILE.v`; docs/coq.md).",
    )


    @field_validator("context")
    @classmethod
    def _small_context(cls, context: dict[str, Any] | None) -> dict[str, Any] | None:
        if context is not None and len(json.dumps(context)) > MAX_CONTEXT_BYTES:
            raise ValueError(f"context is limited to {MAX_CONTEXT_BYTES} bytes of JSON")
        return context

class BatchSubmission(BaseModel):
    """POST /v1/proofs:batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [
            {"formula": "[]p -> p"}, {"formula": "<>p -> []p", "timeout": 5},
        ]}]},
    )
    items: list[ProofSubmission] = Field(
        min_length=1, max_length=MAX_BATCH_ITEMS,
        description=f"1..{MAX_BATCH_ITEMS} proof submissions, each as for POST /v1/proofs.",
    )
    callback_url: str | None = Field(
        None, max_length=MAX_URL_LENGTH,
        description="http(s) URL that gets one signed (Standard Webhooks v1) `batch.completed` "
        "POST when the batch's last job ends (checked as a job's `callback_url`).",
    )  # fmt: skip


class PingRequest(BaseModel):
    """POST /v1/webhooks:ping."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"callback_url": "https://example.com/hooks/pxl"}]},
    )
    callback_url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="The http(s) URL to send a signed `ping` webhook to (checked as a job's "
        "`callback_url`).",
    )


class Links(BaseModel):
    self: str = Field(description="This job's URL.")
    job: str = Field(description="The job under /v1/jobs.")
    events: str = Field(description="Server-sent events of this job.")


class WebhookAttempt(BaseModel):
    """One delivery attempt of a job's callback."""

    at: str = Field(description="When the attempt started (RFC 3339).")
    status: int | None = Field(None, description="The receiver's HTTP status, if it answered.")
    latency_ms: float | None = Field(None, description="Time to the receiver's answer or error.")
    error: str | None = Field(None, description="Why the attempt failed, if it did.")


class WebhookState(BaseModel):
    """A webhook's delivery log (a job's callback, a batch's, a ping): its URL, its state and
    every attempt."""

    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: list[WebhookAttempt] = Field(default_factory=list)
    round_start: int | None = Field(
        None, description="After a redelivery: how many attempts came before it."
    )


class PingDelivery(WebhookState):
    """A ping: its id and its delivery log (one attempt)."""

    id: str
    links: dict[str, str] = Field(description="`self`: this ping's delivery log.")


class JobError(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    detail: str


class ProofResult(BaseModel):
    """The prover's result document (kind `proof`), plus queue-wait and run times."""

    model_config = ConfigDict(extra="allow")
    verdict: Literal["valid", "invalid", "unknown"]
    szs_status: str = Field(description="Theorem, CounterSatisfiable, Timeout, GaveUp, ...")
    formula: str | None = None
    countermodel: dict[str, Any] | None = None
    certificate: str | None = Field(
        None, description="base64 of the canonical JSON proof object (valid verdicts)"
    )
    certificate_format: str | None = None
    certificate_omitted: str | None = None
    coq_proof: str | None = Field(
        None, description="With `coq: true`: a .v file proving `s5_valid` of the formula"
    )
    coq_proof_omitted: str | None = Field(
        None, description="With `coq: true` and a valid verdict: why there is no `coq_proof`"
    )
    tableau: dict[str, Any] | None = Field(
        None,
        description="Valid verdicts of small formulas: a closed S5 tableau (`pxl-s5-tableau/1`, "
        "docs/tableau.md) that the independent tableau checker accepted; null otherwise.",
    )
    outline: dict[str, Any] | None = Field(
        None,
        description="Valid verdicts: the certificate's necessitation lemmas as formulas "
        "(`{kind, lemmas: [{box, argument, hypotheses, cut}], not_listed}`), for reading.",
    )
    trace: list[str] = Field(default_factory=list)
    stats: dict[str, Any] = Field(default_factory=dict)
    elapsed_ms: float | None = None
    cached: bool | None = Field(
        None, description="True when answered from the result cache (docs/api.md)."
    )
    cached_from: str | None = Field(
        None, description="With `cached`: the caller's earlier job whose result this is."
    )
    queue_wait_ms: float | None = None
    run_ms: float | None = None


class JobDocument(BaseModel):
    """One job of any kind, as the job store records it (the API adds `links`)."""

    model_config = ConfigDict(extra="allow")
    id: str
    proof_id: str | None = Field(
        None, description="Proof jobs: `id` again, under the original v1 contract's name."
    )
    kind: JobKind | str
    owner: str
    status: JobStatusName
    progress: float | None = Field(None, ge=0, le=1)
    submitted_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    params: dict[str, Any]
    result: ProofResult | dict[str, Any] | None = None
    error: JobError | None = None
    webhook: WebhookState | None = None
    request_id: str | None = None
    links: Links


class JobSummary(BaseModel):
    """A job in a listing: its small fields only (no formula, no result), whatever the job's
    size; `links.self` is the whole document."""

    id: str
    kind: JobKind | str
    status: JobStatusName
    progress: float | None = Field(None, ge=0, le=1)
    submitted_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    formula_preview: str | None = Field(
        None, description="The start (120 characters) of the formula's text."
    )
    verdict: Literal["valid", "invalid", "unknown"] | None = Field(
        None, description="The result's verdict, once the job succeeded."
    )
    error_type: str | None = Field(None, description="The error's type, once the job failed.")
    links: Links


class JobPage(BaseModel):
    """At most `limit` (100) summaries, so a page is a few tens of KB at most."""

    items: list[JobSummary]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class WorkerInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    host: str | None = None
    last_seen: str | float | None = None


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="healthy: Redis answers and a worker is alive; degraded: Redis answers but "
        "no worker heartbeat; unhealthy: Redis does not answer (HTTP 503)."
    )
    version: str
    redis: bool
    workers_online: int
    workers: list[WorkerInfo]
    queue_depth: int | None
    provenance: dict[str, str | None] = Field(
        default_factory=dict,
        description="Build provenance: coqchk stamp, build SHA, v4 adapter-table SHA.",
    )


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details; extension members depend on the type."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://pxl.logos/problems/invalid-formula",
                    "title": "Invalid formula",
                    "status": 422,
                    "detail": "line 1, column 4: expected a formula\n[]p ->\n      ^",
                    "instance": "/v1/proofs",
                    "code": "syntax",
                    "line": 1,
                    "column": 7,
                }
            ],
        },
    )
    type: str = Field("about:blank", description="A problem type URI (see docs/api.md).")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ValidationErrorItem] | None = Field(
        None, description="validation-error: each failed field."
    )
    code: str | None = Field(None, description="Formula problems: the parser's error code.")
    line: int | None = None
    column: int | None = None
    excerpt: str | None = None
    path: str | None = None


# Models the OpenAPI document lists although no route names them as its body/response model.
COMPONENT_MODELS: tuple[type[BaseModel], ...] = (Problem, ProofSubmission, BatchSubmission,
                                                 PingRequest)
