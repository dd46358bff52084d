"""validate: CPX well-formedness, then S5 validity of the S5 collapse projection.

Operationally (original-system.md §7.5(f)) a CPX formula is chrono-valid iff
``cpx_to_pxl`` of it is S5-valid: every CPX axiom projects to an S5-valid
formula and the rules preserve validity, so this is the semantic reading of
``CPX_Prov``.  The prover's document (verdict, certificate or countermodel)
is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from workers.overlays.chrono.syntax import CPX_KINDS, INDEXED_KINDS, MAX_INDEX, Eternal, is_pxl
from workers.overlays.chrono.transform import LossReport, cpx_to_pxl
from workers.prover import search
from workers.prover.limits import MAX_DEPTH, MAX_NODES
from workers.prover.syntax import Formula, postorder


def well_formedness(f: Formula) -> list[str]:
    """Problems with ``f`` (empty when well formed); the constructors already refuse most."""
    problems = []
    if f.size > MAX_NODES:
        problems.append(f"more than {MAX_NODES} nodes")
    if f.depth > MAX_DEPTH:
        problems.append(f"nested deeper than {MAX_DEPTH}")
    for node in postorder(f):
        if node.kind in INDEXED_KINDS and not 0 <= node.index <= MAX_INDEX:
            problems.append(f"{CPX_KINDS[node.kind].index_name} {node.index} is not a natural")
        if isinstance(node, Eternal) and not is_pxl(node.arg):
            problems.append("an Eternal payload is not pure PXL")
    return problems


def validate(
    f: Formula,
    *,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Check ``f``; returns checks, the projection, its loss report, trace and the proof."""
    trace: list[str] = []
    problems = well_formedness(f)
    if problems:
        raise ValueError("CPX formula is not well formed: " + "; ".join(problems))
    trace.append(
        "well-formed: times and agents are naturals, Eternal payloads are pure PXL, within limits"
    )
    report = LossReport()
    projection = cpx_to_pxl(f, report=report, trace=trace)
    proof = search.prove(projection, timeout=timeout, should_stop=should_stop)
    doc = proof.to_document()
    trace.append(
        f"prover on the S5 collapse projection: {proof.verdict} ({proof.szs_status})"
    )
    return {
        "well_formed": True,
        "verdict": proof.verdict,
        "projection": projection,
        "loss": report.to_document(),
        "trace": trace,
        "proof": doc,
    }
