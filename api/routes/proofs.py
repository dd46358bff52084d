"""/v1/proofs: submit a proof job and read it back.

The formula is parsed here, before anything is queued, so bad input is a 4xx
at once and workers only ever see formulas the prover accepts; the job carries
its canonical JSON form and text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from api.auth import Principal, require_scope
from api.deps import (
    get_settings,
    get_store,
    job_path_redis,
    json_body,
    json_body_openapi,
    request_id,
    run_blocking,
    wait_slot,
)
from api.problems import ProblemError, problem_responses
from api.ratelimit import deferred_charge
from api.routes.jobs import TERMINAL, job_response, load_job
from api.schemas import JobDocument, ProofSubmission
from workers.idempotency import IdempotencyConflict
from workers.jobs import QueueFull, RateLimited, TooManyLiveJobs
from workers.overlays.jobs import overlay_source
from workers.prover.errors import FormulaError
from workers.prover.jsonform import formula_to_json
from workers.prover.printer import to_text
from workers.prover.reader import read_formula
from workers.settings import Settings
from workers.webhooks import CallbackURLError, validate_callback_url

router = APIRouter(prefix="/v1", tags=["proofs"])
log = logging.getLogger("pxl.api")

# Bodies up to this size have their formula read on the event loop (well under a millisecond).
INLINE_FORMULA_BYTES = 4096

_WAIT_RE = re.compile(r'\s*wait\s*=\s*"?(\d{1,9})"?\s*\Z', re.IGNORECASE)


def prefer_wait(prefer: str | None, max_wait: float) -> int | None:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), clamped to ``max_wait``.

    Preferences are comma-separated and may carry ``;`` parameters; an invalid or
    absent ``wait`` is ignored, as the RFC asks.  ``respond-async`` wins over ``wait``.
    """
    if not prefer:
        return None
    wait = None
    for preference in prefer.split(","):
        head = preference.split(";", 1)[0]
        if head.strip().lower() == "respond-async":
            return None
        match = _WAIT_RE.match(head)
        if match and wait is None:
            wait = min(int(match.group(1)), int(max_wait))
    return wait or None


WAIT_GRACE_S = 1.0  # past a Prefer: wait, the answer comes without the final state


async def wait_for_result_async(store, client, doc: dict[str, Any],
                                wait: int | None) -> dict[str, Any]:
    """``wait_for_result`` on a redis.asyncio client for blocking reads (no thread)."""
    if wait is None or doc["status"] in TERMINAL:
        return doc
    try:
        # On time even when all blocking-read connections are taken: their pool queues a
        # waiter without a limit, and each holder may block for a 5 s slice.
        async with asyncio.timeout(wait + WAIT_GRACE_S):
            return await store.wait_terminal_async(client, doc["id"], float(wait)) or doc
    except redis.RedisError as exc:
        log.warning("wait for job %s ended early: %s", doc["id"], exc)
        return doc
    except TimeoutError:
        log.warning("wait for job %s got no Redis connection in time", doc["id"])
        return doc


def wait_for_result(store, doc: dict[str, Any], wait: int | None) -> dict[str, Any]:
    """The job once it is terminal, within ``wait`` seconds (blocking).  The job exists
    whatever happens here: a wait that fails (Redis) answers the job as it is (202 with its
    Location), never an error that a retry without Idempotency-Key would turn into a second
    job (issue 10)."""
    if wait is None or doc["status"] in TERMINAL:
        return doc
    try:
        return store.wait_terminal(doc["id"], float(wait)) or doc
    except redis.RedisError as exc:
        log.warning("wait for job %s ended early: %s", doc["id"], exc)
        return doc


def formula_problem(exc: FormulaError) -> ProblemError:
    slug = {
        "too_large": "formula-too-large",
        "too_many_nodes": "formula-limit-exceeded",
        "too_deep": "formula-limit-exceeded",
    }.get(exc.code, "invalid-formula")
    return ProblemError(slug, str(exc), **exc.to_dict())


def job_timeout(timeout: float | None, settings: Settings) -> float:
    """The job's prover timeout: the request's or the default, at most max_job_timeout (else 422)."""
    timeout = timeout if timeout is not None else settings.default_job_timeout
    if timeout > settings.max_job_timeout:
        raise ProblemError(
            "validation-error",
            f"timeout: at most {settings.max_job_timeout:g} seconds here",
            errors=[
                {
                    "loc": ["body", "timeout"],
                    "type": "less_than_equal",
                    "msg": f"Input should be less than or equal to {settings.max_job_timeout:g}",
                }
            ],
        )
    return float(timeout)


def proof_params(submission: ProofSubmission, settings: Settings) -> dict[str, Any]:
    """The job's params: the formula checked and canonical (raises a 4xx problem if bad).

    With overlay chrono/v4 the formula is the overlay's input (CPX, or a v4 object); it is
    stored in its canonical form and the worker proves its projection.
    """
    try:
        if submission.overlay in ("chrono", "v4"):
            formula_json, formula_text, _ = overlay_source(submission.overlay, submission.formula)
        else:
            formula = read_formula(submission.formula)
            formula_json, formula_text = formula_to_json(formula), to_text(formula)
    except FormulaError as exc:
        raise formula_problem(exc) from None
    return {
        "formula": formula_json,
        "formula_text": formula_text,
        "timeout": job_timeout(submission.timeout, settings),
        "overlay": submission.overlay,
        **({"coq": True} if submission.coq else {}),
        **({"context": submission.context} if submission.context is not None else {}),
    }


def check_callback_url(url: str, settings: Settings) -> None:
    try:
        validate_callback_url(url, settings)
    except CallbackURLError as exc:
        raise ProblemError("invalid-callback-url", f"callback_url refused: {exc}") from None


def submit_proof(
    store,
    settings: Settings,
    owner: str,
    submission: ProofSubmission,
    idempotency_key: str | None,
    rid: str,
    use_cache: bool = True,
    batch_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Validate and queue (blocking: DNS for the callback, Redis, the broker); ``batch_id``:
    the job counts toward that batch's completion (workers.batches)."""
    params = proof_params(submission, settings)
    if not use_cache:
        params["cache"] = False  # the worker proves it again (workers/cache.py)
    return enqueue(
        store,
        settings,
        kind="proof",
        owner=owner,
        params=params,
        callback_url=submission.callback_url,
        idempotency_key=idempotency_key,
        rid=rid,
        batch_id=batch_id,
    )


def enqueue(
    store,
    settings: Settings,
    *,
    kind: str,
    owner: str,
    params: dict[str, Any],
    callback_url: str | None,
    idempotency_key: str | None,
    rid: str,
    batch_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Queue a job of any kind with checked params (blocking); store errors become problems."""
    if callback_url is not None:
        check_callback_url(callback_url, settings)
    with store_problems(settings):
        return store.submit(
            kind=kind,
            owner=owner,
            params=params,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            request_id=rid,
            batch_id=batch_id,
        )


@contextlib.contextmanager
def store_problems(settings: Settings):
    """The job store's refusals of a submission as their problems."""
    try:
        yield
    except IdempotencyConflict:
        raise ProblemError(
            "idempotency-conflict",
            "This Idempotency-Key was used before with a different body; use a new key.",
        ) from None
    except TooManyLiveJobs as exc:
        raise ProblemError(
            "too-many-jobs",
            f"This client already has {exc.limit} jobs queued or running; wait for some to "
            "finish.",
            headers={"Retry-After": str(settings.queue_full_retry_after)},
            limit=exc.limit,
        ) from None
    except QueueFull as exc:
        raise ProblemError(
            "queue-full",
            "Too many jobs are waiting; retry later.",
            headers={"Retry-After": str(exc.retry_after)},
            retry_after=exc.retry_after,
        ) from None


async def submit_and_wait_async(request: Request, store, settings: Settings, owner: str,
                                submission: ProofSubmission, wait: int | None, rid: str,
                                use_cache: bool) -> dict[str, Any] | None:
    """A proof's submission and wait on the event loop (``queue_and_wait_async``)."""

    def params_of() -> dict[str, Any]:
        params = proof_params(submission, settings)
        if not use_cache:
            params["cache"] = False  # the worker proves it again (workers/cache.py)
        return params

    return await queue_and_wait_async(request, store, settings, kind="proof", owner=owner,
                                      params_of=params_of, wait=wait, rid=rid)


async def queue_and_wait_async(request: Request, store, settings: Settings, *, kind: str,
                               owner: str, params_of: Callable[[], dict[str, Any]],
                               wait: int | None, rid: str) -> dict[str, Any] | None:
    """A submission and its wait on the event loop, on redis.asyncio (one round trip to
    charge the rate limit, queue the job and wait up to 5 s for it; more reads for a longer
    wait), for what ``store.can_submit_async`` takes; None when the rate limit refused it.
    ``params_of`` checks the body and builds the job's params (a 4xx problem otherwise); for
    a larger body it runs in a thread: reading a formula may take milliseconds."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) <= INLINE_FORMULA_BYTES:
        params = params_of()
    else:
        params = await run_blocking(params_of)
    commands, blocking = job_path_redis(request)
    started = time.monotonic()
    with store_problems(settings):
        try:
            # the request's rate-limit charge and the first slice of its wait go with the
            # submission (one round trip: JobStore.submit_async)
            doc, _created = await store.submit_async(
                commands, kind=kind, owner=owner, params=params, request_id=rid,
                rate_limit=deferred_charge(request.scope),
                wait_client=blocking if wait is not None else None, wait_s=wait)
        except RateLimited:
            return None
    if wait is not None and doc["status"] not in TERMINAL:
        wait = max(0.0, wait - (time.monotonic() - started))  # what is left of it
    return await wait_for_result_async(store, blocking, doc, wait)


async def charged_first(request: Request) -> bool:
    """Before a submission that does not charge the rate limit in its own round trip (a
    thread's): the charge, now; False when the request must not go on (the answer is
    then the limiter's 429 or 503, see api.ratelimit.DeferredCharge)."""
    charge = deferred_charge(request.scope)
    return charge is None or await charge.settle()


def refused_by_the_limiter() -> Response:
    """What a route answers for a submission the rate limit refused: the middleware sends
    its 429 (or 503) instead."""
    return Response(status_code=429)


HEADER_REFS = {
    name: {"$ref": f"#/components/headers/{name}"} for name in ("Location", "Preference-Applied")
}


@router.post(
    "/proofs",
    operation_id="submitProof",
    status_code=202,
    response_model=JobDocument,
    summary="Submit a proof job",
    description=(
        "Validates the formula and queues a proof job. Answers 202 with the job (status "
        "`queued`/`running`) and `Location`. With `Prefer: wait=N` (N ≤ 30, larger N clamped) "
        "the server waits up to N s and answers 200 with the finished job when it finished "
        "in time (`Preference-Applied: wait=N` on both answers). With `Idempotency-Key`, "
        "the same key and body return the same job (200 if it has finished, else 202); the "
        "same key with another body is 409. Needs scope `proofs:write`."
    ),
    openapi_extra=json_body_openapi(ProofSubmission),
    responses={
        200: {
            "description": "The job finished within the `Prefer: wait` time (or an "
            "idempotent replay of a finished job).",
            "model": JobDocument,
            "headers": HEADER_REFS,
        },
        202: {"description": "Queued (or still running after the wait).", "headers": HEADER_REFS},
        **problem_responses(
            "malformed-json",
            "body-too-large",
            "formula-too-large",
            "unsupported-media-type",
            "json-too-deep",
            "validation-error",
            "invalid-formula",
            "formula-limit-exceeded",
            "invalid-callback-url",
            "idempotency-conflict",
            "queue-full",
            "too-many-jobs",
            "too-many-waits",
            "service-unavailable",
        ),
    },
)
async def submit(
    request: Request,
    principal: Principal = Depends(require_scope("proofs:write")),
    prefer: Annotated[
        str | None,
        Header(description="RFC 7240; `wait=N` asks to wait up to N seconds for the result."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes retries safe: same key and body → the same job.",
        ),
    ] = None,
    cache_control: Annotated[
        str | None,
        Header(description="`no-cache`: prove again rather than answer from the result cache."),
    ] = None,
    submission: ProofSubmission = Depends(json_body(ProofSubmission)),
) -> Response:
    settings = get_settings(request)
    store = get_store(request)
    wait = prefer_wait(prefer, settings.max_prefer_wait)
    rid = request_id(request)
    use_cache = "no-cache" not in (cache_control or "").lower()

    def submit_and_wait() -> dict[str, Any]:
        # one thread hop for both blocking steps
        doc, _created = submit_proof(
            store, settings, principal.sub, submission, idempotency_key, rid, use_cache
        )
        return wait_for_result(store, doc, wait)

    slot = wait_slot(principal.sub) if wait is not None else None  # 429 before any job
    try:
        if store.can_submit_async(callback_url=submission.callback_url,
                                  idempotency_key=idempotency_key):
            doc = await submit_and_wait_async(
                request, store, settings, principal.sub, submission, wait, rid, use_cache)
        elif await charged_first(request):
            doc = await run_blocking(submit_and_wait)
        else:
            doc = None
    finally:
        if slot is not None:
            slot.release()
    if doc is None:
        return refused_by_the_limiter()
    headers = {"Location": f"/v1/proofs/{doc['id']}"}
    if wait is not None:
        headers["Preference-Applied"] = f"wait={wait}"
    return job_response(doc, 200 if doc["status"] in TERMINAL else 202, headers)


@router.get(
    "/proofs/{proof_id}",
    operation_id="getProof",
    response_model=JobDocument,
    summary="Get a proof job",
    description="The proof job's document; 404 for an unknown id or a job of another kind.",
    responses=problem_responses("job-not-found"),
)
def get_proof(
    proof_id: str, request: Request, principal: Principal = Depends(require_scope("jobs:read"))
) -> Response:
    return job_response(load_job(get_store(request), proof_id, principal.sub, kind="proof"))
