"""What each step of prove() costs on a tiny valid formula, in microseconds:
``python bench/prove_steps.py '[](p -> q) -> ([]p -> []q)' ...``.

Runs prove() whole (as a library call: verdict and certificate), ``prove(explain=True)``
(as a proof job: also the outline and the checked tableau), the bare baseline
(bench/baseline_s5.py), and then the steps the explained prove() takes for a valid formula
one by one with this tree's functions — the time-limit watch,
encoding, the search solver's set-up, the rounds, freeing the solver, the certificate (lemma
chain and hints), its base64 JSON, the lemma outline, the tableau's construction and its
independent check — ``--runs`` times with the garbage collector off (as prove() runs), and
prints each one's minimum.  The steps' sum is ``prove(explain)`` but for the result object
and its trace (``rest``).  Where the small problems' time goes: docs/benchmarks.md, "Per-call and
start-up cost"."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_s5 import baseline  # noqa: E402

from workers.prover import prove, read_formula  # noqa: E402
from workers.prover.encoding import encode  # noqa: E402
from workers.prover.outline import lemma_outline  # noqa: E402
from workers.prover.search import (  # noqa: E402
    _Cegar,
    _Watch,
    encode_certificate,
    make_certificate,
)
from workers.prover.tableau import build_tableau  # noqa: E402
from workers.prover.tableau_check import check_tableau  # noqa: E402


def steps(text: str, runs: int) -> dict[str, float]:
    f = read_formula(text)
    best: dict[str, int] = {}
    clock = time.perf_counter_ns

    def keep(name: str, ns: int) -> None:
        best[name] = min(best.get(name, ns), ns)

    gc.disable()
    try:
        for _ in range(runs):
            t = clock()
            res = prove(f)
            keep("prove()", clock() - t)
            t = clock()
            prove(f, explain=True)
            keep("prove(explain)", clock() - t)
            if res.verdict != "valid":
                raise SystemExit(f"{text}: not valid (this script times a valid formula's steps)")
            t = clock()
            baseline(f)
            keep("baseline", clock() - t)
            t0 = clock()
            watch = _Watch(time.monotonic() + 30, None)
            t1 = clock()
            enc = encode(f)
            t2 = clock()
            cegar = _Cegar(enc, watch, [])
            t3 = clock()
            cegar.run()
            t4 = clock()
            cegar.close()
            t5 = clock()
            proof, _ = make_certificate(enc, cegar.lemmas, watch)
            t6 = clock()
            encode_certificate(proof)
            t7 = clock()
            lemma_outline(enc, proof, f.size)
            t8 = clock()
            tableau = build_tableau(f)
            t9 = clock()
            check_tableau(f, tableau)
            t10 = clock()
            watch.close()
            t11 = clock()
            for name, ns in (
                ("watch", t1 - t0 + t11 - t10), ("encode", t2 - t1), ("solver set-up", t3 - t2),
                ("rounds", t4 - t3), ("solver free", t5 - t4), ("certificate", t6 - t5),
                ("base64 JSON", t7 - t6), ("outline", t8 - t7), ("tableau build", t9 - t8),
                ("tableau check", t10 - t9),
            ):
                keep(name, ns)
    finally:
        gc.enable()
    return {name: ns / 1000 for name, ns in best.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("formulas", nargs="+")
    ap.add_argument("--runs", type=int, default=1000)
    args = ap.parse_args(argv)
    for text in args.formulas:
        us = steps(text, args.runs)
        parts = sum(v for k, v in us.items()
                    if k not in ("prove()", "prove(explain)", "baseline"))
        print(f"{text}: " + ", ".join(f"{k} {v:.1f}" for k, v in us.items())
              + f"; sum of steps {parts:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
