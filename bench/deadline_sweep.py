"""Answers against their time limits, as a job gives them (read + prove + the result
document, the limit from the start): ``python bench/deadline_sweep.py FILE.jsonl --limits
0.5,1 [--repeat N]`` or a range ``--limits 0.005:0.1:0.0025`` (start:stop:step, stop
included).

Every problem of FILE is answered once per limit and repetition, in that order (``-v``:
every answer after its limit is printed with its verdict and last trace line); a summary per
limit gives the late answers, the worst overshoot, the unknown answers and the valid ones
without a certificate.  Lateness depends on the machine's load: run it beside the load you
care about (docs/benchmarks.md, "Deadlines")."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.prover import prove, read_formula  # noqa: E402
from workers.prover.search import load_deferred_modules  # noqa: E402


def limits_of(spec: str) -> list[float]:
    if ":" in spec:
        start, stop, step = (float(x) for x in spec.split(":"))
        count = int(round((stop - start) / step)) + 1
        return [round(start + i * step, 6) for i in range(count)]
    return [float(x) for x in spec.split(",")]


def answer(text: str, limit: float) -> tuple[float, object]:
    """Seconds to the answer with its document, and the result."""
    t0 = time.monotonic()
    formula = read_formula(text)
    # explained, as a proof job's answer is (workers/runners.py)
    res = prove(formula, timeout=max(0.0, limit - (time.monotonic() - t0)), explain=True)
    res.to_document()
    return time.monotonic() - t0, res


def main(argv: list[str] | None = None) -> int:
    load_deferred_modules()  # before any clock, as a worker does
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--limits", required=True, help="a,b,... or start:stop:step (seconds)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per late answer")
    args = ap.parse_args(argv)
    problems = [json.loads(line) for line in Path(args.file).read_text().splitlines()
                if line.strip()]
    limits = limits_of(args.limits)
    per_limit = {limit: {"answers": 0, "late": 0, "worst": 0.0, "unknown": 0, "omitted": 0}
                 for limit in limits}
    for _ in range(args.repeat):
        for limit in limits:
            row = per_limit[limit]
            for prob in problems:
                took, res = answer(prob["formula"], limit)
                row["answers"] += 1
                row["unknown"] += res.verdict == "unknown"
                row["omitted"] += res.verdict == "valid" and res.certificate is None
                over = took - limit
                row["worst"] = max(row["worst"], over)
                if over > 0:
                    row["late"] += 1
                if over > 0 and args.verbose:
                    last = res.trace[-1] if res.trace else ""
                    print(f"LATE {prob['id']} limit {limit:g} s: {took:.3f} s, "
                          f"{res.verdict}: {last}", flush=True)
    total_late = 0
    for limit, row in per_limit.items():
        total_late += row["late"]
        print(f"limit {limit:g} s: {row['answers']} answers, {row['late']} late "
              f"(worst {max(0.0, row['worst']):.3f} s over), {row['unknown']} unknown, "
              f"{row['omitted']} valid without certificate")
    print(f"late answers in all: {total_late}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
