"""Plot time against size per LWB class: ``python bench/plot_lwb.py PROBLEMS.jsonl RUN.json OUT.png``.

PROBLEMS.jsonl is bench/gen_lwb.py's output (it knows each problem's node count), RUN.json
is ``bench/run.py PROBLEMS.jsonl --json``.  Further ``--before RUN.json`` files (e.g. an
older commit on the same problems) are drawn dashed.  Unknown answers (time limit) are
drawn as crosses at the limit.  Needs matplotlib (``pip install matplotlib``; it is not a
dependency of the service).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def series(problems: dict[str, dict], run: dict) -> dict[str, list[tuple[int, float, bool]]]:
    out: dict[str, list[tuple[int, float, bool]]] = defaultdict(list)
    for row in run["problems"]:
        prob = problems.get(row["id"])
        if prob is None:
            continue
        out[prob["family"].removeprefix("lwb-")].append(
            (prob["size"], row["ms"] / 1000.0, row["verdict"] != "unknown")
        )
    return {k: sorted(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("problems")
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--before", action="append", default=[], help="an earlier run.json")
    ap.add_argument("--title", default="S5 prover on LWB classes (parse + prove)")
    args = ap.parse_args(argv)
    problems = {}
    for line in Path(args.problems).read_text(encoding="utf-8").splitlines():
        if line.strip():
            prob = json.loads(line)
            problems[prob["id"]] = prob
    now = series(problems, json.loads(Path(args.run).read_text()))
    befores = [series(problems, json.loads(Path(b).read_text())) for b in args.before]
    fig, ax = plt.subplots(figsize=(9, 6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (family, points) in enumerate(sorted(now.items())):
        colour = colours[i % len(colours)]
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.plot(xs, ys, "-o", color=colour, label=family, markersize=4)
        for x, y, ok in points:
            if not ok:
                ax.plot([x], [y], "x", color=colour, markersize=9)
        for before in befores:
            old = before.get(family)
            if old:
                ax.plot([p[0] for p in old], [p[1] for p in old], "--", color=colour, alpha=0.5)
    ax.set_xlabel("formula size (nodes)")
    ax.set_ylabel("seconds (x: no answer within the limit)")
    ax.set_title(args.title + ("; dashed: before" if befores else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
