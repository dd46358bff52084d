"""Random modal 3-CNF problems: ``python bench/gen_rnd3cnf.py OUT.jsonl [--depth 3] ...``.

The shape of the sample's ``rnd3cnf-d{d}-n{n}-L{L}-{seed}`` problems: ``~(C1 & ... & CL)``
where each clause has 3 literals over atoms p0..p{n-1}; at modal depth > 0 a literal is,
with probability ``--modal`` (0.5), a possibly negated box ``[](...)`` / ``~[](...)`` over
a random clause of depth one less, otherwise a possibly negated atom.  The formula is
S5-valid iff the conjunction is S5-unsatisfiable; ``expected`` is null (bench/run.py checks
each answer's certificate or countermodel).  Deterministic for given arguments.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def clause(rng: random.Random, atoms: int, depth: int, modal: float) -> str:
    lits = []
    for _ in range(3):
        if depth > 0 and rng.random() < modal:
            inner = f"[]({clause(rng, atoms, depth - 1, modal)})"
            lits.append(inner if rng.random() < 0.5 else f"~{inner}")
        else:
            atom = f"p{rng.randrange(atoms)}"
            lits.append(atom if rng.random() < 0.5 else f"~{atom}")
    return " | ".join(lits)


def problem(depth: int, atoms: int, clauses: int, seed: int, modal: float) -> dict:
    rng = random.Random(f"{depth}-{atoms}-{clauses}-{seed}")
    body = " & ".join(f"({clause(rng, atoms, depth, modal)})" for _ in range(clauses))
    return {
        "id": f"rnd3cnf-d{depth}-n{atoms}-L{clauses}-{seed}",
        "family": f"rnd3cnf-d{depth}",
        "formula": f"~({body})",
        "expected": None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--atoms", default="3,4,5", help="comma-separated atom counts")
    ap.add_argument("--clauses", default="20,40,60,80", help="comma-separated clause counts")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--modal", type=float, default=0.5)
    args = ap.parse_args(argv)
    rows = [
        problem(args.depth, int(n), int(m), seed, args.modal)
        for n in args.atoms.split(",")
        for m in args.clauses.split(",")
        for seed in range(args.seeds)
    ]
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} problems", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
