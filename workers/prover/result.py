"""The prover's result and its canonical document (API and ``pxl prove --json``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from workers.prover.printer import to_text
from workers.prover.syntax import Formula

VERDICTS = ("valid", "invalid", "unknown")
# SZS ontology statuses the prover reports.
SZS_STATUSES = (
    "Theorem",
    "CounterSatisfiable",
    "Timeout",
    "GaveUp",
    "MemoryOut",
    "InputError",
    "User",
)
# What the comparison and the document read (every public field).
FIELDS = ("verdict", "szs_status", "formula", "countermodel", "certificate",
          "certificate_format", "certificate_omitted", "tableau", "outline", "trace", "stats",
          "elapsed_ms", "error")


class ProofResult:
    """A verdict with its evidence.  (A plain class: ``dataclasses`` imports ``inspect``, which
    costs a one-shot ``pxl prove`` several milliseconds of start-up.)

    A valid verdict's evidence — certificate, outline, tableau, and the trace lines and
    stats that describe them — may be *deferred* (``defer``): built once, on the first read
    of any of those fields or of the document.  On small formulas it costs two to three
    times the decision (docs/benchmarks.md, "Per-call and start-up cost"), and a caller
    that only wants the verdict need not pay for it.  ``elapsed_ms`` grows by the evidence's
    time when it is built."""

    __slots__ = ("verdict", "szs_status", "formula", "countermodel", "_certificate",
                 "_certificate_format", "_certificate_omitted", "_tableau", "_outline",
                 "_trace", "_stats", "elapsed_ms", "error", "_evidence", "_evidence_lock")

    def __init__(
        self,
        verdict: str,
        szs_status: str,
        formula: Formula | None = None,
        countermodel: dict | None = None,
        certificate: str | None = None,  # base64 of the canonical JSON proof object
        certificate_format: str | None = None,
        certificate_omitted: str | None = None,
        tableau: dict | None = None,  # a checked closed tableau (tableau.py), small formulas only
        outline: dict | None = None,  # the certificate's lemmas as formulas (outline.py)
        trace: list[str] | None = None,
        stats: dict[str, Any] | None = None,
        elapsed_ms: float = 0.0,
        error: str | None = None,  # the input error message (szs_status InputError)
    ) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"bad verdict {verdict!r}")
        if szs_status not in SZS_STATUSES:
            raise ValueError(f"bad SZS status {szs_status!r}")
        self.verdict = verdict
        self.szs_status = szs_status
        self.formula = formula
        self.countermodel = countermodel
        self._certificate = certificate
        self._certificate_format = certificate_format
        self._certificate_omitted = certificate_omitted
        self._tableau = tableau
        self._outline = outline
        self._trace = [] if trace is None else trace
        self._stats = {} if stats is None else stats
        self.elapsed_ms = elapsed_ms
        self.error = error
        self._evidence: Callable[[ProofResult], None] | None = None
        self._evidence_lock: threading.Lock | None = None

    def defer(self, build: Callable[[ProofResult], None]) -> None:
        """Have ``build(self)`` set the evidence fields (``set_evidence``) on first read."""
        self._evidence_lock = threading.Lock()
        self._evidence = build

    def settle(self) -> None:
        """Build deferred evidence now (once, whichever thread reads first)."""
        if self._evidence is None:
            return
        with self._evidence_lock:
            # Cleared only once built: a second reader waits here for the fields.
            build = self._evidence
            if build is not None:
                try:
                    build(self)
                finally:
                    self._evidence = None

    def set_evidence(self, **fields: Any) -> None:
        """For the evidence's builder: set fields without settling."""
        for name, value in fields.items():
            setattr(self, "_" + name, value)

    def record_elapsed(self, ms: float) -> None:
        """The call's time so far (and the deferred evidence's, once built)."""
        self.elapsed_ms = ms
        self._stats["elapsed_ms"] = round(ms, 3)

    def _read(name: str) -> property:  # noqa: N805 - builds the properties below
        slot = "_" + name

        def get(self: ProofResult) -> Any:
            if self._evidence is not None:
                self.settle()
            return getattr(self, slot)

        def put(self: ProofResult, value: Any) -> None:
            if self._evidence is not None:
                self.settle()
            setattr(self, slot, value)

        return property(get, put)

    certificate = _read("certificate")
    certificate_format = _read("certificate_format")
    certificate_omitted = _read("certificate_omitted")
    tableau = _read("tableau")
    outline = _read("outline")
    trace = _read("trace")
    stats = _read("stats")
    del _read

    def __repr__(self) -> str:
        return f"ProofResult({self.verdict!r}, {self.szs_status!r}, elapsed_ms={self.elapsed_ms})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProofResult):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in FIELDS)

    __hash__ = None  # mutable, like the dataclass it replaces

    def to_document(self) -> dict:
        self.settle()
        return {
            "verdict": self.verdict,
            "szs_status": self.szs_status,
            "formula": None if self.formula is None else to_text(self.formula),
            "countermodel": self.countermodel,
            "certificate": self._certificate,
            "certificate_format": self._certificate_format,
            "certificate_omitted": self._certificate_omitted,
            "tableau": self._tableau,
            "outline": self._outline,
            "trace": list(self._trace),
            "stats": dict(self._stats),
            "elapsed_ms": round(self.elapsed_ms, 3),
        }
