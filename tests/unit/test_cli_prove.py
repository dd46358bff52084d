"""`pxl prove` and `pxl check`, end to end with the real prover and checkers."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import main
from workers.prover.limits import MAX_TEXT_BYTES
from workers.prover.modelcheck import check_countermodel
from workers.prover.parser import parse_formula
from workers.prover.syntax import postorder

PXL = Path(sys.executable).parent / "pxl"

VALID = "[](p -> q) -> ([]p -> []q)"
VALID_CANONICAL = "[](p -> q) -> []p -> []q"
INVALID = "<>p & <>q -> <>(p & q)"


def world_bound(text: str) -> int:
    """A sound bound on the worlds a countermodel needs: the actual world plus one witness
    per modal subformula (a false box or a true diamond); the prover's are no larger."""
    return 1 + sum(node.kind in ("box", "dia") for node in postorder(parse_formula(text)))


def run(argv, capsys, stdin: str | None = None, monkeypatch=None):
    """Run `pxl ARGV` in-process: (exit status, stdout, stderr)."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse exits for usage errors and --help
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


# -- pxl prove -----------------------------------------------------------------


def test_valid_exits_0_with_proof_summary(capsys):
    status, out, err = run(["prove", VALID], capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "valid (SZS status: Theorem)"
    assert lines[1] == f"formula: {VALID_CANONICAL}"
    assert any(line.startswith("proof: certificate pxl-s5-cert/2") for line in lines)
    assert "trace:" in lines and any(line.startswith("stats: nodes=") for line in lines)


def test_coq_writes_a_proof_of_the_formula(capsys, tmp_path):
    target = tmp_path / "k.v"
    status, _, err = run(["prove", "--coq", str(target), VALID], capsys)
    assert status == 0, err
    assert f"Coq proof written to {target}" in err
    text = target.read_text()
    assert "Theorem formula_valid : s5_valid formula." in text
    assert '(FBox (FImp (FAtom "p"%string) (FAtom "q"%string)))' in text
    # (tests/unit/test_coq.py compiles such files with coqc)


def test_coq_without_a_valid_verdict_writes_nothing(capsys, tmp_path):
    target = tmp_path / "k.v"
    status, _, err = run(["prove", "--coq", str(target), INVALID], capsys)
    assert status == 1
    assert "no Coq proof written (invalid" in err
    assert not target.exists()


def test_invalid_exits_1_with_countermodel(capsys):
    status, out, _ = run(["prove", INVALID], capsys)
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "invalid (SZS status: CounterSatisfiable)"
    (summary,) = [line for line in lines if line.startswith("countermodel: ")]
    n = int(summary.split()[1])
    assert 2 <= n <= world_bound(INVALID)  # one world cannot refute it
    world_lines = [line for line in lines if line.startswith("  w")]
    assert len(world_lines) == n and sum("<- actual" in line for line in world_lines) == 1


def test_unknown_exits_2(capsys):
    # A deadline that has passed before the search starts: the prover must say unknown.
    status, out, _ = run(["prove", "--timeout", "1e-9", VALID], capsys)
    assert status == 2
    assert out.splitlines()[0] == "unknown (SZS status: Timeout)"


@pytest.mark.parametrize(
    ("formula", "position"),
    [
        ("p &", "line 1, column 4"),
        ("(p | q", "line 1, column 1"),
        ("p $ q", "line 1, column 3"),
        ("BOX & p", "line 1, column 1"),
        ("", "line 1, column 1"),
    ],
)
def test_bad_formula_exits_3_with_position_and_caret(capsys, formula, position):
    status, out, err = run(["prove", formula], capsys)
    assert status == 3 and out == ""
    first, source, caret = err.splitlines()
    assert first.startswith(f"pxl prove: bad formula: {position}: ")
    assert source == formula and caret.strip() == "^"
    column = int(position.rsplit(" ", 1)[1])
    assert caret.index("^") == column - 1


def test_limits_exit_3(capsys):
    status, _, err = run(["prove", "p" * (MAX_TEXT_BYTES + 1)], capsys)
    assert status == 3 and "MAX_TEXT_BYTES" in err
    status, _, err = run(["prove", "~" * 5000 + "p"], capsys)
    assert status == 3 and "MAX_DEPTH" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["prove"],
        ["prove", "--timeout", "soon", "p"],
        ["prove", "--timeout", "0", "p"],
        ["prove", "--timeout", "-1", "p"],
        ["prove", "--timeout", "nan", "p"],
        ["prove", "--bogus", "p"],
        ["prove", "p", "q"],
        ["prove", "p", "--file", "f.pxl"],
        ["check"],
    ],
)
def test_usage_errors_exit_3_not_2(capsys, argv):
    status, out, err = run(argv, capsys)
    assert status == 3, (status, err)
    assert "error:" in err and out == ""


def test_json_prints_the_result_document(capsys):
    status, out, _ = run(["prove", "--json", VALID], capsys)
    assert status == 0
    doc = json.loads(out)
    assert set(doc) >= {"verdict", "szs_status", "formula", "countermodel", "certificate",
                        "certificate_format", "trace", "stats", "elapsed_ms"}  # fmt: skip
    assert doc["verdict"] == "valid" and doc["szs_status"] == "Theorem"
    assert doc["formula"] == VALID_CANONICAL and doc["countermodel"] is None
    assert isinstance(doc["certificate"], str) and base64.b64decode(doc["certificate"])
    assert all(isinstance(step, str) for step in doc["trace"])
    # the API's document: the readable forms the console draws are included
    assert doc["tableau"] is not None and doc["outline"] is not None

    status, out, _ = run(["prove", "--json", INVALID], capsys)
    doc = json.loads(out)
    assert status == 1 and doc["verdict"] == "invalid" and doc["certificate"] is None
    ok, why = check_countermodel(parse_formula(INVALID), doc["countermodel"])
    assert ok, why
    assert len(doc["countermodel"]["worlds"]) <= world_bound(INVALID)


def test_formula_from_stdin(capsys, monkeypatch):
    status, out, _ = run(["prove", "-"], capsys, stdin="[]p\n  -> p\n", monkeypatch=monkeypatch)
    assert status == 0 and out.startswith("valid")


def test_bad_formula_from_stdin_names_the_source(capsys, monkeypatch):
    status, _, err = run(["prove", "-"], capsys, stdin="p ->\n  (q", monkeypatch=monkeypatch)
    assert status == 3
    assert err.startswith("pxl prove: bad formula: <stdin>: line 2, column 3: '(' is never closed")


def test_formula_from_file(capsys, tmp_path):
    path = tmp_path / "f.pxl"
    path.write_text("□p → ◇p\n", encoding="utf-8")
    status, out, _ = run(["prove", "--file", str(path)], capsys)
    assert status == 0 and "formula: []p -> <>p" in out
    path.write_text("p -> []p", encoding="utf-8")
    assert run(["prove", "-f", str(path)], capsys)[0] == 1


def test_unreadable_file_exits_3(capsys, tmp_path):
    status, _, err = run(["prove", "--file", str(tmp_path / "missing.pxl")], capsys)
    assert status == 3 and "cannot read" in err
    binary = tmp_path / "bin.pxl"
    binary.write_bytes(b"p \xff q")
    status, _, err = run(["prove", "--file", str(binary)], capsys)
    assert status == 3 and "not UTF-8" in err


def test_json_form_input(capsys, tmp_path):
    formula = {"implies": [{"box": {"atom": "p"}}, {"atom": "p"}]}
    status, out, _ = run(["prove", json.dumps(formula)], capsys)
    assert status == 0 and "formula: []p -> p" in out
    status, _, err = run(["prove", '{"and": [{"atom": "p"}]}'], capsys)
    assert status == 3 and "at /and: and takes two or more formulas" in err
    status, _, err = run(["prove", '{"atom": '], capsys)
    assert status == 3 and "invalid JSON" in err and "line 1, column 10" in err


# -- pxl check -----------------------------------------------------------------


@pytest.fixture
def documents(tmp_path, capsys):
    """Saved result documents: (valid path, invalid path)."""
    paths = []
    for formula, name in ((VALID, "valid.json"), (INVALID, "invalid.json")):
        _, out, _ = run(["prove", "--json", formula], capsys)
        path = tmp_path / name
        path.write_text(out, encoding="utf-8")
        paths.append(path)
    return paths


def test_check_accepts_good_documents(capsys, documents, monkeypatch):
    valid, invalid = documents
    status, out, _ = run(["check", str(valid)], capsys)
    assert status == 0 and out.startswith("ok: certificate")
    status, out, _ = run(["check", "-"], capsys, stdin=invalid.read_text(), monkeypatch=monkeypatch)
    assert status == 0 and out.startswith("ok: countermodel")


def rewrite(path: Path, change) -> Path:
    doc = json.loads(path.read_text())
    before = json.dumps(doc, sort_keys=True)
    change(doc)
    assert json.dumps(doc, sort_keys=True) != before, "the mutation changed nothing"
    out = path.with_name("changed-" + path.name)
    out.write_text(json.dumps(doc))
    return out


def _swap_formula(doc):
    doc["formula"] = "[](p -> q) -> ([]q -> []p)"


def _change_proof(doc, change_steps):
    proof = json.loads(base64.b64decode(doc["certificate"]))
    proof["steps"] = change_steps(proof["steps"])
    doc["certificate"] = base64.b64encode(json.dumps(proof).encode()).decode()


def _drop_necessitations(doc):
    # The K axiom needs necessitation; without it the root is not RUP.
    _change_proof(doc, lambda steps: [s for s in steps if s[0] != "n"])


def _negate_lemma_box(doc):
    _change_proof(doc, lambda steps: [[s[0], -s[1], *s[2:]] if s[0] == "n" else s for s in steps])


def _garble_certificate(doc):
    doc["certificate"] = doc["certificate"][:-8] + "AAAAAAAA"


def _drop_certificate(doc):
    doc["certificate"] = None


def _make_unknown(doc):
    doc["verdict"] = "unknown"


@pytest.mark.parametrize(
    "change",
    [
        _swap_formula,
        _drop_necessitations,
        _negate_lemma_box,
        _garble_certificate,
        _drop_certificate,
        _make_unknown,
    ],
)
def test_check_rejects_corrupted_proof_documents(capsys, documents, change):
    status, out, err = run(["check", str(rewrite(documents[0], change))], capsys)
    assert status == 1 and out == ""
    assert err.startswith("rejected: ")


def _atoms_everywhere(doc):
    for world in doc["countermodel"]["worlds"]:
        world["true_atoms"] = ["p", "q"]


def _drop_countermodel(doc):
    doc["countermodel"] = None


def _claim_valid(doc):
    doc["verdict"] = "valid"


@pytest.mark.parametrize("change", [_atoms_everywhere, _drop_countermodel, _claim_valid])
def test_check_rejects_corrupted_countermodels(capsys, documents, change):
    status, _, err = run(["check", str(rewrite(documents[1], change))], capsys)
    assert status == 1 and err.startswith("rejected: ")


def test_check_rejects_non_documents(capsys, tmp_path, documents):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(documents[0].read_text()[:40])
    status, _, err = run(["check", str(truncated)], capsys)
    assert status == 3 and "is not a JSON document" in err  # bad input, as --help says
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    status, _, err = run(["check", str(deep)], capsys)
    assert status == 3 and "nested too deeply" in err
    status, _, err = run(["check", str(tmp_path / "missing.json")], capsys)
    assert status == 3 and "cannot read" in err


# -- through the installed console script ---------------------------------------


def pxl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PXL), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_console_script_exit_statuses(tmp_path):
    assert pxl("prove", VALID).returncode == 0
    assert pxl("prove", INVALID).returncode == 1
    assert pxl("prove", "--timeout", "1e-9", VALID).returncode == 2
    bad = pxl("prove", "p ->")
    assert bad.returncode == 3 and "line 1, column 5" in bad.stderr and bad.stdout == ""
    assert pxl("prove", "--nope").returncode == 3


def test_console_script_prove_json_then_check(tmp_path):
    done = pxl("prove", "--json", "-", stdin="[]<>p -> <>p")
    assert done.returncode == 0
    path = tmp_path / "result.json"
    path.write_text(done.stdout)
    checked = pxl("check", str(path))
    assert checked.returncode == 0 and checked.stdout.startswith("ok: ")
    doc = json.loads(done.stdout)
    doc["formula"] = "<>p -> []p"  # invalid: no certificate may pass for it
    path.write_text(json.dumps(doc))
    rejected = pxl("check", str(path))
    assert rejected.returncode == 1 and rejected.stderr.startswith("rejected: ")


def test_traces_count_in_singular_and_plural(capsys):
    status, out, _ = run(["prove", "p"], capsys)  # one node, one clause, one world
    assert status == 1
    assert "encoded 1 node as one S5 world: 2 variables, 1 clause, 0 distinct boxes" in out
    assert "countermodel: 1 world," in out and "countermodel with 1 world\n" in out
    assert "(1 world, universal relation)" in out
    status, out, _ = run(["prove", "<>p -> []p"], capsys)
    assert "countermodel: 2 worlds," in out and "(2 worlds, universal relation)" in out


def test_prove_imports_neither_the_service_settings_nor_scipy():
    # Start-up time of a one-shot `pxl prove` (docs/benchmarks.md): pydantic and the settings
    # belong to the service commands, scipy to the prover's LP (pigeonhole-like problems only),
    # pysat.solvers to DRUP-logged certificates, ctypes to their solver, the tableau to
    # explained proofs (--json).
    code = ("import sys; from api.cli import main; status = main(['prove', '[]p -> p']); "
            "print(sorted(m for m in ('pydantic', 'pydantic_settings', 'workers.settings', "
            "'scipy', 'numpy', 'dataclasses', 'api.provenance', 'pysat.solvers', 'ctypes', "
            "'workers.prover.tableau') if m in sys.modules)); "
            "sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# -- output that cannot be written (`run`, the console script, leaves with os._exit) -------

RUN = "import sys; from api.cli import run; run()"


def _buffered_env() -> dict:
    """The environment without PYTHONUNBUFFERED: a file or pipe on stdout is block-buffered,
    as for most users, so a write error can surface only when the output is flushed."""
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _no_file_growth() -> None:
    import resource

    # Writes to regular files fail (EFBIG, as on a full disk); Python ignores SIGXFSZ.
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("command", ["prove", "prove --json", "check"])
def test_output_that_cannot_be_written_is_an_error_not_the_answer(tmp_path, command,
                                                                   unbuffered):
    # `pxl check doc > out` on a full disk must not exit 0 ("it holds") with nothing written,
    # nor `pxl prove` exit 1 ("invalid") for a valid formula: 120 and a line on stderr, as
    # the interpreter itself answers when it cannot flush standard output.
    document = tmp_path / "valid.json"
    document.write_text(pxl("prove", "--json", VALID).stdout)
    argv = {"prove": ["prove", VALID], "prove --json": ["prove", "--json", VALID],
            "check": ["check", str(document)]}[command]
    env = _buffered_env()
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    out = tmp_path / "out.txt"
    with out.open("wb") as sink:
        done = subprocess.run([sys.executable, "-c", RUN, *argv], stdout=sink,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=120,
                              preexec_fn=_no_file_growth, check=False)
    assert out.read_bytes() == b""
    assert done.returncode == 120, done.stderr
    assert "cannot write the output" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("command", ["prove", "check"])
def test_a_closed_pipe_keeps_the_answer_in_the_exit_status(tmp_path, command, unbuffered):
    # `pxl prove … | head -0`, `pxl check doc | true`: nobody reads the output; the verdict
    # (prove) or the check's outcome is still the exit status, without a traceback.
    import os

    document = tmp_path / "valid.json"
    document.write_text(pxl("prove", "--json", VALID).stdout)
    argv = ["prove", VALID] if command == "prove" else ["check", str(document)]
    env = _buffered_env()
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the child writes: every write is EPIPE
    try:
        done = subprocess.run([sys.executable, "-c", RUN, *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=120,
                              check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
