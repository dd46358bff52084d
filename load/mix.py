"""The inputs the load tools send: small valid and invalid S5 formulas, malformed ones (a 422
at once, never queued), a hard one (~0.1 s of prover time on this machine's cores), and overlay
bodies.  The shares of each in the Locust mix are in locustfile.py (MIX) and load/README.md."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests` beside `load`

from tests.hard_formulas import random_3cnf_negation  # noqa: E402

VALID_FORMULAS = (  # S5 theorems, well under a millisecond to a few milliseconds each
    "[]p -> p",
    "p -> <>p",
    "[]p -> [][]p",
    "<>p -> []<>p",
    "[](p -> q) -> ([]p -> []q)",
    "<>[]p -> []p",
    "(<>(p & q) | <>(p & r)) -> <>p",
)
INVALID_FORMULAS = (  # not S5-valid: the answer is a countermodel
    "p -> []p",
    "<>p -> []p",
    "[](p | q) -> ([]p | []q)",
    "<>p & <>q -> <>(p & q)",
    "[]<>p -> <>[]p",
)
SMALL_FORMULAS = VALID_FORMULAS + INVALID_FORMULAS

MALFORMED_FORMULAS = (  # refused with 422 problem+json before anything is queued
    "[](p ->",
    "p && q",
    "<>",
    "(p | q",
)

# ~(random 3-CNF, 140 variables, 644 clauses): valid, ~13 KB of text, ~0.1 s of prover time
HARD_FORMULA = random_3cnf_negation(140, seed=7)

CHRONO_BODIES = (
    {"operation": "validate", "formula": "Knows(1, p) -> p"},
    {"operation": "transform", "formula": "Always(p) -> Eventually(p)"},
    {"operation": "normalize", "formula": "Eternal([]p -> p)"},
)
V4_BODIES = (
    {"operation": "validate", "object": {"kind": "knowledge", "claim": "[]p -> p"}},
    {"operation": "translate", "object": {"kind": "action", "pre": "p", "action": "open",
                                          "post": "q"}},
    {"operation": "adapt", "object": {"kind": "value", "x": 3, "y": 5}},
)
