"""Stress: where each SLO breaks, with 1 and with 2 worker processes.

For each worker count and each user level it runs the Locust mix (load/run.py: a fresh
service, auth and rate limits on) for ``--seconds`` at that many users, and writes one CSV row
per run: throughput, latency percentiles, error rate, max queue depth, CPU of each process and
which SLOs broke.  Then it prints, per worker count, the highest throughput that met all three
SLOs and the first level where each broke.  load/plot.py draws the CSV.

    .venv/bin/python load/stress.py --workers 1,2 --users 10,25,50,100,150,200 \\
        --seconds 45 --csv docs/performance/stress.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `load` is a package beside it

from load import run  # noqa: E402

COLUMNS = [
    "worker_processes", "users", "seconds", "jobs", "jobs_per_s", "requests_per_s",
    "e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms", "polled_p95_ms", "error_rate", "rate_limited_429",
    "max_queue_depth", "api_cpu", "worker_cpu", "load_generator_cpu", "loadavg_start",
    "p95_broken", "errors_broken", "queue_broken", "lost_jobs", "finished_twice",
]


def row_of(report: dict, users: int) -> dict:
    slo, res, audit = report["slo"], report.get("resources", {}), report["jobs_audit"]
    thresholds = slo["thresholds"]
    return {
        "worker_processes": report["worker_processes"],
        "users": users,
        "seconds": slo["seconds"],
        "jobs": slo["jobs"],
        "jobs_per_s": slo["jobs_per_s"],
        "requests_per_s": slo["requests_per_s"],
        "e2e_p50_ms": slo["e2e_p50_ms"],
        "e2e_p95_ms": slo["e2e_p95_ms"],
        "e2e_p99_ms": slo["e2e_p99_ms"],
        "polled_p95_ms": slo.get("polled_p95_ms"),
        "error_rate": slo["error_rate"],
        "rate_limited_429": slo["rate_limited_429"],
        "max_queue_depth": slo["max_queue_depth"],
        "api_cpu": res.get("api", {}).get("cpu_share_of_a_core"),
        "worker_cpu": res.get("worker", {}).get("cpu_share_of_a_core"),
        "load_generator_cpu": res.get("load_generator", {}).get("cpu_share_of_a_core"),
        "loadavg_start": report["machine"].get("loadavg_at_start", ["?"])[0],
        "p95_broken": slo["e2e_p95_ms"] >= thresholds["p95_ms"],
        "errors_broken": slo["error_rate"] >= thresholds["error_rate"],
        "queue_broken": slo["max_queue_depth"] >= thresholds["queue_depth"],
        "lost_jobs": audit["lost"],
        "finished_twice": audit["finished_twice"],
    }


def wait_for_quiet(loadavg: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while loadavg and time.monotonic() < deadline:
        if float(Path("/proc/loadavg").read_text().split()[0]) < loadavg:
            return
        time.sleep(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--users", default="10,25,50,100,150,200")
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--port", type=int, help="API port (default: a free one)")
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="folder for each run's results")
    parser.add_argument("--quiet-loadavg", type=float, default=0.0,
                        help="before each run wait (up to --quiet-wait s) until the 1-minute "
                             "load average is below this (a shared machine; 0: don't wait)")
    parser.add_argument("--quiet-wait", type=float, default=300.0)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="pxl-stress-"))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for workers in (int(w) for w in args.workers.split(",")):
            for users in (int(u) for u in args.users.split(",")):
                run_dir = out / f"w{workers}-u{users}"
                run_argv = ["--stages", f"{users}:{args.seconds}", "--workers", str(workers),
                            "--redis-url", args.redis_url, "--out", str(run_dir)]
                if args.port:
                    run_argv += ["--port", str(args.port)]
                wait_for_quiet(args.quiet_loadavg, args.quiet_wait)
                run.main(run_argv)
                report = json.loads((run_dir / "report.json").read_text())
                rows.append(row_of(report, users))
                writer.writerow(rows[-1])
                f.flush()
    print_breaks(rows)
    return 0


def print_breaks(rows: list[dict]) -> None:
    for workers in sorted({r["worker_processes"] for r in rows}):
        mine = [r for r in rows if r["worker_processes"] == workers]
        ok = [r for r in mine if not (r["p95_broken"] or r["errors_broken"] or r["queue_broken"])]
        best = max(ok, key=lambda r: r["jobs_per_s"], default=None)
        print(f"{workers} worker process(es): highest throughput meeting all SLOs: "
              + (f"{best['jobs_per_s']} jobs/s at {best['users']} users" if best else "none"))
        for slo in ("p95", "errors", "queue"):
            broke = next((r for r in mine if r[f"{slo}_broken"]), None)
            print(f"  {slo} first broke at: "
                  + (f"{broke['users']} users, {broke['jobs_per_s']} jobs/s" if broke
                     else "never (within the levels run)"))


if __name__ == "__main__":
    sys.exit(main())
