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
