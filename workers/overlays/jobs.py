"""Overlay jobs as pure functions: request checking (API side) and running (worker side).

``chrono_params`` / ``v4_params`` turn a request body into canonical job params,
raising ``FormulaError`` (with positions or a JSON pointer) or ``OverlayRequestError``
for bad input, so the API answers 4xx before anything is queued.  ``run_chrono`` /
``run_v4`` compute the job's result document from those params; the workers'
``RUNNERS`` call them with the job's ``should_stop``.  No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.overlays import chrono
from workers.overlays.chrono import cpx_to_json, cpx_to_pxl, cpx_to_text, is_pxl, read_cpx
from workers.overlays.v4 import adapter_table_sha256
from workers.overlays.v4.ops import adapt, guard, project_v4, read_object, translate
from workers.overlays.v4.table import ADAPTER_TABLE
from workers.prover.jsonform import formula_to_json
from workers.prover.printer import to_text
from workers.prover.syntax import Formula

CHRONO_OPERATIONS = ("transform", "normalize", "validate")
V4_OPERATIONS = ("translate", "validate", "adapt")
DIRECTIONS = ("cpx_to_pxl", "pxl_to_cpx")


class OverlayRequestError(ValueError):
    """A well-formed JSON body that asks for something the overlay does not do."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _formula_doc(f: Formula, *, cpx: bool) -> dict:
    if cpx:
        return {"text": cpx_to_text(f), "json": cpx_to_json(f)}
    return {"text": to_text(f), "json": formula_to_json(f)}


def _options(options: Any) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise OverlayRequestError("options must be an object", field="options")
    return options


# -- chrono ---------------------------------------------------------------------


def chrono_params(operation: str, formula: Any, options: Any, timeout: float) -> dict:
    """Canonical params of a chrono job (the formula checked and in canonical JSON)."""
    if operation not in CHRONO_OPERATIONS:
        raise OverlayRequestError(
            f"operation must be one of {', '.join(CHRONO_OPERATIONS)}", field="operation"
        )
    options = _options(options)
    unknown = sorted(set(options) - ({"direction"} if operation == "transform" else set()))
    if unknown:
        raise OverlayRequestError(
            f"unknown option {unknown[0]!r} for {operation}", field="options"
        )
    f = read_cpx(formula)
    out_options: dict = {}
    if operation == "transform":
        direction = options.get("direction", "cpx_to_pxl")
        if direction not in DIRECTIONS:
            raise OverlayRequestError(
                f"options.direction must be one of {', '.join(DIRECTIONS)}", field="options"
            )
        if direction == "pxl_to_cpx" and not is_pxl(f):
            raise OverlayRequestError(
                "pxl_to_cpx embeds PXL into CPX; this formula already has CPX operators",
                field="formula",
            )
        out_options["direction"] = direction
    return {
        "operation": operation,
        "formula": cpx_to_json(f),
        "formula_text": cpx_to_text(f),
        "options": out_options,
        "timeout": float(timeout),
    }


def run_chrono(params: dict, *, should_stop: Callable[[], bool] | None = None) -> dict:
    f = chrono.read_cpx(params["formula"])
    operation = params["operation"]
    timeout = float(params.get("timeout") or 30.0)
    doc: dict = {"overlay": "chrono", "operation": operation,
                 "input": _formula_doc(f, cpx=True)}
    if operation == "transform":
        direction = (params.get("options") or {}).get("direction", "cpx_to_pxl")
        doc["direction"] = direction
        trace: list[str] = []
        if direction == "pxl_to_cpx":
            out = chrono.pxl_to_cpx(f)
            trace.append("embedding PXL -> CPX: structural identity into the mirror constructors")
            doc["output"] = _formula_doc(out, cpx=True)
            doc["loss"] = None
        else:
            report = chrono.LossReport()
            out = chrono.cpx_to_pxl(f, report=report, trace=trace)
            if report.lossless:
                trace.append(f"{chrono.PROJECTION_NAME}: no CPX operator, nothing lost")
            doc["output"] = _formula_doc(out, cpx=False)
            doc["loss"] = report.to_document()
        doc["chrono_trace"] = trace
    elif operation == "normalize":
        try:
            res = chrono.normalize_checked(f, timeout=timeout, should_stop=should_stop)
        except chrono.NormalizeError as exc:
            if exc.refuted:  # a wrong rewrite rule: a bug, the job fails loudly
                raise RuntimeError(exc.message) from exc
            # Out of time or stopped: no normal form is given, as a proof would say unknown.
            doc.update(verdict="unknown", szs_status=exc.szs_status, output=None,
                       check={"verdict": "unknown", "proof": exc.proof},
                       chrono_trace=[exc.message])
            return doc
        doc.update(output=_formula_doc(res.formula, cpx=True), rewrites=res.rewrites,
                   check=res.check, chrono_trace=res.trace)
    elif operation == "validate":
        res = chrono.validate(f, timeout=timeout, should_stop=should_stop)
        doc.update(
            verdict=res["verdict"], well_formed=res["well_formed"],
            projection=_formula_doc(res["projection"], cpx=False), loss=res["loss"],
            proof=res["proof"], chrono_trace=res["trace"],
        )
    else:
        raise ValueError(f"unknown chrono operation {operation!r}")
    return doc


# -- v4 ---------------------------------------------------------------------------


def v4_object_json(obj) -> dict:
    """The canonical JSON of a v4 object (formulas in the PXL JSON form)."""
    v4 = read_object(obj)
    fields = ADAPTER_TABLE["domains"][v4.domain]["fields"]
    out: dict = {"kind": v4.domain}
    for name in fields:
        if name == "effect" and not v4.effect_given:
            continue
        if name in v4.slots:
            value = v4.slots[name]
            out[name] = formula_to_json(value) if isinstance(value, Formula) else value
    return out


def v4_params(operation: str, obj: Any, options: Any, timeout: float) -> dict:
    if operation not in V4_OPERATIONS:
        raise OverlayRequestError(
            f"operation must be one of {', '.join(V4_OPERATIONS)}", field="operation"
        )
    if _options(options):
        raise OverlayRequestError("v4 operations take no options", field="options")
    return {"operation": operation, "object": v4_object_json(obj), "options": {},
            "timeout": float(timeout)}


def _plain(value):
    """Adapted objects hold formulas; documents hold their text and JSON."""
    if isinstance(value, Formula):
        return _formula_doc(value, cpx=False)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def run_v4(params: dict, *, should_stop: Callable[[], bool] | None = None) -> dict:
    operation = params["operation"]
    timeout = float(params.get("timeout") or 30.0)
    obj = params["object"]
    if operation == "translate":
        res = translate(obj)
    elif operation == "validate":
        res = guard(obj, timeout=timeout, should_stop=should_stop)
    elif operation == "adapt":
        res = adapt(obj, timeout=timeout, should_stop=should_stop)
    else:
        raise ValueError(f"unknown v4 operation {operation!r}")
    doc: dict = {
        "overlay": "v4", "operation": operation, "domain": res["domain"],
        "target": res["target"], "input": obj,
        "output": _formula_doc(res["formula"], cpx=False),
        "adapter_table_sha256": adapter_table_sha256(),
    }
    if operation in ("validate", "adapt"):
        doc["verdict"] = res["verdict"]
        doc["guard"] = {"verdict": res["verdict"], "checks": res["checks"]}
    if operation == "adapt":
        doc["adapted"] = _plain(res["adapted"])
    doc["v4_trace"] = res["trace"]
    return doc


# -- proofs with an overlay ---------------------------------------------------------


def overlay_source(overlay: str, value: Any) -> tuple[Any, str, Formula]:
    """(canonical source JSON, its text, the PXL formula to prove) for a proof job."""
    if overlay == "chrono":
        f = read_cpx(value)
        return cpx_to_json(f), cpx_to_text(f), cpx_to_pxl(f)
    if overlay == "v4":
        source = v4_object_json(value)
        projection = project_v4(source)
        return source, to_text(projection), projection
    raise ValueError(f"unknown overlay {overlay!r}")
