"""The prover's result and its canonical document (API and ``pxl prove --json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class ProofResult:
    verdict: str
    szs_status: str
    formula: Formula | None = None
    countermodel: dict | None = None
    certificate: str | None = None  # base64 of the canonical JSON proof object
    certificate_format: str | None = None
    certificate_omitted: str | None = None
    trace: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    error: str | None = None  # the input error message (szs_status InputError)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"bad verdict {self.verdict!r}")
        if self.szs_status not in SZS_STATUSES:
            raise ValueError(f"bad SZS status {self.szs_status!r}")

    def to_document(self) -> dict:
        from workers.prover.printer import to_text

        return {
            "verdict": self.verdict,
            "szs_status": self.szs_status,
            "formula": None if self.formula is None else to_text(self.formula),
            "countermodel": self.countermodel,
            "certificate": self.certificate,
            "certificate_format": self.certificate_format,
            "certificate_omitted": self.certificate_omitted,
            "trace": list(self.trace),
            "stats": dict(self.stats),
            "elapsed_ms": round(self.elapsed_ms, 3),
        }
