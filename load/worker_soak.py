"""Worker memory soak: a real `pxl worker`, a steady rate of small proof jobs, and the resident
memory of each of its processes every --sample-seconds (OPERATIONS.md, "Worker memory").

    .venv/bin/python load/worker_soak.py --minutes 12 --rate 40 --out /tmp/pxl-worker-soak.csv

No API: jobs go straight into the job store (``JobStore.submit``, as the API's submission
does), so the API's CPU stays off the shared cores and only the worker path is measured.  The
formulas are bench/sample.jsonl's up to --max-size nodes; the result cache is bypassed so every
job runs the prover (about 15 % of them replay a certificate on a DRUP-logging solver).  The
worker and its Redis keys (a fresh prefix and queue) are removed afterwards.  Redis must be on
loopback (a load test here sends traffic to this machine only); the run is bounded by
--minutes.  Output: one CSV row per process per sample (seconds, jobs submitted, jobs waiting,
load average, pid, role, RSS MiB) and, at the end, each process's RSS growth per minute and per
1,000 jobs after the --warm-up-minutes.
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `load` is a package beside it

from load.service import process_tree, pxl  # noqa: E402


def loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sample_formulas(max_size: int) -> list[dict]:
    from workers.prover.jsonform import formula_to_json
    from workers.prover.printer import to_text
    from workers.prover.reader import read_formula

    params = []
    for line in (ROOT / "bench" / "sample.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["size"] <= max_size:
            formula = read_formula(row["formula"])
            params.append({"formula": formula_to_json(formula), "formula_text": to_text(formula),
                           "timeout": 10, "overlay": None, "cache": False})
    return params


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=os.environ.get("PXL_REDIS_URL",
                                                              "redis://127.0.0.1:6379/3"))
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=40.0, help="jobs per second")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--pool", choices=("solo", "prefork"), default="solo")
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--warm-up-minutes", type=float, default=2.0)
    parser.add_argument("--max-size", type=int, default=300, help="largest formula (nodes)")
    parser.add_argument("--out", type=Path, required=True, help="CSV of the samples")
    args = parser.parse_args()
    if not loopback(args.redis_url):
        parser.error("--redis-url must be on loopback")

    tag = uuid.uuid4().hex[:8]
    env = {**os.environ, "PXL_REDIS_URL": args.redis_url,
           "PXL_KEY_PREFIX": f"pxlsoak:{tag}:", "PXL_QUEUE_NAME": f"pxlsoak-{tag}",
           "PXL_JOB_TTL_SECONDS": "900", "PYTHONPATH": str(ROOT)}
    os.environ.update({k: env[k] for k in ("PXL_REDIS_URL", "PXL_KEY_PREFIX", "PXL_QUEUE_NAME",
                                             "PXL_JOB_TTL_SECONDS")})
    from workers.celery_app import job_store, queue_depth
    from workers.jobs import QueueFull
    from workers.settings import get_settings

    settings = get_settings()
    store = job_store(settings)
    formulas = sample_formulas(args.max_size)
    log = open(args.out.with_suffix(".worker.log"), "ab")  # noqa: SIM115 (owned by the child)
    worker = subprocess.Popen(
        pxl("worker", "--concurrency", str(args.concurrency), "--pool", args.pool,
            "--loglevel", "info"),
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    rows: list[dict] = []
    submitted = refused = 0
    try:
        time.sleep(5)  # let it start: its RSS at t=0 is the idle worker's
        start = time.monotonic()
        next_sample = start
        period = 1.0 / args.rate
        with args.out.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["seconds", "submitted", "waiting", "load1", "pid", "role", "rss_mib"])
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    elapsed = round(now - start)
                    waiting = queue_depth(store.r, settings)
                    load1 = os.getloadavg()[0]
                    shown = []
                    for pid in process_tree(worker.pid):
                        role = "main" if pid == worker.pid else "child"
                        rss = rss_mib(pid)
                        if rss is None:
                            continue
                        writer.writerow([elapsed, submitted, waiting, load1, pid, role,
                                         round(rss, 1)])
                        rows.append({"t": elapsed, "jobs": submitted, "pid": pid, "role": role,
                                     "rss": rss})
                        shown.append(f"{pid}({role}) {rss:.1f}")
                    out.flush()
                    print(f"{elapsed:5d}s jobs={submitted} waiting={waiting} "
                          f"load={load1:.2f}  " + "  ".join(shown), flush=True)
                    next_sample += args.sample_seconds
                    if now - start >= args.minutes * 60:
                        break
                try:
                    store.submit(kind="proof", owner=f"soak{submitted % 8}",
                                 params=formulas[submitted % len(formulas)])
                    submitted += 1
                except QueueFull:  # the worker falls behind: the rate is too high for it
                    refused += 1
                delay = start + (submitted + refused) * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=env["PXL_KEY_PREFIX"] + "*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    summarise(rows, args.warm_up_minutes * 60, refused)
    return 0


def summarise(rows: list[dict], warm_up: float, refused: int) -> None:
    print(f"refused (queue full): {refused}")
    for pid in sorted({r["pid"] for r in rows}):
        mine = [r for r in rows if r["pid"] == pid and r["t"] >= warm_up]
        if len(mine) < 2:
            continue
        first, last = mine[0], mine[-1]
        minutes = (last["t"] - first["t"]) / 60
        jobs = last["jobs"] - first["jobs"]
        grew = last["rss"] - first["rss"]
        print(f"{pid} ({first['role']}): {first['rss']:.1f} -> {last['rss']:.1f} MiB over "
              f"{minutes:.1f} min after warm-up: {grew / minutes:+.2f} MiB/min, "
              f"{grew * 1000 / max(jobs, 1):+.3f} MiB per 1,000 jobs (all processes' jobs)")


if __name__ == "__main__":
    raise SystemExit(main())
