"""The PXL text parser: precedence, associativity, aliases, errors and limits."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.prover.errors import FormulaError
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.parser import parse_formula
from workers.prover.syntax import FALSE, TRUE, And, Atom, Box, Dia, Iff, Implies, Not, Or

p, q, r, s = Atom("p"), Atom("q"), Atom("r"), Atom("s")


# -- structure -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p", p),
        ("true", TRUE),
        ("false", FALSE),
        ("~p", Not(p)),
        ("[]p", Box(p)),
        ("<>p", Dia(p)),
        ("~[]<>~p", Not(Box(Dia(Not(p))))),
        # prefix operators bind tightest
        ("~p & q", And((Not(p), q))),
        ("[]p -> q", Implies(Box(p), q)),
        ("<>p | q", Or((Dia(p), q))),
        ("[](p -> q)", Box(Implies(p, q))),
        # & over | over -> over <->
        ("p & q | r", Or((And((p, q)), r))),
        ("p | q & r", Or((p, And((q, r))))),
        ("p | q -> r", Implies(Or((p, q)), r)),
        ("p -> q | r", Implies(p, Or((q, r)))),
        ("p -> q <-> r", Iff(Implies(p, q), r)),
        ("p <-> q -> r", Iff(p, Implies(q, r))),
        ("p & q <-> r | s", Iff(And((p, q)), Or((r, s)))),
        # chains are one n-ary node; parentheses make their own node
        ("p & q & r", And((p, q, r))),
        ("p | q | r | s", Or((p, q, r, s))),
        ("(p & q) & r", And((And((p, q)), r))),
        ("p & (q & r)", And((p, And((q, r))))),
        ("(p | q) | (r | s)", Or((Or((p, q)), Or((r, s))))),
        ("p & q | r & s", Or((And((p, q)), And((r, s))))),
        ("p & ~q & r", And((p, Not(q), r))),
        # -> and <-> are right-associative
        ("p -> q -> r", Implies(p, Implies(q, r))),
        ("(p -> q) -> r", Implies(Implies(p, q), r)),
        ("p <-> q <-> r", Iff(p, Iff(q, r))),
        ("(p <-> q) <-> r", Iff(Iff(p, q), r)),
        # redundant parentheses change nothing
        ("((p))", p),
        ("(~(p))", Not(p)),
        ("((p & q))", And((p, q))),
        # BOX(φ) and DIA(φ)
        ("BOX(p)", Box(p)),
        ("DIA(p)", Dia(p)),
        ("BOX(p & q)", Box(And((p, q)))),
        ("BOX (p) -> DIA( q )", Implies(Box(p), Dia(q))),
        ("BOX(DIA(p)) & q", And((Box(Dia(p)), q))),
        ("~BOX(p)", Not(Box(p))),
        # atoms
        (
            "_x1 & P_2 & trueish & BOXY & Box",
            And(tuple(map(Atom, ["_x1", "P_2", "trueish", "BOXY", "Box"]))),
        ),
    ],
)
def test_structure(text, expected):
    assert parse_formula(text) is expected


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("~p", "~p"),
        ("!p", "~p"),
        ("¬p", "~p"),
        ("□p", "[]p"),
        ("◇p", "<>p"),
        ("p ∧ q", "p & q"),
        ("p ∨ q", "p | q"),
        ("p → q", "p -> q"),
        ("p ↔ q", "p <-> q"),
        ("⊤", "true"),
        ("⊥", "false"),
        ("¬□◇p∧q∨r→s↔⊤", "~[]<>p & q | r -> s <-> true"),
        ("!!p", "~~p"),
        ("p ∧ q & r", "p & q & r"),  # aliases mix within one chain
    ],
)
def test_aliases(alias, canonical):
    assert parse_formula(alias) is parse_formula(canonical)


def test_whitespace_and_newlines_are_free():
    text = "\n  [] ( p\t&\n\r\n q )\n->\n<>  r  \n"
    assert parse_formula(text) is Implies(Box(And((p, q))), Dia(r))
    assert parse_formula("p&q->r") is parse_formula("p & q -> r")
    assert parse_formula("p<->q") is Iff(p, q)
    assert parse_formula("p<>q".replace("<>", " <-> ")) is Iff(p, q)


def test_tokens_without_spaces():
    assert parse_formula("~~p") is Not(Not(p))
    assert parse_formula("[]<>[]~p") is Box(Dia(Box(Not(p))))
    assert parse_formula("<><>p") is Dia(Dia(p))
    assert parse_formula("p-><>q") is Implies(p, Dia(q))
    assert parse_formula("p<-><>q") is Iff(p, Dia(q))


# -- errors ------------------------------------------------------------------


def error_of(text: str) -> FormulaError:
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("", 1, 1, "empty formula"),
        ("   \n ", 1, 1, "empty formula"),
        ("(p & q", 1, 1, "'(' is never closed"),
        ("p & (q | (r)", 1, 5, "'(' is never closed"),
        ("p & q)", 1, 6, "unmatched ')'"),
        ("p &", 1, 4, "expected a formula after '&', found end of input"),
        ("p ->\n\n", 1, 5, "expected a formula after '->', found end of input"),
        ("p & & q", 1, 5, "expected a formula after '&', found '&'"),
        ("& p", 1, 1, "expected a formula, found '&'"),
        ("~", 1, 2, "expected a formula after '~', found end of input"),
        ("()", 1, 2, "empty parentheses"),
        ("p $ q", 1, 3, "unexpected character '$'"),
        ("p\n& é", 2, 3, "unexpected character 'é'"),
        ("p & \x00", 1, 5, "unexpected character 'U+0000'"),
        ("2p", 1, 1, "atom names start with a letter"),
        ("[p]", 1, 1, "did you mean '[]'"),
        ("p - q", 1, 3, "did you mean '->'"),
        ("p && q", 1, 3, "'&&' is not PXL syntax; write '&'"),
        ("p || q", 1, 3, "write '|'"),
        ("p => q", 1, 3, "write '->'"),
        ("p <=> q", 1, 3, "write '<->'"),
        ("BOX & p", 1, 1, "'BOX' is a keyword, not an atom name"),
        ("p | DIA", 1, 5, "'DIA' is a keyword, not an atom name"),
        ("BOX p", 1, 1, "write BOX(φ)"),
        ("p q", 1, 3, "expected an operator (&, |, ->, <->) or end of input after atom 'p'"),
        ("(p q)", 1, 4, "or ')' after atom 'p', found atom 'q'"),
        ("Box(p)", 1, 4, "an atom takes no arguments"),
        ("p ~q", 1, 3, "found '~'"),
        ("p\n  & (q\n  -> )", 3, 6, "expected a formula after '->', found ')'"),
    ],
)
def test_error_positions(text, line, column, words):
    err = error_of(text)
    assert err.code == "syntax"
    assert (err.line, err.column) == (line, column)
    assert words in err.message
    assert str(err).startswith(f"line {line}, column {column}: {err.message}")


def test_excerpt_has_source_line_and_caret():
    err = error_of("p & q\n  | r ->\n  & s")
    assert (err.line, err.column) == (3, 3)
    assert err.excerpt == "  & s\n  ^"
    assert str(err).splitlines() == [f"line 3, column 3: {err.message}", "  & s", "  ^"]


def test_excerpt_keeps_tabs_aligned():
    err = error_of("\tp\t$")
    assert err.excerpt == "\tp\t$\n\t \t^"


def test_excerpt_of_a_long_line_is_a_window_around_the_spot():
    text = "p & " * 5000 + "$" + " & p" * 5000
    err = error_of(text)
    assert err.column == 20001
    source, caret = err.excerpt.split("\n")
    assert len(source) <= 90 and source.startswith("…") and source.endswith("…")
    assert source[caret.index("^")] == "$"


def test_error_is_a_value_error_with_plain_data():
    err = error_of("p &")
    assert isinstance(err, ValueError)
    assert err.to_dict() == {
        "code": "syntax",
        "message": err.message,
        "line": 1,
        "column": 4,
        "excerpt": "p &\n   ^",
    }


def test_error_survives_pickling():
    err = error_of("p &\n& q")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is FormulaError and str(copy) == str(err)
    assert copy.to_dict() == err.to_dict()


@settings(deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_formula_error(text):
    try:
        parse_formula(text)
    except FormulaError as err:
        assert err.code == "syntax"
        assert 1 <= err.line <= text.count("\n") + 1
        assert err.excerpt.count("\n") == 1 and err.excerpt.endswith("^")


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError):
        parse_formula(b"p")  # type: ignore[arg-type]


# -- limits ------------------------------------------------------------------


def test_text_size_limit_boundary():
    at_limit = "p" * MAX_TEXT_BYTES
    assert parse_formula(at_limit) is Atom(at_limit)
    err = error_of("p" * (MAX_TEXT_BYTES + 1))
    assert err.code == "too_large"
    assert "MAX_TEXT_BYTES" in err.message and str(MAX_TEXT_BYTES) in err.message
    assert err.line is None and err.column is None


def test_text_size_counts_utf8_bytes_not_characters():
    # '¬' is two bytes in UTF-8 and '□' three: exactly MAX_TEXT_BYTES bytes is accepted,
    # one byte more is not, with fewer characters than bytes on both sides.
    head = "¬□p"
    assert len(head.encode("utf-8")) == 6
    at_limit = head + " " * (MAX_TEXT_BYTES - 6)
    assert len(at_limit) < MAX_TEXT_BYTES
    assert parse_formula(at_limit) is Not(Box(p))
    assert error_of(at_limit + " ").code == "too_large"
    n = (MAX_TEXT_BYTES - 1) // 2
    assert error_of("¬" * n + "p" + " " * 2).code == "too_large"


def test_text_size_is_checked_before_parsing():
    # A huge bad input is rejected for its size, without scanning it.
    assert error_of("$" * (MAX_TEXT_BYTES + 1)).code == "too_large"
    assert error_of("~" * 1_000_000).code == "too_large"


def test_lone_surrogate_is_a_clean_error():
    err = error_of("p & \ud800")
    assert err.code == "syntax" and "U+D800" in err.message


def chain(n_atoms: int) -> str:
    return "&".join(["p"] * n_atoms)


def test_node_limit_boundary():
    # An n-ary chain of k atoms has k + 1 nodes.
    f = parse_formula(chain(MAX_NODES - 1))
    assert f.size == MAX_NODES
    err = error_of(chain(MAX_NODES))
    assert err.code == "too_many_nodes"
    assert "MAX_NODES" in err.message and str(MAX_NODES) in err.message
    assert err.line == 1 and err.column == 2 * MAX_NODES - 1  # the atom that is one too many


def test_node_limit_counts_operators():
    # ~p & ~p & ... : 2 nodes per conjunct plus the And.
    k = (MAX_NODES - 1) // 2
    text = "&".join(["~p"] * k)
    assert parse_formula(text).size == 2 * k + 1 <= MAX_NODES
    text_over = "&".join(["~p"] * (k + 1))
    assert error_of(text_over).code == "too_many_nodes"


def test_depth_limit_boundary_prefix():
    f = parse_formula("~" * (MAX_DEPTH - 1) + "p")
    assert f.depth == MAX_DEPTH
    err = error_of("~" * MAX_DEPTH + "p")
    assert err.code == "too_deep"
    assert "MAX_DEPTH" in err.message and str(MAX_DEPTH) in err.message
    assert err.column == MAX_DEPTH


def test_depth_limit_boundary_right_nested_implication():
    f = parse_formula("p -> " * (MAX_DEPTH - 1) + "p")
    assert f.depth == MAX_DEPTH
    assert error_of("p -> " * MAX_DEPTH + "p").code == "too_deep"


def test_depth_limit_boundary_left_nested():
    # ((((p & p) & p) & p) ...: the depth grows as nodes are built, right to left.
    def left(depth):
        return "(" * (depth - 2) + "p" + " & p)" * (depth - 2) + " & p"

    assert parse_formula(left(MAX_DEPTH)).depth == MAX_DEPTH
    text = left(MAX_DEPTH + 1)
    err = error_of(text)
    # Reported at the operator whose node is one level too deep: the last '&'.
    assert err.code == "too_deep" and err.column == text.rindex("&") + 1


def test_depth_limit_via_mixed_nesting():
    text = "[](p -> " * (MAX_DEPTH // 2) + "p" + ")" * (MAX_DEPTH // 2)
    assert error_of(text).code == "too_deep"
    half = (MAX_DEPTH - 1) // 2
    ok = "[](p -> " * half + "p" + ")" * half
    assert parse_formula(ok).depth == 2 * half + 1


def test_parenthesis_nesting_limit():
    assert parse_formula("(" * MAX_DEPTH + "p" + ")" * MAX_DEPTH) is p
    err = error_of("(" * (MAX_DEPTH + 1) + "p" + ")" * (MAX_DEPTH + 1))
    assert err.code == "too_deep" and err.column == MAX_DEPTH + 1


@pytest.mark.parametrize(
    "text",
    [
        "(" * 60_000 + "p" + ")" * 60_000,
        "(" * 30_000 + "p" + ")" * 30_000,
        "(" * 60_000,
        ")" * 60_000,
        "~" * 1_000_000,
        "~" * 65_000 + "p",
        "¬" * 30_000 + "p",
        "[]" * 30_000 + "p",
        "BOX(" * 15_000 + "p" + ")" * 15_000,
        "p -> " * 13_000 + "p",
        "p <-> " * 10_000 + "p",
        "&" * 60_000,
        "p" + " & p" * 16_000,
        "(p & " * 10_000 + "p" + ")" * 10_000,
    ],
)
def test_pathological_inputs_fail_cleanly(text):
    # Either a formula within the limits or a FormulaError; never RecursionError/MemoryError.
    try:
        f = parse_formula(text)
    except FormulaError as err:
        assert err.code in ("too_large", "too_many_nodes", "too_deep", "syntax")
    else:
        assert f.size <= MAX_NODES and f.depth <= MAX_DEPTH
