"""Fixed cases: S5 theorems, classic non-theorems, limits, timeouts and stop requests."""

import base64
import json
import random
import threading
import time

import pytest

from workers.prover import (
    And,
    Atom,
    Box,
    Iff,
    Not,
    Or,
    ProofResult,
    check_result_document,
    parse_formula,
    prove,
)
from workers.prover.limits import MAX_DEPTH
from workers.prover.modelcheck import check_countermodel

THEOREMS = [
    "[](p -> q) -> ([]p -> []q)",  # K
    "[]p -> p",  # T
    "[]p -> [][]p",  # 4
    "<>p -> []<>p",  # 5
    "p -> []<>p",  # B
    "<>p <-> ~[]~p",  # duality
    "[]p <-> ~<>~p",
    "[][]p <-> []p",  # collapse laws
    "<><>p <-> <>p",
    "<>[]p <-> []p",
    "[]<>p <-> <>p",
    "[](p & q) <-> []p & []q",
    "<>(p | q) <-> <>p | <>q",
    "[](p | []q) <-> []p | []q",
    "BOX(p) -> DIA(p)",
    "true",
    "[]true",
    "~<>false",
    "□p → ◇p",
]

NON_THEOREMS = [
    "p -> []p",
    "<>p -> []p",
    "[](p | q) -> []p | []q",
    "<>p & <>q -> <>(p & q)",
    "false",
    "p",
    "<>p",
    "[]p | []~p",
]


@pytest.mark.parametrize("text", THEOREMS)
def test_theorems_are_valid_with_checked_certificates(text):
    res = prove(text)
    assert (res.verdict, res.szs_status) == ("valid", "Theorem")
    doc = res.to_document()
    assert doc["certificate_format"] == "pxl-s5-cert/2"
    report = check_result_document(doc)
    assert report.ok, report.reason


@pytest.mark.parametrize("text", NON_THEOREMS)
def test_non_theorems_are_invalid_with_checked_countermodels(text):
    res = prove(text)
    assert (res.verdict, res.szs_status) == ("invalid", "CounterSatisfiable")
    cm = res.countermodel
    assert cm["relation"] == "universal" and cm["actual_world"] == "w0"
    assert res.certificate is None
    report = check_result_document(res.to_document())
    assert report.ok, report.reason


def test_document_shape():
    doc = prove("<>p -> []p").to_document()
    assert set(doc) == {
        "verdict",
        "szs_status",
        "formula",
        "countermodel",
        "certificate",
        "certificate_format",
        "certificate_omitted",
        "tableau",
        "outline",
        "trace",
        "stats",
        "elapsed_ms",
    }
    assert doc["formula"] == "<>p -> []p"
    assert doc["tableau"] is None and doc["outline"] is None  # proofs only
    assert {"nodes", "modal_subformulas", "worlds", "solver_calls", "lemmas"} <= set(doc["stats"])
    assert doc["trace"] and all(isinstance(t, str) for t in doc["trace"])


def test_json_input_and_input_errors():
    assert prove({"implies": [{"box": {"atom": "p"}}, {"atom": "p"}]}).verdict == "valid"
    for bad in ["p ->", {"box": 3}, "(" * 5000 + "p" + ")" * 5000]:
        res = prove(bad)
        assert (res.verdict, res.szs_status) == ("unknown", "InputError")
        assert res.to_document()["formula"] is None


def _pigeonhole(n: int):
    """~PHP(n+1, n): valid and propositionally hard."""
    x = {(i, j): Atom(f"x{i}_{j}") for i in range(n + 1) for j in range(n)}
    clauses = [Or([x[i, j] for j in range(n)]) for i in range(n + 1)]
    clauses += [
        Or([Not(x[i, j]), Not(x[k, j])])
        for j in range(n)
        for i in range(n + 1)
        for k in range(i + 1, n + 1)
    ]
    return Not(Box(And(clauses)))


def _lwb_php(style: str, holes: int, pigeons: int) -> str:
    """LWB ph shapes (bench/gen_php.py): l(i, j) is []p when i < j; kt: left -> <>right,
    k: <>left -> <>right."""

    def lit(i, j):
        return f"[]p{i}{j:02d}" if i < j else f"p{i}{j:02d}"

    left = " & ".join(
        "(" + " | ".join(lit(i, j) for j in range(1, holes + 1)) + ")"
        for i in range(1, pigeons + 1)
    )
    right = " | ".join(
        f"({lit(a, j)} & {lit(b, j)})"
        for j in range(1, holes + 1)
        for a in range(1, pigeons + 1)
        for b in range(a + 1, pigeons + 1)
    )
    return f"<>({left}) -> <>({right})" if style == "k" else f"({left}) -> <>({right})"


def _steps(res) -> list:
    return json.loads(base64.b64decode(res.certificate))["steps"]


def test_pigeonhole_is_refuted_by_cutting_planes_with_a_checked_certificate():
    res = prove(_pigeonhole(11), timeout=60)
    assert res.verdict == "valid" and res.certificate is not None
    assert any(step[0] == "c" for step in _steps(res))
    report = check_result_document(res.to_document())
    assert report.ok and "cutting-plane" in report.reason


@pytest.mark.parametrize(("style", "holes"), [("kt", 12), ("k", 9)])
def test_lwb_pigeonhole_shapes(style, holes):
    # kt: the cut refutes the main problem; k: a witness lemma generalised by cutting planes.
    res = prove(_lwb_php(style, holes, holes + 1), timeout=60)
    assert res.verdict == "valid"
    assert any(step[0] == "c" for step in _steps(res))
    assert check_result_document(res.to_document()).ok
    res = prove(_lwb_php(style, holes, holes), timeout=60)
    assert res.verdict == "invalid" and check_result_document(res.to_document()).ok


def _hard():
    """Validity of two XOR chains over 60 atoms in different orders: hard for CDCL, and
    the LP relaxation cannot refute it (all-1/2 satisfies every clause), so it stays hard."""
    rnd = random.Random(7)
    names = [Atom(f"x{i}") for i in range(60)]
    perm = names[:]
    rnd.shuffle(perm)

    def chain(atoms):
        f = atoms[0]
        for a in atoms[1:]:
            f = Iff(f, a)
        return f

    return Iff(Box(chain(names)), Box(chain(perm)))


def test_timeout_gives_unknown():
    res = prove(_hard(), timeout=0.3)
    assert (res.verdict, res.szs_status) == ("unknown", "Timeout")
    assert res.certificate is None and res.countermodel is None
    assert prove("[]p -> p", timeout=0).szs_status == "Timeout"


def test_the_search_stops_early_enough_for_what_comes_after_it_on_large_formulas(monkeypatch):
    # The search's deadline leaves the share of the limit for small formulas, and at least
    # END_MARGIN_SECONDS_PER_NODE per node for large ones (the countermodel's check and the
    # document grow with the formula); a limit shorter than that answers unknown at once.
    import time

    from workers.prover import search

    deadlines = []
    real = search._Watch.__init__

    def spy(self, deadline, should_stop):
        deadlines.append(deadline - time.monotonic())
        real(self, deadline, should_stop)

    monkeypatch.setattr(search._Watch, "__init__", spy)
    small = "[]p -> p"
    prove(small, timeout=10)
    assert 9.6 < deadlines[-1] <= 10 - search.END_MARGIN_SECONDS
    big = Or([Box(And([Atom(f"p{i}"), Atom(f"q{i}")])) for i in range(10_000)])
    assert big.size > 30_000
    node_margin = search.END_MARGIN_SECONDS_PER_NODE * big.size
    assert node_margin > search.END_MARGIN_SHARE * 1.0  # so it decides at a 1 s limit
    res = prove(big, timeout=1.0)
    assert res.verdict in ("invalid", "unknown")
    assert deadlines[-1] <= 1.0 - node_margin
    res = prove(big, timeout=node_margin / 2)
    assert (res.verdict, res.szs_status) == ("unknown", "Timeout")
    assert deadlines[-1] < 0


def test_should_stop_gives_user():
    assert prove("[]p -> p", should_stop=lambda: True).szs_status == "User"
    flag = threading.Event()
    threading.Timer(0.2, flag.set).start()
    res = prove(_hard(), timeout=60, should_stop=flag.is_set)
    assert (res.verdict, res.szs_status) == ("unknown", "User")


def test_should_stop_is_polled_during_a_long_solver_call():
    calls = []

    def should_stop():
        calls.append(time.monotonic())
        return len(calls) > 3

    res = prove(_hard(), timeout=60, should_stop=should_stop)
    assert res.szs_status == "User" and len(calls) > 3


def _one_world(atoms: list[str], true: list[str]) -> dict:
    """A one-world countermodel document (modelcheck's format)."""
    return {"relation": "universal", "atoms": atoms, "actual_world": "w0",
            "worlds": [{"id": "w0", "true_atoms": true}]}


def test_deep_nesting_does_not_recurse():
    f = Atom("p")
    for i in range(MAX_DEPTH - 1):
        f = Box(f) if i % 3 else Not(f)
    res = prove(f)
    # Only negations and boxes over one atom: where p is true at every world, or false at
    # every world, each subformula is constant, so one of the two models refutes f.
    assert res.verdict == "invalid"
    assert any(check_countermodel(f, _one_world(["p"], true))[0] for true in ([], ["p"]))
    assert check_result_document(res.to_document()).ok
    deep = parse_formula("[]" * 998 + "p -> p")
    res = prove(deep)
    assert res.verdict == "valid" and check_result_document(res.to_document()).ok


def test_large_formula():
    atoms_ = [Atom(f"p{i}") for i in range(40)]
    parts = []
    for i in range(1800):
        a, b, c = atoms_[i % 40], atoms_[(i * 7 + 3) % 40], atoms_[(i * 13 + 5) % 40]
        parts.append(Or([Box(a), Not(b), Box(Or([c, Not(a)]))]))
    f = Or([Not(And(parts)), Box(atoms_[0])])
    assert f.size <= 20_000
    res = prove(f, timeout=60)
    # Invalid: where every atom is false, each part holds by its ~b and []p0 fails.
    assert check_countermodel(f, _one_world([a.name for a in atoms_], []))[0]
    assert res.verdict == "invalid"
    assert check_result_document(res.to_document()).ok


def test_result_rejects_bad_status():
    with pytest.raises(ValueError):
        ProofResult("valid", "Maybe")


def test_certificate_budget_gives_an_explicit_omission(monkeypatch):
    from workers.prover import search

    monkeypatch.setattr(search, "MAX_PROOF_LITERALS", 0)
    res = prove("[](p -> q) -> ([]p -> []q)")
    assert res.verdict == "valid" and res.certificate is None
    assert "budget" in res.certificate_omitted
    doc = res.to_document()
    assert doc["certificate_format"] is None
    report = check_result_document(doc)
    assert not report.ok and "without a certificate" in report.reason


def test_certificate_can_be_skipped():
    res = prove("[]p -> p", certificate=False)
    assert res.verdict == "valid" and res.certificate is None
    assert res.certificate_omitted == "not requested"


def test_non_pxl_formula_nodes_are_input_errors():
    from workers.prover.syntax import UnaryNode

    class Someday(UnaryNode):
        __slots__ = ()
        kind = "someday"

    res = prove(Box(Someday(Atom("p"))))
    assert (res.verdict, res.szs_status) == ("unknown", "InputError")


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_the_collector_paused_by_a_proof_resumes_however_the_proof_ends(interrupt):
    # prove() pauses the cyclic GC; an exception out of the proof (Ctrl-C, Celery's
    # SoftTimeLimitExceeded raised by its signal handler, a bug) must not leave it paused for
    # the rest of the process, and a collector the caller had disabled stays disabled.
    import gc
    from unittest import mock

    from workers.prover import search

    def stop(*args, **kwargs):
        assert not gc.isenabled()  # paused while the proof runs
        raise interrupt("stopped")

    assert gc.isenabled()
    with mock.patch.object(search, "encode", stop), pytest.raises(interrupt):
        search.prove("[]p -> p", timeout=5)
    assert gc.isenabled()
    assert search.prove("[]p -> p", timeout=5).verdict == "valid"
    assert gc.isenabled()
    gc.disable()
    try:
        search.prove("[]p -> p", timeout=5)
        assert not gc.isenabled()
    finally:
        gc.enable()
