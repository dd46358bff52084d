"""Where ``prove()`` spends its time on each problem: ``python bench/stages.py FILE.jsonl``.

Wraps the stages that ``workers.prover.search.prove`` calls (this script only; the prover is
unchanged) with timers and runs every problem ``--repeat`` times, keeping the fastest run's
stage times.  Stages: parse (``read_formula``, before prove), watch (the time-limit watch:
registering and closing it), encode, search (the CEGAR loop: solver set-up, rounds, clean-up),
countermodel (building and checking it), certificate (building it, of which "hints" is the
hint pass, and encoding it as base64 JSON), with ``--explain`` (as a proof job) outline (the
lemmas as formulas) and tableau (building and checking it, of which "tableau check" is the
independent checker), and rest (the
remainder: trace and stats strings, the result object).  Prints each stage's share of the
total prove time, over all problems and over the small ones (``--small-ms``: the bare
baseline of bench/baseline_s5.py under that many ms).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_s5 import baseline, k_world_literals  # noqa: E402

from workers.prover import hints, outline, read_formula, search, tableau_check  # noqa: E402

# stage -> (module, attribute) pairs timed as that stage
STAGES = {
    "watch": [(search._Watch, "__init__"), (search._Watch, "close")],
    "encode": [(search, "encode")],
    "search": [(search._Cegar, "__init__"), (search._Cegar, "run"), (search._Cegar, "close")],
    "countermodel": [(search, "_countermodel"), (search, "check_countermodel")],
    "certificate": [(search, "make_certificate"), (search, "make_worlds_certificate"),
                    (search, "encode_certificate")],
    "outline": [(outline, "lemma_outline")],  # imported from its module when called
    "tableau": [(search, "_attach_tableau")],
}
SUBSTAGES = {"hints": [(hints, "hint_proof")], "tableau check": [(tableau_check, "check_tableau")]}
ORDER = ["parse", *STAGES, "rest", "hints", "tableau check"]


def _timed(table: dict[str, float], stage: str, owner, name: str) -> None:
    inner = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            table[stage] += time.perf_counter() - start

    setattr(owner, name, timed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-literals", type=int, default=200_000)
    ap.add_argument("--small-ms", type=float, default=1.0)
    ap.add_argument("--explain", action="store_true", help="prove(explain=True), as a proof job")
    args = ap.parse_args(argv)
    table: dict[str, float] = defaultdict(float)
    # (checked_tableau imports check_tableau from its module when called: timed there)
    for stage, places in {**STAGES, **SUBSTAGES}.items():
        for owner, name in places:
            _timed(table, stage, owner, name)
    totals: dict[str, dict[str, float]] = {"all": defaultdict(float), "small": defaultdict(float)}
    counts = {"all": 0, "small": 0}
    for line in Path(args.file).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        prob = json.loads(line)
        parse = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            formula = read_formula(prob["formula"])
            parse = min(parse, time.perf_counter() - start)
        if k_world_literals(formula) > args.max_literals:
            continue
        best: dict[str, float] | None = None
        base = float("inf")
        for _ in range(args.repeat):
            table.clear()
            start = time.perf_counter()
            search.prove(formula, timeout=30, explain=args.explain)
            total = time.perf_counter() - start
            if best is None or total < best["total"]:
                best = {**table, "total": total}
            start = time.perf_counter()
            baseline(formula)
            base = min(base, time.perf_counter() - start)
        assert best is not None
        best["parse"] = parse
        best["rest"] = best["total"] - sum(best.get(s, 0.0) for s in STAGES)
        for group in ("all", "small") if base * 1000 < args.small_ms else ("all",):
            counts[group] += 1
            for stage, seconds in best.items():
                totals[group][stage] += seconds
    for group in ("all", "small"):
        t = totals[group]
        prove_ms = t["total"] * 1000
        print(f"{group}: {counts[group]} problems, prove {prove_ms:.1f} ms in total "
              f"(and parsing the text before it {t['parse'] * 1000:.1f} ms)")
        for stage in ORDER[1:]:
            share = t[stage] / t["total"] if t["total"] else 0.0
            print(f"  {stage:14s} {t[stage] * 1000:9.2f} ms  {100 * share:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
