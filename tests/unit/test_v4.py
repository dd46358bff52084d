"""v4: adapter table hash, translate, the conservativity guard, adapt, object errors."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from hypothesis import given, settings

from tests.unit.chrono_strategies import pxl_formulas
from tests.unit.s5_oracle import s5_valid_sat
from workers.overlays.v4 import ADAPTER_TABLE, adapter_table_sha256, canonical_json
from workers.overlays.v4 import table as table_module
from workers.overlays.v4.ops import adapt, guard, project_v4, read_object, translate
from workers.prover.check import check_result_document
from workers.prover.errors import FormulaError
from workers.prover.jsonform import formula_to_json
from workers.prover.modelcheck import check_countermodel
from workers.prover.parser import parse_formula
from workers.prover.printer import to_text
from workers.prover.syntax import FALSE, TRUE, Atom, Not


def refutes(model, formula) -> bool:
    """The prover's independent model checker: ``model`` falsifies ``formula``."""
    return check_countermodel(formula, model)[0]


def test_sha_is_sha256_of_the_canonical_table():
    expected = hashlib.sha256(
        json.dumps(ADAPTER_TABLE, sort_keys=True, separators=(",", ":"),
                   ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    assert adapter_table_sha256() == expected
    assert ADAPTER_TABLE["version"] in canonical_json(ADAPTER_TABLE).decode()


def test_sha_changes_with_any_rule(monkeypatch):
    before = adapter_table_sha256()
    changed = copy.deepcopy(ADAPTER_TABLE)
    changed["domains"]["knowledge"]["adapt"] = {"known": ["dia", "$claim"]}
    monkeypatch.setattr(table_module, "ADAPTER_TABLE", changed)
    assert table_module.adapter_table_sha256() != before


def test_the_table_drives_the_translation(monkeypatch):
    changed = copy.deepcopy(ADAPTER_TABLE)
    changed["domains"]["knowledge"]["translate"] = ["box", "$claim"]
    monkeypatch.setitem(ADAPTER_TABLE, "domains", changed["domains"])
    assert to_text(project_v4({"kind": "knowledge", "claim": "p"})) == "[]p"


# --- knowledge ---------------------------------------------------------------


@given(pxl_formulas(10))
@settings(max_examples=60, deadline=None)
def test_knowledge_guard_agrees_with_an_independent_s5_oracle(f):
    # guard() calls the prover; the expectation comes from the tests' own S5 decision, and
    # the guard's evidence from the checkers (certificate replay, model evaluation).
    res = guard({"kind": "knowledge", "claim": formula_to_json(f)}, timeout=20)
    assert res["formula"] is f  # identity translation, as the V4 adapter
    valid = s5_valid_sat(f)
    assert res["verdict"] == ("accepted" if valid else "rejected")
    (check,) = res["checks"]
    report = check_result_document(check["proof"])
    assert report.ok, report.reason
    if not valid:
        assert refutes(check["proof"]["countermodel"], f)  # it refutes the translation


def test_knowledge_accepts_valid_and_rejects_invalid_with_a_countermodel():
    ok = guard({"kind": "knowledge", "claim": "[]p -> p"})
    assert ok["verdict"] == "accepted"
    assert ok["checks"][0]["proof"]["certificate"]
    bad = guard({"kind": "knowledge", "claim": "p -> []p"})
    assert bad["verdict"] == "rejected"
    model = bad["checks"][0]["proof"]["countermodel"]
    assert refutes(model, parse_formula("p -> []p"))
    assert any("countermodel" in line for line in bad["trace"])


def test_knowledge_adapts_to_the_gnosi_box():
    res = adapt({"kind": "knowledge", "claim": "p | ~p"})
    assert res["verdict"] == "accepted"
    assert to_text(res["adapted"]["known"]) == "[](p | ~p)"


# --- action ------------------------------------------------------------------


def test_action_with_fresh_effect_is_sound_and_executable():
    res = adapt({"kind": "action", "pre": "p", "action": "open", "post": "q"})
    assert to_text(res["formula"]) == "(p -> eff_open) & (eff_open -> q)"
    names = [c["name"] for c in res["checks"]]
    assert names == ["soundness", "executable"]  # correctness needs a given effect
    assert all(c["holds"] for c in res["checks"])
    assert res["verdict"] == "accepted"
    assert to_text(res["adapted"]["pre"]) == "p" and to_text(res["adapted"]["post"]) == "q"


def test_fresh_effect_avoids_the_triples_atoms():
    res = translate({"kind": "action", "pre": "eff_go", "action": "go", "post": "eff_go_1"})
    assert to_text(res["formula"]) == "(eff_go -> eff_go_2) & (eff_go_2 -> eff_go_1)"


def test_action_with_an_unsatisfiable_precondition_is_rejected():
    res = guard({"kind": "action", "pre": "p & ~p", "action": "a", "post": "q"})
    executable = next(c for c in res["checks"] if c["name"] == "executable")
    assert executable["holds"] is False
    assert executable["proof"]["verdict"] == "valid"  # the negation is valid: no model
    assert res["verdict"] == "rejected"


def test_action_with_an_effect_is_checked_for_correctness():
    good = guard({"kind": "action", "pre": "p & q", "action": "a", "post": "q",
                  "effect": "q & p"})
    assert good["verdict"] == "accepted"
    assert [c["name"] for c in good["checks"]] == ["soundness", "executable", "correctness"]
    bad = guard({"kind": "action", "pre": "p", "action": "a", "post": "q", "effect": "r"})
    assert bad["verdict"] == "rejected"
    correctness = next(c for c in bad["checks"] if c["name"] == "correctness")
    assert correctness["holds"] is False
    model = correctness["proof"]["countermodel"]
    assert refutes(model, bad["formula"])


def test_soundness_obligation_mirrors_v4_hoare_sound():
    res = guard({"kind": "action", "pre": "<>p", "action": "a", "post": "[]q", "effect": "r"})
    soundness = next(c for c in res["checks"] if c["name"] == "soundness")
    assert soundness["holds"] and soundness["formula"] == (
        "(<>p -> r) & (r -> []q) -> <>p -> []q"
    )


# --- value -------------------------------------------------------------------


def test_value_order_and_monotonicity():
    ok = adapt({"kind": "value", "x": 3, "y": 5})
    assert ok["formula"] is TRUE and ok["verdict"] == "accepted"
    assert ok["adapted"] == {"x": 3, "y": 5}
    bad = guard({"kind": "value", "x": 7, "y": 5})
    assert bad["formula"] is FALSE and bad["verdict"] == "rejected"
    order = bad["checks"][0]
    assert order["proof"]["countermodel"]["worlds"]
    monotone = bad["checks"][1]
    assert monotone["holds"] and monotone["pairs"] == [[7, 5]]


# --- bad objects -------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "path", "fragment"),
    [
        ("p", "", "JSON object"),
        ({"kind": "belief", "claim": "p"}, "/kind", "kind must be one of"),
        ({"kind": "knowledge"}, "/claim", "needs 'claim'"),
        ({"kind": "knowledge", "claim": "p", "extra": 1}, "/extra", "unexpected field"),
        ({"kind": "knowledge", "claim": {"and": [{"atom": "p"}]}}, "/claim/and", "two or more"),
        ({"kind": "action", "pre": "p", "action": "1go", "post": "q"}, "/action", "name"),
        ({"kind": "value", "x": -1, "y": 2}, "/x", "natural number"),
        ({"kind": "value", "x": 1, "y": True}, "/y", "natural number"),
    ],
)
def test_bad_objects_name_the_field(obj, path, fragment):
    with pytest.raises(FormulaError) as info:
        read_object(obj)
    assert info.value.path == path
    assert fragment in info.value.message


def test_text_errors_inside_a_field_keep_their_position():
    with pytest.raises(FormulaError) as info:
        read_object({"kind": "knowledge", "claim": "p ->"})
    err = info.value
    assert (err.line, err.column, err.path) == (1, 5, "/claim")
    assert err.excerpt.endswith("^")


def test_project_v4_is_the_translation():
    assert project_v4({"kind": "knowledge", "claim": "~q"}) is Not(Atom("q"))
