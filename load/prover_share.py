"""The prover's own CPU per job for the formulas the load benches send (load/mix.py
SMALL_FORMULAS, in turn): reading the formula, the search with its certificate (and the
checked tableau and outline for small valid ones, as a job explains them), the result
document and its JSON.  This is work the naive no-op endpoint of load/side_by_side.py does not do; it sets the floor under our
worker's CPU per job in the side-by-side ratio.

    .venv/bin/python load/prover_share.py --jobs 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load.mix import SMALL_FORMULAS  # noqa: E402
from workers.prover.reader import read_formula  # noqa: E402
from workers.prover.search import prove  # noqa: E402


def one(text: str) -> str:
    # explained, as a proof job's answer is (workers/runners.py)
    return json.dumps(prove(read_formula(text), timeout=10, explain=True).to_document())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    for text in SMALL_FORMULAS * 5:  # imports, first-call costs
        one(text)
    start = time.process_time()
    for i in range(args.jobs):
        one(SMALL_FORMULAS[i % len(SMALL_FORMULAS)])
    cpu_ms = (time.process_time() - start) * 1000 / args.jobs
    print(f"prover CPU per job (read, prove, document, JSON): {cpu_ms:.3f} ms "
          f"over {args.jobs} jobs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
