"""Two source trees on the same problems, interleaved: ``python bench/interleave.py FILE.jsonl
--tree before=DIR --tree after=. --out-dir OUT``.

Each ``--tree NAME=DIR`` gets its own long-lived Python process that imports the prover
from DIR (e.g. an older commit unpacked with ``git archive``); every problem is sent to
each tree in turn before the next problem, so load changes on a shared machine hit both
alike.  Per problem and tree the row is bench/run.py's: the text is read with
``read_formula`` and decided by ``prove`` (the time limit covers both; ``--explain``: with
the readable forms, as a proof job), then the answer's
evidence is checked by that tree's ``check_result_document`` outside the timed region.
Writes ``OUT/NAME.json`` per tree in bench/run.py's ``--json`` form (bench/plot_lwb.py
reads it) and prints a summary per tree.  Also ``--baseline``: a third column with
bench/baseline_s5.py's bare k-world solver (this tree's encoder) where its k-world
encoding stays under ``--baseline-max-literals`` (wall and CPU time, ``baseline.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

_WORKER = r"""
import importlib, inspect, json, sys, time
sys.path.insert(0, sys.argv[1])
from workers.prover import FormulaError, check_result_document, prove, read_formula
# What the prover imports on first use is loaded before the clock, as a worker does (a tree
# older than load_deferred_modules imports everything with the search).
search = importlib.import_module("workers.prover.search")
if hasattr(search, "load_deferred_modules"):
    search.load_deferred_modules()
# --explain: as a proof job (a tree older than the option always explained).
kw = {"explain": True} if sys.argv[2] == "1" and "explain" in inspect.signature(prove).parameters else {}
for line in sys.stdin:
    prob, timeout = json.loads(line)
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        formula = read_formula(prob["formula"])
    except FormulaError:
        formula = None
        res = prove(prob["formula"], timeout=timeout)
    t1 = time.perf_counter()
    if formula is not None:
        res = prove(formula, timeout=max(0.0, timeout - (t1 - t0)), **kw)
    t2, cpu2 = time.perf_counter(), time.process_time()
    row = {"id": prob["id"], "expected": prob.get("expected"), "verdict": res.verdict,
           "ms": round((t2 - t0) * 1000.0, 3), "parse_ms": round((t1 - t0) * 1000.0, 3),
           "prove_ms": round((t2 - t1) * 1000.0, 3), "cpu_ms": round((cpu2 - cpu0) * 1000.0, 3),
           "rounds": res.stats.get("rounds"),
           "lemmas": res.stats.get("lemmas"), "solver_calls": res.stats.get("solver_calls"),
           "certificate_omitted": res.certificate_omitted}
    doc = res.to_document()
    row["answer_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)  # with its document
    if res.verdict != "unknown":
        c0, ccpu0 = time.perf_counter(), time.process_time()
        report = check_result_document(doc)
        row.update(checked=report.ok, check_reason=report.reason,
                   check_ms=round((time.perf_counter() - c0) * 1000.0, 3),
                   check_cpu_ms=round((time.process_time() - ccpu0) * 1000.0, 3))
    print(json.dumps(row), flush=True)
"""

_BASELINE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/bench")
from baseline_s5 import baseline, k_world_literals
from workers.prover import read_formula
for line in sys.stdin:
    prob, limit = json.loads(line)
    formula = read_formula(prob["formula"])
    if k_world_literals(formula) > limit:
        print(json.dumps({"id": prob["id"], "skipped": True}), flush=True)
        continue
    t0, cpu0 = time.perf_counter(), time.process_time()
    valid = baseline(formula)
    print(json.dumps({"id": prob["id"], "verdict": "valid" if valid else "invalid",
                      "ms": round((time.perf_counter() - t0) * 1000.0, 3),
                      "cpu_ms": round((time.process_time() - cpu0) * 1000.0, 3)}), flush=True)
"""


def summary(rows: list[dict], timeout: float) -> dict:
    decided = [r for r in rows if r["verdict"] != "unknown"]
    times = [r["ms"] for r in rows]
    return {
        "problems": len(rows),
        "decided": len(decided),
        "unknown": len(rows) - len(decided),
        "wrong": sum(1 for r in decided if r["expected"] and r["verdict"] != r["expected"]),
        "evidence_failed": sum(1 for r in decided if not r.get("checked")),
        "certificates_omitted": sum(1 for r in decided if r["certificate_omitted"]),
        "late_answers": sum(1 for r in rows if r.get("answer_ms", r["ms"]) > timeout * 1000.0),
        "check_slower_than_prove": sum(
            1 for r in decided if r["verdict"] == "valid" and r.get("check_ms", 0) > r["ms"]
        ),
        # the same in CPU time of the tree's process (see bench/run.py)
        "check_slower_than_prove_cpu": sum(
            1 for r in decided
            if r["verdict"] == "valid" and r.get("check_cpu_ms", 0) > r.get("cpu_ms", 0)
        ),
        "median_ms": round(statistics.median(times), 3) if times else None,
        "max_ms": round(max(times), 3) if times else None,
        "total_s": round(sum(times) / 1000.0, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--tree", action="append", required=True, help="NAME=DIR")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--explain", action="store_true",
                    help="prove(explain=True), as a proof job (tableau and outline)")
    ap.add_argument("--baseline-max-literals", type=int, default=600_000)
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    workers = {}
    for spec in args.tree:
        name, _, root = spec.partition("=")
        workers[name] = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(Path(root).resolve()), str(int(args.explain))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
    base = None
    if args.baseline:
        base = subprocess.Popen(
            [sys.executable, "-c", _BASELINE, str(here)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
    rows: dict[str, list[dict]] = {name: [] for name in workers}
    base_rows: list[dict] = []
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        prob = json.loads(line)
        shown = []
        for name, proc in workers.items():
            proc.stdin.write(json.dumps([prob, args.timeout]) + "\n")
            proc.stdin.flush()
            row = json.loads(proc.stdout.readline())
            rows[name].append(row)
            bad = "" if row["verdict"] == "unknown" or row.get("checked") else " CHECK FAILED"
            shown.append(f"{name} {row['verdict']:8s} {row['ms']:9.1f} ms{bad}")
        if base is not None:
            base.stdin.write(json.dumps([prob, args.baseline_max_literals]) + "\n")
            base.stdin.flush()
            brow = json.loads(base.stdout.readline())
            base_rows.append(brow)
            if not brow.get("skipped"):
                ours = {r[-1]["verdict"] for r in rows.values()} - {"unknown"}
                clash = " DISAGREE" if ours and ours != {brow["verdict"]} else ""
                shown.append(f"baseline {brow['verdict']:8s} {brow['ms']:9.1f} ms{clash}")
        print(f"{prob['id']:32s} " + " | ".join(shown), file=sys.stderr, flush=True)
    for proc in [*workers.values(), *([base] if base is not None else [])]:
        proc.stdin.close()
        proc.wait()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, got in rows.items():
        doc = {"summary": summary(got, args.timeout), "problems": got}
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
        print(name, json.dumps(doc["summary"]))
    if base is not None:
        (out / "baseline.json").write_text(json.dumps(base_rows, indent=1), encoding="utf-8")
    return 1 if any(summary(g, args.timeout)["wrong"] or summary(g, args.timeout)[
        "evidence_failed"] for g in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
