"""A proof people can read when there is no tableau: the certificate's lemmas as formulas.

A ``lemmas`` certificate (docs/certificates.md) is mostly necessitation steps
``["n", B, h1, …, hk]`` (``["n", B, [h1, …, hk], hints]`` in ``pxl-s5-cert/2``): "□a holds, because h1 ∧ … ∧ hk → a is propositional" (given the
definitions and the earlier lemmas).  This turns each into formulas through the encoding, so
the console never shows variable numbers.  It explains a certificate the checker verifies; it
proves nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable

from workers.prover.encoding import Encoding
from workers.prover.printer import Texts
from workers.prover.syntax import TRUE, And, Atom, Box, Formula, Iff, Implies, Not, Or

MAX_FORMULA_NODES = 2_000  # above it subformula texts get too long to be worth showing
MAX_LEMMAS = 200


def lemma_outline(enc: Encoding, proof: dict, formula_size: int) -> dict | None:
    """``{"kind", "lemmas": [{"box", "argument", "hypotheses", "cut"}], "not_listed"}``, or None when the
    formula is too large to show."""
    if formula_size > MAX_FORMULA_NODES:
        return None
    if proof.get("kind") == "worlds":
        return {"kind": "worlds", "worlds": proof["worlds"], "lemmas": [], "not_listed": 0}
    steps = proof["steps"]
    formula_of = _variable_formulas(enc)

    printed = Texts()  # subformulas recur (the same hypotheses in many lemmas)

    def text(literal: int) -> str:
        base = TRUE if abs(literal) == 1 else formula_of(abs(literal))
        return printed(base) if literal > 0 else printed.negation(base)

    lemmas: list[dict] = []
    total = 0
    for i, step in enumerate(steps):
        if step[0] != "n":
            continue
        total += 1
        if len(lemmas) >= MAX_LEMMAS:
            continue
        # pxl-s5-cert/1: ["n", B, h1, …, hk]; /2: ["n", B, [h1, …, hk], [hints]]
        box = step[1]
        hyps = step[2] if len(step) > 2 and isinstance(step[2], list) else step[2:]
        previous = steps[i - 1] if i else None
        lemmas.append({
            "box": text(box),
            "argument": text(enc.box_arg[box]),
            "hypotheses": [text(h) for h in hyps],
            "cut": bool(previous and previous[0] == "c"),
        })
    return {"kind": "lemmas", "lemmas": lemmas, "not_listed": total - len(lemmas)}


def _variable_formulas(enc: Encoding) -> Callable[[int], Formula]:
    """Each variable's subformula, rebuilt from the encoding's definition table on demand (an
    outline names few of them; building all cost small proofs a sixth of their time)."""
    formulas: dict[int, Formula] = {}
    definitions = enc.definitions

    def of(literal: int) -> Formula:
        base = TRUE if abs(literal) == 1 else formulas[abs(literal)]
        return base if literal > 0 else Not(base)

    def formula(var: int) -> Formula:
        stack = [var]
        while stack:  # children first, iteratively (nesting can be deep)
            v = stack[-1]
            if v in formulas:
                stack.pop()
                continue
            kind, args = definitions[v]
            if kind == "atom":
                formulas[v] = Atom(args)
                stack.pop()
                continue
            missing = [abs(a) for a in args if abs(a) != 1 and abs(a) not in formulas]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if kind == "box":
                formulas[v] = Box(of(args[0]))
            elif kind in ("and", "or"):
                formulas[v] = (And if kind == "and" else Or)([of(a) for a in args])
            else:
                formulas[v] = (Implies if kind == "implies" else Iff)(of(args[0]), of(args[1]))
        return formulas[var]

    return formula
