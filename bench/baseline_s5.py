"""Per-call cost against a bare python-sat S5 solver: ``python bench/baseline_s5.py FILE.jsonl``.

The baseline is the smallest complete S5 decision procedure on python-sat: the one-world
encoding (``workers.prover.encoding``) copied to k = the S5 world bound worlds, one
witness clause per box, and a single MiniSat call under ``~root`` (unsatisfiable: valid).
No certificate, no countermodel check, no time-limit thread, no trace.  For each problem
both ``prove(formula)`` (everything included: certificate or checked countermodel) and the
baseline run on the already parsed formula, alternately, ``--repeat`` times each; the
minimum of each is kept (the machine is shared) and their ratio reported.  Problems whose
k-world encoding exceeds ``--max-literals`` are skipped (the baseline is exponential in k).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pysat.solvers import Solver  # noqa: E402

from workers.prover import prove, read_formula  # noqa: E402
from workers.prover.encoding import encode  # noqa: E402
from workers.prover.search import worlds_bound  # noqa: E402


def baseline(formula) -> bool:
    """S5-valid?  k-world encoding at the world bound, one SAT call."""
    enc = encode(formula)
    k = worlds_bound(enc)
    n, glob = enc.nvars, enc.global_vars

    def shift(lit: int, j: int) -> int:
        if j == 0 or abs(lit) in glob:
            return lit
        return lit + j * n if lit > 0 else lit - j * n

    with Solver(name="minisat22") as s:
        for j in range(k):
            for c in enc.clauses:
                s.add_clause([shift(x, j) for x in c])
        for b, a in enc.box_arg.items():
            s.add_clause([b, *(-shift(a, j) for j in range(k))])
        return not s.solve(assumptions=[-enc.root])


def k_world_literals(formula) -> int:
    enc = encode(formula)
    return worlds_bound(enc) * sum(len(c) for c in enc.clauses)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-literals", type=int, default=200_000)
    ap.add_argument("--small-ms", type=float, default=1.0,
                    help="also summarise the problems whose baseline takes less than this")
    args = ap.parse_args(argv)
    rows = []
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        prob = json.loads(line)
        formula = read_formula(prob["formula"])
        if k_world_literals(formula) > args.max_literals:
            continue
        ours, base = [], []
        verdicts = set()
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = prove(formula, timeout=30)
            t1 = time.perf_counter()
            valid = baseline(formula)
            t2 = time.perf_counter()
            ours.append(t1 - t0)
            base.append(t2 - t1)
            verdicts.add((res.verdict, "valid" if valid else "invalid"))
        (ours_v, base_v), *_ = verdicts
        if ours_v != base_v:
            print(f"{prob['id']}: DISAGREE prove={ours_v} baseline={base_v}", file=sys.stderr)
            return 1
        rows.append((prob["id"], min(ours) * 1000, min(base) * 1000))
        print(f"{prob['id']:36s} prove {rows[-1][1]:9.3f} ms  baseline {rows[-1][2]:9.3f} ms  "
              f"ratio {rows[-1][1] / rows[-1][2]:5.2f}", file=sys.stderr)
    ratios = [o / b for _, o, b in rows]
    print(f"problems {len(rows)}  median prove {statistics.median(o for _, o, _ in rows):.2f} ms"
          f"  median baseline {statistics.median(b for _, _, b in rows):.2f} ms"
          f"  median ratio {statistics.median(ratios):.2f}"
          f"  geometric mean ratio {statistics.geometric_mean(ratios):.2f}"
          f"  total prove {sum(o for _, o, _ in rows):.1f} ms"
          f"  total baseline {sum(b for _, _, b in rows):.1f} ms")
    small = [(o, b) for _, o, b in rows if b < args.small_ms]
    if small:
        print(f"small (baseline under {args.small_ms:g} ms): {len(small)} problems"
              f"  median ratio {statistics.median(o / b for o, b in small):.2f}"
              f"  total prove {sum(o for o, _ in small):.1f} ms"
              f"  total baseline {sum(b for _, b in small):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
