"""The inputs the load tools send: small valid and invalid S5 formulas, malformed ones (a 422
at once, never queued), a hard one (~0.3 s of prover time), and overlay
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

# ~(random 3-CNF, 100 variables, 460 clauses): valid, ~10 KB of text; the prover needs ~0.3 s
# and answers with a ~280 KB certificate (measured on the loaded 2-core machine, docs/performance.md)
HARD_FORMULA = random_3cnf_negation(100, seed=7)

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
