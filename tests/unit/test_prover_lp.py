"""Cutting-plane refutations (lp.py): found where the LP with clique cuts is infeasible,
never otherwise, with the assumptions they need as their core."""

import itertools
import time

from workers.prover import certificate as cert
from workers.prover import lp


def _php_db(pigeons: int, holes: int, selector: int | None = None) -> tuple[cert.RupChecker, int]:
    """PHP clauses over variables 1..pigeons*holes; pigeon clauses guarded by ``selector``
    (a fresh variable) when given.  Returns the database and the next free variable."""
    x = {(i, j): 1 + i * holes + j for i in range(pigeons) for j in range(holes)}
    top = pigeons * holes + 3
    db = cert.RupChecker(top)
    for i in range(pigeons):
        guard = [-selector] if selector else []
        db.add([*guard, *(x[i, j] for j in range(holes))])
    for j in range(holes):
        for a, b in itertools.combinations(range(pigeons), 2):
            db.add([-x[a, j], -x[b, j]])
    return db, top


def _deadline() -> float:
    return time.monotonic() + 30


def test_pigeonhole_is_refuted_and_the_core_drops_irrelevant_assumptions():
    sel = 5 * 4 + 1
    db, top = _php_db(5, 4, selector=sel)
    other = top - 1  # mentioned by no clause
    found = lp.refute(db, [other, sel], _deadline())
    assert found is not None
    body, core = found
    assert core == [sel] and body["clause"] == [-sel]
    assert len(body["cliques"]) == 4 and len(body["rows"]) == 5
    assert cert.check_cut(db, body) == [-sel]
    # The database is left as it was: the selector is not asserted any more.
    assert db.is_rup([-sel]) is False


def test_feasible_relaxations_give_no_cut():
    db, _ = _php_db(4, 4)  # as many holes as pigeons: satisfiable
    assert lp.refute(db, [], _deadline()) is None
    # All eight clauses over three variables: unsatisfiable, but x = 1/2 satisfies the
    # relaxation (no clique cuts), so cutting planes cannot help and do not pretend to.
    db = cert.RupChecker(3)
    for signs in itertools.product((1, -1), repeat=3):
        db.add([s * (v + 1) for v, s in enumerate(signs)])
    assert lp.refute(db, [], _deadline()) is None


def test_an_expired_deadline_gives_no_cut():
    db, _ = _php_db(6, 5)
    assert lp.refute(db, [], time.monotonic() - 1) is None


def test_the_first_lp_of_a_process_is_not_tried_when_its_import_would_break_the_limit():
    # numpy and scipy are imported on the first LP of a process (0.3-1 s that nothing can
    # interrupt): with less than lp.IMPORT_SECONDS left it is not tried, and nothing is
    # imported; with time enough it is.  In a fresh interpreter, where nothing is imported yet.
    import subprocess
    import sys

    script = """
import sys, time
from workers.prover import lp
rows = [[1], [-1]]  # x >= 1 and 1 - x >= 1: LP-infeasible
now = time.monotonic()
assert lp._farkas(rows, [], now + 5, now + lp.IMPORT_SECONDS / 2) is None
assert "scipy.optimize" not in sys.modules and "numpy" not in sys.modules
now = time.monotonic()
assert lp._farkas(rows, [], now + 30, now + 60) is not None
assert "scipy.optimize" in sys.modules
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
