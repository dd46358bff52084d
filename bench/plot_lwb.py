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


def series(
    problems: dict[str, dict], run: dict, key: str = "ms"
) -> dict[str, list[tuple[int, float, bool]]]:
    out: dict[str, list[tuple[int, float, bool]]] = defaultdict(list)
    for row in run["problems"]:
        prob = problems.get(row["id"])
        if prob is None or "size" not in prob:  # not from gen_lwb.py (e.g. random ones)
            continue
        out[prob["family"].removeprefix("lwb-")].append(
            (prob["size"], row.get(key, row["ms"]) / 1000.0, row["verdict"] != "unknown")
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
    ap.add_argument("--cpu", action="store_true",
                    help="plot the process CPU time (bench/interleave.py's cpu_ms), not wall")
    args = ap.parse_args(argv)
    key = "cpu_ms" if args.cpu else "ms"
    problems = {}
    for line in Path(args.problems).read_text(encoding="utf-8").splitlines():
        if line.strip():
            prob = json.loads(line)
            problems[prob["id"]] = prob
    now = series(problems, json.loads(Path(args.run).read_text()), key)
    befores = [series(problems, json.loads(Path(b).read_text()), key) for b in args.before]
    # One panel per class (time against size), so that many classes stay readable.
    families = sorted(now)
    cols = 5 if len(families) > 8 else min(3, len(families))
    rows = -(-len(families) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(families):]:
        ax.set_visible(False)
    for ax, family in zip(axes.flat, families, strict=False):
        points = now[family]
        ax.plot([p[0] for p in points], [p[1] for p in points], "-o", color="C0",
                markersize=3, label="after" if befores else None)
        for x, y, ok in points:
            if not ok:
                ax.plot([x], [y], "x", color="C0", markersize=8)
        for i, before in enumerate(befores):
            old = before.get(family)
            if old:
                colour = f"C{i + 1}"
                ax.plot([p[0] for p in old], [p[1] for p in old], "--o", color=colour,
                        markersize=3, alpha=0.7, label="before" if len(befores) == 1 else None)
                for x, y, ok in old:
                    if not ok:
                        ax.plot([x], [y], "x", color=colour, markersize=8)
        ax.set_title(family, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(lambda x, _pos: f"{x / 1000:g}k")
    if befores:
        axes.flat[0].legend(fontsize=7)
    fig.supxlabel("formula size (nodes)", fontsize=9)
    what = "CPU seconds" if args.cpu else "seconds"
    fig.supylabel(f"{what} (x: no answer within the limit)", fontsize=9)
    fig.suptitle(args.title + ("; dashed: before" if befores else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
