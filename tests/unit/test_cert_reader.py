"""The checker's own text reader (cert_reader.py) reads every text as the parser does.

A certificate is checked against the encoding ``read_encoding`` gives; were it ever to
read a text differently from ``parse_formula``, a certificate of another formula could
pass.  So: whenever it returns an encoding, the parser accepts the same text and
``formula_encoding`` of its formula is that very encoding; whenever the parser rejects a
text, it returns None (and the checker reports the parser's error).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_printer import formulas, fragments
from workers.prover import check as check_module
from workers.prover import check_result_document, prove
from workers.prover.cert_reader import read_encoding
from workers.prover.certificate import formula_encoding
from workers.prover.errors import FormulaError
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.parser import parse_formula
from workers.prover.printer import to_text

ROOT = Path(__file__).resolve().parents[2]


def agree(text: str) -> bool:
    """The reader agrees with the parser on ``text``; True when it read it itself."""
    mine = read_encoding(text)
    try:
        f = parse_formula(text)
    except FormulaError:
        assert mine is None, text[:200]
        return False
    if mine is None:
        return False
    assert mine == formula_encoding(f), text[:200]
    return True


TEXTS = [
    "p", "true", "false", "~p", "[]p", "<>p", "~[]<>~p", "~p & q", "[]p -> q", "<>p | q",
    "[](p -> q)", "p & q | r", "p | q & r", "p | q -> r", "p -> q | r", "p -> q <-> r",
    "p <-> q -> r", "p & q <-> r | s", "p & q & r", "p | q | r | s", "(p & q) & r",
    "p & (q & r)", "(p | q) | (r | s)", "p & q | r & s", "p & ~q & r", "p -> q -> r",
    "(p -> q) -> r", "p <-> q <-> r", "(p <-> q) <-> r", "((p))", "(~(p))", "((p & q))",
    "p & (q) & r", "(p) | q | (r)", "~~p & p", "p & p", "p | p | ~~p", "p <-> p",
    "p <-> ~p", "[]~~p & []p", "<>~p -> ~[]p", "[]true & <>false", "~true | ~~false",
    "_x1 & P_2 & trueish & BOXY & Box", "¬□◇p ∧ q ∨ r → s ↔ ⊤ ∧ ⊥", "p\n&\tq",
    "(((p -> q) & (q -> r)) -> (p -> r))", "[](p | []q) -> []p | []q",
]  # fmt: skip
# Texts the reader leaves to the parser (keyword forms, errors): the parser decides.
LEFT_TO_THE_PARSER = [
    "BOX(p)", "DIA(p) -> BOX(p)", "p &&q", "p => q", "", "p &", "(p", "p)", "p q", "p(q)",
    "[p]", "1p", "p & $", "~", "()", "p <- q", "p & \ud800",
]  # fmt: skip


@pytest.mark.parametrize("text", TEXTS)
def test_reader_reads_what_the_parser_reads(text):
    assert agree(text)


@pytest.mark.parametrize("text", LEFT_TO_THE_PARSER)
def test_reader_leaves_keywords_and_errors_to_the_parser(text):
    assert read_encoding(text) is None
    agree(text)


@settings(deadline=None, max_examples=300)
@given(formulas)
def test_reader_agrees_on_printed_formulas(f):
    assert agree(to_text(f))
    assert agree(to_text(f, ascii=False))


@settings(deadline=None, max_examples=300)
@given(st.lists(fragments, max_size=30).map("".join))
def test_reader_agrees_on_any_text(text):
    agree(text)


@settings(deadline=None, max_examples=100)
@given(formulas, st.data())
def test_reader_agrees_with_extra_parentheses_and_spaces(f, data):
    # Re-print with every sub-text optionally wrapped in parentheses: a different tree
    # where the parentheses separate a chain, the same where they are redundant.
    text = to_text(f)
    pieces = []
    for ch in text:
        if ch in "(" and data.draw(st.booleans()):
            pieces.append("( ")
        pieces.append(ch)
        if ch == ")" and data.draw(st.booleans()):
            pieces.append(" )")
    agree("".join(pieces))
    agree("(" + text + ")")


def test_reader_agrees_on_the_sample():
    for line in (ROOT / "bench" / "sample.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["formula"]
        assert agree(text)
        assert agree(to_text(parse_formula(text)))


def chain(n_atoms: int) -> str:
    return "&".join(["p"] * n_atoms)


def test_limits_at_the_boundary_are_read_and_beyond_left_to_the_parser():
    def left(depth):
        return "(" * (depth - 2) + "p" + " & p)" * (depth - 2) + " & p"

    half = (MAX_DEPTH - 1) // 2
    within = [
        chain(MAX_NODES - 1),
        "&".join(["~p"] * ((MAX_NODES - 1) // 2)),
        "~" * (MAX_DEPTH - 1) + "p",
        "p -> " * (MAX_DEPTH - 1) + "p",
        left(MAX_DEPTH),
        "[](p -> " * half + "p" + ")" * half,
        "(" * MAX_DEPTH + "p" + ")" * MAX_DEPTH,
        "p" * MAX_TEXT_BYTES,
    ]
    beyond = [
        chain(MAX_NODES),
        "&".join(["~p"] * ((MAX_NODES - 1) // 2 + 1)),
        "~" * MAX_DEPTH + "p",
        "p -> " * MAX_DEPTH + "p",
        left(MAX_DEPTH + 1),
        "[](p -> " * (MAX_DEPTH // 2) + "p" + ")" * (MAX_DEPTH // 2),
        "(" * (MAX_DEPTH + 1) + "p" + ")" * (MAX_DEPTH + 1),
        "p" * (MAX_TEXT_BYTES + 1),
        "¬" * ((MAX_TEXT_BYTES - 1) // 2) + "p" + "  ",
    ]
    for text in within:
        assert agree(text), text[:40]
    for text in beyond:
        assert read_encoding(text) is None, text[:40]
        agree(text)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 60_000 + "p" + ")" * 60_000,
        "(" * 60_000,
        ")" * 60_000,
        "~" * 65_000 + "p",
        "[]" * 30_000 + "p",
        "p -> " * 13_000 + "p",
        "p <-> " * 10_000 + "p",
        "&" * 60_000,
        "p" + " & p" * 16_000,
        "(p & " * 10_000 + "p" + ")" * 10_000,
    ],
)
def test_pathological_inputs(text):
    agree(text)


VALID = [
    "[](p -> q) -> ([]p -> []q)",
    "<>p -> []<>p",
    "(p & p) -> p",  # repeated literals in the encoding's clauses
    "[](p | p) -> <>(p | ~~p)",
    "[](p <-> p)",
]


@pytest.mark.parametrize("text", VALID)
def test_documents_check_through_the_reader_and_through_the_parser(text, monkeypatch):
    doc = prove(text).to_document()
    doc.pop("tableau", None)  # (a tableau needs the formula, so the parser)
    assert read_encoding(doc["formula"]) is not None
    report = check_result_document(doc)
    assert report.ok, report
    monkeypatch.setattr(check_module, "read_encoding", lambda _text: None)
    assert check_result_document(doc) == report


def test_a_keyword_spelling_checks_through_the_parser():
    doc = prove("BOX(p -> q) -> (BOX(p) -> BOX(q))").to_document()
    doc.pop("tableau", None)
    doc["formula"] = "BOX(p -> q) -> (BOX(p) -> BOX(q))"
    assert read_encoding(doc["formula"]) is None
    assert check_result_document(doc).ok


def test_the_collector_paused_by_a_check_resumes_however_the_check_ends():
    # check_result_document pauses the cyclic GC as prove() does (its own pause: the checker
    # does not import the search); an exception out of the check must not leave it paused,
    # and a collector the caller had disabled stays disabled.
    import gc
    from unittest import mock

    doc = prove("[](p -> q) -> ([]p -> []q)", explain=True).to_document()  # with a tableau: the parser's path too

    def stop(*args, **kwargs):
        assert not gc.isenabled()  # paused while the check runs
        raise KeyboardInterrupt("stopped")

    assert gc.isenabled()
    with mock.patch.object(check_module, "read_encoding", stop), pytest.raises(KeyboardInterrupt):
        check_result_document({**doc, "tableau": None})
    assert gc.isenabled()
    assert check_result_document(doc).ok
    assert gc.isenabled()
    gc.disable()
    try:
        assert check_result_document(doc).ok
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_check_and_a_proof_overlapping_share_one_gc_pause():
    # A check that began before a proof and ends while it runs must not turn the collector
    # back on under it, and the collector must be on again once both ended (one count for
    # both: gcpause.py; with a count each, the check re-enabled it mid-proof and the proof,
    # which had found it off, left it off for good).
    import gc
    import threading
    from unittest import mock

    from workers.prover import search

    doc = prove("[](p -> q) -> ([]p -> []q)").to_document()
    check_running, proof_running, check_done = (threading.Event() for _ in range(3))
    seen: list[bool] = []
    read, encode = check_module.read_encoding, search.encode

    def held_read(*args, **kwargs):
        check_running.set()
        assert proof_running.wait(30)
        return read(*args, **kwargs)

    def held_encode(*args, **kwargs):
        proof_running.set()
        assert check_done.wait(30)
        seen.append(gc.isenabled())  # the check has ended, the proof runs on
        return encode(*args, **kwargs)

    def run_proof():
        assert check_running.wait(30)
        search.prove("[]p -> p", timeout=30)

    assert gc.isenabled()
    with mock.patch.object(check_module, "read_encoding", held_read), \
            mock.patch.object(search, "encode", held_encode):
        proof = threading.Thread(target=run_proof)
        proof.start()
        assert check_result_document({**doc, "tableau": None}).ok  # read_encoding's path
        check_done.set()
        proof.join(30)
    assert seen == [False]
    assert gc.isenabled()
