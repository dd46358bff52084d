"""normalize: S5-equivalent (checked by the prover), idempotent, in normal form, traced."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from tests.unit.chrono_strategies import cpx_formulas, pxl_formulas
from tests.unit.s5_oracle import s5_valid_sat
from workers.overlays.chrono import (
    NormalizeError,
    cpx_to_pxl,
    cpx_to_text,
    normalize,
    normalize_checked,
    parse_cpx,
)
from workers.overlays.chrono.normalize import Rewriter
from workers.overlays.chrono.selfcheck import check_steps, obligation
from workers.overlays.chrono.syntax import BOX_LIKE, DIA_LIKE
from workers.prover import search
from workers.prover.result import ProofResult
from workers.prover.syntax import Iff, atoms, postorder

_NO_DUAL = (BOX_LIKE | DIA_LIKE | {"until", "since"}) - {"box", "dia", "always", "eventually"}


def _equivalent(a, b) -> bool:
    """S5-equivalence by the tests' own oracle (not the prover the self-check runs)."""
    return s5_valid_sat(Iff(cpx_to_pxl(a), cpx_to_pxl(b)))


def _assert_normal(f):
    for node in postorder(f):
        assert node.kind not in ("implies", "eternal"), cpx_to_text(f)
        if node.kind == "not":
            assert node.arg.kind == "atom" or node.arg.kind in _NO_DUAL, cpx_to_text(f)
        if node.kind in ("and", "or"):
            assert all(a.kind != node.kind for a in node.args), "not flattened"
        if node.kind in BOX_LIKE | DIA_LIKE:
            inner = node.arg.arg if node.arg.kind == "not" else node.arg
            assert inner.kind not in BOX_LIKE | DIA_LIKE | {"const"}, "collapse missed"
            assert node.arg.kind != ("and" if node.kind in BOX_LIKE else "or"), "not distributed"


@given(cpx_formulas(10))
@settings(max_examples=150, deadline=None)
def test_normal_form_is_equivalent_idempotent_and_normal(f):
    res = normalize_checked(f, timeout=20)
    assert res.check["verdict"] == "valid" and res.check["method"] == "whole"
    assert res.check["proof"]["certificate"]
    assert _equivalent(f, res.formula)  # independently of the self-check and the prover
    _assert_normal(res.formula)
    again = normalize(res.formula)
    assert again.formula is res.formula
    assert again.rewrites == 0


@given(pxl_formulas(12))
@settings(max_examples=100, deadline=None)
def test_pxl_stays_pxl(f):
    out = normalize(f).formula
    assert cpx_to_text(out) == cpx_to_text(cpx_to_pxl(out))


@pytest.mark.parametrize(
    ("text", "normal", "rule"),
    [
        ("[][]p", "[]p", "S5 collapse"),
        ("<><>p", "<>p", "S5 collapse"),
        ("[]<>p", "<>p", "S5 collapse"),
        ("<>[]p", "[]p", "S5 collapse"),
        ("[](p & q)", "[]p & []q", "distribute box-like over &"),
        ("<>(p | q)", "<>p | <>q", "distribute diamond-like over |"),
        ("~[]p", "<>~p", "push ~ inward (duality)"),
        ("~<>p", "[]~p", "push ~ inward (duality)"),
        ("~Always(p)", "Eventually(~p)", "push ~ inward (duality)"),
        ("~(p & ~q)", "~p | q", "De Morgan"),
        ("p -> q", "~p | q", "eliminate ->"),
        ("Eternal(p -> q)", "~p | q", "time-mode cancellation"),
        ("At(1, At(2, p))", "At(2, p)", "S5 collapse"),
        ("Knows(1, Believes(2, p))", "Believes(2, p)", "S5 collapse"),
        ("At(3, p & []q)", "At(3, p) & []q", "distribute"),
        ("~At(3, p)", "~At(3, p)", None),
        ("~Until(p, q)", "~Until(p, q)", None),
        ("~(p <-> q)", "p <-> ~q", "push ~ inward (~(φ <-> ψ)"),
        ("(p & q) & r", "p & q & r", "flatten"),
        ("~true", "false", "negate constant"),
        ("[]true", "true", "S5 collapse"),
    ],
)
def test_rewrites(text, normal, rule):
    res = normalize_checked(parse_cpx(text))
    assert cpx_to_text(res.formula) == normal
    if rule is None:
        assert res.rewrites == 0 and res.trace[0] == "already in normal form"
    else:
        assert any(rule in line for line in res.trace), res.trace
    assert res.trace[-1].startswith("self-check: the prover confirms")


def test_one_trace_line_per_rewrite():
    res = normalize(parse_cpx("~[](p & q) -> <><>r"))
    assert len(res.trace) == res.rewrites
    assert all("⇒" in line for line in res.trace)


def test_deep_input_does_not_recurse():
    f = parse_cpx("~" * 999 + "p")
    assert cpx_to_text(normalize(f).formula) == "~p"
    g = parse_cpx("[](" * 400 + "p" + ")" * 400)
    assert cpx_to_text(normalize(g).formula) == "[]p"


def test_a_wrong_rewrite_is_caught_by_the_self_check(monkeypatch):
    # Fault injection: make the distribution rule unsound ([] over | instead of &).
    _break_box_over_or(monkeypatch)
    with pytest.raises(NormalizeError) as info:
        normalize_checked(parse_cpx("[](p | q)"))
    assert info.value.refuted and info.value.proof["verdict"] == "invalid"
    assert info.value.proof["countermodel"] is not None


@given(cpx_formulas(14))
@settings(max_examples=150, deadline=None)
def test_every_rewriting_step_is_confirmed_on_its_own(f):
    res = normalize(f)
    report = check_steps(res.steps, timeout=20)
    assert report["verdict"] == "valid", report
    assert report["steps_checked"] == len(res.steps)


def _fresh_renaming(f, pattern, prefix: str, renaming: dict) -> bool:
    """``f`` is ``pattern`` with pattern's X-atoms renamed one-to-one to atoms starting with
    ``prefix`` (filled into ``renaming``); every other node is the same."""
    stack = [(f, pattern)]
    while stack:
        a, b = stack.pop()
        if b.kind == "atom" and b.name.startswith("X"):
            if a.kind != "atom" or not a.name.startswith(prefix):
                return False
            if renaming.setdefault(b.name, a.name) != a.name:
                return False
        elif a.kind != b.kind or len(a.children) != len(b.children):
            return False
        elif not a.children:
            if a is not b:
                return False
        else:
            stack.extend(zip(a.children, b.children, strict=True))
    return len(set(renaming.values())) == len(renaming)


@pytest.mark.parametrize("prefix", ["_sc_", "_t_"])
def test_step_obligations_abstract_children_and_deep_parts(prefix):
    # Children of the rewritten node become fresh atoms (whatever their names), one per
    # child; the results stay concrete.  X0, X1 stand for the fresh atoms.
    res = normalize(parse_cpx("~At(3, p & []q)"))
    obligations = [obligation(step, prefix) for step in res.steps]
    for expected in ("[](X0 <-> p) & [](X1 <-> []q) -> (X0 & X1 <-> p & []q)",
                     "[](~X0 <-> ~q) -> (~[]X0 <-> <>~q)"):
        pattern = parse_cpx(expected)
        assert any(_fresh_renaming(ob, pattern, prefix, {}) for ob in obligations), expected
    for ob in obligations:
        assert s5_valid_sat(ob), cpx_to_text(ob)
        fresh = {name for name in atoms(ob) if name not in ("p", "q")}
        assert all(name.startswith(prefix) for name in fresh), fresh


def _break_box_over_or(monkeypatch):
    real_modal = Rewriter.modal

    def broken(self, proto, arg):
        if proto.kind == "box" and arg.kind == "or":
            return self.flat("or", [real_modal(self, proto, a) for a in arg.args])
        return real_modal(self, proto, arg)

    monkeypatch.setattr(Rewriter, "modal", broken)


def test_the_step_check_catches_a_wrong_rewrite(monkeypatch):
    _break_box_over_or(monkeypatch)
    res = normalize(parse_cpx("q & [](p | ~p)"))
    report = check_steps(res.steps, timeout=20)
    assert report["verdict"] == "invalid"
    assert "[](p | ~p)" in report["detail"] and report["proof"]["countermodel"]


def _whole_check_times_out(monkeypatch):
    """The first prover call (the whole biconditional) answers Timeout, as on a huge input."""
    real = search.prove
    calls = []

    def prove_or_time_out(formula, **kw):
        calls.append(formula)
        if len(calls) == 1:
            return ProofResult("unknown", "Timeout", formula, trace=["timeout"])
        return real(formula, **kw)

    monkeypatch.setattr(search, "prove", prove_or_time_out)
    return calls


def test_falls_back_to_the_step_check_when_the_whole_check_times_out(monkeypatch):
    calls = _whole_check_times_out(monkeypatch)
    res = normalize_checked(parse_cpx("~[](p & At(2, <>q)) -> Eternal(r)"))
    assert res.check["method"] == "stepwise" and res.check["verdict"] == "valid"
    assert res.check["whole_formula_attempt"] == "Timeout"
    assert res.check["prover_calls"] == len(calls) - 1 > 0
    assert "each of the" in res.trace[-1]


def test_a_wrong_rewrite_fails_the_fallback_too(monkeypatch):
    _break_box_over_or(monkeypatch)
    _whole_check_times_out(monkeypatch)
    with pytest.raises(NormalizeError) as info:
        normalize_checked(parse_cpx("[](p | q)"))
    assert "refuted" in info.value.message
