"""PXL core: the formula language and the S5 decision procedure (pure logic, no I/O)."""

from workers.prover.check import CheckReport, check_result_document
from workers.prover.errors import FormulaError
from workers.prover.jsonform import formula_from_json, formula_to_json
from workers.prover.parser import parse_formula
from workers.prover.printer import to_text
from workers.prover.reader import read_formula
from workers.prover.result import ProofResult
from workers.prover.search import prove
from workers.prover.syntax import (
    FALSE,
    TRUE,
    And,
    Atom,
    Box,
    Const,
    Dia,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    atoms,
    postorder,
)

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "Atom",
    "Box",
    "CheckReport",
    "Const",
    "Dia",
    "Formula",
    "FormulaError",
    "Iff",
    "Implies",
    "Not",
    "Or",
    "ProofResult",
    "atoms",
    "check_result_document",
    "formula_from_json",
    "formula_to_json",
    "parse_formula",
    "postorder",
    "prove",
    "read_formula",
    "to_text",
]
