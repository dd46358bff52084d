"""The pure overlay job layer: request checking, result documents, proof projections."""

from __future__ import annotations

import json

import pytest

from workers.overlays import project
from workers.overlays.chrono import cpx_from_json, parse_cpx
from workers.overlays.jobs import (
    OverlayRequestError,
    chrono_params,
    overlay_source,
    run_chrono,
    run_v4,
    v4_params,
)
from workers.prover.errors import FormulaError
from workers.prover.jsonform import formula_from_json
from workers.prover.syntax import Atom, Box, Dia, Implies


def test_params_are_canonical():
    params = chrono_params("normalize", "~[]( p&At(2,q) )", None, 5)
    assert params == {
        "operation": "normalize",
        "formula": {"not": {"box": {"and": [{"atom": "p"},
                                            {"at": {"time": 2, "formula": {"atom": "q"}}}]}}},
        "formula_text": "~[](p & At(2, q))",
        "options": {},
        "timeout": 5.0,
    }
    same = chrono_params("normalize", params["formula"], {}, 5)
    assert same == params
    json.dumps(params)  # plain JSON


@pytest.mark.parametrize(
    ("operation", "formula", "options", "field"),
    [
        ("simplify", "p", None, "operation"),
        ("normalize", "p", {"direction": "cpx_to_pxl"}, "options"),
        ("transform", "p", {"direction": "up"}, "options"),
        ("transform", "Next(p)", {"direction": "pxl_to_cpx"}, "formula"),
        ("validate", "p", [], "options"),
    ],
)
def test_bad_requests(operation, formula, options, field):
    with pytest.raises(OverlayRequestError) as info:
        chrono_params(operation, formula, options, 5)
    assert info.value.field == field


def test_formula_errors_pass_through_with_positions():
    with pytest.raises(FormulaError) as info:
        chrono_params("validate", "Knows(1 p)", None, 5)
    assert (info.value.line, info.value.column) == (1, 9)


def test_results_hold_text_and_json_that_agree():
    for operation in ("transform", "normalize", "validate"):
        doc = run_chrono(chrono_params(operation, "Until(p, Knows(1, [](q & r)))", None, 10))
        json.dumps(doc)
        assert doc["overlay"] == "chrono" and doc["operation"] == operation
        assert doc["chrono_trace"]
        for key in ("input", "output", "projection"):
            if key in doc:
                assert cpx_from_json(doc[key]["json"]) is parse_cpx(doc[key]["text"])


def test_transform_result():
    doc = run_chrono(chrono_params("transform", "Since(p, Prev(q))", None, 10))
    assert doc["output"]["text"] == "p -> []<>q"
    assert doc["loss"]["approximated"] == {"Since": 1}
    embed = run_chrono(chrono_params("transform", "[]p", {"direction": "pxl_to_cpx"}, 10))
    assert embed["output"]["text"] == "[]p" and embed["loss"] is None


def test_validate_result():
    doc = run_chrono(chrono_params("validate", "Believes(2, p) -> p", None, 10))
    assert doc["verdict"] == "invalid" and doc["well_formed"]
    assert doc["projection"]["text"] == "<>p -> p"
    assert doc["proof"]["countermodel"]


def test_v4_params_and_results():
    params = v4_params("adapt", {"kind": "action", "pre": "p", "action": "go",
                                 "post": {"atom": "q"}}, None, 10)
    assert params["object"] == {"kind": "action", "pre": {"atom": "p"}, "action": "go",
                                "post": {"atom": "q"}}
    doc = run_v4(params)
    json.dumps(doc)
    assert doc["verdict"] == "accepted" and doc["adapted"]["pre"]["text"] == "p"
    assert doc["v4_trace"][-1].startswith("adapt to ErgoPraxis")
    assert doc["adapter_table_sha256"] and len(doc["adapter_table_sha256"]) == 64
    with pytest.raises(OverlayRequestError):
        v4_params("guess", {"kind": "value", "x": 1, "y": 1}, None, 1)
    with pytest.raises(OverlayRequestError):
        v4_params("translate", {"kind": "value", "x": 1, "y": 1}, {"strict": True}, 1)


def test_proof_projections():
    p, q = Atom("p"), Atom("q")
    source, text, formula = overlay_source("chrono", "Until(p, q)")
    assert text == "Until(p, q)" and formula is Implies(p, Dia(q))
    assert project("chrono", source) is formula
    source, text, formula = overlay_source("v4", {"kind": "knowledge", "claim": "[]p"})
    assert source == {"kind": "knowledge", "claim": {"box": {"atom": "p"}}}
    assert project("v4", source) is formula is Box(p)
    assert project("modal", {"box": {"atom": "q"}}) is formula_from_json({"box": {"atom": "q"}})
    with pytest.raises(ValueError):
        project("temporal", "p")


def test_normalize_stopped_answers_unknown_without_an_output():
    doc = run_chrono(chrono_params("normalize", "[][]p", None, 10), should_stop=lambda: True)
    assert doc["verdict"] == "unknown" and doc["szs_status"] == "User"
    assert doc["output"] is None
    assert "not confirmed" in doc["chrono_trace"][0]


def test_normalize_with_a_refuted_check_fails_loudly(monkeypatch):
    from workers.overlays.chrono.normalize import Rewriter

    real_modal = Rewriter.modal

    def broken(self, proto, arg):  # an unsound rule: [] over |
        if proto.kind == "box" and arg.kind == "or":
            return self.flat("or", [real_modal(self, proto, a) for a in arg.args])
        return real_modal(self, proto, arg)

    monkeypatch.setattr(Rewriter, "modal", broken)
    with pytest.raises(RuntimeError, match="refuted"):
        run_chrono(chrono_params("normalize", "[](p | q)", None, 10))
