"""The canonical CPX printer: CPX formula -> CPX text.

On pure PXL it writes exactly what the prover's canonical printer writes (same
symbols, same minimal parentheses), so ``cpx_to_text(f) == to_text(f)`` for PXL
and ``parse_cpx(cpx_to_text(f)) is f`` for every CPX formula.  CPX operators are
printed as calls, ``At(3, p)``, ``Until(p, q)``; being calls they never need
parentheses around them or around their arguments.  Iterative.
"""

from __future__ import annotations

from workers.overlays.chrono.syntax import CPX_KINDS, INDEXED_KINDS, OPERATOR_NAMES
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


def cpx_to_text(f: Formula, *, ascii: bool = True) -> str:
    """Canonical CPX text of ``f`` (ASCII operators, or Unicode with ``ascii=False``)."""
    symbols = _ASCII if ascii else _UNICODE
    out: list[str] = []
    stack: list[Formula | str] = [f]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        kind = item.kind
        if kind == "atom":
            out.append(item.name)
        elif kind == "const":
            out.append(symbols[item.value])
        elif kind in CPX_KINDS:
            out.append(OPERATOR_NAMES[kind] + "(")
            if kind in INDEXED_KINDS:
                out.append(f"{item.index}, ")
            stack.append(")")
            children = item.children
            for i in range(len(children) - 1, -1, -1):
                stack.append(children[i])
                if i:
                    stack.append(", ")
        elif _PREC[kind] == 5:
            out.append(symbols[kind])
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


def _push(stack: list, child: Formula, parens: bool) -> None:
    if parens:
        stack.extend((")", child, "("))
    else:
        stack.append(child)
