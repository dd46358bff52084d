"""The canonical CPX printer: CPX formula -> CPX text.

On pure PXL it writes exactly what the prover's canonical printer writes (same
symbols, same minimal parentheses), so ``cpx_to_text(f) == to_text(f)`` for PXL
and ``parse_cpx(cpx_to_text(f)) is f`` for every CPX formula.  CPX operators are
printed as calls, ``At(3, p)``, ``Until(p, q)``; being calls they never need
parentheses around them or around their arguments.  Iterative.

A CPX node is printed from what it carries (its class name is its name in the text syntax,
``OPERATOR_NAMES``; an indexed one has an ``index_name``), so the printer sits below the CPX
syntax module, whose ``repr`` prints with it.
"""

from __future__ import annotations

from workers.prover.syntax import Formula

_PREC = {"iff": 1, "implies": 2, "or": 3, "and": 4, "not": 5, "box": 5, "dia": 5}
_LEAF = 6  # atoms, constants and CPX calls
_ASCII = {
    "not": "~", "box": "[]", "dia": "<>", "and": " & ", "or": " | ",
    "implies": " -> ", "iff": " <-> ", True: "true", False: "false",
}
_UNICODE = {
    "not": "¬", "box": "□", "dia": "◇", "and": " ∧ ", "or": " ∨ ",
    "implies": " → ", "iff": " ↔ ", True: "⊤", False: "⊥",
}


def _prec(f: Formula) -> int:
    return _PREC.get(f.kind, _LEAF)


def cpx_to_text(f: Formula, *, ascii: bool = True, limit: int | None = None) -> str:
    """Canonical CPX text of ``f`` (ASCII operators, or Unicode with ``ascii=False``).

    With ``limit``, printing stops soon after ``limit`` characters (the caller cuts
    the text): traces show the head of a big formula in time linear in ``limit``.
    """
    symbols = _ASCII if ascii else _UNICODE
    out: list[str] = []
    length = 0
    stack: list[Formula | str] = [f]
    while stack:
        if limit is not None and length > limit:
            break
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            length += len(item)
            continue
        kind = item.kind
        if kind == "atom":
            out.append(item.name)
            length += len(item.name)
        elif kind == "const":
            out.append(symbols[item.value])
            length += 5
        elif kind not in _PREC:  # a CPX operator, printed as a call
            head = type(item).__name__ + "("
            if item.index_name is not None:
                head += f"{item.index}, "
            out.append(head)
            length += len(head)
            stack.append(")")
            children = item.children
            for i in range(len(children) - 1, -1, -1):
                stack.append(children[i])
                if i:
                    stack.append(", ")
        elif _PREC[kind] == 5:
            out.append(symbols[kind])
            length += 2
            _push(stack, item.arg, _prec(item.arg) < 5)
        else:
            prec = _PREC[kind]
            op = symbols[kind]
            children = item.children
            for i in range(len(children) - 1, -1, -1):
                child = children[i]
                cprec = _prec(child)
                parens = cprec <= prec if kind in ("and", "or") or i == 0 else cprec < prec
                _push(stack, child, parens)
                if i:
                    stack.append(op)
    return "".join(out)


def short_text(f: Formula, width: int = 80) -> str:
    """The formula's text cut to ``width`` characters (with '…'), in time O(width)."""
    text = cpx_to_text(f, limit=width)
    return text if len(text) <= width else text[: width - 1] + "…"


def _push(stack: list, child: Formula, parens: bool) -> None:
    if parens:
        stack.extend((")", child, "("))
    else:
        stack.append(child)
