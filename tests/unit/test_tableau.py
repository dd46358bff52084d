"""The readable S5 tableau (workers/prover/tableau.py) and its independent checker
(workers/prover/tableau_check.py): trees for valid formulas check, none for invalid ones, and
every kind of mutation of a good tree is rejected."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.prover import check_result_document, parse_formula, prove
from workers.prover.printer import to_text
from workers.prover.syntax import And, Atom, Box, Dia, Iff, Implies, Not, Or
from workers.prover.tableau import build_tableau, checked_tableau
from workers.prover.tableau_check import check_tableau

VALID = [
    "[](p -> q) -> ([]p -> []q)",
    "[]p -> p",
    "p -> []<>p",
    "<>[]p -> []p",
    "[]p -> [][]p",
    "<>p -> []<>p",
    "(p <-> q) -> (q <-> p)",
    "~(p <-> q) <-> (p <-> ~q)",
    "[](p & q) <-> []p & []q",
    "<>(p | q) <-> <>p | <>q",
    "~<>p <-> []~p",
    "true",
    "~false",
    "[]true",
]
INVALID = ["<>p -> []p", "p -> []p", "<>p & <>q -> <>(p & q)", "[](p | q) -> []p | []q", "false"]


def tree(text):
    formula = parse_formula(text)
    tableau = build_tableau(formula)
    assert tableau is not None, text
    return formula, tableau


@pytest.mark.parametrize("text", VALID)
def test_valid_formulas_get_a_tree_the_checker_accepts(text):
    formula, tableau = tree(text)
    ok, why = check_tableau(formula, tableau)
    assert ok, why
    assert why.startswith("closed tableau")


@pytest.mark.parametrize("text", INVALID)
def test_invalid_formulas_get_no_tree(text):
    assert build_tableau(parse_formula(text)) is None
    assert checked_tableau(parse_formula(text)) is None


def test_a_tree_proves_only_its_own_formula():
    _, tableau = tree("[]p -> p")
    ok, why = check_tableau(parse_formula("[]q -> q"), tableau)
    assert not ok and "root" in why


def test_budget_and_size_limit_give_no_tree():
    formula = parse_formula("[](p -> q) -> ([]p -> []q)")
    assert build_tableau(formula, max_entries=3) is None
    assert checked_tableau(formula, max_nodes=formula.size - 1) is None


# --- mutations of the tree for the K axiom (alpha, pi, nu, beta and both closures) -----------

K = "[](p -> q) -> ([]p -> []q)"


def node_with(tableau, rule):
    return next(n for n in tableau["nodes"] if n["rule"] == rule)


def flip_sign(t):
    entry = node_with(t, "pi")["entries"][0]
    entry["sign"] = "T" if entry["sign"] == "F" else "F"


def pi_to_old_world(t):
    node_with(t, "pi")["entries"][0]["world"] = 1


def nu_to_unknown_world(t):
    node_with(t, "nu")["entries"][0]["world"] = 99


def wrong_alpha_part(t):
    node_with(t, "alpha")["entries"][1]["formula"] = "p"


def drop_alpha_part(t):
    del node_with(t, "alpha")["entries"][1]


def drop_beta_child(t):
    last = t["nodes"][-1]
    assert last["rule"] == "beta"
    del t["nodes"][-1]
    # the sibling is still there: a split with one alternative is not a beta step


def swap_beta_children(t):
    betas = [n for n in t["nodes"] if n["rule"] == "beta"]
    betas[0]["entries"], betas[1]["entries"] = betas[1]["entries"], betas[0]["entries"]


def open_a_leaf(t):
    t["nodes"][-1]["closed"] = None


def closure_not_a_clash(t):
    leaf = t["nodes"][-1]
    leaf["closed"] = [leaf["closed"][0], 1]


def closure_names_other_branch(t):
    first_leaf = next(n for n in t["nodes"] if n["closed"])
    other_leaf = t["nodes"][-1]
    assert first_leaf is not other_leaf
    other_leaf["closed"] = [first_leaf["entries"][0]["id"], other_leaf["entries"][0]["id"]]


def premise_from_other_branch(t):
    betas = [n for n in t["nodes"] if n["rule"] == "beta"]
    t["nodes"].append({"id": len(t["nodes"]), "parent": betas[1]["id"], "rule": "alpha",
                       "premise": betas[0]["entries"][0]["id"],
                       "entries": [{"id": 999, "world": 2, "sign": "T", "formula": "p"}],
                       "closed": None})
    betas[1]["closed"], t["nodes"][-1]["closed"] = None, betas[1]["closed"]


def parent_later(t):
    t["nodes"][1]["parent"] = len(t["nodes"]) - 1


def rule_misnamed(t):
    node_with(t, "nu")["rule"] = "pi"


def duplicate_entry_id(t):
    t["nodes"][-1]["entries"][0]["id"] = 1


def wrong_format(t):
    t["format"] = "pxl-s5-tableau/0"


def inner_node_closed(t):
    t["nodes"][0]["closed"] = [1]


def garbage_formula(t):
    t["nodes"][-1]["entries"][0]["formula"] = "p ->"


MUTATIONS = [
    flip_sign, pi_to_old_world, nu_to_unknown_world, wrong_alpha_part, drop_alpha_part,
    drop_beta_child, swap_beta_children, open_a_leaf, closure_not_a_clash,
    closure_names_other_branch, premise_from_other_branch, parent_later, rule_misnamed,
    duplicate_entry_id, wrong_format, inner_node_closed, garbage_formula,
]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
def test_mutated_trees_are_rejected(mutate):
    formula, tableau = tree(K)
    assert check_tableau(formula, tableau)[0]
    mutated = copy.deepcopy(tableau)
    mutate(mutated)
    ok, why = check_tableau(formula, mutated)
    assert not ok, mutate.__name__
    assert why


def test_explained_documents_carry_a_checked_tableau_and_pxl_check_verifies_it():
    doc = prove(K, explain=True).to_document()
    assert doc["tableau"] is not None
    report = check_result_document(doc)
    assert report.ok and "tableau: closed tableau" in report.reason
    bad = copy.deepcopy(doc)
    open_a_leaf(bad["tableau"])
    report = check_result_document(bad)
    assert not report.ok and report.reason.startswith("tableau:")


def test_the_outline_shows_lemmas_as_formulas():
    doc = prove(K, explain=True).to_document()
    outline = doc["outline"]
    assert outline["kind"] == "lemmas"
    assert outline["lemmas"] == [
        {"box": "[]q", "argument": "q", "hypotheses": ["[](p -> q)", "[]p"], "cut": False}
    ]


def test_readable_forms_only_on_request_and_the_evidence_checks_without_them():
    res = prove(K)
    assert res.verdict == "valid" and res.certificate is not None
    assert res.tableau is None and res.outline is None
    assert not any("tableau" in step for step in res.trace)
    report = check_result_document(res.to_document())
    assert report.ok and "tableau" not in report.reason, report.reason


# --- agreement with the decision procedure on random small formulas ---------------------------

ATOMS = st.sampled_from([Atom("p"), Atom("q")])


def formulas():
    return st.recursive(
        ATOMS,
        lambda sub: st.one_of(
            sub.map(Not), sub.map(Box), sub.map(Dia),
            st.tuples(sub, sub).map(lambda ab: And(ab)), st.tuples(sub, sub).map(lambda ab: Or(ab)),
            st.tuples(sub, sub).map(lambda ab: Implies(*ab)),
            st.tuples(sub, sub).map(lambda ab: Iff(*ab)),
        ),
        max_leaves=6,
    )


@settings(max_examples=150, deadline=None)
@given(formulas())
def test_a_tree_exactly_for_the_valid_formulas(formula):
    verdict = prove(formula, certificate=False).verdict
    tableau = build_tableau(formula, time_budget=5.0)
    assert (tableau is not None) == (verdict == "valid"), to_text(formula)
    if tableau is not None:
        assert check_tableau(formula, tableau)[0]


def test_a_long_root_text_is_parsed_without_its_parts(monkeypatch):
    # parse_formula_spans is used for short root texts only (its parts' texts can add up to
    # the text's length times its depth); a longer one is parsed alone, with the same result.
    import workers.prover.tableau_check as tc

    formula, tableau = tree(K)
    calls = []
    spans = tc.parse_formula_spans
    monkeypatch.setattr(tc, "parse_formula_spans", lambda t: calls.append(t) or spans(t))
    first = check_tableau(formula, tableau)
    assert first[0] and len(calls) == 1
    monkeypatch.setattr(tc, "SPAN_TEXT_CHARS", len(calls[0]) - 1)
    assert check_tableau(formula, tableau) == first
    assert len(calls) == 1
