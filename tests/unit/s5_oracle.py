"""Brute-force S5 validity for tests: every S5 model is (up to bisimulation at the
actual world) a non-empty set of valuations with the universal relation."""

from __future__ import annotations

from itertools import product

from workers.prover.syntax import Formula, atoms


def _eval(f: Formula, worlds: list[frozenset[str]]) -> list[bool]:
    k = f.kind
    if k == "atom":
        return [f.name in w for w in worlds]
    if k == "const":
        return [f.value] * len(worlds)
    vals = [_eval(c, worlds) for c in f.children]
    if k == "not":
        return [not v for v in vals[0]]
    if k == "and":
        return [all(col) for col in zip(*vals, strict=True)]
    if k == "or":
        return [any(col) for col in zip(*vals, strict=True)]
    if k == "implies":
        return [(not a) or b for a, b in zip(*vals, strict=True)]
    if k == "iff":
        return [a == b for a, b in zip(*vals, strict=True)]
    if k == "box":
        return [all(vals[0])] * len(worlds)
    if k == "dia":
        return [any(vals[0])] * len(worlds)
    raise TypeError(k)


def s5_valid(f: Formula) -> bool:
    names = atoms(f)
    assert len(names) <= 3, "the oracle enumerates models; keep formulas small"
    valuations = [
        frozenset(n for n, bit in zip(names, bits, strict=True) if bit)
        for bits in product((False, True), repeat=len(names))
    ]
    for mask in range(1, 1 << len(valuations)):
        worlds = [v for i, v in enumerate(valuations) if mask >> i & 1]
        if not all(_eval(f, worlds)):
            return False
    return True


def _subformulas(root: Formula) -> list[Formula]:
    """Each distinct subformula once, children first (iterative: formulas may be deep)."""
    order: list[Formula] = []
    seen: set[Formula] = set()
    stack: list[tuple[Formula, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((c, False) for c in node.children)
    return order


def s5_valid_sat(f: Formula) -> bool:
    """A second complete decision for larger formulas (more atoms than the brute force can
    enumerate), written here without the prover's encoder or search: one SAT call asking for
    a universal model of k worlds whose world 0 falsifies ``f``.  Every subformula gets one
    variable per world, defined by its connective over its children's variables at that world;
    a box or diamond gets one variable for all worlds (true when its argument holds at every
    world / at some world).  k = min(modal subformulas + 1, 2^atoms) is enough: a countermodel
    keeps its truth values on the actual world plus one witness world per false box and per
    true diamond, and worlds with equal valuations can be merged."""
    from pysat.solvers import Solver

    nodes = _subformulas(f)
    modal = [n for n in nodes if n.kind in ("box", "dia")]
    k = min(len(modal) + 1, 2 ** len(atoms(f)))
    counter = iter(range(1, 1 << 62))
    true = next(counter)
    clauses: list[list[int]] = [[true]]
    lit: dict[tuple[Formula, int], int] = {}
    for n in nodes:
        if n.kind in ("box", "dia"):
            g = next(counter)
            args = [lit[n.arg, w] for w in range(k)]
            if n.kind == "box":  # g <-> every world
                clauses += [[-g, a] for a in args] + [[g, *(-a for a in args)]]
            else:  # g <-> some world
                clauses += [[g, -a] for a in args] + [[-g, *args]]
            lit.update({(n, w): g for w in range(k)})
            continue
        for w in range(k):
            kids = [lit[c, w] for c in n.children]
            if n.kind == "atom":
                lit[n, w] = next(counter)
            elif n.kind == "const":
                lit[n, w] = true if n.value else -true
            elif n.kind == "not":
                lit[n, w] = -kids[0]
            else:
                x = lit[n, w] = next(counter)
                if n.kind == "and":
                    clauses += [[-x, c] for c in kids] + [[x, *(-c for c in kids)]]
                elif n.kind == "or":
                    clauses += [[x, -c] for c in kids] + [[-x, *kids]]
                elif n.kind == "implies":
                    a, b = kids
                    clauses += [[x, a], [x, -b], [-x, -a, b]]
                elif n.kind == "iff":
                    a, b = kids
                    clauses += [[-x, -a, b], [-x, a, -b], [x, a, b], [x, -a, -b]]
                else:
                    raise TypeError(n.kind)
    solver = Solver(name="glucose4", bootstrap_with=clauses)
    try:
        return not solver.solve(assumptions=[-lit[f, 0]])
    finally:
        solver.delete()
