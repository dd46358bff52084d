"""Formulas the prover needs far longer than any test waits for, so that a job is still
running when a test cancels it, times it out or kills its worker.

Pigeonhole formulas no longer qualify (the prover's cutting planes refute them in under
a second); a random 3-CNF above the satisfiability threshold is hard for every known
refutation technique, resolution and cutting planes alike.
"""

from __future__ import annotations

import random


def random_3cnf_negation(variables: int, ratio: float = 4.6, seed: int = 7) -> str:
    """~(random 3-CNF above the threshold): valid (the CNF is unsatisfiable), and the
    prover's time grows exponentially with the variables (250 ~ 8 s, 350 > 40 s)."""
    rng = random.Random(seed)
    clauses = []
    for _ in range(int(variables * ratio)):
        literals = [
            ("~" if rng.random() < 0.5 else "") + f"x{v}" for v in rng.sample(range(variables), 3)
        ]
        clauses.append("(" + " | ".join(literals) + ")")
    return "~(" + " & ".join(clauses) + ")"


HARD = random_3cnf_negation(350)
