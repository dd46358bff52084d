"""Faults under load, reproducibly: while Locust drives the service, SIGKILL one worker
process, then the whole worker tree (restarted 5 s later, as a process manager would), then
Redis (restarted 3 s later from its append-only file); report what clients saw around each
fault, how long the service took to recover, and whether any accepted job was lost or
finished twice.

It starts its own ``redis-server`` with the production config (compose/redis/redis.conf:
AOF on, appendfsync everysec) on ``--redis-port`` (loopback, a data folder under ``--out``),
never the shared one; then `pxl serve` + `pxl worker` against it with auth and rate limits on,
and a probe that submits one small proof a second (``Prefer: wait=5``) to time the recovery.

    .venv/bin/python load/faults.py --redis-port 18850 --port 18851 --out /tmp/pxl-faults

Recovery of a fault: from the fault to the first probe answered 200 (its job finished within
the wait) after which every probe of that fault's window was; 0 when no probe failed.  Exit code 0 exactly when
no job was lost or finished twice.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `load` is a package beside it

from load.run import service_env  # noqa: E402
from load.service import (  # noqa: E402
    Services,
    audit_when_final,
    free_port,
    locust_command,
    machine,
    process_tree,
    write_clients,
)


class OwnRedis:
    """A redis-server child with the production config, on a fixed loopback port of ours (the
    service must find it again after the restart; workers.embedded.RedisServer picks a new
    free port and its own settings on every start)."""

    def __init__(self, port: int, data_dir: Path):
        self.port, self.data_dir = port, data_dir
        self.proc: subprocess.Popen | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # The production file less its container paths (redis applies `dir` as it reads it).
        conf = self.data_dir / "redis.conf"
        conf.write_text("".join(
            line for line in (ROOT / "compose" / "redis" / "redis.conf").open()
            if not line.startswith(("dir ", "bind ", "port "))))
        log = (self.data_dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            ["redis-server", str(conf), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.data_dir), "--daemonize", "no", "--save", ""],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():  # answers PONG only once the AOF is loaded
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not come up")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Probe(threading.Thread):
    """One small proof a second with ``Prefer: wait=5``, as its own client."""

    def __init__(self, url: str, client_id: str, secret: str):
        super().__init__(daemon=True)
        self.url, self.client_id, self.secret = url, client_id, secret
        self.rows: list[dict] = []
        self.accepted: set[str] = set()
        self.stop_event = threading.Event()
        self.start_time = time.monotonic()

    def token(self, http: httpx.Client) -> str:
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        r = http.post("/v1/auth/token", content="grant_type=client_credentials",
                      headers={"Authorization": f"Basic {basic}",
                               "Content-Type": "application/x-www-form-urlencoded"})
        r.raise_for_status()
        return r.json()["access_token"]

    def run(self) -> None:
        token = None
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self.stop_event.is_set():
                sent = time.monotonic()
                row = {"t_s": round(sent - self.start_time, 2)}
                try:
                    token = token or self.token(http)
                    r = http.post("/v1/proofs", json={"formula": "[]p -> p", "timeout": 5},
                                  headers={"Authorization": f"Bearer {token}",
                                           "Prefer": "wait=5"})
                    row["status"] = r.status_code
                    if r.status_code in (200, 202):
                        self.accepted.add(r.json()["id"])
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    row["status"] = type(exc).__name__
                row["latency_s"] = round(time.monotonic() - sent, 3)
                row["ok"] = row["status"] == 200  # finished within its Prefer: wait
                self.rows.append(row)
                self.stop_event.wait(max(0.0, 1.0 - (time.monotonic() - sent)))

    def window(self, start: float, end: float) -> dict:
        rows = [r for r in self.rows if start <= r["t_s"] < end]
        failed = [r for r in rows if not r["ok"]]
        recovery = 0.0
        if failed:
            last_bad = max(r["t_s"] for r in failed)
            after = [r for r in rows if r["t_s"] > last_bad and r["ok"]]
            recovery = round(after[0]["t_s"] + after[0]["latency_s"] - start, 1) if after \
                else None
        first_ok = next((r for r in rows if r["ok"]), None)
        return {
            "probes": len(rows),
            # from the fault until the first probe sent after it came back 200
            "first_200_after_s": round(first_ok["t_s"] + first_ok["latency_s"] - start, 1)
            if first_ok else None,
            "probes_not_200": len(failed),
            "probe_statuses": sorted({str(r["status"]) for r in failed}),
            "max_probe_latency_s": max((r["latency_s"] for r in rows), default=None),
            "recovery_s": recovery,
        }


def locust_window(history: Path, start_epoch: float, end_epoch: float) -> dict:
    """Requests and failures Locust counted between two moments (its stats history)."""
    rows = []
    with contextlib.suppress(OSError), history.open() as f:
        rows = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"]

    def at(epoch: float) -> tuple[int, int]:
        before = [r for r in rows if int(r["Timestamp"]) <= epoch]
        if not before:
            return 0, 0
        last = before[-1]
        return int(last["Total Request Count"]), int(last["Total Failure Count"])

    (req0, fail0), (req1, fail1) = at(start_epoch), at(end_epoch)
    return {"requests": req1 - req0, "failures": fail1 - fail0,
            "error_rate": round((fail1 - fail0) / (req1 - req0), 3) if req1 > req0 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-port", type=int, default=18850)
    parser.add_argument("--port", type=int, help="API port (default: a free one)")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--at", default="30,70,120",
                        help="seconds into the run of: kill one worker process, kill the worker "
                             "tree, kill Redis")
    parser.add_argument("--seconds", type=float, default=170, help="length of the load")
    parser.add_argument("--visibility-timeout", type=float, default=15,
                        help="PXL_BROKER_VISIBILITY_TIMEOUT for this run (see the report)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not shutil.which("redis-server"):
        parser.error("redis-server is not installed")
    out = args.out or Path(tempfile.mkdtemp(prefix="pxl-faults-"))
    out.mkdir(parents=True, exist_ok=True)
    t_worker, t_tree, t_redis = (float(x) for x in args.at.split(","))

    own_redis = OwnRedis(args.redis_port, out / "redis")
    own_redis.start()
    clients_file, creds_file = write_clients(out, args.users + 10)
    creds = json.loads(creds_file.read_text())
    env = {**service_env(clients_file),
           "PXL_BROKER_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
           "PXL_BROKER_RESTORE_INTERVAL": "2"}
    services = Services(own_redis.url, args.workers, out, auth=True, port=args.port,
                        extra_env=env, key_tag="pxlfaults")
    report: dict = {"machine": machine(), "command": " ".join(["load/faults.py",
                    *(sys.argv[1:] if argv is None else argv)]),
                    "users": args.users, "worker_processes": args.workers,
                    "visibility_timeout_s": args.visibility_timeout, "faults": {}}
    locust = None
    probe = None
    try:
        services.start_api()
        services.start_worker()
        services.wait_healthy(need_worker=True)
        cmd = locust_command(url=services.url, out=out, credentials=creds_file,
                             stages=f"{args.users}:{args.seconds}", webhook_port=free_port(),
                             user_classes=["ApiClient", "HealthProbe"])
        log = (out / "locust.log").open("wb")
        locust = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        probe = Probe(services.url, creds["clients"][-1], creds["secret"])
        probe.start()
        epoch0 = time.time()
        start = probe.start_time

        def sleep_until(t: float) -> None:
            time.sleep(max(0.0, start + t - time.monotonic()))

        events = []
        sleep_until(t_worker)
        supervisor = services.procs["worker"].pid
        children = [p for p in process_tree(supervisor) if p != supervisor]
        victim = children[0]
        os.kill(victim, signal.SIGKILL)
        events.append(("SIGKILL one worker process", t_worker, f"pid {victim} of {children}"))

        sleep_until(t_tree)
        killed = Services.kill_tree(supervisor)
        services.procs["worker"].wait()
        time.sleep(5.0)
        services.start_worker()
        events.append(("SIGKILL the worker tree, restart after 5 s", t_tree, f"pids {killed}"))

        sleep_until(t_redis)
        own_redis.kill()
        time.sleep(3.0)
        own_redis.start()
        events.append(("SIGKILL Redis, restart after 3 s (AOF)", t_redis,
                       f"port {args.redis_port}"))

        locust.wait()
        probe.stop_event.set()
        probe.join()
        ends = [e[1] for e in events[1:]] + [args.seconds]
        for (name, t, detail), end in zip(events, ends, strict=True):
            report["faults"][name] = {
                "at_s": t, "detail": detail, **probe.window(t, end),
                "locust": locust_window(out / "locust_stats_history.csv", epoch0 + t,
                                        epoch0 + end),
            }
        report["before_faults"] = {**probe.window(0, t_worker),
                                   "locust": locust_window(out / "locust_stats_history.csv",
                                                           epoch0, epoch0 + t_worker)}
        summary = out / "summary.json"
        report["slo"] = json.loads(summary.read_text()) if summary.exists() else None
        accepted = set((out / "jobs.txt").read_text().split()) | probe.accepted
        report["jobs_audit"] = audit_when_final(redis.Redis.from_url(own_redis.url),
                                                services.key_prefix, accepted,
                                                args.visibility_timeout * 4 + 60)
    finally:
        if probe is not None:
            probe.stop_event.set()
        if locust is not None and locust.poll() is None:
            locust.kill()
        services.stop_all()
        own_redis.stop()
    if probe is not None:
        with (out / "probe.csv").open("w") as f:
            f.write("t_s,status,latency_s,ok\n")
            f.writelines(f"{r['t_s']},{r['status']},{r['latency_s']},{r['ok']}\n"
                         for r in probe.rows)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print_report(report, out)
    return 0 if report.get("jobs_audit", {}).get("ok") else 1


def print_report(report: dict, out: Path) -> None:
    print(f"command: {report['command']}  (results in {out})")
    print(f"{report['users']} users, {report['worker_processes']} worker processes, broker "
          f"visibility timeout {report['visibility_timeout_s']} s")
    for name, f in [("before the faults", report.get("before_faults", {})),
                    *report["faults"].items()]:
        loc = f.get("locust", {})
        print(f"- {name}: probes {f.get('probes')} ({f.get('probes_not_200')} "
              f"not 200: {f.get('probe_statuses')}), max probe latency "
              f"{f.get('max_probe_latency_s')} s, first 200 after {f.get('first_200_after_s')} s, "
              f"recovery {f.get('recovery_s')} s; Locust "
              f"{loc.get('requests')} requests, {loc.get('failures')} failed")
    slo = report.get("slo") or {}
    if slo:
        print(f"whole run: jobs {slo['jobs']}, e2e p95 {slo['e2e_p95_ms']} ms, max "
              f"{slo['e2e_max_ms']} ms, error rate {slo['error_rate']:.2%}, max queue depth "
              f"{slo['max_queue_depth']:g}")
        for failure, count in list(slo.get("failures", {}).items())[:10]:
            print(f"  failure x{count}: {failure[:160]}")
    a = report.get("jobs_audit")
    if a:
        print(f"jobs audit: {a['accepted_by_clients']} accepted, {a['job_records']} records, "
              f"statuses {a['statuses']}, lost {a['lost']}, finished twice "
              f"{a['finished_twice']}, redelivered {a['redelivered (attempts > 1)']} -> "
              f"{'OK' if a['ok'] else 'FAILED'}")


if __name__ == "__main__":
    sys.exit(main())
