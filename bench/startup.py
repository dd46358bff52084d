"""Whole-process start-up cost of ``pxl prove``: ``python bench/startup.py [--runs 30]``.

Runs, interleaved (one of each per round, so that load drifts hit all alike):
bare ``python -c pass`` (the interpreter's floor), ``python -c 'import pysat.solvers'`` (the
SAT solver's import, which every proof needs) and ``pxl prove FORMULA`` through the installed
console script, ``--runs`` times each, and prints each command's median and minimum wall time
and median CPU time (user + system, of the child) in ms, and the ratio of its median wall time
to the bare interpreter's.  On a shared machine the CPU time varies less than the wall time.
One untimed round first, with PYTHONDONTWRITEBYTECODE removed from the children's environment,
so that the modules' bytecode is cached as after an install (else each run compiles them).  The exit status of
``pxl prove`` is checked (0: valid), its output is discarded.  Print ``uptime`` beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--formula", default="p -> p")
    parser.add_argument("--pxl", default=str(Path(sys.executable).parent / "pxl"),
                        help="the pxl console script (default: beside this Python)")
    parser.add_argument("--also", action="append", default=[], metavar="SCRIPT",
                        help="another pxl script to time in the same rounds (e.g. an older tree)")
    args = parser.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import pysat.solvers'": [sys.executable, "-c", "import pysat.solvers"],
        f"pxl prove '{args.formula}'": [args.pxl, "prove", args.formula],
        **{f"{script} prove": [script, "prove", args.formula] for script in args.also},
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for argv in commands.values():
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            before = _children_cpu()
            start = time.perf_counter()
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=env)
            times[name].append((time.perf_counter() - start) * 1000.0)
            cpu[name].append((_children_cpu() - before) * 1000.0)
            if done.returncode != 0 and argv[0] != sys.executable:
                sys.exit(f"{name} exited {done.returncode}: {done.stderr.decode()}")
    floor = statistics.median(times["python -c pass"])
    width = max(36, *(len(name) for name in commands))
    print(f"{'command':<{width}} {'median ms':>10} {'min ms':>8} {'cpu ms':>8} {'median / bare':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<{width}} {median:>10.1f} {min(values):>8.1f} "
              f"{statistics.median(cpu[name]):>8.1f} {median / floor:>14.2f}")
    return 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
