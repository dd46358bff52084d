"""The hint finder: its bulk loader (hints._Finder.add_clauses) against add_clause one by one,
and steps taken back out of it."""

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workers.prover.certificate import CertificateError
from workers.prover.hints import _Finder

NVARS = 6
literals = st.integers(1, NVARS).flatmap(lambda v: st.sampled_from([v, -v]))
clause_lists = st.lists(st.lists(literals, min_size=0, max_size=4), max_size=25)


def _state(f: _Finder) -> tuple:
    return (
        f.clauses, f.bodies, f.marks, f.trail, f.reasons, f.inconsistent,
        f.refuted_by, f.empty_hints, f.next_id, list(f.value),
        [None if w is None else sorted(w) for w in f.watches],
    )


def _both(clauses: list[list[int]], seed: int = 0) -> tuple[_Finder, _Finder]:
    one, bulk, flagged = _Finder(NVARS), _Finder(NVARS), _Finder(NVARS)
    for c in clauses:
        one.add_clause(c)
    polls = []
    bulk.add_clauses(clauses, lambda: polls.append(1))
    assert len(polls) == (len(clauses) + 1023) // 1024
    # The caller's distinct-variable flags (a clause flagged False goes the slow way even
    # when its variables are distinct): the same database.
    rnd = random.Random(seed)
    flags = [len(set(map(abs, c))) == len(c) and rnd.random() < 0.8 for c in clauses]
    flagged.add_clauses(clauses, lambda: None, flags)
    assert _state(flagged) == _state(bulk)
    return one, bulk


def _answer(finder, probe):
    """A finder's hints for ``probe``, or the type of what it raised (compared across finders)."""
    try:
        return finder.rup_hints(probe)
    except Exception as exc:  # noqa: BLE001 - compared by the caller
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(clause_lists, st.integers(0, 1000))
# a unit, then a clause it makes unit: the mark of a clause recorded after propagation
@example([[1], [-1, 2]], 0)
@example([[2, 3], [-2], [-3, 4], [1, -4]], 0)
def test_bulk_loading_is_add_clause_in_turn(clauses, seed):
    # Units, repeats, tautologies, empty clauses, propagation and refutation included.
    one, bulk = _both(clauses, seed)
    assert _state(bulk) == _state(one)
    # ... and the database answers alike afterwards.
    if not one.inconsistent:
        for probe in ([1], [-2, 3], [4, 5, -6]):
            assert _answer(bulk, probe) == _answer(one, probe)


def test_bulk_loading_a_large_encoding_polls_and_agrees():
    rnd = random.Random(3)
    clauses = [[1]] + [
        [rnd.choice([v, -v]) for v in rnd.sample(range(2, NVARS + 1), rnd.randint(2, 4))]
        for _ in range(3000)
    ]
    one, bulk = _both(clauses)
    assert _state(bulk) == _state(one)


@settings(max_examples=300, deadline=None)
@given(clause_lists, clause_lists)
# a tautology and a clause that refutes the database among the steps taken back
@example([[1, 2], [-1, 2]], [[3, -3], [-2], [4, 5]])
def test_taking_steps_back_gives_the_database_before_them(before, steps):
    # The eager pass takes a failed chain back out (newest first) and the backward pass
    # takes back each step before hinting it: the database must answer as if the steps had
    # never been added (clause ids are internal indices + 1, tautologies included).
    fresh, used = _Finder(NVARS), _Finder(NVARS)
    fresh.add_clauses(before, lambda: None)
    used.add_clauses(before, lambda: None)
    ids = [used.add_clause(c) for c in steps]
    assert ids == list(range(len(before) + 1, len(before) + len(steps) + 1))
    for cid in reversed(ids):
        used.retract(cid)
    assert (used.inconsistent, used.trail, list(used.value), used.empty_hints) == (
        fresh.inconsistent, fresh.trail, list(fresh.value), fresh.empty_hints
    )
    if fresh.inconsistent:
        return
    for probe in ([1], [-2, 3], [4, 5, -6], [2], [-1, -2]):
        assert _answer(used, probe) == _answer(fresh, probe), probe



def test_a_literal_outside_the_encoding_is_refused_not_hinted():
    finder = _Finder(NVARS)
    finder.add_clauses([[1, 2], [-1, 2]], lambda: None)
    for bad in ([0, 1], [NVARS + 1], [2, -(NVARS + 1)]):
        with pytest.raises(CertificateError):
            finder.rup_hints(bad)
