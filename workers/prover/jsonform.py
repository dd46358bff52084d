"""The JSON form of formulas, as used by the API's ``formula`` object.

Each formula is an object with exactly one key, its kind::

    {"atom": "p"}   {"const": true}   {"not": φ}   {"box": φ}   {"dia": φ}
    {"and": [φ, ψ, …]}   {"or": [φ, ψ, …]}   (two or more)
    {"implies": [φ, ψ]}   {"iff": [φ, ψ]}

Both directions are iterative and exact: ``formula_from_json(formula_to_json(f)) is f``.
Malformed input raises ``FormulaError(code="json")`` whose ``path`` is a JSON
pointer to the offending value, e.g. ``/and/1/not``; the node and depth limits
of the text syntax apply too, and the text limit applies to the atom names: every
occurrence of a name is in the formula's text, so names adding up to more than
MAX_TEXT_BYTES are refused (``too_large``) as the text would be.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring

from workers.prover.errors import JSON, TOO_DEEP, TOO_LARGE, TOO_MANY_NODES, FormulaError
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
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

_UNARY = {"not": Not, "box": Box, "dia": Dia}
_NARY = {"and": And, "or": Or}
_BINARY = {"implies": Implies, "iff": Iff}
# The original system's {"type": "implies", "left": …} objects are a common first try.
_TYPE_HINT = '; the {"type": …} form is not supported, write e.g. {"implies": [φ, ψ]}'
_KINDS = ("atom", "const", "not", "and", "or", "implies", "iff", "box", "dia")


def formula_to_json(f: Formula) -> dict:
    """The JSON form of ``f`` (plain dicts, lists, str and bool; shared subformulas share objects)."""
    done: dict[int, dict] = {}
    for node in postorder(f):
        kind = node.kind
        if kind == "atom":
            obj = {"atom": node.name}
        elif kind == "const":
            obj = {"const": node.value}
        elif kind in _UNARY:
            obj = {kind: done[id(node.arg)]}
        else:
            obj = {kind: [done[id(c)] for c in node.children]}
        done[id(node)] = obj
    return done[id(f)]


def json_type_name(value) -> str:
    """How an error message names a decoded JSON value's type ("an object", "a number", ...)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


class _Path:
    """A JSON pointer kept as a linked list, so descending costs O(1)."""

    __slots__ = ("parent", "segment")

    def __init__(self, parent: _Path | None, segment: str) -> None:
        self.parent = parent
        self.segment = segment

    def __str__(self) -> str:
        parts = []
        node: _Path | None = self
        while node is not None:
            parts.append(node.segment.replace("~", "~0").replace("/", "~1"))
            node = node.parent
        return "".join("/" + p for p in reversed(parts))


def _error(path: _Path | None, message: str, code: str = JSON) -> FormulaError:
    return FormulaError(message, code=code, path=str(path) if path is not None else "")


def atom_bytes_message(total: int) -> str:
    """The ``too_large`` message for a JSON formula whose atom names add up to ``total`` bytes."""
    return (
        f"the formula's atom names add up to more than {MAX_TEXT_BYTES} bytes, so its text "
        f"would exceed the limit of {MAX_TEXT_BYTES} bytes (MAX_TEXT_BYTES)"
    )


def formula_from_json(obj) -> Formula:
    """Build a formula from its JSON form; raise ``FormulaError`` when malformed or too big."""
    results: list[Formula] = []
    # Entries: (value, path, depth) to visit, or (None, path, kind, arity) to build.
    stack: list[tuple] = [(obj, None, 1)]
    nodes = atom_bytes = 0
    while stack:
        entry = stack.pop()
        if len(entry) == 4:
            _, path, kind, arity = entry
            if kind in _UNARY:
                results[-1] = _UNARY[kind](results[-1])
            else:
                args = results[-arity:]
                del results[-arity:]
                results.append(_NARY[kind](args) if kind in _NARY else _BINARY[kind](*args))
            continue
        value, path, depth = entry
        nodes += 1
        if nodes > MAX_NODES:
            raise _error(
                path, f"formula has more than {MAX_NODES} nodes (MAX_NODES)", TOO_MANY_NODES
            )
        if depth > MAX_DEPTH:
            raise _error(
                path, f"formula is nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)", TOO_DEEP
            )
        if not isinstance(value, dict):
            raise _error(path, f"expected a formula object, found {json_type_name(value)}")
        if len(value) != 1:
            if not value:
                raise _error(path, f"empty object; expected one key of: {', '.join(_KINDS)}")
            keys = ", ".join(repr(k) for k in value)
            hint = _TYPE_HINT if "type" in value else ""
            raise _error(
                path, f"a formula object has exactly one key, found {len(value)}: {keys}{hint}"
            )
        ((kind, arg),) = value.items()
        if kind not in _KINDS:
            hint = _TYPE_HINT if kind == "type" else ""
            raise _error(path, f"unknown key {kind!r}; expected one of: {', '.join(_KINDS)}{hint}")
        here = _Path(path, kind)
        if kind == "atom":
            if not isinstance(arg, str) or not ATOM_RE.match(arg) or arg in KEYWORDS:
                shown = repr(arg) if isinstance(arg, str) else json_type_name(arg)
                raise _error(
                    here,
                    f"bad atom name {shown}: names match [A-Za-z_][A-Za-z0-9_]* "
                    f"and are not one of {', '.join(sorted(KEYWORDS))}",
                )
            atom_bytes += len(arg)  # ASCII, by ATOM_RE
            if atom_bytes > MAX_TEXT_BYTES:
                raise _error(here, atom_bytes_message(atom_bytes), TOO_LARGE)
            results.append(Atom(arg))
        elif kind == "const":
            if not isinstance(arg, bool):
                raise _error(here, f"const takes true or false, found {json_type_name(arg)}")
            results.append(TRUE if arg else FALSE)
        elif kind in _UNARY:
            stack.append((None, here, kind, 1))
            stack.append((arg, here, depth + 1))
        else:
            if not isinstance(arg, list):
                raise _error(here, f"{kind} takes an array of formulas, found {json_type_name(arg)}")
            n = len(arg)
            if kind in _NARY and n < 2:
                raise _error(here, f"{kind} takes two or more formulas, found {n}")
            if kind in _BINARY and n != 2:
                raise _error(here, f"{kind} takes exactly two formulas, found {n}")
            if nodes + n > MAX_NODES:
                raise _error(
                    here, f"formula has more than {MAX_NODES} nodes (MAX_NODES)", TOO_MANY_NODES
                )
            stack.append((None, here, kind, n))
            for i in range(n - 1, -1, -1):
                stack.append((arg[i], _Path(here, str(i)), depth + 1))
    return results[0]


# JSON nesting allowed by ``loads_json``: a formula of depth MAX_DEPTH nests an object
# and an array per level, plus room for an enclosing request document.
MAX_JSON_NESTING = 2 * MAX_DEPTH + 16

_WS_RE = re.compile(r"[ \t\n\r]*")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = (("true", True), ("false", False), ("null", None))


def loads_json(text: str, *, max_nesting: int = MAX_JSON_NESTING):
    """``json.loads`` without recursion: nesting beyond ``max_nesting`` is a clean error.

    The standard decoder recurses, so a deeply nested document raises
    RecursionError (around 1,000 levels); this one keeps its own stack.  Errors
    are ``FormulaError`` with code ``json`` (syntax) or ``too_deep``, with line
    and column.
    """
    end = len(text)
    # Open containers: [container, pending dict key or None].
    stack: list[list] = []
    pos = _WS_RE.match(text, 0).end()

    def fail(at: int, message: str, code: str = JSON) -> FormulaError:
        return FormulaError.at(
            text, at, f"invalid JSON: {message}" if code == JSON else message, code=code
        )

    while True:
        # A value starts at pos.
        if pos >= end:
            raise fail(pos, "expected a value, found end of input")
        ch = text[pos]
        if ch in "{[":
            if len(stack) >= max_nesting:
                raise fail(pos, f"JSON is nested deeper than {max_nesting} levels", TOO_DEEP)
            container = {} if ch == "{" else []
            stack.append([container, None])
            pos = _WS_RE.match(text, pos + 1).end()
            closer = "}" if ch == "{" else "]"
            if pos < end and text[pos] == closer:
                pos += 1
                value = container
                stack.pop()
            elif ch == "{":
                pos = _read_key(text, pos, stack[-1], fail)
                continue
            else:
                continue
        elif ch == '"':
            try:
                value, pos = scanstring(text, pos + 1)
            except json.JSONDecodeError as exc:
                raise fail(exc.pos, exc.msg) from None
        else:
            m = _NUMBER_RE.match(text, pos)
            if m:
                value = float(m.group()) if m.group(1) or m.group(2) else int(m.group())
                pos = m.end()
            else:
                for word, literal in _LITERALS:
                    if text.startswith(word, pos):
                        value, pos = literal, pos + len(word)
                        break
                else:
                    raise fail(pos, "expected a value")
        # A value is complete: attach it to its container, closing containers as they end.
        while True:
            pos = _WS_RE.match(text, pos).end()
            if not stack:
                if pos != end:
                    raise fail(pos, "extra data after the document")
                return value
            top = stack[-1]
            container = top[0]
            if isinstance(container, dict):
                container[top[1]] = value
                closer = "}"
            else:
                container.append(value)
                closer = "]"
            if pos < end and text[pos] == ",":
                pos = _WS_RE.match(text, pos + 1).end()
                if closer == "}":
                    pos = _read_key(text, pos, top, fail)
                break
            if pos < end and text[pos] == closer:
                pos += 1
                value = container
                stack.pop()
                continue
            raise fail(pos, f"expected ',' or '{closer}'")


def _read_key(text: str, pos: int, frame: list, fail) -> int:
    """Read '"key" :' at pos into frame[1]; return the position of the value."""
    if pos >= len(text) or text[pos] != '"':
        raise fail(pos, "expected a property name in double quotes")
    try:
        frame[1], pos = scanstring(text, pos + 1)
    except json.JSONDecodeError as exc:
        raise fail(exc.pos, exc.msg) from None
    pos = _WS_RE.match(text, pos).end()
    if pos >= len(text) or text[pos] != ":":
        raise fail(pos, "expected ':'")
    return _WS_RE.match(text, pos + 1).end()


def formula_from_json_text(text: str) -> Formula:
    """Parse JSON text holding a formula object (same limits as the text syntax)."""
    n = len(text) if len(text) > MAX_TEXT_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if n > MAX_TEXT_BYTES:
        raise FormulaError(
            f"formula JSON is {n} bytes; the limit is {MAX_TEXT_BYTES} bytes (MAX_TEXT_BYTES)",
            code=TOO_LARGE,
        )
    return formula_from_json(loads_json(text))
