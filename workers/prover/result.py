"""The prover's result and its canonical document (API and ``pxl prove --json``)."""

from __future__ import annotations

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


class ProofResult:
    """A verdict with its evidence.  (A plain class: ``dataclasses`` imports ``inspect``, which
    costs a one-shot ``pxl prove`` several milliseconds of start-up.)"""

    __slots__ = ("verdict", "szs_status", "formula", "countermodel", "certificate",
                 "certificate_format", "certificate_omitted", "tableau", "outline", "trace",
                 "stats", "elapsed_ms", "error")

    def __init__(
        self,
        verdict: str,
        szs_status: str,
        formula: Formula | None = None,
        countermodel: dict | None = None,
        certificate: str | None = None,  # base64 of the canonical JSON proof object
        certificate_format: str | None = None,
        certificate_omitted: str | None = None,
        # Readable forms, only when prove(explain=True) (the service's proof jobs):
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
        self.certificate = certificate
        self.certificate_format = certificate_format
        self.certificate_omitted = certificate_omitted
        self.tableau = tableau
        self.outline = outline
        self.trace = [] if trace is None else trace
        self.stats = {} if stats is None else stats
        self.elapsed_ms = elapsed_ms
        self.error = error

    def __repr__(self) -> str:
        return f"ProofResult({self.verdict!r}, {self.szs_status!r}, elapsed_ms={self.elapsed_ms})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProofResult):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # mutable, like the dataclass it replaces

    def to_document(self) -> dict:
        return {
            "verdict": self.verdict,
            "szs_status": self.szs_status,
            "formula": None if self.formula is None else to_text(self.formula),
            "countermodel": self.countermodel,
            "certificate": self.certificate,
            "certificate_format": self.certificate_format,
            "certificate_omitted": self.certificate_omitted,
            "tableau": self.tableau,
            "outline": self.outline,
            "trace": list(self.trace),
            "stats": dict(self.stats),
            "elapsed_ms": round(self.elapsed_ms, 3),
        }
