"""The chrono overlay (CPX, ChronoPraxis): language, S5 collapse projection, operations.

Operations (all pure): ``transform`` (``pxl_to_cpx`` / ``cpx_to_pxl``),
``normalize`` (``normalize_checked``), ``validate``.  ``project_chrono`` is what a
proof job with ``overlay: "chrono"`` proves.
"""

from __future__ import annotations

from workers.overlays.chrono.jsonform import cpx_from_json, cpx_to_json, read_cpx
from workers.overlays.chrono.normalize import (
    NormalizeError,
    NormalizeResult,
    normalize,
    normalize_checked,
)
from workers.overlays.chrono.parser import parse_cpx
from workers.overlays.chrono.printer import cpx_to_text
from workers.overlays.chrono.syntax import (
    CPX_KINDS,
    Always,
    At,
    Believes,
    CpxNode,
    Eternal,
    Eventually,
    Intends,
    Knows,
    Next,
    Prev,
    Project,
    Since,
    Until,
    is_pxl,
)
from workers.overlays.chrono.transform import (
    PROJECTION_NAME,
    LossReport,
    cpx_to_pxl,
    pxl_to_cpx,
)
from workers.overlays.chrono.validate import validate, well_formedness


def project_chrono(value):
    """The S5 collapse projection of a CPX formula given as text, JSON form or formula."""
    return cpx_to_pxl(read_cpx(value))


__all__ = [
    "CPX_KINDS", "PROJECTION_NAME", "Always", "At", "Believes", "CpxNode", "Eternal",
    "Eventually", "Intends", "Knows", "LossReport", "Next", "NormalizeError", "NormalizeResult",
    "Prev", "Project", "Since", "Until", "cpx_from_json", "cpx_to_json", "cpx_to_pxl",
    "cpx_to_text", "is_pxl", "normalize", "normalize_checked", "parse_cpx", "project_chrono",
    "pxl_to_cpx", "read_cpx", "validate", "well_formedness",
]
