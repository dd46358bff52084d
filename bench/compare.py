"""Summarise a bench/interleave.py run per problem set, in CPU time:
``python bench/compare.py OUT_DIR --set sample=bench/sample.jsonl --set lwb=LWB.jsonl ...``.

Reads ``OUT_DIR/before.json`` and ``OUT_DIR/after.json`` (``--before``/``--after`` name other
trees) and, when present, ``OUT_DIR/baseline.json`` (``--baseline``).  Per set: answers,
unknown, wrong, evidence failed, CPU seconds of each tree, after/before of the totals, the
median and the largest per-problem CPU ratio; against the bare k-world baseline (where it
ran): the median per-problem ratio and the totals on those problems.  For problems from
bench/gen_lwb.py (with a ``size``): per class, the exponent of CPU time against size from the
third size to the largest (the slope in log-log), before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path


def _rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in json.loads(path.read_text(encoding="utf-8"))["problems"]}


def _exponent(points: list[tuple[int, float]]) -> float | None:
    points = sorted(points)[2:]
    if len(points) < 2 or points[0][1] <= 0 or points[-1][1] <= 0:
        return None
    (x0, y0), (x1, y1) = points[0], points[-1]
    return math.log(y1 / y0) / math.log(x1 / x0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--set", action="append", required=True, help="NAME=PROBLEMS.jsonl")
    ap.add_argument("--before", default="before")
    ap.add_argument("--after", default="after")
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    before, after = _rows(out / f"{args.before}.json"), _rows(out / f"{args.after}.json")
    base_path = out / "baseline.json"
    base = {}
    if base_path.exists():
        base = {
            r["id"]: r for r in json.loads(base_path.read_text(encoding="utf-8"))
            if not r.get("skipped") and "cpu_ms" in r
        }
    for spec in args.set:
        name, _, path = spec.partition("=")
        probs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        ids = [p["id"] for p in probs if p["id"] in before and p["id"] in after]
        print(f"== {name}: {len(ids)} problems")
        for tree, rows in ((args.before, before), (args.after, after)):
            got = [rows[i] for i in ids]
            decided = [r for r in got if r["verdict"] != "unknown"]
            wrong = sum(1 for r in decided if r.get("expected") and r["verdict"] != r["expected"])
            failed = sum(1 for r in decided if not r.get("checked"))
            omitted = sum(1 for r in decided if r.get("certificate_omitted"))
            print(f"  {tree:8s} answered {len(decided)}, unknown {len(got) - len(decided)}, "
                  f"wrong {wrong}, evidence failed {failed}, certificates omitted {omitted}, "
                  f"CPU {sum(r['cpu_ms'] for r in got) / 1000:.2f} s, "
                  f"median {statistics.median(r['cpu_ms'] for r in got):.1f} ms, "
                  f"max {max(r['cpu_ms'] for r in got) / 1000:.2f} s")
        ratios = sorted((after[i]["cpu_ms"] / max(before[i]["cpu_ms"], 1e-3), i) for i in ids)
        tb = sum(before[i]["cpu_ms"] for i in ids)
        ta = sum(after[i]["cpu_ms"] for i in ids)
        print(f"  CPU after/before: total {ta / tb:.2f}, median {statistics.median(r for r, _ in ratios):.2f}, "
              f"min {ratios[0][0]:.2f} ({ratios[0][1]}), max {ratios[-1][0]:.2f} ({ratios[-1][1]})")
        with_base = [i for i in ids if i in base and base[i]["cpu_ms"] > 0]
        if with_base:
            for tree, rows in ((args.before, before), (args.after, after)):
                rs = [rows[i]["cpu_ms"] / base[i]["cpu_ms"] for i in with_base]
                worst = max(with_base, key=lambda i: rows[i]["cpu_ms"] / base[i]["cpu_ms"])
                print(f"  vs baseline ({len(with_base)} problems), {tree}: median ratio "
                      f"{statistics.median(rs):.2f}, max {max(rs):.2f} ({worst}), total "
                      f"{sum(rows[i]['cpu_ms'] for i in with_base) / 1000:.2f} s vs "
                      f"{sum(base[i]['cpu_ms'] for i in with_base) / 1000:.2f} s")
        classes: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(
            lambda: {"b": [], "a": []})
        for p in probs:
            if "size" in p and p["id"] in ids and p["family"].startswith("lwb-"):
                classes[p["family"]]["b"].append((p["size"], before[p["id"]]["cpu_ms"]))
                classes[p["family"]]["a"].append((p["size"], after[p["id"]]["cpu_ms"]))
        for family, pts in sorted(classes.items()):
            if len(pts["b"]) < 4:  # not a generated class (the sample has one or two per class)
                continue
            eb, ea = _exponent(pts["b"]), _exponent(pts["a"])
            tb = sum(y for _, y in pts["b"]) / 1000
            ta = sum(y for _, y in pts["a"]) / 1000
            fmt = lambda e: "-" if e is None else f"{e:.2f}"  # noqa: E731
            print(f"  {family:22s} exponent {fmt(eb)} -> {fmt(ea)}, CPU {tb:.2f} -> {ta:.2f} s "
                  f"({ta / tb if tb else float('nan'):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
