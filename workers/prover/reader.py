"""One entry point for formula input: PXL text or the JSON form, limits enforced.

The API's ``formula`` field and ``prove()`` both go through ``read_formula``.
"""

from __future__ import annotations

from workers.prover.errors import JSON, FormulaError
from workers.prover.parser import parse_formula
from workers.prover.syntax import Formula


def read_formula(value: str | dict | Formula) -> Formula:
    """A formula from PXL text (str), its JSON form (dict), or an already built formula."""
    if isinstance(value, Formula):
        return value
    if isinstance(value, str):
        return parse_formula(value)
    # The JSON forms' modules only when needed: `pxl prove` imports this module (through
    # search) for text alone, and its start-up time counts (docs/benchmarks.md).
    from workers.prover.jsonform import formula_from_json
    from workers.prover.original_form import is_original_form, original_to_json

    if is_original_form(value):  # the original system's {"type": …} objects
        return formula_from_json(original_to_json(value))
    if isinstance(value, dict):
        return formula_from_json(value)
    kind = "null" if value is None else type(value).__name__
    raise FormulaError(
        f"a formula is PXL text (a string) or a JSON formula object, not {kind}",
        code=JSON,
        path="",
    )
