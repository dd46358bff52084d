"""A deliberately simple S5 model checker for countermodels.

It does not share code with the search: it evaluates the formula directly on
the syntax tree, bottom-up (no recursion), over a finite model whose
accessibility relation is universal (every S5 model's cluster).  Each node's
value is a bitmask with bit i set when the node holds at world i.
"""

from __future__ import annotations

from workers.prover.syntax import (
    And,
    Atom,
    Box,
    Const,
    Dia,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    postorder,
)
from workers.prover.wording import count


class ModelError(ValueError):
    """The countermodel object is malformed."""


def _read_model(model: object) -> tuple[list[str], list[set[str]], int]:
    """Validate a countermodel object; return world ids, valuations, actual index."""
    if not isinstance(model, dict):
        raise ModelError("countermodel must be an object")
    if model.get("relation") != "universal":
        raise ModelError("countermodel relation must be 'universal'")
    atoms = model.get("atoms")
    if not isinstance(atoms, list) or not all(isinstance(a, str) for a in atoms):
        raise ModelError("countermodel atoms must be a list of strings")
    worlds = model.get("worlds")
    if not isinstance(worlds, list) or not worlds:
        raise ModelError("countermodel needs a non-empty list of worlds")
    ids: list[str] = []
    vals: list[set[str]] = []
    for w in worlds:
        if not isinstance(w, dict) or not isinstance(w.get("id"), str):
            raise ModelError("each world needs a string id")
        true_atoms = w.get("true_atoms")
        if not isinstance(true_atoms, list) or not all(isinstance(a, str) for a in true_atoms):
            raise ModelError(f"world {w['id']!r}: true_atoms must be a list of strings")
        unknown = set(true_atoms) - set(atoms)
        if unknown:
            raise ModelError(f"world {w['id']!r}: atoms {sorted(unknown)} not declared")
        ids.append(w["id"])
        vals.append(set(true_atoms))
    if len(set(ids)) != len(ids):
        raise ModelError("world ids must be unique")
    actual = model.get("actual_world")
    if actual not in ids:
        raise ModelError(f"actual_world {actual!r} is not one of the worlds")
    return atoms, vals, ids.index(actual)


def truth_mask(formula: Formula, valuations: list[set[str]]) -> int:
    """Bitmask of the worlds where ``formula`` holds (universal relation)."""
    return _masks(formula, valuations, None)


def _masks(formula: Formula, valuations: list[set[str]], declared: set[str] | None) -> int:
    """``truth_mask``; raises ``_Undeclared`` at an atom outside ``declared`` (when given).
    One walk: every invalid answer is checked with it, so it dispatches on each node's
    kind (exact classes only, as the encoder does)."""
    n = len(valuations)
    full = (1 << n) - 1
    val: dict[Formula, int] = {}
    for node in postorder(formula):
        kind, cls = node.kind, type(node)
        if kind == "atom" and cls is Atom:
            name = node.name
            if declared is not None and name not in declared:
                raise _Undeclared(name)
            v = 0
            for i, world in enumerate(valuations):
                if name in world:
                    v |= 1 << i
        elif kind == "not" and cls is Not:
            v = full & ~val[node.arg]
        elif kind == "and" and cls is And:
            v = full
            for a in node.args:
                v &= val[a]
        elif kind == "or" and cls is Or:
            v = 0
            for a in node.args:
                v |= val[a]
        elif kind == "implies" and cls is Implies:
            v = (full & ~val[node.left]) | val[node.right]
        elif kind == "box" and cls is Box:
            v = full if val[node.arg] == full else 0
        elif kind == "dia" and cls is Dia:
            v = full if val[node.arg] else 0
        elif kind == "iff" and cls is Iff:
            v = full & ~(val[node.left] ^ val[node.right])
        elif kind == "const" and cls is Const:
            v = full if node.value else 0
        else:
            raise TypeError(f"unknown formula node {type(node).__name__}")
        val[node] = v
    return val[formula]


class _Undeclared(Exception):
    pass


def check_countermodel(formula: Formula, model: object) -> tuple[bool, str]:
    """(True, reason) when ``model`` is a well-formed S5 model falsifying ``formula``."""
    try:
        atoms, vals, actual = _read_model(model)
    except ModelError as exc:
        return False, str(exc)
    try:
        mask = _masks(formula, vals, set(atoms))
    except (_Undeclared, TypeError):
        # An undeclared atom is the answer whatever else the walk met (as when the atoms
        # were collected first); a node that is not PXL raises only without one.
        missing = {n.name for n in postorder(formula) if isinstance(n, Atom)} - set(atoms)
        if not missing:
            raise
        return False, f"countermodel does not declare atoms {sorted(missing)}"
    if mask >> actual & 1:
        return False, "the formula is true at the actual world of the countermodel"
    return True, f"the formula is false at the actual world ({count(len(vals), 'world')}, universal relation)"
