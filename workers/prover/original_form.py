"""The original system's formula objects, read into the JSON form (docs/api.md "Differences
from the original v1 contract").

The original API took ``{"type": "implies", "left": "A", "right": "B"}``: an object with a
``type`` and its operands, atoms as bare strings (or ``{"type": "atom", "name": "A"}``).
A side branch used ``{"type": "MImpl", "antecedent": …, "consequent": …}``,
``{"type": "MProp", "value": "p"}`` and ``MNeg/MConj/MDisj/MBox/MDia/MBot`` with
``operand``/``left``/``right``. Both shapes are accepted here and turned into the JSON form of
workers/prover/jsonform.py, iteratively (nesting as deep as the JSON form allows):

    {"type": "implies", "left": "A", "right": {"type": "box", "arg": "A"}}
      -> {"implies": [{"atom": "A"}, {"box": {"atom": "A"}}]}

Errors are ``FormulaError(code="json")`` with a JSON pointer to the offending value.
"""

from __future__ import annotations

from typing import Any

from workers.prover.errors import JSON, FormulaError

# type (lower-cased) -> (JSON-form kind, operand fields in order)
_UNARY_FIELDS = ("arg", "operand", "formula", "sub")
_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "not": ("not", _UNARY_FIELDS), "neg": ("not", _UNARY_FIELDS), "mneg": ("not", _UNARY_FIELDS),
    "box": ("box", _UNARY_FIELDS), "mbox": ("box", _UNARY_FIELDS),
    "dia": ("dia", _UNARY_FIELDS), "diamond": ("dia", _UNARY_FIELDS),
    "mdia": ("dia", _UNARY_FIELDS),
    "and": ("and", ("left", "right")), "mconj": ("and", ("left", "right")),
    "or": ("or", ("left", "right")), "mdisj": ("or", ("left", "right")),
    "implies": ("implies", ("left", "right")), "impl": ("implies", ("left", "right")),
    "mimpl": ("implies", ("antecedent", "consequent")),
    "iff": ("iff", ("left", "right")),
}  # fmt: skip
_ATOMS = {"atom": ("name", "value"), "var": ("name", "value"), "prop": ("name", "value"),
          "mprop": ("value", "name")}
_CONSTANTS = {"bot": False, "mbot": False, "false": False, "top": True, "true": True}


def is_original_form(value: Any) -> bool:
    """Whether ``value`` is an original-system formula object (it has a ``type``)."""
    return isinstance(value, dict) and "type" in value


def original_to_json(value: Any) -> dict:
    """The JSON form of an original-system formula (see the module docstring)."""
    root: list[Any] = [None]
    # (value, JSON pointer, the list or dict to write its JSON form into, the index or key)
    stack: list[tuple[Any, str, Any, Any]] = [(value, "", root, 0)]
    while stack:
        item, path, into, index = stack.pop()
        if isinstance(item, str):
            into[index] = {"atom": item}
            continue
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise FormulaError("expected a formula: a string (an atom) or an object with a "
                               "string \"type\"", code=JSON, path=path)
        kind = item["type"].lower()
        if kind in _CONSTANTS:
            into[index] = {"const": _CONSTANTS[kind]}
        elif kind in _ATOMS:
            name = next((item[f] for f in _ATOMS[kind] if f in item), None)
            if not isinstance(name, str):
                raise FormulaError(f"an atom needs a string {' or '.join(_ATOMS[kind])}",
                                   code=JSON, path=path)
            into[index] = {"atom": name}
        elif kind in _TYPES:
            target, fields = _TYPES[kind]
            if target in ("not", "box", "dia"):
                field = next((f for f in fields if f in item), None)
                if field is None:
                    raise FormulaError(f"{item['type']!r} needs its operand in one of "
                                       f"{', '.join(fields)}", code=JSON, path=path)
                node: dict[str, Any] = {target: None}
                into[index] = node
                stack.append((item[field], f"{path}/{field}", node, target))
            else:
                missing = [f for f in fields if f not in item]
                if missing:
                    raise FormulaError(f"{item['type']!r} needs {' and '.join(fields)}",
                                       code=JSON, path=path)
                operands: list[Any] = [None, None]
                into[index] = {target: operands}
                for i, field in enumerate(fields):
                    stack.append((item[field], f"{path}/{field}", operands, i))
        else:
            raise FormulaError(f"unknown formula type {item['type']!r}", code=JSON,
                               path=f"{path}/type")
    return root[0]
