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
    text = _literal_texts(enc)

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


class _Node:
    """What the printer reads of a formula (``printer.Node``) for a literal of the encoding:
    its kind and children, and its atom name, constant value or argument.  The outline prints
    literals through these instead of rebuilding (and interning) their formulas: the same
    texts, from the same printer."""

    __slots__ = ("kind", "children", "name", "value", "arg")

    def __init__(self, kind: str, children: tuple = (), name: str = "", value: bool = True):
        self.kind, self.children, self.name, self.value = kind, children, name, value
        self.arg = children[0] if children else None


_TRUE = _Node("const")


def _literal_texts(enc: Encoding) -> Callable[[int], str]:
    """The text of each literal's subformula, rebuilt from the encoding's definition table on
    demand (an outline names few of them; building all cost small proofs a sixth of their
    time): a variable is its definition (atom, box of a literal, connective of literals), a
    negative literal the negation of its variable, literal 1 ``true``."""
    nodes: dict[int, _Node] = {}  # variable -> its node
    definitions = enc.definitions
    printed = Texts()  # subformulas recur (the same hypotheses in many lemmas)

    def of(literal: int) -> _Node:
        base = _TRUE if abs(literal) == 1 else nodes[abs(literal)]
        return base if literal > 0 else _Node("not", (base,))

    def node(var: int) -> _Node:
        stack = [var]
        while stack:  # children first, iteratively (nesting can be deep)
            v = stack[-1]
            if v in nodes:
                stack.pop()
                continue
            kind, args = definitions[v]
            if kind == "atom":
                nodes[v] = _Node("atom", name=args)
                stack.pop()
                continue
            missing = [abs(a) for a in args if abs(a) != 1 and abs(a) not in nodes]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            nodes[v] = _Node(kind, tuple(of(a) for a in args))
        return nodes[var]

    def text(literal: int) -> str:
        base = _TRUE if abs(literal) == 1 else node(abs(literal))
        return printed(base) if literal > 0 else printed.negation(base)

    return text
