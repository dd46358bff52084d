"""transform: ``pxl_to_cpx`` (embedding) and ``cpx_to_pxl``, the S5 collapse projection.

The projection reproduces the original's Coq ``cpx_to_pxl`` exactly
(original-system.md §7.5(b)); φ', ψ' are the recursive images:

=====================================================  ==================
CPX                                                    PXL image
=====================================================  ==================
the PXL mirror constructors                            the same, recursively
``At(t, φ)``, ``Always(φ)``, ``Next(φ)``, ``Project(t, φ)``  ``[]φ'`` (t dropped)
``Eventually(φ)``, ``Prev(φ)``                         ``<>φ'``
``Until(φ, ψ)``                                        ``φ' -> <>ψ'``
``Since(φ, ψ)``                                        ``φ' -> []ψ'``
``Knows(a, φ)``, ``Intends(a, φ)``                     ``[]φ'`` (a dropped)
``Believes(a, φ)``                                     ``<>φ'``
``Eternal(φ)``                                         ``φ``
=====================================================  ==================

It is not LTL: Until/Since are the original's approximations and every agent
and time collapses into the one S5 modality.  The loss report says so, node by
node.  The embedding is structural identity (the mirror constructors are the
PXL node classes), so ``cpx_to_pxl(pxl_to_cpx(φ)) is φ``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.overlays.chrono.printer import short_text
from workers.overlays.chrono.syntax import CPX_KINDS, OPERATOR_NAMES, CpxNode, is_pxl
from workers.prover.syntax import (
    And,
    Box,
    Dia,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
)

PROJECTION_NAME = "S5 collapse projection"
MAX_REPORTED_NODES = 200  # the loss report lists at most this many nodes one by one
_EXCERPT = 80  # characters of a formula shown in a trace line or loss entry
_IMAGE_TEXT = {
    "box": "[]φ'",
    "dia": "<>φ'",
    "until": "φ' -> <>ψ'",
    "since": "φ' -> []ψ'",
    "identity": "φ",
}


def short(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


@dataclass
class LossReport:
    """What the S5 collapse projection dropped or approximated."""

    times_dropped: set[int] = field(default_factory=set)
    agents_dropped: set[int] = field(default_factory=set)
    approximated: dict[str, int] = field(default_factory=dict)  # Until/Since -> count
    collapsed: dict[str, int] = field(default_factory=dict)  # operator -> count
    nodes: list[dict] = field(default_factory=list)  # one entry per distinct CPX node
    nodes_not_listed: int = 0  # lossy nodes beyond MAX_REPORTED_NODES

    @property
    def lossless(self) -> bool:
        return not self.nodes and not self.nodes_not_listed

    def to_document(self) -> dict:
        return {
            "projection": PROJECTION_NAME,
            "lossless": self.lossless,
            "times_dropped": sorted(self.times_dropped),
            "agents_dropped": sorted(self.agents_dropped),
            "approximated": dict(sorted(self.approximated.items())),
            "collapsed": dict(sorted(self.collapsed.items())),
            "nodes": self.nodes,
            "nodes_not_listed": self.nodes_not_listed,
        }


def pxl_to_cpx(f: Formula) -> Formula:
    """The embedding PXL -> CPX: structural identity into the mirror constructors."""
    if not is_pxl(f):
        raise ValueError("pxl_to_cpx takes a PXL formula; this one has CPX operators")
    return f


class ProjectionCache:
    """Images of CPX nodes shared by several projections; keeps the nodes alive so
    that their ids (the keys) are never reused while the cache lives."""

    def __init__(self) -> None:
        self.image: dict[int, Formula] = {}
        self.alive: list[Formula] = []


def cpx_to_pxl(f: Formula, *, report: LossReport | None = None,
               trace: list[str] | None = None, cache: ProjectionCache | None = None) -> Formula:
    """The S5 collapse projection CPX -> PXL (the original's ``cpx_to_pxl``, exactly).

    Fills ``report`` (what was lost, per distinct node) and appends one line per
    distinct CPX node to ``trace`` when they are given.  A shared ``cache`` makes
    common parts of several formulas projected once.  Iterative.
    """
    if report is not None or trace is not None:
        cache = None
    image: dict[int, Formula] = {} if cache is None else cache.image
    stack: list[tuple[Formula, bool]] = [(f, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in image:
            continue
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children) if id(c) not in image)
            continue
        kind = node.kind
        if kind in CPX_KINDS:
            out = _project_node(node, image)
            if report is not None or trace is not None:
                _note(node, out, report, trace)
        elif not node.children:
            out = node
        else:
            kids = [image[id(c)] for c in node.children]
            if all(k is c for k, c in zip(kids, node.children, strict=True)):
                out = node
            elif kind in ("and", "or"):
                out = (And if kind == "and" else Or)(kids)
            elif kind in ("implies", "iff"):
                out = (Implies if kind == "implies" else Iff)(*kids)
            else:
                out = {"not": Not, "box": Box, "dia": Dia}[kind](kids[0])
        image[id(node)] = out
        if cache is not None:
            cache.alive.append(node)
    return image[id(f)]


def _project_node(node: CpxNode, image: dict[int, Formula]) -> Formula:
    img = type(node).image
    if img == "identity":  # Eternal: its payload is already PXL
        return node.arg
    if img == "box":
        return Box(image[id(node.arg)])
    if img == "dia":
        return Dia(image[id(node.arg)])
    left, right = image[id(node.left)], image[id(node.right)]
    return Implies(left, Dia(right) if img == "until" else Box(right))


def _note(node: CpxNode, out: Formula, report: LossReport | None,
          trace: list[str] | None) -> None:
    kind = node.kind
    name = OPERATOR_NAMES[kind]
    cls = CPX_KINDS[kind]
    lost: dict = {}
    if cls.index_name is not None:
        lost[cls.index_name] = node.index
    if kind in ("until", "since"):
        lost["approximated"] = f"{name}(φ, ψ) ↦ {_IMAGE_TEXT[cls.image]}"
    elif kind != "eternal":
        lost["collapsed"] = f"{name} ↦ {'[]' if cls.image == 'box' else '<>'}"
    if report is not None:
        if cls.index_name == "time":
            report.times_dropped.add(node.index)
        elif cls.index_name == "agent":
            report.agents_dropped.add(node.index)
        if kind in ("until", "since"):
            report.approximated[name] = report.approximated.get(name, 0) + 1
        elif kind != "eternal":
            report.collapsed[name] = report.collapsed.get(name, 0) + 1
        if kind != "eternal" and len(report.nodes) >= MAX_REPORTED_NODES:
            report.nodes_not_listed += 1
        elif kind != "eternal":
            report.nodes.append(
                {"operator": name, "node": short_text(node),
                 "image": short_text(out), "lost": lost}
            )
    if trace is not None:
        what = []
        if cls.index_name is not None:
            what.append(f"{cls.index_name} {node.index} dropped")
        if kind in ("until", "since"):
            what.append(f"{name} approximated as {_IMAGE_TEXT[cls.image]}")
        elif kind == "eternal":
            what.append("Eternal payload is PXL, kept as is")
        else:
            what.append(f"{name} collapsed into {'[]' if cls.image == 'box' else '<>'}")
        suffix = f" ({'; '.join(what)})" if what else ""
        trace.append(
            f"{PROJECTION_NAME}: {short_text(node)} ↦ {short_text(out)}{suffix}"
        )
