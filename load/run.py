"""Run the Locust scenarios (locustfile.py) against a service it starts, and gate on the SLOs.

It starts `pxl serve` (1 process) and `pxl worker` (``--workers`` processes) on loopback
against Redis (``--redis-url``, default DB 3) under a fresh key prefix and queue, with auth
and rate limits ON and ``--clients`` load clients in a generated PXL_CLIENTS_FILE; runs Locust
headless with the profile's stages; samples the CPU and memory of the API, the worker tree and
the load generator every ``--sample-seconds``; then checks from the job records that every job
a client saw accepted reached a final state exactly once.  Exit code: Locust's (the SLO gate)
or 2 when a job was lost or finished twice.

    .venv/bin/python load/run.py --profile ramp          # 10 -> 50 -> 100 users, 3 min
    .venv/bin/python load/run.py --profile short         # the CI gate, ~1 min
    .venv/bin/python load/run.py --profile soak          # 10 min, memory and lost jobs
    .venv/bin/python load/run.py --profile limiter       # one client over its limit
    .venv/bin/python load/run.py --stages 60:40 --workers 1 -- --slo-p95-ms 300

Everything after ``--`` goes to Locust (e.g. ``--slo-p95-ms``, ``--max-requests``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `load` is a package beside it

from load.service import (  # noqa: E402
    Services,
    audit_when_final,
    free_port,
    locust_command,
    machine,
    tree_cpu_seconds,
    tree_rss_bytes,
    write_clients,
)

PROFILES = {
    "short": "4:10,10:45",  # the CI gate: ~1 minute, light enough for 2 shared cores
    "ramp": "10:60,50:60,100:60",  # the seed's profile
    "soak": "40:600",
    "limiter": "1:20",
}
MIB = 1024 * 1024


def service_env(clients_file: Path) -> dict[str, str]:
    """Auth and rate limits on (their defaults), the load clients, webhooks to loopback."""
    return {
        "PXL_CLIENTS_FILE": str(clients_file),
        "PXL_JWT_SECRET": "load-test-signing-key-" + os.urandom(16).hex(),
        "PXL_WEBHOOK_ALLOWLIST": json.dumps(["127.0.0.1"]),
        "PXL_RATE_LIMIT_ENABLED": "true",
        "PXL_AUTH_DISABLED": "false",
    }


class Sampler(threading.Thread):
    """CPU and resident memory of named process trees every ``interval`` seconds."""

    def __init__(self, pids: dict[str, int], out: Path, interval: float):
        super().__init__(daemon=True)
        self.pids, self.out, self.interval = pids, out, interval
        self.rows: list[dict] = []
        self.stop_event = threading.Event()

    def sample(self, start: float) -> dict:
        row = {"t_s": round(time.monotonic() - start, 1)}
        for name, pid in self.pids.items():
            row[f"{name}_cpu_s"] = round(tree_cpu_seconds(pid), 2)
            row[f"{name}_rss_mib"] = round(tree_rss_bytes(pid) / MIB, 1)
        row["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
        return row

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop_event.is_set():
            self.rows.append(self.sample(start))
            self.stop_event.wait(self.interval)
        self.rows.append(self.sample(start))
        if self.rows:
            with self.out.open("w") as f:
                f.write(",".join(self.rows[0]) + "\n")
                for row in self.rows:
                    f.write(",".join(str(v) for v in row.values()) + "\n")

    def summary(self) -> dict:
        """CPU share (of one core) per process over the run, and memory at the start of the
        steady part (after the first quarter), at the end, and its slope."""
        rows = self.rows
        if len(rows) < 2:
            return {}
        out = {}
        for name in self.pids:
            alive = [r for r in rows if r[f"{name}_rss_mib"]] or rows  # until it exited
            cpu = alive[-1][f"{name}_cpu_s"] - alive[0][f"{name}_cpu_s"]
            wall = alive[-1]["t_s"] - alive[0]["t_s"] or 1.0
            steady = alive[len(alive) // 4 :]
            rss = [r[f"{name}_rss_mib"] for r in steady]
            times = [r["t_s"] / 60 for r in steady]
            slope = statistics.linear_regression(times, rss).slope if len(set(times)) > 1 else 0
            out[name] = {
                "cpu_share_of_a_core": round(cpu / wall, 3),
                "rss_mib_start": rss[0],
                "rss_mib_end": rss[-1],
                "rss_mib_max": max(r[f"{name}_rss_mib"] for r in alive),
                "rss_mib_per_min": round(slope, 3),
            }
        return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ramp")
    parser.add_argument("--stages", help="users:seconds,... (overrides the profile's)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    parser.add_argument("--pool", choices=("solo", "prefork"), default="solo")
    parser.add_argument("--clients", type=int, help="load client ids (default: max users + 10)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--port", type=int, help="API port (default: a free one)")
    parser.add_argument("--webhook-port", type=int, help="receiver port (default: a free one)")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, help="results folder (default: a temp folder)")
    parser.add_argument("--keep-keys", action="store_true",
                        help="leave the run's Redis keys (job records) for inspection")
    args = parser.parse_args(argv)

    stages = args.stages or PROFILES[args.profile]
    max_users = max(int(part.split(":")[0]) for part in stages.split(","))
    out = args.out or Path(tempfile.mkdtemp(prefix=f"pxl-load-{args.profile}-"))
    out.mkdir(parents=True, exist_ok=True)
    clients_file, creds_file = write_clients(out, args.clients or max_users + 10)
    services = Services(args.redis_url, args.workers, out, args.pool, auth=True,
                        port=args.port, extra_env=service_env(clients_file), key_tag="pxlload")
    client = redis.Redis.from_url(args.redis_url)
    report: dict = {
        "machine": machine(),
        "command": " ".join(["load/run.py", *sys.argv[1:]]) if argv is None else
        " ".join(["load/run.py", *argv, *(["--", *extra] if extra else [])]),
        "profile": args.profile,
        "stages": stages,
        "worker_processes": args.workers,
        "pool": args.pool,
        "out": str(out),
    }
    try:
        services.start_api()
        services.start_worker()
        services.wait_healthy(need_worker=True)
        classes = ["LimiterProbe"] if args.profile == "limiter" else ["ApiClient", "HealthProbe"]
        cmd = locust_command(
            url=services.url, out=out, credentials=creds_file, stages=stages,
            webhook_port=0 if args.profile == "limiter" else (args.webhook_port or free_port()),
            user_classes=classes, extra=extra,
        )
        with (out / "locust.log").open("wb") as log:
            locust = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            sampler = Sampler({"api": services.procs["api"].pid,
                               "worker": services.procs["worker"].pid,
                               "load_generator": locust.pid},
                              out / "resources.csv", args.sample_seconds)
            sampler.start()
            rc = locust.wait()
            sampler.stop_event.set()
            sampler.join()
        report["locust_exit_code"] = rc
        summary_file = out / "summary.json"
        report["slo"] = json.loads(summary_file.read_text()) if summary_file.exists() else None
        report["resources"] = sampler.summary()
        accepted = set((out / "jobs.txt").read_text().split()) if (out / "jobs.txt").exists() \
            else set()
        report["jobs_audit"] = audit_when_final(client, services.key_prefix, accepted, 60.0)
    finally:
        services.stop_all()
        if not args.keep_keys:
            services.cleanup_keys(client)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    if report["jobs_audit"]["ok"] is False:
        return 2
    return rc


def print_report(report: dict) -> None:
    m = report["machine"]
    print(f"machine: {m.get('cpu', '?')} x{m['cpus']}, Python {m['python']}, load avg at start "
          f"{' '.join(m.get('loadavg_at_start', []))}, git {m.get('git_sha', '?')}")
    print(f"command: {report['command']}")
    print(f"profile {report['profile']} (stages {report['stages']}), worker processes "
          f"{report['worker_processes']} ({report['pool']}); results in {report['out']}")
    slo = report.get("slo") or {}
    if slo:
        print(f"jobs {slo['jobs']} ({slo['jobs_per_s']}/s), requests {slo['requests']} "
              f"({slo['requests_per_s']}/s); e2e p50/p95/p99/max {slo['e2e_p50_ms']}/"
              f"{slo['e2e_p95_ms']}/{slo['e2e_p99_ms']}/{slo['e2e_max_ms']} ms (polled flows p50/p95 "
              f"{slo.get('polled_p50_ms')}/{slo.get('polled_p95_ms')} ms); error rate "
              f"{slo['error_rate']:.2%} ({slo['failed']} failed); 429s {slo['rate_limited_429']};"
              f" max queue depth {slo['max_queue_depth']:g}")
        if slo.get("limiter"):
            print(f"limiter probe: {slo['limiter']}")
        print(f"webhooks: {slo['webhook_deliveries']} deliveries for {slo['webhook_jobs']} jobs,"
              f" {slo['webhook_repeated']} repeated, {slo['webhook_bad_signatures']} bad")
        for failure, count in list(slo.get("failures", {}).items())[:8]:
            print(f"  failure x{count}: {failure[:200]}")
        print("SLO gate:", "PASS" if slo["passed"] else "FAIL: " + "; ".join(slo["breaches"]))
    for name, r in report.get("resources", {}).items():
        print(f"{name}: CPU {r['cpu_share_of_a_core']:.0%} of a core; RSS {r['rss_mib_start']} "
              f"-> {r['rss_mib_end']} MiB (max {r['rss_mib_max']}, {r['rss_mib_per_min']:+} MiB/min)")
    a = report["jobs_audit"]
    print(f"jobs audit: {a['accepted_by_clients']} accepted, {a['job_records']} records, "
          f"statuses {a['statuses']}, lost {a['lost']}, finished twice {a['finished_twice']}"
          f" -> {'OK' if a['ok'] else 'FAILED'}")


if __name__ == "__main__":
    sys.exit(main())
