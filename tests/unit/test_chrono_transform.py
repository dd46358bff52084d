"""The S5 collapse projection: exact table, embedding round trip, loss report, CPX axioms."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.chrono_strategies import cpx_formulas, pxl_formulas
from workers.overlays.chrono import (
    Always,
    At,
    Believes,
    Eternal,
    Eventually,
    Intends,
    Knows,
    LossReport,
    Next,
    Prev,
    Project,
    Since,
    Until,
    cpx_to_pxl,
    is_pxl,
    parse_cpx,
    pxl_to_cpx,
    validate,
)
from workers.prover.search import prove
from workers.prover.syntax import FALSE, And, Atom, Box, Dia, Iff, Implies, Not, Or

p, q, r = Atom("p"), Atom("q"), Atom("r")


@given(pxl_formulas(20))
@settings(max_examples=300, deadline=None)
def test_projection_inverts_the_embedding(f):
    assert cpx_to_pxl(pxl_to_cpx(f)) is f


@given(cpx_formulas())
@settings(max_examples=200, deadline=None)
def test_projection_is_pure_pxl(f):
    assert is_pxl(cpx_to_pxl(f))


def test_embedding_refuses_cpx():
    with pytest.raises(ValueError):
        pxl_to_cpx(Next(p))


@pytest.mark.parametrize(
    ("cpx", "image"),
    [
        (At(4, p), Box(p)),
        (Always(p), Box(p)),
        (Next(p), Box(p)),
        (Project(9, p), Box(p)),
        (Eventually(p), Dia(p)),
        (Prev(p), Dia(p)),
        (Until(p, q), Implies(p, Dia(q))),
        (Since(p, q), Implies(p, Box(q))),
        (Knows(1, p), Box(p)),
        (Intends(2, p), Box(p)),
        (Believes(3, p), Dia(p)),
        (Eternal(Or([p, Not(q)])), Or([p, Not(q)])),
    ],
)
def test_the_original_table_row_by_row(cpx, image):
    assert cpx_to_pxl(cpx) is image


def test_images_are_recursive():
    f = Until(Knows(1, p), Since(Prev(q), Eternal(FALSE)))
    assert cpx_to_pxl(f) is Implies(Box(p), Dia(Implies(Dia(q), Box(FALSE))))


def test_loss_report_names_what_is_lost():
    report = LossReport()
    trace: list[str] = []
    f = parse_cpx("At(3, p) & Knows(2, At(5, q)) | Until(p, Believes(2, q)) | Eternal(r)")
    cpx_to_pxl(f, report=report, trace=trace)
    doc = report.to_document()
    assert doc["projection"] == "S5 collapse projection"
    assert doc["times_dropped"] == [3, 5]
    assert doc["agents_dropped"] == [2]
    assert doc["approximated"] == {"Until": 1}
    assert doc["collapsed"] == {"At": 2, "Believes": 1, "Knows": 1}
    assert not doc["lossless"]
    assert {n["node"] for n in doc["nodes"]} >= {"At(3, p)", "Until(p, Believes(2, q))"}
    assert all(line.startswith("S5 collapse projection: ") for line in trace)
    assert any("time 5 dropped" in line for line in trace)
    assert any("Until approximated as φ' -> <>ψ'" in line for line in trace)


def test_pxl_input_loses_nothing():
    report = LossReport()
    cpx_to_pxl(parse_cpx("[]p -> <>q"), report=report)
    assert report.lossless and report.to_document()["nodes"] == []


# --- every CPX axiom of §7.5(d), instantiated with CPX formulas, projects to an S5-valid one ---

def _lifted_pxl_axioms(a, b, c):
    """The 21 PXLv3 axiom schemes (lifted with the cpx_ prefix in the original)."""
    return {
        "ax_K": Implies(Box(Implies(a, b)), Implies(Box(a), Box(b))),
        "ax_T": Implies(Box(a), a),
        "ax_4": Implies(Box(a), Box(Box(a))),
        "ax_5": Implies(Dia(a), Box(Dia(a))),
        "ax_PL_imp": Implies(Implies(a, b), Implies(Implies(b, c), Implies(a, c))),
        "ax_PL_and1": Implies(And([a, b]), a),
        "ax_PL_and2": Implies(And([a, b]), b),
        "ax_PL_orE": Implies(Implies(a, c), Implies(Implies(b, c), Implies(Or([a, b]), c))),
        "ax_PL_orI1": Implies(a, Or([a, b])),
        "ax_PL_orI2": Implies(b, Or([a, b])),
        "ax_PL_neg_elim": Implies(Not(a), Implies(a, FALSE)),
        "ax_PL_botE": Implies(FALSE, a),
        "ax_PL_k": Implies(a, Implies(b, a)),
        "ax_PL_and_intro": Implies(a, Implies(b, And([a, b]))),
        "ax_PL_neg_intro": Implies(Implies(a, FALSE), Not(a)),
        "ax_PL_imp_exch": Implies(Implies(a, Implies(b, c)), Implies(b, Implies(a, c))),
        "ax_PL_neg_imp_any": Implies(Not(a), Implies(a, b)),
        "dual_1": Implies(Not(Dia(a)), Box(Not(a))),
        "dual_2": Implies(Box(Not(a)), Not(Dia(a))),
        "dual_3": Implies(Not(Box(a)), Dia(Not(a))),
        "dual_4": Implies(Dia(Not(a)), Not(Box(a))),
    }


def _cpx_axioms(a, b, t1, t2, ag):
    return {
        "at_id": Implies(At(t1, a), At(t1, a)),
        "persistence": Implies(At(t1, a), Dia(At(t2, a))),
        "always_box": Implies(Always(a), Box(a)),
        "eventually_dia": Implies(Eventually(a), Dia(a)),
        "knowledge_truth": Implies(Knows(ag, a), a),
        "positive_introspection": Implies(Knows(ag, a), Knows(ag, Knows(ag, a))),
        "negative_introspection": Implies(Not(Knows(ag, a)), Knows(ag, Not(Knows(ag, a)))),
        "belief_consistency": Implies(Believes(ag, a), Dia(a)),
        "intention_belief": Implies(Intends(ag, a), Believes(ag, a)),
        "project_preservation": Implies(Project(t1, a), At(t1, a)),
    }


def _valid(f) -> bool:
    return prove(cpx_to_pxl(f), timeout=20, certificate=False).verdict == "valid"


@pytest.mark.parametrize("name", sorted(_lifted_pxl_axioms(p, q, r)))
def test_lifted_pxl_axiom_on_atoms(name):
    assert _valid(_lifted_pxl_axioms(p, q, r)[name])


@pytest.mark.parametrize("name", sorted(_cpx_axioms(p, q, 1, 2, 0)))
def test_cpx_axiom_on_atoms(name):
    assert _valid(_cpx_axioms(p, q, 1, 2, 0)[name])


@given(cpx_formulas(5), cpx_formulas(5), cpx_formulas(5))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_lifted_axiom_instance_projects_to_a_valid_formula(a, b, c):
    for name, axiom in _lifted_pxl_axioms(a, b, c).items():
        assert _valid(axiom), name


@given(cpx_formulas(5), cpx_formulas(5), st.integers(0, 9), st.integers(0, 9), st.integers(0, 3))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_cpx_axiom_instance_projects_to_a_valid_formula(a, b, t1, t2, ag):
    for name, axiom in _cpx_axioms(a, b, t1, t2, ag).items():
        assert _valid(axiom), name


def test_the_projection_images_named_in_the_reference():
    # §7.5(f): persistence becomes []p -> <>[]p, negative introspection ~[]p -> []~[]p, ...
    ax = _cpx_axioms(p, q, 1, 2, 0)
    assert cpx_to_pxl(ax["persistence"]) is Implies(Box(p), Dia(Box(p)))
    assert cpx_to_pxl(ax["negative_introspection"]) is Implies(Not(Box(p)), Box(Not(Box(p))))
    assert cpx_to_pxl(ax["intention_belief"]) is Implies(Box(p), Dia(p))


def test_validate_gives_the_provers_verdict_and_countermodel():
    ok = validate(parse_cpx("Knows(1, p) -> p"))
    assert ok["verdict"] == "valid" and ok["proof"]["certificate"]
    # the embedded prover document carries the evidence only (docs/api.md)
    assert ok["proof"]["tableau"] is None and ok["proof"]["outline"] is None
    bad = validate(parse_cpx("p -> Knows(1, p)"))
    assert bad["verdict"] == "invalid"
    model = bad["proof"]["countermodel"]
    assert model["relation"] == "universal" and len(model["worlds"]) >= 2
    assert bad["loss"]["agents_dropped"] == [1]
    assert bad["trace"][0].startswith("well-formed")


@given(cpx_formulas(6), pxl_formulas(6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_cpx_rules_preserve_validity_of_the_projection(a, phi):
    # cpx_nec and cpx_temp_nec: from |- a infer |- [](a) and |- Always(a);
    # eternal_lift: from PXL |- phi infer CPX |- Eternal(phi).
    lemma = Or([a, Not(a)])  # a valid instance built from a
    assert _valid(lemma) and _valid(Box(lemma)) and _valid(Always(lemma))
    if _valid(a):
        assert _valid(Box(a)) and _valid(Always(a))
    # eternal_lift holds because the projection maps Eternal(phi) to phi itself (a box or
    # diamond image would have the same S5 validity, so compare the images, not validity).
    assert cpx_to_pxl(Eternal(phi)) is _expected_image(Eternal(phi)) is phi
    if _valid(phi):
        assert _valid(Eternal(phi))


def _expected_image(f):
    """The projection table (original-system.md §7.5(b)) written out again, recursively and
    by operator class, as the independent expectation for ``cpx_to_pxl``."""
    if isinstance(f, Eternal):
        return f.arg
    if isinstance(f, At | Project | Knows | Intends | Always | Next):
        return Box(_expected_image(f.arg))
    if isinstance(f, Eventually | Prev | Believes):
        return Dia(_expected_image(f.arg))
    if isinstance(f, Until):
        return Implies(_expected_image(f.left), Dia(_expected_image(f.right)))
    if isinstance(f, Since):
        return Implies(_expected_image(f.left), Box(_expected_image(f.right)))
    kids = [_expected_image(c) for c in f.children]
    return {"atom": lambda: f, "const": lambda: f, "not": lambda: Not(*kids),
            "box": lambda: Box(*kids), "dia": lambda: Dia(*kids), "and": lambda: And(kids),
            "or": lambda: Or(kids), "implies": lambda: Implies(*kids),
            "iff": lambda: Iff(*kids)}[f.kind]()


@given(cpx_formulas(14))
@settings(max_examples=200, deadline=None)
def test_the_projection_is_the_table_applied_recursively(f):
    assert cpx_to_pxl(f) is _expected_image(f)
