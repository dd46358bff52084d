"""PXL core: the formula language and the S5 decision procedure (pure logic, no I/O).

The names below are loaded on first use (PEP 562), so that importing one submodule, e.g.
``workers.prover.parser`` for ``pxl prove``, does not import the SAT solver, the
certificate checker and the rest: start-up time counts for one-shot commands.
"""

from __future__ import annotations

import importlib

_HOME = {
    "CheckReport": "check",
    "check_result_document": "check",
    "FormulaError": "errors",
    "formula_from_json": "jsonform",
    "formula_to_json": "jsonform",
    "parse_formula": "parser",
    "to_text": "printer",
    "read_formula": "reader",
    "ProofResult": "result",
    "prove": "search",
    **{
        name: "syntax"
        for name in ("FALSE", "TRUE", "And", "Atom", "Box", "Const", "Dia", "Formula", "Iff",
                     "Implies", "Not", "Or", "atoms", "postorder")
    },
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'workers.prover' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"workers.prover.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
