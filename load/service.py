"""The service under load, started by the load tools: `pxl serve` + `pxl worker` as child
processes on loopback, their CPU and memory, the load clients' credentials, and the audit of
the job records a run left behind.

Used by ``e2e_bench.py`` (auth and rate limits off) and by ``run.py`` / ``faults.py`` (the
Locust runs: auth and rate limits on, clients from a generated ``PXL_CLIENTS_FILE``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
FINAL_EVENTS = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pxl(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", *args]


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["git_sha"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    return info


# --- processes: CPU and memory from /proc -------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    pids, frontier = [pid], [pid]
    while frontier:
        out = subprocess.run(
            ["pgrep", "-P", ",".join(map(str, frontier))], capture_output=True, text=True
        )
        frontier = [int(p) for p in out.stdout.split()]
        pids += frontier
    return pids


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process and its live descendants (Linux /proc)."""
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = _stat_fields(p)
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its live descendants."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(_stat_fields(p)[21]) * PAGE_BYTES
    return total


# --- the load clients -----------------------------------------------------------------------


LOAD_SCOPES = ["proofs:write", "overlays:write", "jobs:read"]


def write_clients(directory: Path, count: int) -> tuple[Path, Path]:
    """A ``PXL_CLIENTS_FILE`` with ``count`` load clients (``load-000`` …) plus ``load-metrics``
    (scope metrics:read, for the queue-depth scraper), and the credentials the load generator
    reads.  All share one secret (one scrypt hash to compute, not ``count``) and one webhook
    secret; each still has its own id, so its own rate-limit quota and its own jobs."""
    from workers.clients import hash_secret

    secret = secrets.token_urlsafe(24)
    webhook = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    hashed = hash_secret(secret)
    ids = [f"load-{i:03d}" for i in range(count)]
    clients = {
        cid: {"secret_hash": hashed, "scopes": LOAD_SCOPES, "webhook_secret": webhook}
        for cid in ids
    }
    clients["load-metrics"] = {"secret_hash": hashed, "scopes": ["metrics:read"]}
    server_file = directory / "clients.json"
    server_file.write_text(json.dumps({"clients": clients}))
    creds_file = directory / "credentials.json"
    creds_file.write_text(
        json.dumps(
            {
                "clients": ids,
                "metrics_client": "load-metrics",
                "secret": secret,
                "webhook_secret": webhook,
            }
        )
    )
    creds_file.chmod(0o600)
    return server_file, creds_file


# --- the service ------------------------------------------------------------------------------


class Services:
    """`pxl serve` + `pxl worker` (or the no-op worker) as child processes on loopback.

    ``auth=False`` turns auth and rate limits off (the job-path benchmark); otherwise they are
    on and ``extra_env`` carries the clients file."""

    def __init__(
        self,
        redis_url: str,
        worker_processes: int,
        log_dir: Path,
        pool: str = "solo",
        extra_env: dict[str, str] | None = None,
        *,
        auth: bool = False,
        port: int | None = None,
        key_tag: str = "pxlbench",
    ):
        tag = uuid.uuid4().hex[:8]
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_processes = worker_processes
        self.pool = pool
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "PXL_REDIS_URL": redis_url,
            "PXL_KEY_PREFIX": f"{key_tag}:{tag}:",
            "PXL_QUEUE_NAME": f"{key_tag}-{tag}",
            "PXL_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        if not auth:  # loopback only; the bench measures the job path
            self.env.update({"PXL_AUTH_DISABLED": "true", "PXL_RATE_LIMIT_ENABLED": "false"})
        self.env.update(extra_env or {})
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def key_prefix(self) -> str:
        return self.env["PXL_KEY_PREFIX"]

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
        self.procs[name] = subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def start_api(self) -> None:
        self._start(
            "api",
            pxl("serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
        )

    def start_worker(self) -> None:
        self._start(
            "worker",
            pxl(
                "worker",
                "--concurrency",
                str(self.worker_processes),
                "--pool",
                self.pool,
                "--loglevel",
                "warning",
            ),
        )

    def start_noop_worker(self) -> None:
        self._start(
            "noop",
            [
                sys.executable,
                str(ROOT / "load" / "noop_worker.py"),
                "--concurrency",
                str(self.worker_processes),
                "--pool",
                self.pool,
            ],
        )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_tree(proc.pid)
                proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    @staticmethod
    def kill_tree(pid: int) -> list[int]:
        """SIGKILL a process and all its descendants at once (no one to clean up)."""
        pids = process_tree(pid)
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        return pids

    def wait_healthy(self, need_worker: bool, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited ({proc.returncode}); see {self.log_dir / (name + '.log')}"
                    )
            with contextlib.suppress(httpx.HTTPError, ValueError):
                body = httpx.get(self.url + "/v1/health", timeout=2).json()
                if body.get("redis") and (body.get("workers_online") or not need_worker):
                    return body
            time.sleep(0.2)
        raise RuntimeError(f"service not healthy in {timeout:.0f} s: {body}")

    def wait_workers_gone(self, store_redis: redis.Redis, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and store_redis.keys(self.key_prefix + "worker:*"):
            time.sleep(0.2)

    def cleanup_keys(self, client: redis.Redis) -> int:
        return delete_prefix(client, self.key_prefix)


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)


# --- did every accepted job end exactly once? ---------------------------------------------------


def audit_jobs(client: redis.Redis, prefix: str, accepted: set[str]) -> dict:
    """Count the job records under ``prefix`` against the ids the clients saw accepted:
    every accepted job must exist, be final, and have exactly one final event in its stream
    (a job finished twice would have two)."""
    records = {
        key[len(prefix) + 4 :]
        for key in (k.decode() for k in client.scan_iter(match=prefix + "job:*", count=1000))
        if ":" not in key[len(prefix) + 4 :]  # not job:<id>:events, job:<id>:webhook:…
    }
    statuses: dict[str, int] = {}
    missing, unfinished, twice, attempts_over_1 = [], [], [], 0
    ids = sorted(accepted | records)
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        pipe = client.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hmget(prefix + f"job:{job_id}", "status", "attempts")
            pipe.xrange(prefix + f"job:{job_id}:events")
        answers = pipe.execute()
        for job_id, (status, attempts), events in zip(
            chunk, answers[0::2], answers[1::2], strict=True
        ):
            if status is None:
                missing.append(job_id)
                continue
            status = json.loads(status)  # record fields hold JSON values
            statuses[status] = statuses.get(status, 0) + 1
            finals = sum(1 for _id, fields in events if fields.get(b"event", b"").decode()
                         in FINAL_EVENTS)
            if status not in FINAL_EVENTS:
                unfinished.append(job_id)
            if finals > 1:
                twice.append(job_id)
            if attempts and int(attempts) > 1:
                attempts_over_1 += 1
    return {
        "accepted_by_clients": len(accepted),
        "job_records": len(records),
        "statuses": statuses,
        "lost": len(missing) + len(unfinished),
        "missing_records": missing[:10],
        "not_final": unfinished[:10],
        "finished_twice": len(twice),
        "finished_twice_ids": twice[:10],
        "redelivered (attempts > 1)": attempts_over_1,
        "ok": not missing and not unfinished and not twice,
    }


def audit_when_final(client: redis.Redis, prefix: str, accepted: set[str],
                     timeout: float) -> dict:
    """``audit_jobs`` once no job is left unfinished, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    audit = audit_jobs(client, prefix, accepted)
    while audit["lost"] and time.monotonic() < deadline:
        time.sleep(1.0)
        audit = audit_jobs(client, prefix, accepted)
    return audit


# --- the load generator ---------------------------------------------------------------------


def locust_command(*, url: str, out: Path, credentials: Path, stages: str, webhook_port: int,
                   user_classes: list[str], extra: list[str] = ()) -> list[str]:
    """The headless Locust run of locustfile.py writing into ``out`` (CSV stats, the gate's
    summary.json, the accepted job ids in jobs.txt, the queue depth in timeline.csv)."""
    return [
        sys.executable, "-m", "locust", "-f", str(ROOT / "load" / "locustfile.py"),
        "--headless", "--host", url, "--only-summary", "--loglevel", "WARNING",
        "--csv", str(out / "locust"), "--stop-timeout", "30",
        "--credentials", str(credentials), "--stages", stages,
        "--webhook-port", str(webhook_port),
        "--summary-json", str(out / "summary.json"), "--jobs-file", str(out / "jobs.txt"),
        "--timeline-csv", str(out / "timeline.csv"),
        *extra, *user_classes,
    ]
