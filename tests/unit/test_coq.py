"""The Coq kernel and exported proofs, checked by the real coqc/coqchk (Debian package coq).

The kernel is built once per run with ``pxl coq-check``'s own builder (api/cli/coq.py); a fresh
stamp in the checkout's build/coq (which .ci/run writes before the tests) is reused.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from api import metrics, provenance
from api.cli import coq as coqcli
from tests.environment import missing
from workers.prover import And, Atom, Box, Not, Or, parse_formula, prove
from workers.prover import certificate as cert
from workers.prover.coq import CoqExportError, export_certificate, export_proof
from workers.prover.encoding import encode
from workers.prover.search import make_worlds_certificate
from workers.settings import Settings

pytestmark = pytest.mark.slow

S5_AXIOMS = [
    "[](p -> q) -> ([]p -> []q)",  # K
    "[]p -> p",  # T
    "<>p -> []<>p",  # 5
    "p -> []<>p",  # B
    "[]p -> [][]p",  # 4
]


def php(holes: int) -> list:
    """The clauses of PHP(holes + 1, holes): every pigeon in a hole, no two in one."""
    x = {(i, j): Atom(f"x{i}_{j}") for i in range(holes + 1) for j in range(holes)}
    return [Or([x[i, j] for j in range(holes)]) for i in range(holes + 1)] + [
        Or([Not(x[i, j]), Not(x[k, j])])
        for j in range(holes)
        for i in range(holes + 1)
        for k in range(i + 1, holes + 1)
    ]

FIXTURE_THEOREMS = [
    "[](p | []q) -> []p | []q",
    "[](p -> q) & [](q -> r) & <>p -> <>r",
    "<>(p <-> ~[]q) | ~<>(p <-> ~[]q)",
    "(true & ~false) | (p <-> p)",
]


@pytest.fixture(scope="module")
def kernel() -> Path:
    if shutil.which("coqc") is None or shutil.which("coqchk") is None:
        missing("coqc/coqchk", "apt-get install coq")
    build_dir = coqcli.BUILD_DIR
    status = coqcli.ensure_kernel(build_dir)
    assert status.startswith("passed kernel-sha256="), status
    return build_dir


def _export(text: str) -> str:
    result = prove(parse_formula(text))
    assert result.verdict == "valid" and result.certificate
    return export_certificate(result.formula, result.certificate)


def _compile(text: str, kernel: Path, tmp_path: Path, name: str = "proof.v"):
    path = tmp_path / name
    path.write_text(text)
    return coqcli.compile_proof(path, kernel, timeout=120)


def test_kernel_stamp_is_a_passed_coqchk_with_only_the_classical_axiom(kernel):
    stamp = json.loads((kernel / coqcli.STAMP_NAME).read_text())
    assert stamp["status"] == "passed"
    assert stamp["assumptions"] == ["Classical_Prop.classic"]
    assert coqcli.coqchk_axioms(stamp["log"]) == {"Coq.Logic.Classical_Prop.classic"}
    modules = ("Kernel", "Checker", "Worlds", "Cuts")
    assert set(stamp["files"]) == {f"{m}{ext}" for m in modules for ext in (".v", ".vo")}
    # the stamp is of these sources
    for name in (f"{m}.v" for m in modules):
        assert (kernel / name).read_bytes() == (coqcli.COQ_SOURCES / name).read_bytes()
    # no Admitted anywhere, and the only axiom is the one imported from the standard library
    for name in (f"{m}.v" for m in modules):
        source = (coqcli.COQ_SOURCES / name).read_text()
        assert not re.search(r"\b(Admitted|Axiom|Parameter|Conjecture)\b", source), name


@pytest.mark.parametrize("text", S5_AXIOMS + FIXTURE_THEOREMS)
def test_exported_proofs_compile(text, kernel, tmp_path):
    ok, _, message = _compile(_export(text), kernel, tmp_path)
    assert ok, message
    assert message == "compiled; assumptions: Classical_Prop.classic"


def test_an_unhinted_v1_proof_is_hinted_then_compiles(kernel, tmp_path):
    formula = parse_formula("[]p -> p")
    proof = {"format": cert.FORMAT_V1, "encoding": cert.ENCODING, "kind": "lemmas", "steps": []}
    cert.check_proof(formula, proof)  # [root] is RUP over the encoding itself
    ok, _, message = _compile(export_proof(formula, proof), kernel, tmp_path)
    assert ok, message


def test_an_altered_certificate_does_not_compile(kernel, tmp_path):
    good = _export("[](p -> q) -> ([]p -> []q)")
    # one step altered: the necessitation of box 7 ([]q) claimed for box 6 ([]p)
    assert "SNec 14 7 " in good
    bad_nec = good.replace("SNec 14 7 ", "SNec 14 6 ")
    # one hint dropped from the final RUP check
    final = re.search(r"\[([0-9; ]+)\]%positive\.\n\nTheorem", good)
    hints = final.group(1).split("; ")
    bad_hint = good.replace(final.group(0), final.group(0).replace(final.group(1), "; ".join(hints[1:])))
    for i, text in enumerate((bad_nec, bad_hint)):
        assert text != good
        ok, _, message = _compile(text, kernel, tmp_path, f"bad{i}.v")
        assert not ok
        assert 'Unable to unify "true" with "false"' in message  # check returned false


def test_a_wrong_formula_is_not_proved_by_anothers_certificate(kernel, tmp_path):
    good = _export("[]p -> p")
    # the same certificate stated for []p -> q: the table no longer matches the formula
    bad = good.replace(' (FAtom "p"%string)).\n', ' (FAtom "q"%string)).\n', 1)
    assert bad != good
    ok, _, message = _compile(bad, kernel, tmp_path)
    assert not ok, message


def test_stamp_drives_the_header_the_metric_and_goes_stale(kernel, tmp_path):
    # provenance is computed once per process: an earlier test may have read this stamp
    # before the kernel fixture (re)built it
    provenance._computed.cache_clear()
    settings = Settings(coqchk_result_file=str(kernel / coqcli.STAMP_NAME))
    value = provenance.coqchk_status(settings.coqchk_result_file)
    assert re.fullmatch(r"passed kernel-sha256=[0-9a-f]{64} coqchk=8\.[0-9.]+", value), value
    text = metrics.render(["http"], settings).decode()
    assert 'pxl_coqchk_status{status="passed"} 1.0' in text
    assert 'pxl_coqchk_status{status="unchecked"} 0.0' in text
    copy = tmp_path / "kernel"
    shutil.copytree(kernel, copy)
    assert provenance.coqchk_status(copy / coqcli.STAMP_NAME) == value
    (copy / "Checker.vo").write_bytes(b"tampered")
    assert provenance.coqchk_status(copy / coqcli.STAMP_NAME).startswith("stale ")


def _worlds_proof(formula, k=None):
    """A ``worlds`` certificate as the prover makes one (the k-world encoding refuted on a
    DRUP-logging solver, then hinted), by default at k = 2^atoms; checked by the Python checker."""
    enc = encode(formula)
    proof, why = make_worlds_certificate(enc, k or 2 ** len(enc.atom_vars))
    assert proof is not None, why
    cert.check_proof(formula, proof)
    return proof


@pytest.mark.parametrize("text", ["[](p -> q) -> ([]p -> []q)", "<>p -> []<>p", "(p & q) -> p"])
def test_exported_worlds_proofs_compile(text, kernel, tmp_path):
    formula = parse_formula(text)
    ok, _, message = _compile(export_proof(formula, _worlds_proof(formula)), kernel, tmp_path)
    assert ok, message


def test_an_altered_worlds_proof_does_not_compile(kernel, tmp_path):
    formula = parse_formula("[](p -> q) -> ([]p -> []q)")
    proof = _worlds_proof(formula)
    final = proof["steps"][-1]
    assert final[1] == [] and len(final[2]) > 1
    bad = {**proof, "steps": [*proof["steps"][:-1], ["a", [], final[2][1:]]]}  # a hint dropped
    ok, _, message = _compile(export_proof(formula, bad), kernel, tmp_path)
    assert not ok
    assert 'Unable to unify "true" with "false"' in message


def test_fewer_worlds_than_the_bound_prove_nothing(kernel, tmp_path):
    # <>p -> p is invalid, but one world refutes its k-world encoding (the witness of <>p would
    # need a second world); both bounds ask for 2 worlds, so the Coq check must fail
    formula = parse_formula("<>p -> p")
    proof, why = make_worlds_certificate(encode(formula), 1)
    assert proof is not None, why
    ok, _, message = _compile(export_proof(formula, proof), kernel, tmp_path)
    assert not ok
    assert 'Unable to unify "true" with "false"' in message


def test_worlds_proofs_at_the_boxes_plus_one_bound_compile(kernel, tmp_path):
    # ~[](PHP(5, 4)): one box, so 2 worlds suffice although there are 20 atoms
    formula = Not(Box(And(php(4))))
    proof = _worlds_proof(formula, k=2)
    ok, _, message = _compile(export_proof(formula, proof), kernel, tmp_path)
    assert ok, message


def test_cutting_plane_proofs_compile_and_an_altered_multiplier_does_not(kernel, tmp_path):
    # ~[](PHP(10, 9)): resolution needs exponentially many steps, the prover's LP cut one
    formula = Not(Box(And(php(9))))
    result = prove(formula)
    proof = cert.decode(result.certificate)
    assert any(step[0] == "c" for step in proof["steps"])
    good = export_certificate(formula, result.certificate)
    assert "CCut " in good and "check_cuts_sound" in good
    ok, _, message = _compile(good, kernel, tmp_path)
    assert ok, message
    # one row's multiplier set to 0: the combination no longer exceeds the box maximum
    assert "[((1 # 1)%Q, " in good
    bad = good.replace("[((1 # 1)%Q, ", "[((0 # 1)%Q, ", 1)
    ok, _, message = _compile(bad, kernel, tmp_path, "bad.v")
    assert not ok
    assert 'Unable to unify "true" with "false"' in message


def test_uncovered_kinds_are_refused_with_the_reason():
    formula = parse_formula("[]p -> p")
    doc = prove(formula)
    proof = cert.decode(doc.certificate)
    with pytest.raises(CoqExportError, match="kind 'modal'"):
        export_proof(formula, {**proof, "kind": "modal"})
    with pytest.raises(CoqExportError, match="does not check"):
        export_certificate(formula, "bm90IGpzb24=")
