"""The benchmark runner counts solved, wrong and unknown answers and checks evidence."""

import importlib.util
import json
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _runner():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runner_counts(tmp_path):
    problems = [
        {"id": "t", "formula": "[]p -> p", "expected": "valid"},
        {"id": "b", "formula": "p -> []p", "expected": "invalid"},
        {"id": "w", "formula": "<>p -> []<>p", "expected": "invalid"},  # deliberately wrong label
        {"id": "e", "formula": "p ->", "expected": "valid"},
    ]
    path = tmp_path / "mini.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in problems) + "\n", encoding="utf-8")
    out = _runner().run(str(path), timeout=5, check=True)
    summary = out["summary"]
    assert (summary["solved"], summary["wrong"], summary["unknown"]) == (2, 1, 1)
    assert summary["evidence_checked"] == 3 and summary["evidence_failed"] == 0
    assert summary["certificates_omitted"] == 0
    assert summary["late_answers"] == 0
    assert all(r["answer_ms"] >= r["ms"] for r in out["problems"])
    # Late is counted on the answer with its document: with no time at all, every answer.
    assert _runner().run(str(path), timeout=0, check=False)["summary"]["late_answers"] == 4
    assert _runner().main([str(path), "--timeout", "5", "--no-check"]) == 1
