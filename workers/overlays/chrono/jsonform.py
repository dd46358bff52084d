"""The JSON form of CPX formulas: the PXL JSON form plus one key per CPX operator.

::

    {"at": {"time": 3, "formula": φ}}        {"project": {"time": 3, "formula": φ}}
    {"knows": {"agent": 1, "formula": φ}}    {"believes": …}   {"intends": …}
    {"always": φ}  {"eventually": φ}  {"next": φ}  {"prev": φ}
    {"eternal": φ}   (φ pure PXL)
    {"until": [φ, ψ]}  {"since": [φ, ψ]}

PXL keys (``atom``, ``const``, ``not``, ``and``, ``or``, ``implies``, ``iff``,
``box``, ``dia``) are exactly the prover's.  Both directions are iterative and
exact; errors are ``FormulaError(code="json")`` with a JSON-pointer ``path``
(``/at/formula/and/1``) and the same node, depth and atom-name limits as the
PXL JSON form.
"""

from __future__ import annotations

from workers.overlays.chrono.parser import parse_cpx
from workers.overlays.chrono.syntax import (
    BINARY_KINDS,
    CPX_KINDS,
    INDEXED_KINDS,
    MAX_INDEX,
    CpxNode,
    is_pxl,
)
from workers.prover.errors import JSON, TOO_DEEP, TOO_LARGE, TOO_MANY_NODES, FormulaError
from workers.prover.jsonform import atom_bytes_message, json_type_name
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.original_form import is_original_form, original_to_json
from workers.prover.syntax import (
    ATOM_RE,
    FALSE,
    KEYWORDS,
    TRUE,
    And,
    Atom,
    Box,
    Dia,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    postorder,
)

_PXL_UNARY = {"not": Not, "box": Box, "dia": Dia}
_PXL_NARY = {"and": And, "or": Or}
_PXL_BINARY = {"implies": Implies, "iff": Iff}
KEYS = (
    "atom", "const", "not", "and", "or", "implies", "iff", "box", "dia", *CPX_KINDS,
)


def cpx_to_json(f: Formula) -> dict:
    """The JSON form of a CPX formula (shared subformulas share objects)."""
    done: dict[int, dict] = {}
    for node in postorder(f):
        kind = node.kind
        if kind == "atom":
            obj = {"atom": node.name}
        elif kind == "const":
            obj = {"const": node.value}
        elif kind in INDEXED_KINDS:
            obj = {kind: {CPX_KINDS[kind].index_name: node.index, "formula": done[id(node.arg)]}}
        elif kind in _PXL_UNARY or (kind in CPX_KINDS and kind not in BINARY_KINDS):
            obj = {kind: done[id(node.arg)]}
        else:
            obj = {kind: [done[id(c)] for c in node.children]}
        done[id(node)] = obj
    return done[id(f)]


def _pointer(parts: tuple) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _error(parts: tuple, message: str, code: str = JSON) -> FormulaError:
    return FormulaError(message, code=code, path=_pointer(parts))


def cpx_from_json(obj) -> Formula:
    """Build a CPX formula from its JSON form; ``FormulaError`` when malformed or too big."""
    results: list[Formula] = []
    # (value, path, depth) to visit, or (None, path, kind, arity, index) to build.
    stack: list[tuple] = [(obj, (), 1)]
    nodes = atom_bytes = 0
    while stack:
        entry = stack.pop()
        if entry[0] is None and len(entry) == 5:
            _, path, kind, arity, index = entry
            if kind in _PXL_UNARY:
                results[-1] = _PXL_UNARY[kind](results[-1])
            elif kind in _PXL_NARY or kind in _PXL_BINARY or kind in BINARY_KINDS:
                args = results[-arity:]
                del results[-arity:]
                cls = _PXL_NARY.get(kind) or _PXL_BINARY.get(kind) or CPX_KINDS[kind]
                results.append(cls(args) if kind in _PXL_NARY else cls(*args))
            elif kind in INDEXED_KINDS:
                results[-1] = CPX_KINDS[kind](index, results[-1])
            else:
                if kind == "eternal" and not is_pxl(results[-1]):
                    raise _error(path, "the payload of eternal must be a pure PXL formula")
                results[-1] = CPX_KINDS[kind](results[-1])
            continue
        value, path, depth = entry
        nodes += 1
        if nodes > MAX_NODES:
            raise _error(path, f"formula has more than {MAX_NODES} nodes (MAX_NODES)",
                         TOO_MANY_NODES)
        if depth > MAX_DEPTH:
            raise _error(path, f"formula is nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)",
                         TOO_DEEP)
        if not isinstance(value, dict):
            raise _error(path, f"expected a formula object, found {json_type_name(value)}")
        if len(value) != 1:
            if not value:
                raise _error(path, f"empty object; expected one key of: {', '.join(KEYS)}")
            keys = ", ".join(repr(k) for k in value)
            raise _error(path, f"a formula object has exactly one key, found {len(value)}: {keys}")
        ((kind, arg),) = value.items()
        if kind not in KEYS:
            raise _error(path, f"unknown key {kind!r}; expected one of: {', '.join(KEYS)}")
        here = (*path, kind)
        if kind == "atom":
            if not isinstance(arg, str) or not ATOM_RE.match(arg) or arg in KEYWORDS:
                shown = repr(arg) if isinstance(arg, str) else json_type_name(arg)
                raise _error(here, f"bad atom name {shown}: names match [A-Za-z_][A-Za-z0-9_]* "
                                   f"and are not one of {', '.join(sorted(KEYWORDS))}")
            atom_bytes += len(arg)  # ASCII, by ATOM_RE
            if atom_bytes > MAX_TEXT_BYTES:
                raise _error(here, atom_bytes_message(atom_bytes), TOO_LARGE)
            results.append(Atom(arg))
        elif kind == "const":
            if not isinstance(arg, bool):
                raise _error(here, f"const takes true or false, found {json_type_name(arg)}")
            results.append(TRUE if arg else FALSE)
        elif kind in INDEXED_KINDS:
            what = CPX_KINDS[kind].index_name
            if not isinstance(arg, dict):
                raise _error(here, f'{kind} takes an object {{"{what}": n, "formula": φ}}, '
                                   f"found {json_type_name(arg)}")
            extra = sorted(set(arg) - {what, "formula"})
            if extra:
                raise _error(here, f"unexpected key {extra[0]!r} in {kind}; "
                                   f'expected "{what}" and "formula"')
            if what not in arg or "formula" not in arg:
                missing = what if what not in arg else "formula"
                raise _error(here, f'{kind} needs "{missing}"')
            index = arg[what]
            if isinstance(index, bool) or not isinstance(index, int) or not (
                0 <= index <= MAX_INDEX
            ):
                # a short repr: a string or a huge integer is not echoed back whole
                shown = (
                    repr(index)
                    if isinstance(index, (bool, float)) or (
                        isinstance(index, int) and index.bit_length() <= 64)
                    else f"an integer of {index.bit_length()} bits" if isinstance(index, int)
                    else json_type_name(index)
                )
                raise _error((*here, what), f"{what} must be a natural number (0..2^63-1), "
                                            f"found {shown}")
            stack.append((None, here, kind, 1, index))
            stack.append((arg["formula"], (*here, "formula"), depth + 1))
        elif kind in _PXL_UNARY or (kind in CPX_KINDS and kind not in BINARY_KINDS):
            stack.append((None, here, kind, 1, None))
            stack.append((arg, here, depth + 1))
        else:
            if not isinstance(arg, list):
                raise _error(here, f"{kind} takes an array of formulas, found {json_type_name(arg)}")
            n = len(arg)
            if kind in _PXL_NARY and n < 2:
                raise _error(here, f"{kind} takes two or more formulas, found {n}")
            if kind not in _PXL_NARY and n != 2:
                raise _error(here, f"{kind} takes exactly two formulas, found {n}")
            if nodes + n > MAX_NODES:
                raise _error(here, f"formula has more than {MAX_NODES} nodes (MAX_NODES)",
                             TOO_MANY_NODES)
            stack.append((None, here, kind, n, None))
            for i in range(n - 1, -1, -1):
                stack.append((arg[i], (*here, i), depth + 1))
    return results[0]


def read_cpx(value) -> Formula:
    """A CPX formula from text (str), its JSON form (dict) or an already built formula."""
    if isinstance(value, Formula):
        return value
    if isinstance(value, str):
        return parse_cpx(value)
    if is_original_form(value):  # the original system's {"type": …} objects (PXL only)
        return cpx_from_json(original_to_json(value))
    if isinstance(value, dict):
        return cpx_from_json(value)
    raise FormulaError(
        f"a CPX formula is text (a string) or a JSON formula object, not {json_type_name(value)}",
        code=JSON, path="",
    )


__all__ = ["KEYS", "CpxNode", "cpx_from_json", "cpx_to_json", "read_cpx"]
