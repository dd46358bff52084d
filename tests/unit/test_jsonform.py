"""The JSON form: round trips, error paths, limits, the recursion-free JSON decoder, read_formula."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_printer import formulas
from workers.prover.errors import FormulaError
from workers.prover.jsonform import (
    MAX_JSON_NESTING,
    formula_from_json,
    formula_from_json_text,
    formula_to_json,
    loads_json,
)
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.parser import parse_formula
from workers.prover.printer import to_text
from workers.prover.reader import read_formula
from workers.prover.syntax import FALSE, TRUE, And, Atom, Box, Dia, Iff, Implies, Not, Or

relaxed = settings(deadline=None)
p, q, r = Atom("p"), Atom("q"), Atom("r")


@relaxed
@given(formulas)
def test_ast_json_ast(f):
    obj = formula_to_json(f)
    # Plain JSON data: survives serialisation unchanged.
    assert json.loads(json.dumps(obj)) == obj
    assert formula_from_json(json.loads(json.dumps(obj))) is f


@relaxed
@given(formulas)
def test_json_text_json(f):
    obj = json.loads(json.dumps(formula_to_json(f)))
    assert formula_to_json(parse_formula(to_text(formula_from_json(obj)))) == obj


@relaxed
@given(formulas)
def test_json_text_round_trip(f):
    text = json.dumps(formula_to_json(f))
    assert formula_from_json_text(text) is f
    assert read_formula(json.loads(text)) is f
    assert read_formula(to_text(f)) is f


def test_json_shapes():
    f = Iff(Implies(Box(And((p, Not(q)))), Dia(r)), Or((TRUE, FALSE, p)))
    assert formula_to_json(f) == {
        "iff": [
            {
                "implies": [
                    {"box": {"and": [{"atom": "p"}, {"not": {"atom": "q"}}]}},
                    {"dia": {"atom": "r"}},
                ]
            },
            {"or": [{"const": True}, {"const": False}, {"atom": "p"}]},
        ]
    }


def test_nesting_shape_is_kept():
    nested = {"and": [{"and": [{"atom": "p"}, {"atom": "q"}]}, {"atom": "r"}]}
    assert formula_from_json(nested) is And((And((p, q)), r))
    assert to_text(formula_from_json(nested)) == "(p & q) & r"


def json_error(obj) -> FormulaError:
    with pytest.raises(FormulaError) as info:
        formula_from_json(obj)
    return info.value


ATOM_P = {"atom": "p"}


@pytest.mark.parametrize(
    ("obj", "path", "words"),
    [
        ([], "", "expected a formula object, found an array"),
        ("p", "", "found a string"),
        (None, "", "found null"),
        ({}, "", "empty object"),
        ({"atom": "p", "not": ATOM_P}, "", "exactly one key, found 2"),
        (
            {"type": "implies", "left": "A", "right": "B"},
            "",
            'the {"type": …} form is not supported',
        ),
        ({"nto": ATOM_P}, "", "unknown key 'nto'"),
        ({"and": [ATOM_P, {"not": {"atm": "q"}}]}, "/and/1/not", "unknown key 'atm'"),
        ({"and": [ATOM_P]}, "/and", "and takes two or more formulas, found 1"),
        ({"or": []}, "/or", "or takes two or more formulas, found 0"),
        ({"or": ATOM_P}, "/or", "or takes an array of formulas, found an object"),
        ({"implies": [ATOM_P]}, "/implies", "exactly two formulas, found 1"),
        ({"iff": [ATOM_P, ATOM_P, ATOM_P]}, "/iff", "exactly two formulas, found 3"),
        ({"atom": "BOX"}, "/atom", "bad atom name 'BOX'"),
        ({"atom": "true"}, "/atom", "bad atom name 'true'"),
        ({"atom": "2p"}, "/atom", "bad atom name '2p'"),
        ({"atom": ""}, "/atom", "bad atom name ''"),
        ({"atom": 3}, "/atom", "bad atom name a number"),
        ({"const": 1}, "/const", "const takes true or false, found a number"),
        ({"const": "true"}, "/const", "found a string"),
        ({"not": None}, "/not", "found null"),
        ({"box": [ATOM_P]}, "/box", "found an array"),
        ({"dia": {"dia": {"and": [ATOM_P, {"x/y~": 1}]}}}, "/dia/dia/and/1", "unknown key 'x/y~'"),
        (
            {"implies": [ATOM_P, {"iff": [ATOM_P, {"const": None}]}]},
            "/implies/1/iff/1/const",
            "found null",
        ),
    ],
)
def test_json_errors_name_the_path(obj, path, words):
    err = json_error(obj)
    assert err.code == "json"
    assert err.path == path
    assert words in err.message
    assert str(err).startswith(f"at {path or '(top level)'}: ")
    assert err.line is None and err.column is None


def test_path_escapes_json_pointer_characters():
    err = json_error({"and": [ATOM_P, {"a/b": 1}]})
    assert err.path == "/and/1"
    err = json_error({"and": [ATOM_P, {"not": {"atom": "a/b"}}]})
    assert err.path == "/and/1/not/atom"


def nots(depth: int) -> dict:
    obj = ATOM_P
    for _ in range(depth - 1):
        obj = {"not": obj}
    return obj


def test_json_depth_limit_boundary():
    assert formula_from_json(nots(MAX_DEPTH)).depth == MAX_DEPTH
    err = json_error(nots(MAX_DEPTH + 1))
    assert err.code == "too_deep" and "MAX_DEPTH" in err.message
    assert err.path == "/not" * MAX_DEPTH


def test_json_node_limit_boundary():
    wide = {"or": [ATOM_P] * (MAX_NODES - 1)}
    assert formula_from_json(wide).size == MAX_NODES
    err = json_error({"or": [ATOM_P] * MAX_NODES})
    assert err.code == "too_many_nodes" and "MAX_NODES" in err.message
    # Counted across the whole tree, not per array.
    half = (MAX_NODES - 1) // 2
    err = json_error({"and": [{"not": ATOM_P}] * half + [{"not": ATOM_P}]})
    assert err.code == "too_many_nodes"


def test_huge_and_deep_json_objects_fail_cleanly():
    deep = nots(100_000)
    assert json_error(deep).code == "too_deep"
    assert json_error({"and": [ATOM_P] * 1_000_000}).code == "too_many_nodes"


# -- loads_json: JSON text without recursion ----------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@relaxed
@given(json_values, st.sampled_from([None, 0, 2]))
def test_loads_json_agrees_with_the_standard_decoder(value, indent):
    text = json.dumps(value, indent=indent)
    assert loads_json(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("", 1),
        ("{", 2),
        ('{"a" 1}', 6),
        ("[1,]", 4),
        ("[1 2]", 4),
        ('{"a":1,}', 8),
        ("tru", 1),
        ("[1] x", 5),
        ("01", 2),
        ("NaN", 1),
        ('"\\x"', 2),
    ],
)
def test_loads_json_errors(text, column):
    with pytest.raises(FormulaError) as info:
        loads_json(text)
    assert info.value.code == "json" and info.value.column == column
    assert info.value.message.startswith("invalid JSON: ")


def test_loads_json_handles_nesting_the_standard_decoder_cannot():
    text = '{"not": ' * (MAX_DEPTH - 1) + '{"atom": "p"}' + "}" * (MAX_DEPTH - 1)
    if sys.getrecursionlimit() < MAX_DEPTH:  # what the stdlib decoder does at this nesting
        with pytest.raises(RecursionError):
            json.loads(text)
    assert formula_from_json_text(text).depth == MAX_DEPTH
    # An And/Or chain nests an array and an object per level.
    atom = '{"atom": "p"}'
    text = '{"and": [' * (MAX_DEPTH - 1) + atom + (", " + atom + "]}") * (MAX_DEPTH - 1)
    assert formula_from_json_text(text).depth == MAX_DEPTH
    err = pytest.raises(FormulaError, loads_json, "[" * 100_000).value
    assert err.code == "too_deep" and err.column == MAX_JSON_NESTING + 1


def test_json_text_size_limit():
    text = json.dumps({"atom": "p" * (MAX_TEXT_BYTES - 12)})
    assert len(text) == MAX_TEXT_BYTES
    assert formula_from_json_text(text) is Atom("p" * (MAX_TEXT_BYTES - 12))
    text = json.dumps({"atom": "p" * (MAX_TEXT_BYTES - 11)})
    err = pytest.raises(FormulaError, formula_from_json_text, text).value
    assert err.code == "too_large"


# -- read_formula ------------------------------------------------------------


def test_read_formula_accepts_text_json_and_formulas():
    f = Implies(Box(p), p)
    assert read_formula("[]p -> p") is f
    assert read_formula({"implies": [{"box": ATOM_P}, ATOM_P]}) is f
    assert read_formula(f) is f


@pytest.mark.parametrize("value", [None, 3, ["p"], b"p", 1.5])
def test_read_formula_rejects_other_values(value):
    err = pytest.raises(FormulaError, read_formula, value).value
    assert err.code == "json" and "a string" in err.message


def test_read_formula_enforces_every_limit():
    assert (
        pytest.raises(FormulaError, read_formula, "p" * (MAX_TEXT_BYTES + 1)).value.code
        == "too_large"
    )
    assert pytest.raises(FormulaError, read_formula, "~" * MAX_DEPTH + "p").value.code == "too_deep"
    assert pytest.raises(FormulaError, read_formula, nots(MAX_DEPTH + 1)).value.code == "too_deep"
    wide = {"and": [ATOM_P] * MAX_NODES}
    assert pytest.raises(FormulaError, read_formula, wide).value.code == "too_many_nodes"
    assert pytest.raises(FormulaError, read_formula, "p &").value.code == "syntax"
