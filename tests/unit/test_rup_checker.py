"""The independent checker's clause database (workers/prover/certificate.py ``RupChecker``)
against naive unit propagation: it accepts a clause exactly when the clause follows by unit
propagation, and its two-watched-literal lists stay exact.  Every old-format (v1) step and
every cutting-plane step is checked by this propagation; a watch lost or kept twice would
make the checker accept clauses that do not follow."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from workers.prover.certificate import RupChecker

NVARS = 7


def naive_rup(clauses: list[list[int]], clause: list[int]) -> bool:
    """Does unit propagation from the clauses and the clause's negation reach a conflict?"""
    true = {-lit for lit in clause}
    if any(-lit in true for lit in true):
        return True
    changed = True
    while changed:
        changed = False
        for c in clauses:
            if any(lit in true for lit in c):
                continue
            free = [lit for lit in c if -lit not in true]
            if not free:
                return True
            if len(free) == 1:
                true.add(free[0])
                changed = True
    return False


def watches_exact(db: RupChecker) -> bool:
    """Every live clause of two or more literals is watched once under each of its first two
    literals, and under no other literal."""
    for idx, listed in enumerate(db.watches):
        lit = idx - db.n
        for ci in listed or ():
            c = db.clauses[ci]
            if c is not None and (lit not in (c[0], c[1]) or listed.count(ci) != 1):
                return False
    for ci, c in enumerate(db.clauses):
        if c is not None and len(c) >= 2:
            for lit in c[:2]:
                if ci not in (db.watches[db.n + lit] or ()):
                    return False
    return True


literal = st.integers(1, NVARS).flatmap(lambda v: st.sampled_from((v, -v)))
clause = st.lists(literal, min_size=1, max_size=4, unique_by=abs)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(clause, st.lists(clause, max_size=3)), min_size=1, max_size=40))
def test_a_clause_is_accepted_exactly_when_it_follows_by_unit_propagation(script):
    db, kept = RupChecker(NVARS), []
    for added, queries in script:
        db.add(added)
        kept.append(added)
        if db.inconsistent:
            assert naive_rup(kept, [])
            break
        for query in queries:
            assert db.is_rup(query) == naive_rup(kept, query), (kept, query)
            assert watches_exact(db), (kept, query)
