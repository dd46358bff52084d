"""The canonical printer and the text <-> AST round trip (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.prover.errors import FormulaError
from workers.prover.limits import MAX_DEPTH, MAX_NODES
from workers.prover.parser import parse_formula, parse_formula_spans
from workers.prover.printer import Texts, to_text
from workers.prover.syntax import (
    FALSE,
    KEYWORDS,
    TRUE,
    And,
    Atom,
    Box,
    Dia,
    Iff,
    Implies,
    Not,
    Or,
    postorder,
)

atom_names = st.one_of(
    st.sampled_from(["p", "q", "r", "_", "p0", "trueish", "BOXY", "Box", "dia", "TRUE"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True).filter(
        lambda name: name not in KEYWORDS
    ),
)
leaves = st.one_of(atom_names.map(Atom), st.sampled_from([TRUE, FALSE]))


def _extend(children):
    args = st.lists(children, min_size=2, max_size=4)
    pair = st.tuples(children, children)
    return st.one_of(
        children.map(Not),
        children.map(Box),
        children.map(Dia),
        args.map(And),
        args.map(Or),
        pair.map(lambda t: Implies(*t)),
        pair.map(lambda t: Iff(*t)),
    )


# Shared machines are slow at times; correctness, not speed, is tested here.
relaxed = settings(deadline=None)

# Random ASTs, including nested same-operator And/Or and left/right-nested -> and <->.
formulas = st.recursive(leaves, _extend, max_leaves=25)


@relaxed
@given(formulas)
def test_text_round_trip_ascii(f):
    text = to_text(f)
    assert text.isascii()
    assert parse_formula(text) is f


@relaxed
@given(formulas)
def test_text_round_trip_unicode(f):
    assert parse_formula(to_text(f, ascii=False)) is f


@relaxed
@given(formulas)
def test_printing_is_canonical(f):
    text = to_text(f)
    assert to_text(parse_formula(text)) == text
    # Unicode and ASCII spellings differ only in their symbols.
    assert parse_formula(to_text(f, ascii=False)) is parse_formula(text)


@relaxed
@given(formulas, st.data())
def test_whitespace_between_tokens_does_not_matter(f, data):
    text = to_text(f)
    spaced = "".join(
        ch + (data.draw(st.sampled_from(["", " ", "\n", "\t", "\r\n"])) if ch in "()&|~" else "")
        for ch in text
    )
    assert parse_formula(spaced) is f


# Fragments of PXL text, good and bad; any string of them parses or fails cleanly.
fragments = st.sampled_from(
    ["p", "q", "true", "⊥", "~", "¬", "[]", "◇", "<>", "&", "∨", "|", "->", "↔", "<->", "(",
     ")", "BOX(", "DIA", " ", "\n", "$", "[", "-", "<"]
)  # fmt: skip


@relaxed
@given(st.lists(fragments, max_size=30).map("".join))
def test_any_text_parses_or_raises_formula_error(text):
    try:
        f = parse_formula(text)
    except FormulaError as err:
        assert err.code == "syntax"
        assert err.line is not None and err.column is not None and err.excerpt
        assert str(err).startswith(f"line {err.line}, column {err.column}: ")
    else:
        assert parse_formula(to_text(f)) is f


p, q, r = Atom("p"), Atom("q"), Atom("r")


@pytest.mark.parametrize(
    ("f", "ascii_text", "unicode_text"),
    [
        (p, "p", "p"),
        (TRUE, "true", "⊤"),
        (FALSE, "false", "⊥"),
        (Not(Box(Dia(p))), "~[]<>p", "¬□◇p"),
        (Box(And((p, q))), "[](p & q)", "□(p ∧ q)"),
        (And((p, q, r)), "p & q & r", "p ∧ q ∧ r"),
        (And((And((p, q)), r)), "(p & q) & r", "(p ∧ q) ∧ r"),
        (And((p, And((q, r)))), "p & (q & r)", "p ∧ (q ∧ r)"),
        (Or((And((p, q)), r)), "p & q | r", "p ∧ q ∨ r"),
        (And((Or((p, q)), r)), "(p | q) & r", "(p ∨ q) ∧ r"),
        (Or((Or((p, q)), r)), "(p | q) | r", "(p ∨ q) ∨ r"),
        (Implies(p, Implies(q, r)), "p -> q -> r", "p → q → r"),
        (Implies(Implies(p, q), r), "(p -> q) -> r", "(p → q) → r"),
        (Iff(p, Iff(q, r)), "p <-> q <-> r", "p ↔ q ↔ r"),
        (Iff(Iff(p, q), r), "(p <-> q) <-> r", "(p ↔ q) ↔ r"),
        (Iff(Implies(p, q), r), "p -> q <-> r", "p → q ↔ r"),
        (Implies(p, Iff(q, r)), "p -> (q <-> r)", "p → (q ↔ r)"),
        (Iff(p, Implies(q, r)), "p <-> q -> r", "p ↔ q → r"),
        (Implies(Or((p, q)), And((q, r))), "p | q -> q & r", "p ∨ q → q ∧ r"),
        (Not(Implies(p, q)), "~(p -> q)", "¬(p → q)"),
        (Not(Not(p)), "~~p", "¬¬p"),
    ],
)
def test_canonical_text(f, ascii_text, unicode_text):
    assert to_text(f) == ascii_text
    assert to_text(f, ascii=False) == unicode_text
    assert parse_formula(ascii_text) is f


def test_printing_deep_formulas_is_iterative():
    f = p
    for i in range(5 * MAX_DEPTH):
        f = [Not, Box, Dia][i % 3](f) if i % 2 else Implies(f, q)
    text = to_text(f)
    assert text.count("(") == text.count(")")
    # Beyond the parser's depth limit, but the printer does not care.
    assert f.depth > MAX_DEPTH
    g = p
    for _ in range(MAX_DEPTH - 1):
        g = Implies(g, q)
    assert parse_formula(to_text(g)) is g


@pytest.mark.parametrize("n", [3, 1000, 16_000])
def test_wide_formulas_round_trip(n):
    f = Or((p,) * (n - 1))
    assert f.size == n <= MAX_NODES
    assert parse_formula(to_text(f)) is f


def test_repr_uses_the_printer():
    assert repr(Implies(p, Box(q))) == "<Implies p -> []q>"


@relaxed
@given(formulas, st.randoms(use_true_random=False))
def test_memo_texts_are_to_text_of_every_subformula(f, rnd):
    # Texts builds each node's text from its children's: the very strings to_text prints,
    # in any order of asking, and of the negations it is asked for.
    subs = list(postorder(f))
    rnd.shuffle(subs)
    texts = Texts()
    for g in subs:
        assert texts(g) == to_text(g)
        assert texts.negation(g) == to_text(Not(g))
    assert texts(f) == to_text(f)


def test_memo_texts_of_deep_formulas_are_iterative():
    f = p
    for i in range(5 * MAX_DEPTH):
        f = [Not, Box, Dia][i % 3](f) if i % 2 else Implies(f, q)
    assert Texts()(f) == to_text(f)
    assert Texts().negation(f) == to_text(Not(f))


def _spans_are_their_nodes(text):
    """parse_formula_spans: the same formula or error as parse_formula, and every recorded
    part of the text parses, alone, to the node it is recorded for."""
    try:
        want = parse_formula(text)
    except FormulaError as err:
        with pytest.raises(FormulaError) as raised:
            parse_formula_spans(text)
        assert (raised.value.message, raised.value.code) == (err.message, err.code)
        return
    got, spans = parse_formula_spans(text)
    assert got is want
    assert text.strip() in spans or text.strip().startswith("(")
    for part, node in spans.items():
        assert parse_formula(part) is node, part


@relaxed
@given(formulas, st.data())
def test_parts_of_a_text_parse_to_their_nodes(f, data):
    text = to_text(f, ascii=data.draw(st.booleans()))
    spaced = "".join(
        ch + (data.draw(st.sampled_from(["", " ", "\n"])) if ch in "()&|~" else "")
        for ch in text
    )
    for t in (text, spaced, f"(({text}))", f"~({spaced}) & BOX({text})"):
        _spans_are_their_nodes(t)


@relaxed
@given(st.lists(fragments, max_size=30).map("".join))
def test_parts_of_any_text_parse_to_their_nodes(text):
    _spans_are_their_nodes(text)
