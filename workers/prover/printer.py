"""The canonical printer: formula AST -> PXL text.

It writes the fewest parentheses the parser needs to rebuild the very same
node, so ``parse_formula(to_text(f)) is f`` for every formula: a child of an
n-ary And/Or that is itself an And (resp. Or) is parenthesised, the left side
of ``->``/``<->`` is parenthesised when it is an operator of the same or a
looser level, and the right side only when it is looser.  Iterative, so any
depth prints.

It reads nodes only through their kind and children (``Node``), so it sits below the
syntax module, whose ``repr`` prints with it.
"""

from __future__ import annotations

from typing import Any, Protocol


class Node(Protocol):
    """What the printer reads of a formula (workers.prover.syntax.Formula): ``kind``, the
    ``children``, and per kind ``name`` (atom), ``value`` (const) or ``arg`` (unary)."""

    kind: str

    @property
    def children(self) -> tuple[Any, ...]: ...

# A larger number binds tighter (same table as the parser).
_PREC = {
    "iff": 1,
    "implies": 2,
    "or": 3,
    "and": 4,
    "not": 5,
    "box": 5,
    "dia": 5,
    "atom": 6,
    "const": 6,
}

_ASCII = {
    "not": "~",
    "box": "[]",
    "dia": "<>",
    "and": " & ",
    "or": " | ",
    "implies": " -> ",
    "iff": " <-> ",
    True: "true",
    False: "false",
}
_UNICODE = {
    "not": "¬",
    "box": "□",
    "dia": "◇",
    "and": " ∧ ",
    "or": " ∨ ",
    "implies": " → ",
    "iff": " ↔ ",
    True: "⊤",
    False: "⊥",
}


def to_text(f: Node, *, ascii: bool = True) -> str:
    """Canonical PXL text of ``f`` (ASCII operators, or Unicode with ``ascii=False``)."""
    symbols = _ASCII if ascii else _UNICODE
    out: list[str] = []
    # Work stack of formulas still to print and literal strings; popped in order.
    stack: list[Node | str] = [f]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        kind = item.kind
        if kind == "atom":
            out.append(item.name)
            continue
        if kind == "const":
            out.append(symbols[item.value])
            continue
        prec = _PREC[kind]
        if prec == 5:  # prefix operator: its operand needs parentheses unless it is prefix/leaf
            out.append(symbols[kind])
            _push(stack, item.arg, _PREC[item.arg.kind] < 5)
            continue
        op = symbols[kind]
        children = item.children
        # Pushed right to left so that they pop left to right.
        for i in range(len(children) - 1, -1, -1):
            child = children[i]
            cprec = _PREC[child.kind]
            if kind in ("and", "or"):
                parens = cprec <= prec
            elif i == 0:
                parens = cprec <= prec  # left of a right-associative operator
            else:
                parens = cprec < prec
            _push(stack, child, parens)
            if i:
                stack.append(op)
    return "".join(out)


def _push(stack: list, child: Node, parens: bool) -> None:
    if parens:
        stack.extend((")", child, "("))
    else:
        stack.append(child)


class Texts:
    """``to_text`` (ASCII) of many subformulas of one formula, each node's text built once from
    its children's: the tableau prints every subformula on its branches and the lemma outline
    every literal it names, and printing each of them whole repeated the work for every
    ancestor (a quarter of a small proof's tableau).  The same strings as ``to_text``
    (tests/unit/test_printer.py compares them).  Nodes must be hashable (formulas are)."""

    __slots__ = ("memo",)

    def __init__(self) -> None:
        self.memo: dict[Any, str] = {}

    def __call__(self, f: Node) -> str:
        memo = self.memo
        text = memo.get(f)
        if text is not None:
            return text
        stack = [f]
        while stack:  # children first, iteratively (any depth)
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            missing = [c for c in node.children if c not in memo]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            memo[node] = self._compose(node)
        return memo[f]

    def negation(self, f: Node) -> str:
        """``to_text`` of the negation of ``f`` (without building that node)."""
        text = self(f)
        return "~" + text if _PREC[f.kind] >= 5 else "~(" + text + ")"

    def _compose(self, node: Node) -> str:
        memo = self.memo
        kind = node.kind
        if kind == "atom":
            return node.name
        if kind == "const":
            return _ASCII[node.value]
        prec = _PREC[kind]
        if prec == 5:
            arg = node.arg
            text = memo[arg]
            return _ASCII[kind] + ("(" + text + ")" if _PREC[arg.kind] < 5 else text)
        parts = []
        for i, child in enumerate(node.children):
            text = memo[child]
            cprec = _PREC[child.kind]
            if kind in ("and", "or") or i == 0:
                parens = cprec <= prec
            else:
                parens = cprec < prec
            parts.append("(" + text + ")" if parens else text)
        return _ASCII[kind].join(parts)
