"""Benchmark runner: ``python bench/run.py FILE.jsonl [--timeout 10] [--json]``.

Each line of FILE is ``{"id", "formula", "expected"}`` (expected: valid/invalid;
the formula in PXL text syntax).  Every problem is read with ``read_formula``
as a client's text would be (limits enforced) and then decided by ``prove``;
times are reported for both together and for ``prove`` alone.  Every answer's
evidence is checked with
``check_result_document`` (the independent certificate checker / model
checker), outside the timed region.  Prints solved, wrong, unknown, median and
total prover time, and how many certificates were checked or omitted.  Late answers are
counted on the answer with its document: read + prove + the result document
(``answer_ms``), against ``--timeout``.  ``--explain``: ``prove(explain=True)``, as a
proof job (with the tableau and outline).  What the prover imports on first use is loaded
before the first problem, as a worker does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.prover import (  # noqa: E402
    FormulaError,
    check_result_document,
    prove,
    read_formula,
)
from workers.prover.search import load_deferred_modules  # noqa: E402


def run(path: str, timeout: float, check: bool, explain: bool = False) -> dict:
    load_deferred_modules()
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        prob = json.loads(line)
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            formula = read_formula(prob["formula"])
        except FormulaError as exc:
            formula = None
            res = prove(prob["formula"], timeout=timeout)  # the InputError result
            print(f"{prob['id']}: input error: {exc}".splitlines()[0], file=sys.stderr)
        t1 = time.perf_counter()
        if formula is not None:
            # The time limit covers reading the text too, as for a job (workers/runners.py).
            res = prove(formula, timeout=max(0.0, timeout - (t1 - t0)), explain=explain)
        t2, cpu2 = time.perf_counter(), time.process_time()
        ms = (t2 - t0) * 1000.0
        row = {
            "id": prob["id"],
            "expected": prob.get("expected"),
            "verdict": res.verdict,
            "szs_status": res.szs_status,
            "ms": round(ms, 3),
            "parse_ms": round((t1 - t0) * 1000.0, 3),
            "prove_ms": round((t2 - t1) * 1000.0, 3),
            "cpu_ms": round((cpu2 - cpu0) * 1000.0, 3),  # parse + prove, this process's CPU
            "lemmas": res.stats.get("lemmas"),
            "solver_calls": res.stats.get("solver_calls"),
            "certificate_omitted": res.certificate_omitted,
        }
        doc = res.to_document()
        # The answer with its document, as a job returns it (workers/runners.py).
        row["answer_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
        if check and res.verdict != "unknown":
            c0, ccpu0 = time.perf_counter(), time.process_time()
            report = check_result_document(doc)
            row["check_ms"] = round((time.perf_counter() - c0) * 1000.0, 3)
            row["check_cpu_ms"] = round((time.process_time() - ccpu0) * 1000.0, 3)
            row["checked"] = report.ok
            row["check_reason"] = report.reason
        rows.append(row)
        print(
            f"{row['id']:40s} {row['expected'] or '?':8s} {row['verdict']:8s} "
            f"{row['ms']:10.1f} ms  {'' if 'checked' not in row else ('checked' if row['checked'] else 'CHECK FAILED: ' + row['check_reason'])}",
            file=sys.stderr,
        )
    times = [r["ms"] for r in rows]
    decided = [r for r in rows if r["verdict"] != "unknown"]
    summary = {
        "file": path,
        "timeout_s": timeout,
        "problems": len(rows),
        "solved": sum(1 for r in decided if r["verdict"] == r["expected"]),
        "wrong": sum(1 for r in decided if r["expected"] and r["verdict"] != r["expected"]),
        "unknown": len(rows) - len(decided),
        "median_ms": round(statistics.median(times), 3) if times else None,
        "total_s": round(sum(times) / 1000.0, 3),
        "median_prove_ms": round(statistics.median(r["prove_ms"] for r in rows), 3)
        if rows
        else None,
        "median_parse_ms": round(statistics.median(r["parse_ms"] for r in rows), 3)
        if rows
        else None,
        "max_ms": round(max(times), 3) if times else None,
        "valid_answers": sum(1 for r in decided if r["verdict"] == "valid"),
        "invalid_answers": sum(1 for r in decided if r["verdict"] == "invalid"),
        "certificates_omitted": sum(1 for r in decided if r["certificate_omitted"]),
        "evidence_checked": sum(1 for r in decided if r.get("checked")),
        "evidence_failed": sum(1 for r in decided if "checked" in r and not r["checked"]),
        "check_total_s": round(sum(r.get("check_ms", 0) for r in rows) / 1000.0, 3),
        # Valid answers: checking a certificate (from the document's text: parse, encode,
        # replay) must not take longer than proving (from the text: parse + prove).
        "check_slower_than_prove": sum(
            1 for r in decided if r["verdict"] == "valid" and r.get("check_ms", 0) > r["ms"]
        ),
        "max_check_over_prove": max(
            (round(r["check_ms"] / r["ms"], 2) for r in decided
             if r["verdict"] == "valid" and "check_ms" in r and r["ms"] > 0),
            default=None,
        ),
        # The same in CPU time of this process (parse + prove against the check): on a
        # shared machine a wall-clock time of a few ms can include another process's turn.
        "check_slower_than_prove_cpu": sum(
            1 for r in decided
            if r["verdict"] == "valid" and r.get("check_cpu_ms", 0) > r["cpu_ms"]
        ),
        "max_check_over_prove_cpu": max(
            (round(r["check_cpu_ms"] / r["cpu_ms"], 2) for r in decided
             if r["verdict"] == "valid" and "check_cpu_ms" in r and r["cpu_ms"] > 0),
            default=None,
        ),
        # Answers (parse + prove) that arrived after the time limit.
        "late_answers": sum(1 for r in rows if r["answer_ms"] > timeout * 1000.0),
        "max_over_limit_ms": round(max((r["answer_ms"] - timeout * 1000.0 for r in rows),
                                       default=0.0), 3),
    }
    return {"summary": summary, "problems": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    ap.add_argument("--no-check", action="store_true", help="skip checking the evidence")
    ap.add_argument("--explain", action="store_true", help="prove(explain=True), as a proof job")
    args = ap.parse_args(argv)
    out = run(args.file, args.timeout, not args.no_check, args.explain)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out["summary"].items():
            print(f"{key:22s} {value}")
    return 1 if out["summary"]["wrong"] or out["summary"]["evidence_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
