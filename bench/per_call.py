"""Two source trees' per-call cost against the bare baseline, alternately:
``python bench/per_call.py --tree before=DIR --tree after=. [FILE.jsonl | --mix]``.

Runs each tree's own ``bench/baseline_s5.py`` (prove() and the bare python-sat baseline on
the already parsed formula, minimum of ``--repeat`` runs each) in a fresh process, the trees
taking turns (``--rounds`` each, order swapped every round), and keeps per problem and tree
the minimum over the rounds of prove and of that tree's baseline.  The ratio of a problem is
prove / baseline *of the same tree's runs* (both measured back to back in one process, so
the machine's load moves them alike).  "Small" problems: the first tree's baseline under
``--small-ms``.  ``--mix``: instead of a file, load/mix.py's SMALL_FORMULAS (the load tests'
small jobs).  For a tree older than this script, copy this tree's bench/baseline_s5.py
into it (it prints microseconds; the older one rounded to 10 us)."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"(\S+)\s+prove\s+([\d.]+) ms\s+baseline\s+([\d.]+) ms")


def _mix_file() -> str:
    sys.path.insert(0, str(ROOT / "load"))
    from mix import SMALL_FORMULAS  # noqa: PLC0415 - only for --mix

    fd, path = tempfile.mkstemp(suffix=".jsonl")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for i, text in enumerate(SMALL_FORMULAS):
            out.write(json.dumps({"id": f"mix-{i}", "formula": text}) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--mix", action="store_true", help="load/mix.py's SMALL_FORMULAS")
    ap.add_argument("--tree", action="append", required=True, help="NAME=DIR (twice)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--small-ms", type=float, default=1.0)
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per small problem")
    args = ap.parse_args(argv)
    if len(args.tree) != 2 or bool(args.file) == args.mix:
        ap.error("two --tree NAME=DIR and either FILE or --mix")
    trees = [tuple(t.split("=", 1)) for t in args.tree]
    path = _mix_file() if args.mix else args.file
    best: dict[str, dict[str, tuple[float, float]]] = {name: {} for name, _ in trees}
    loads = []
    for r in range(args.rounds):
        for name, tree in trees if r % 2 == 0 else trees[::-1]:
            loads.append(os.getloadavg()[0])
            run = subprocess.run(
                [sys.executable, str(Path(tree) / "bench" / "baseline_s5.py"), path,
                 "--repeat", str(args.repeat)],
                capture_output=True, text=True, check=False,
            )
            if "DISAGREE" in run.stderr or run.returncode:
                print(run.stderr, file=sys.stderr)
                return 1
            for line in run.stderr.splitlines():
                m = LINE.match(line)
                if m:
                    pid, ours, base = m.group(1), float(m.group(2)), float(m.group(3))
                    old = best[name].get(pid, (float("inf"), float("inf")))
                    best[name][pid] = (min(old[0], ours), min(old[1], base))
    first = trees[0][0]
    ids = list(best[first])
    small = [i for i in ids if best[first][i][1] < args.small_ms]
    print(f"{args.rounds} rounds per tree, load average {min(loads):.1f}-{max(loads):.1f}; "
          f"{len(ids)} problems, {len(small)} small (baseline under {args.small_ms:g} ms)")
    for name, _ in trees:
        rows = best[name]
        for label, sel in (("all", ids), ("small", small)):
            if not sel:
                continue
            ratios = [rows[i][0] / rows[i][1] for i in sel]
            ours, base = sum(rows[i][0] for i in sel), sum(rows[i][1] for i in sel)
            print(f"{name:8s} {label:5s}: median ratio {statistics.median(ratios):5.2f}, "
                  f"total prove {ours:9.2f} ms vs baseline {base:9.2f} ms ({ours / base:.2f}x)")
    if args.verbose:
        for i in small:
            print(f"  {i:30s}" + "".join(
                f"  {name} {best[name][i][0]:7.3f}/{best[name][i][1]:6.3f} ms"
                f" = {best[name][i][0] / best[name][i][1]:5.2f}" for name, _ in trees))
    return 0


if __name__ == "__main__":
    sys.exit(main())
