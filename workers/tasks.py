"""The Celery tasks: ``pxl.run_job`` (every kind of job) and ``pxl.deliver_webhook`` (a job's
callback, a batch's, a ping: workers.webhooks).

Both are thin: the job store does the state transitions, the runners the work, the
webhooks module the delivery.  Infrastructure errors (Redis connection trouble) are
retried a bounded number of times with exponential backoff; nothing else is retried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from workers import logs, tracing
from workers.celery_app import DELIVER_WEBHOOK, RUN_JOB, app, job_store
from workers.jobs import JobStore
from workers.reconciler import JobLease
from workers.record import QUEUE_WAIT_S, RECURSION_LIMIT_FOR_DOCUMENTS, JobStatus
from workers.runners import RUNNERS, JobContext, timeout_result
from workers.settings import get_settings
from workers.webhooks import run_delivery

log = logging.getLogger(__name__)

INFRASTRUCTURE_ERRORS = (redis.ConnectionError, redis.TimeoutError)

_store: tuple[int, JobStore] | None = None


def worker_store() -> JobStore:
    """One store per process (pool children get their own connections after the fork)."""
    global _store
    if _store is None or _store[0] != os.getpid():
        _store = (os.getpid(), job_store(get_settings()))
    return _store[1]


class JobTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """The task gave up (retries exhausted) or hit its hard time limit: end the job."""
        job_id = args[0] if args else kwargs.get("job_id")
        store = worker_store()
        try:
            if isinstance(exc, TimeLimitExceeded | SoftTimeLimitExceeded):
                _record_time_limit(store, job_id, type(exc).__name__)
                return
            store.finish(job_id, JobStatus.FAILED, error={
                "type": "infrastructure",
                "detail": f"{type(exc).__name__}: {exc} (after {self.request.retries} retries)",
            })
        except Exception:  # noqa: BLE001 - Redis may still be down; the record stays running
            log.exception("could not record the failure of job %s", job_id)


class HardLimitWatchdog:
    """The hard time limit where no pool parent enforces it (the solo pool): one thread that,
    when the running job passes its limit, calls ``on_expiry(job_id)`` (which records the
    timeout answer and ends the process: a solver in C code cannot be interrupted)."""

    def __init__(self, on_expiry, tick: float = 0.25):
        self.on_expiry = on_expiry
        self.tick = tick
        self._armed: tuple[str, float] | None = None  # (job id, monotonic deadline)
        self._thread = threading.Thread(target=self._watch, name="pxl-hard-limit", daemon=True)
        self._thread.start()

    def arm(self, job_id: str, seconds: float) -> None:
        self._armed = (job_id, time.monotonic() + seconds)

    def disarm(self) -> None:
        self._armed = None

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            armed = self._armed
            if armed is not None and time.monotonic() >= armed[1]:
                self._armed = None
                self.on_expiry(armed[0])


def _hard_limit_expired(job_id: str) -> None:
    log.error("job %s passed its hard time limit; recording the timeout and exiting", job_id)
    with contextlib.suppress(Exception):
        _record_time_limit(worker_store(), job_id, TimeLimitExceeded.__name__)
    logging.shutdown()
    # The message stays unacknowledged: the supervisor requeues it, and the redelivery finds
    # the job terminal and is acknowledged without running.
    os._exit(70)


_watchdog: HardLimitWatchdog | None = None


def enable_hard_limit_watchdog() -> None:
    """Called by `pxl worker` for the solo pool, before the worker starts."""
    global _watchdog
    if _watchdog is None:
        _watchdog = HardLimitWatchdog(_hard_limit_expired)


def _record_time_limit(store: JobStore, job_id: str, limit_name: str) -> None:
    doc = store.get(job_id)
    if doc is not None:
        result = timeout_result(doc["kind"], doc["params"],
                                f"stopped by the time limit ({limit_name})")
        store.finish(job_id, JobStatus.SUCCEEDED, result=result, kind=doc["kind"])


_settings = get_settings()
# The worker decodes and encodes job documents as deep as the API accepts (see workers.record).
sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT_FOR_DOCUMENTS))


@app.task(
    bind=True, base=JobTask, name=RUN_JOB,
    autoretry_for=INFRASTRUCTURE_ERRORS, max_retries=_settings.job_infra_retries,
    retry_backoff=1, retry_backoff_max=60, retry_jitter=True,
)
def run_job(self, job_id: str) -> str:
    store = worker_store()
    doc = store.begin(job_id)
    if doc is None:
        return "skipped"  # unknown, expired, already terminal, or cancelled while queued
    hard, soft = self.request.timelimit or (None, None)
    with JobLease(store, job_id):  # while it runs, the reconciler leaves it alone
        if _watchdog is None or not hard:
            return execute(store, doc, soft_limit=soft)
        _watchdog.arm(job_id, hard)
        try:
            return execute(store, doc, soft_limit=soft)
        finally:
            _watchdog.disarm()


def execute(store: JobStore, doc: dict, *, soft_limit: float | None = None) -> str:
    job_id, kind = doc["id"], doc["kind"]
    started = time.monotonic()
    # Stop the prover a little before Celery's soft-limit signal, so that the signal (which
    # cannot interrupt the solver's C code anyway) normally never fires.
    deadline = started + soft_limit - min(1.0, soft_limit * 0.1) if soft_limit else None
    ctx = JobContext(store, job_id, deadline=deadline, owner=doc.get("owner"))
    try:
        runner = RUNNERS[kind]
    except KeyError:
        store.finish(job_id, JobStatus.FAILED, kind=kind, cache_write=ctx.cache_write(),
                     error={"type": "unknown_kind", "detail": f"no runner for kind {kind!r}"})
        return JobStatus.FAILED.value
    try:
        with tracing.job_run_span(kind, job_id, logs.request_id_var.get(),
                                  doc.get(QUEUE_WAIT_S)) as span:
            result = runner(doc["params"], ctx)
            tracing.record_verdict(span, result)
    except SoftTimeLimitExceeded:
        result = timeout_result(kind, doc["params"], "stopped by the soft time limit")
    except INFRASTRUCTURE_ERRORS:
        raise
    except ValueError as exc:  # bad input (FormulaError is one): fail now, never retry
        store.finish(job_id, JobStatus.FAILED, kind=kind, cache_write=ctx.cache_write(),
                     error={"type": "invalid_input", "detail": str(exc)})
        return JobStatus.FAILED.value
    except Exception as exc:  # noqa: BLE001 - a bug in a runner: record it, do not retry
        log.exception("job %s (%s) crashed", job_id, kind)
        store.finish(job_id, JobStatus.FAILED, kind=kind, cache_write=ctx.cache_write(),
                     error={"type": "internal", "detail": f"{type(exc).__name__}: {exc}"})
        return JobStatus.FAILED.value
    run_ms = (time.monotonic() - started) * 1000.0
    if ctx.deadline_hit and not ctx.stop_seen and result.get("verdict") == "unknown":
        result = timeout_result(kind, doc["params"], "stopped by the soft time limit")

    # Cancelled while running: the runner stopped for it (or gave up without a verdict).
    if ctx.stop_seen or (result.get("verdict") == "unknown" and store.cancel_requested(job_id)):
        store.finish(job_id, JobStatus.CANCELLED, kind=kind, cache_write=ctx.cache_write())
        return JobStatus.CANCELLED.value
    queue_wait_s = doc.get(QUEUE_WAIT_S)
    if queue_wait_s is None:  # a document not from begin()
        submitted, began = store.timings(job_id)
        queue_wait_s = began - submitted if submitted and began else None
    result = dict(result)
    result["queue_wait_ms"] = round(queue_wait_s * 1000.0, 3) if queue_wait_s is not None \
        else None
    result["run_ms"] = round(run_ms, 3)
    store.finish(job_id, JobStatus.SUCCEEDED, result=result, kind=kind,
                 cache_write=ctx.cache_write(), document=False)
    return JobStatus.SUCCEEDED.value


@app.task(
    bind=True, name=DELIVER_WEBHOOK,
    autoretry_for=INFRASTRUCTURE_ERRORS, max_retries=_settings.job_infra_retries,
    retry_backoff=1, retry_backoff_max=60, retry_jitter=True,
)
def deliver_webhook(self, subject_id: str, attempt: int = 1, not_before: float | None = None,
                    subject: str = "job") -> str:
    return run_delivery(worker_store(), subject_id, attempt, not_before, subject)
