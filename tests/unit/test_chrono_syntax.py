"""CPX text syntax, printer and JSON form: round trips, PXL compatibility, errors, limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from tests.unit.chrono_strategies import cpx_formulas, pxl_formulas
from workers.overlays.chrono import (
    At,
    Eternal,
    Knows,
    Next,
    Until,
    cpx_from_json,
    cpx_to_json,
    cpx_to_text,
    parse_cpx,
    read_cpx,
)
from workers.prover.errors import FormulaError
from workers.prover.jsonform import formula_to_json
from workers.prover.limits import MAX_DEPTH, MAX_TEXT_BYTES
from workers.prover.parser import parse_formula
from workers.prover.printer import to_text
from workers.prover.syntax import And, Atom, Box, Implies, Not

p, q, r = Atom("p"), Atom("q"), Atom("r")


@given(cpx_formulas())
@settings(max_examples=200, deadline=None)
def test_text_round_trip(f):
    assert parse_cpx(cpx_to_text(f)) is f
    assert parse_cpx(cpx_to_text(f, ascii=False)) is f


@given(cpx_formulas())
@settings(max_examples=200, deadline=None)
def test_json_round_trip_through_serialised_json(f):
    assert cpx_from_json(json.loads(json.dumps(cpx_to_json(f)))) is f


@given(pxl_formulas())
@settings(max_examples=200, deadline=None)
def test_pxl_is_cpx_with_the_same_text_and_json(f):
    text = to_text(f)
    assert cpx_to_text(f) == text
    assert parse_cpx(text) is f is parse_formula(text)
    assert cpx_to_json(f) == formula_to_json(f)


def test_operator_calls_and_precedence():
    f = parse_cpx("At(3, p -> q) | Until(p, Knows(2, []q)) & ~Next(r)")
    assert cpx_to_text(f) == "At(3, p -> q) | Until(p, Knows(2, []q)) & ~Next(r)"
    assert f.args[0] is At(3, Implies(p, q))
    assert f.args[1] is And([Until(p, Knows(2, Box(q))), Not(Next(r))])


def test_operator_name_without_parenthesis_is_an_atom():
    assert parse_cpx("Next & At") is And([Atom("Next"), Atom("At")])


def test_json_form_of_each_operator():
    f = parse_cpx("Project(0, Eventually(p)) <-> Since(Prev(Always(p)), Eternal(q))")
    assert cpx_to_json(f) == {"iff": [
        {"project": {"time": 0, "formula": {"eventually": {"atom": "p"}}}},
        {"since": [{"prev": {"always": {"atom": "p"}}}, {"eternal": {"atom": "q"}}]},
    ]}
    assert read_cpx({"believes": {"agent": 7, "formula": {"intends": {"agent": 1, "formula":
                     {"atom": "p"}}}}}) is parse_cpx("Believes(7, Intends(1, p))")


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("At(x, p)", 1, 4, "At takes a time (a natural number) first"),
        ("At(3 p)", 1, 6, "expected ',' after the time of At"),
        ("Until(p)", 1, 8, "Until takes two formulas"),
        ("Next(p, q)", 1, 7, "too many arguments for Next"),
        ("Always p", 1, 8, "CPX operators take their arguments in parentheses"),
        ("p &\n  Knows(1, p", 2, 3, "Knows( is never closed"),
        ("Eternal(At(1, p))", 1, 1, "Eternal takes a pure PXL formula"),
        ("p & 3", 1, 5, "a number is only allowed as the time or agent"),
        ("p, q", 1, 2, "',' outside the arguments"),
    ],
)
def test_errors_have_positions(text, line, column, fragment):
    with pytest.raises(FormulaError) as info:
        parse_cpx(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert fragment in err.message
    assert err.excerpt.splitlines()[-1] == " " * (column - 1) + "^"


@pytest.mark.parametrize(
    ("obj", "path", "fragment"),
    [
        ({"at": {"time": -1, "formula": {"atom": "p"}}}, "/at/time", "natural number"),
        ({"at": {"time": True, "formula": {"atom": "p"}}}, "/at/time", "natural number"),
        ({"knows": {"agent": 1}}, "/knows", 'needs "formula"'),
        ({"eternal": {"next": {"atom": "p"}}}, "/eternal", "pure PXL"),
        ({"until": [{"atom": "p"}]}, "/until", "exactly two"),
        ({"and": [{"atom": "p"}, {"sometimes": {"atom": "p"}}]}, "/and/1", "unknown key"),
    ],
)
def test_json_errors_have_paths(obj, path, fragment):
    with pytest.raises(FormulaError) as info:
        cpx_from_json(obj)
    assert info.value.code == "json"
    assert info.value.path == path
    assert fragment in info.value.message


def test_constructors_refuse_bad_indices_and_payloads():
    with pytest.raises(ValueError):
        At(-1, p)
    with pytest.raises(ValueError):
        Knows(True, p)
    with pytest.raises(ValueError):
        Eternal(Next(p))


def test_deep_nesting_is_a_clean_limit_error_not_a_crash():
    ok = "Next(" * (MAX_DEPTH - 1) + "p" + ")" * (MAX_DEPTH - 1)
    assert parse_cpx(ok).depth == MAX_DEPTH
    deep = "Next(" * (MAX_DEPTH + 5) + "p" + ")" * (MAX_DEPTH + 5)
    with pytest.raises(FormulaError) as info:
        parse_cpx(deep)
    assert info.value.code == "too_deep"
    nested = {"atom": "p"}
    for _ in range(MAX_DEPTH + 5):
        nested = {"next": nested}
    with pytest.raises(FormulaError) as info:
        cpx_from_json(nested)
    assert info.value.code == "too_deep"


def test_printing_a_deep_formula_needs_no_recursion():
    f = parse_cpx("Knows(1, " * 999 + "p" + ")" * 999)
    assert cpx_to_text(f).count("Knows(1, ") == 999
    assert cpx_from_json(cpx_to_json(f)) is f


def test_too_large_text():
    with pytest.raises(FormulaError) as info:
        parse_cpx("p | " * (MAX_TEXT_BYTES // 4) + "p")
    assert info.value.code == "too_large"
