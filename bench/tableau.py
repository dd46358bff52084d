"""How far the readable S5 tableau (workers/prover/tableau.py) goes: ``python bench/tableau.py
[SAMPLE.jsonl]``.

1. On the sample's valid problems: for how many does ``build_tableau`` (1 s budget, no size
   limit) find a closed tableau that ``tableau_check`` accepts, and how many of those are within
   the size limit ``checked_tableau`` applies in the prover (``MAX_FORMULA_NODES``)?
2. Growing valid families: the largest instance (in formula nodes) proved within 1 s.
   ``chain n``: ``[](p1 -> p2) & … & [](p(n-1) -> pn) -> ([]p1 -> []pn)``;
   ``dist n``: ``[](p1 & … & pn) <-> []p1 & … & []pn``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.prover import parse_formula  # noqa: E402
from workers.prover.tableau import MAX_FORMULA_NODES, build_tableau  # noqa: E402
from workers.prover.tableau_check import check_tableau  # noqa: E402

FAMILIES = {
    "chain": lambda n: " & ".join(f"[](p{i} -> p{i + 1})" for i in range(1, n))
    + f" -> ([]p1 -> []p{n})",
    "dist": lambda n: "[](" + " & ".join(f"p{i}" for i in range(1, n + 1)) + ") <-> "
    + " & ".join(f"[]p{i}" for i in range(1, n + 1)),
}


def timed_tree(formula):
    start = time.monotonic()
    tree = build_tableau(formula, time_budget=1.0)
    elapsed = time.monotonic() - start
    ok = tree is not None and check_tableau(formula, tree)[0]
    return (tree if ok else None), elapsed


def sample(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    valid = [r for r in rows if r.get("expected") == "valid"]
    trees = small = 0
    for row in valid:
        formula = parse_formula(row["formula"])
        tree, elapsed = timed_tree(formula)
        if tree is not None:
            trees += 1
            small += formula.size <= MAX_FORMULA_NODES
        print(f"  {row['id']:<28} {formula.size:>7} nodes  "
              f"{'tree of ' + str(len(tree['nodes'])) + ' nodes' if tree else 'no tree':<20}"
              f" {elapsed * 1000:8.1f} ms")
    print(f"sample {path.name}: {len(valid)} valid problems; a checked tree within 1 s for "
          f"{trees}; {small} of them within the prover's limit of {MAX_FORMULA_NODES} nodes")


def families() -> None:
    for name, make in FAMILIES.items():
        best = None
        n = 2
        while n <= 2_000:
            formula = parse_formula(make(n))
            tree, elapsed = timed_tree(formula)
            if tree is None:
                print(f"family {name}: n={n} ({formula.size} nodes) no tree within 1 s")
                break
            best = (n, formula.size, len(tree["nodes"]), elapsed)
            n = max(n + 1, int(n * 1.25))
        if best:
            n, size, nodes, elapsed = best
            print(f"family {name}: largest within 1 s n={n}: {size} formula nodes, "
                  f"tree of {nodes} nodes, {elapsed * 1000:.0f} ms")


if __name__ == "__main__":
    sample(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "sample.jsonl")
    families()
