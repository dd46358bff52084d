"""The search's MiniSat on python-sat's C module (workers/prover/sat.py) answers as pysat's own
``Minisat22`` does, and the modules a proof loads on first use are not loaded too late."""

from __future__ import annotations

import random
import subprocess
import sys
import threading

from pysat.solvers import Minisat22

from workers.prover.sat import MiniSat


def random_cnf(rnd: random.Random, nvars: int, nclauses: int) -> list[list[int]]:
    return [[rnd.choice((1, -1)) * rnd.randint(1, nvars) for _ in range(3)]
            for _ in range(nclauses)]


def test_the_same_answers_models_cores_and_propagations_as_pysat():
    rnd = random.Random(5)
    for _ in range(300):
        nvars = rnd.randint(3, 12)
        clauses = random_cnf(rnd, nvars, rnd.randint(5, 60))
        assumptions = [rnd.choice((1, -1)) * v for v in rnd.sample(range(1, nvars + 1), 3)]
        ours, theirs = MiniSat(), Minisat22()
        for c in clauses:
            ours.add_clause(c)
            theirs.add_clause(c)
        answer = ours.solve_limited(assumptions)
        assert answer == theirs.solve_limited(assumptions)
        assert ours.status == answer
        if answer:
            model = set(ours.get_model())
            assert all(any(lit in model for lit in c) for c in clauses)
            assert set(assumptions) <= model and ours.get_core() is None
        else:
            core = ours.get_core()
            assert core == theirs.get_core() and set(core or ()) <= set(assumptions)
            assert ours.get_model() is None
        assert ours.propagate(assumptions[:1]) == theirs.propagate(assumptions[:1])
        ours.delete()
        ours.delete()  # twice is harmless, as pysat's
        assert ours.solve_limited([]) is None and ours.get_model() is None
        theirs.delete()


def test_a_refuting_clause_sets_the_status_and_a_budget_or_interrupt_stops_the_call():
    s = MiniSat()
    s.add_clause([1])
    s.add_clause([-1])
    assert s.status is False and s.solve_limited([]) is False

    # Pigeonhole 9 into 8: far beyond a budget of 10 conflicts and beyond 50 ms.
    n = 8
    pigeons = [[1 + n * p + h for h in range(n)] for p in range(n + 1)] + [
        [-(1 + n * p + h), -(1 + n * q + h)] for h in range(n) for p in range(n + 1)
        for q in range(p + 1, n + 1)]
    s = MiniSat()
    for c in pigeons:
        s.add_clause(c)
    s.conf_budget(10)
    assert s.solve_limited([]) is None
    s.conf_budget(-1)
    timer = threading.Timer(0.05, s.interrupt)
    timer.start()
    assert s.solve_limited([], expect_interrupt=True) is None  # stopped, not an answer
    timer.join()
    s.clear_interrupt()
    s.delete()


COLD = """
import sys
from workers.prover import search
search.FIRST_IMPORT_SECONDS = {seconds}
res = search.prove({formula!r}, timeout=30, explain=True)
print(res.verdict, res.certificate is not None, res.tableau is not None,
      'pysat.solvers' in sys.modules, 'workers.prover.tableau' in sys.modules)
print(res.certificate_omitted)
print(res.trace[-1])
"""
# Valid; its certificate is replayed on the DRUP-logging Glucose (qmltp-GSY391+1).
NEEDS_DRUP = ("[]((([]p1 | []p2) & (([]~[]p1 | []p2) & ([]p1 | []~[]p2))) -> "
              "[]~([]~[]p1 | []~[]p2))")


def cold_prove(formula: str, seconds: float) -> list[str]:
    done = subprocess.run([sys.executable, "-c", COLD.format(formula=formula, seconds=seconds)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_first_import_is_not_started_without_the_time_it_takes():
    # A fresh process: the proof-logging solver and the tableau builder are imported by the
    # first proof that needs them.  Here every deadline is "too close" for such an import, so
    # the verdict comes without them (and says why) instead of late.
    line, omitted, last = cold_prove(NEEDS_DRUP, 1e9)
    assert line == "valid False False False False"
    assert omitted == "stopped while building the certificate (Timeout)"
    assert last == "no tableau: no time left to load the tableau builder"
    # With the time they take, the same proof loads both.
    line, omitted, _ = cold_prove(NEEDS_DRUP, 0.15)
    assert line == "valid True True True True" and omitted == "None"


def test_a_fault_in_building_the_evidence_leaves_the_verdict(monkeypatch):
    # The search decided `valid`; an exception out of the certificate builder or the tableau
    # builder (a bug) omits that piece, with the reason, instead of failing the whole call.
    from workers.prover import search

    def broken(*args, **kwargs):
        raise IndexError("list index out of range")

    monkeypatch.setattr(search, "make_certificate", broken)
    monkeypatch.setattr(search, "_attach_tableau", broken)
    res = search.prove("[](p -> q) -> ([]p -> []q)", explain=True)
    assert res.verdict == "valid" and res.certificate is None and res.tableau is None
    assert res.certificate_omitted == "internal error while building the certificate (IndexError)"
    assert "no tableau: internal error (IndexError)" in res.trace
