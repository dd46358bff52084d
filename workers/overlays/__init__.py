"""Overlays: richer input languages (chrono, v4) mapped onto PXL.

Pure like the prover (no I/O).  Submodules are imported lazily so that cheap
users (the ``X-V4-SHA`` header) do not load the parser or the prover.
"""

from __future__ import annotations

from typing import Any

from workers.overlays.chrono import project_chrono
from workers.overlays.v4.ops import project_v4
from workers.prover.reader import read_formula
from workers.prover.syntax import Formula

OVERLAYS = ("modal", "chrono", "v4")


def project(overlay: str, value: Any):
    """The PXL formula a proof job proves for ``overlay``.

    ``modal``: ``value`` is PXL (text, JSON form or a Formula) and is returned parsed.
    ``chrono``: ``value`` is CPX (text or JSON form); the S5 collapse projection of it.
    ``v4``: ``value`` is a domain-tagged object; its translation.
    Raises ``FormulaError`` (line/column or JSON path) on bad input, ``ValueError`` for an
    unknown overlay.
    """
    if overlay == "chrono":
        return project_chrono(value)
    if overlay == "v4":
        return project_v4(value)
    if overlay in ("modal", None):
        if isinstance(value, Formula):
            return value
        return read_formula(value)
    raise ValueError(f"unknown overlay {overlay!r}; expected one of {', '.join(OVERLAYS)}")
