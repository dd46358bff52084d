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


def s5_valid_sat(f: Formula) -> bool:
    """A second complete decision for larger formulas (more atoms than the brute force
    can enumerate): one SAT call over k copies of the one-world encoding sharing the
    box variables, every false box needing a copy that falsifies its argument, with
    k = min(boxes + 1, 2^atoms) (a countermodel needs at most one witness per box, and
    worlds with equal valuations can be merged).  It shares the encoding with the
    prover but none of its search."""
    from pysat.solvers import Solver

    from workers.prover.encoding import encode

    enc = encode(f)
    n = enc.nvars
    k = min(len(enc.boxes) + 1, 2 ** len(enc.atom_vars))

    def shift(lit: int, j: int) -> int:
        if abs(lit) in enc.box_arg or abs(lit) == 1:
            return lit
        return lit + j * n if lit > 0 else lit - j * n

    solver = Solver(name="minisat22")
    try:
        for j in range(k):
            for c in enc.clauses:
                solver.add_clause([shift(x, j) for x in c])
        for b, a in enc.box_arg.items():
            solver.add_clause([b, *(-shift(a, j) for j in range(k))])
        return not solver.solve(assumptions=[-enc.root])
    finally:
        solver.delete()
