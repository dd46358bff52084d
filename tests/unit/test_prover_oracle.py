"""prove() against the brute-force S5 oracle on generated small formulas."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.s5_oracle import s5_valid, s5_valid_sat
from workers.prover import (
    FALSE,
    TRUE,
    And,
    Atom,
    Box,
    Dia,
    Iff,
    Implies,
    Not,
    Or,
    check_result_document,
    prove,
)

leaves = st.sampled_from([Atom("p"), Atom("q"), Atom("r"), TRUE, FALSE])


def _extend(children):
    pairs = st.tuples(children, children)
    return st.one_of(
        children.map(Not),
        children.map(Box),
        children.map(Dia),
        st.lists(children, min_size=2, max_size=3).map(And),
        st.lists(children, min_size=2, max_size=3).map(Or),
        pairs.map(lambda ab: Implies(*ab)),
        pairs.map(lambda ab: Iff(*ab)),
    )


formulas = st.recursive(leaves, _extend, max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_prove_agrees_with_oracle_and_evidence_checks(f):
    res = prove(f, timeout=30)
    expected = "valid" if s5_valid(f) else "invalid"
    assert res.verdict == expected
    doc = res.to_document()
    if expected == "valid":
        assert doc["certificate"] is not None, doc["certificate_omitted"]
    else:
        assert doc["countermodel"] is not None
    report = check_result_document(doc)
    assert report.ok, report.reason


def test_oracle_sanity():
    p = Atom("p")
    assert s5_valid(Implies(Box(p), p))
    assert not s5_valid(Implies(p, Box(p)))
    assert s5_valid(Implies(Dia(p), Box(Dia(p))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_direct_k_world_search_agrees_with_oracle(f):
    # Force the k-world countermodel attempt from the first round on.
    from unittest import mock

    from workers.prover import search

    with mock.patch.object(search, "WORLDS_FIRST_ROUND", 1):
        res = prove(f, timeout=30)
    assert res.verdict == ("valid" if s5_valid(f) else "invalid")
    report = check_result_document(res.to_document())
    assert report.ok, report.reason


five_atoms = st.sampled_from([Atom(f"p{i}") for i in range(5)] + [TRUE])
bigger_formulas = st.recursive(five_atoms, _extend, max_leaves=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bigger_formulas, st.lists(bigger_formulas, min_size=2, max_size=6))
def test_prove_agrees_with_sat_oracle_on_bigger_formulas(f, clauses):
    # ~(C1 & ... & Cn) with modal clauses is valid far more often than a random formula.
    for g in (f, Not(And(clauses))):
        res = prove(g, timeout=30)
        assert res.verdict == ("valid" if s5_valid_sat(g) else "invalid")
        report = check_result_document(res.to_document())
        assert report.ok, report.reason


def test_sat_oracle_agrees_with_brute_force():
    p, q = Atom("p"), Atom("q")
    for f in [
        Implies(Box(p), p),
        Implies(p, Box(p)),
        Implies(And([Dia(p), Dia(q)]), Dia(And([p, q]))),
        Implies(Dia(p), Box(Dia(p))),
        Or([Box(p), Box(Not(p))]),
    ]:
        assert s5_valid_sat(f) == s5_valid(f)
