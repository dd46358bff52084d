"""What a job of each kind runs: ``RUNNERS[kind](params, ctx) -> result document``.

Runners are plain functions over the pure cores (prover, overlays); the Celery task
(workers.tasks) does the bookkeeping around them.  A runner raises ``ValueError`` (for
example the prover's FormulaError) for bad input: the job fails at once, without retries.
The overlays register "chrono" and "v4" here, and may add projections to ``PROOF_OVERLAYS``
for the ``overlay`` field of proof jobs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from workers import cache, metrics
from workers.overlays import jobs as overlay_jobs
from workers.overlays import project
from workers.prover.coq import CoqExportError, export_certificate
from workers.prover.reader import read_formula
from workers.prover.result import ProofResult
from workers.prover.search import load_deferred_modules, prove
from workers.settings import get_settings

# At process start (worker, API), not inside the first job's time limit.
load_deferred_modules()


class JobContext:
    """What a running job may ask of the platform: should I stop, and here is my progress."""

    def __init__(self, store, job_id: str, *, poll_seconds: float | None = None,
                 progress_interval: float = 0.25, deadline: float | None = None,
                 owner: str | None = None):
        self.store = store
        self.job_id = job_id
        self.owner = owner  # whose result cache the job may use (None: no cache)
        self.poll_seconds = (get_settings().cancel_poll_seconds if poll_seconds is None
                             else poll_seconds)
        self.progress_interval = progress_interval
        self.stop_seen = False  # a cancel request was observed (the prover stopped for it)
        # time.monotonic() of the Celery soft time limit: Celery's own soft limit is a signal
        # that cannot interrupt the SAT solver's C code, so should_stop enforces it too.
        self.deadline = deadline
        self.deadline_hit = False
        # The flag was read when the job started (JobStore.begin): the first poll can wait.
        self._checked_at = time.monotonic()
        self._last_progress = float("-inf")
        self._lock = threading.Lock()
        self._cache_key: str | None = None  # this job's result cache entry, once computed
        self._cache_outcome: str | None = None  # a miss or bypass, counted by finish
        self._cache_entry = False  # the proof ran: finish keeps its result (if decisive)

    def should_stop(self) -> bool:
        """True once the job's cancel flag is set.  Cheap: Redis is asked at most every
        ``poll_seconds`` (the prover polls this from its watch thread)."""
        if self.stop_seen or self.deadline_hit:
            return True
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.deadline_hit = True
            return True
        if now - self._checked_at < self.poll_seconds:
            return False
        with self._lock:
            if now - self._checked_at >= self.poll_seconds:
                self._checked_at = now
                # Redis trouble must not stop a proof.
                with contextlib.suppress(Exception):
                    self.stop_seen = self.store.cancel_requested(self.job_id)
        return self.stop_seen

    def progress(self, fraction: float, note: str = "") -> None:
        """Report progress (0..1); throttled to one event per ``progress_interval``."""
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        with contextlib.suppress(Exception):  # progress is advisory
            self.store.progress(self.job_id, fraction, note)


    def cached_result(self, params: dict) -> dict | None:
        """The owner's cached result for these params (workers/cache.py), marked as cached,
        or None; counts a hit now, a miss or bypass with the job's final record
        (``cache_write``). Redis trouble is a miss."""
        if self.owner is None:
            return None
        if params.get("cache") is False:
            self._cache_outcome = "bypass"
            return None
        with contextlib.suppress(Exception):
            self._cache_key = cache.cache_key(self.store.prefix, self.owner, params)
            found = cache.lookup(self.store.r, self._cache_key)
            if found is not None:
                job_id, result = found
                metrics.proof_cache("hit")
                return {**result, "cached": True, "cached_from": job_id}
        self._cache_outcome = "miss"
        return None

    def remember_result(self, params: dict) -> None:
        """The proof ran: its result goes to the owner's cache when the job succeeds with a
        decisive verdict (written by the job store's ``finish``, see ``cache_write``)."""
        if self.owner is not None and self._cache_key is None:
            with contextlib.suppress(Exception):  # the cache is an optimisation
                self._cache_key = cache.cache_key(self.store.prefix, self.owner, params)
        self._cache_entry = self._cache_key is not None

    def cache_write(self) -> cache.CacheWrite | None:
        """What the job leaves for the result cache, for the job store's ``finish`` (one
        round trip with the job's final record): the entry, and the miss or bypass to count."""
        if self.owner is None:
            return None
        return cache.CacheWrite(self._cache_key if self._cache_entry else None,
                                self._cache_outcome)


Runner = Callable[[dict, JobContext], dict]

# overlay name -> function turning the submitted formula (params["formula"]) into the PXL
# formula to prove.  "modal" (or no overlay) proves the formula as it is.
PROOF_OVERLAYS: dict[str, Callable[[object], object]] = {}


def run_proof(params: dict, ctx: JobContext) -> dict:
    cached = ctx.cached_result(params)
    if cached is not None:
        return cached
    document = prove_params(params, ctx)
    ctx.remember_result(params)
    return document


def prove_params(params: dict, ctx: JobContext) -> dict:
    start = time.monotonic()
    overlay = params.get("overlay") or "modal"
    if overlay == "modal":
        formula = read_formula(params["formula"])
    elif overlay in PROOF_OVERLAYS:
        formula = PROOF_OVERLAYS[overlay](params["formula"])
    else:
        raise ValueError(f"unknown overlay {overlay!r}")
    timeout = float(params.get("timeout") or get_settings().default_job_timeout)
    # The limit covers reading the formula too: the answer is due ``timeout`` after the start.
    left = max(0.0, timeout - (time.monotonic() - start))
    # Explained: the console draws a proof job's tableau and lemma outline.
    result = prove(formula, timeout=left, should_stop=ctx.should_stop, explain=True)
    document = result.to_document()
    if params.get("coq") and result.verdict == "valid":
        document.update(coq_proof_fields(result))
    return document


def coq_proof_fields(result) -> dict:
    """``coq_proof`` (the .v text) or ``coq_proof_omitted`` (why not) for a valid result."""
    if not result.certificate:
        return {"coq_proof": None, "coq_proof_omitted": "no certificate"}
    try:
        return {"coq_proof": export_certificate(result.formula, result.certificate)}
    except CoqExportError as exc:
        return {"coq_proof": None, "coq_proof_omitted": str(exc)}


def run_chrono(params: dict, ctx: JobContext) -> dict:
    return overlay_jobs.run_chrono(params, should_stop=ctx.should_stop)


def run_v4(params: dict, ctx: JobContext) -> dict:
    return overlay_jobs.run_v4(params, should_stop=ctx.should_stop)


def _overlay_projection(overlay: str) -> Callable[[object], object]:
    def projection(value: object) -> object:
        return project(overlay, value)

    return projection


PROOF_OVERLAYS.update(chrono=_overlay_projection("chrono"), v4=_overlay_projection("v4"))

RUNNERS: dict[str, Runner] = {"proof": run_proof, "chrono": run_chrono, "v4": run_v4}


def timeout_result(kind: str, params: dict, detail: str) -> dict:
    """The result of a job stopped by its Celery time limit: verdict unknown, SZS Timeout
    (the same answer the prover gives when its own timeout fires first)."""
    if kind == "proof":
        doc = ProofResult("unknown", "Timeout", trace=[detail]).to_document()
        doc["formula"] = params.get("formula_text")
        return doc
    return {"verdict": "unknown", "szs_status": "Timeout", "trace": [detail]}
