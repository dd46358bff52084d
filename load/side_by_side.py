"""Side by side: our job path against a naive FastAPI + Celery no-op endpoint, in one run.

Both services run at once, each on its own private ``redis-server`` (so each one's Redis CPU
is its own), and the same client (e2e_bench.RawHTTP, asyncio, keep-alive) drives them in
turn, interleaved A B A B at every client count: ours with ``POST /v1/proofs`` +
``Prefer: wait`` and a small S5 formula (``Cache-Control: no-cache``: proved every time, not
answered from the result cache; every answer a 200 with a verdict), the naive one
(load/naive_service.py) with ``POST /noop`` (every answer a 200).  Per phase it measures
throughput, P50/P95/P99 and the CPU milliseconds per job of each server-side process (API,
worker tree, Redis; the client is excluded), and reports each service's median over the
repeats and the ratios ours / naive.

Auth and rate limiting: ``--auth on`` runs ours with bearer tokens (HS256, minted here) and
the rate limiter on at its defaults, spreading requests over enough client ids that the
limiter never refuses (a fresh set per phase, each used for at most ``TOKEN_USES`` requests,
under the burst); ``--auth off`` turns both off; ``--auth both`` runs the two one after the
other.  The naive endpoint has neither, in every mode.

    .venv/bin/python load/side_by_side.py                       # auth on and off, 1/5/20 clients
    .venv/bin/python load/side_by_side.py --auth on --clients 20 --repeats 3 --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load.e2e_bench import RawHTTP, summarize  # noqa: E402 (the repository root is put on the path first)
from load.mix import SMALL_FORMULAS  # noqa: E402
from load.service import ROOT, Services, free_port, machine, tree_cpu_seconds  # noqa: E402

TOKEN_USES = 15  # requests per client id and phase: under the limiter's burst (20)


class PrivateRedis:
    """A throw-away redis-server on loopback (no persistence) whose CPU is one service's."""

    client = None

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        import redis

        self.client = client = redis.Redis.from_url(self.url)
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Ours:
    """`pxl serve` + `pxl worker` (one solo process per core) on their own Redis."""

    name = "ours"

    def __init__(self, redis: PrivateRedis, log_dir: Path, workers: int, auth: bool):
        self.redis = redis
        self.auth = auth
        self.secret = secrets.token_urlsafe(48)
        env = {"PXL_AUTH_DISABLED": "false", "PXL_RATE_LIMIT_ENABLED": "true",
               "PXL_JWT_SECRET": self.secret} if auth else {}
        self.services = Services(redis.url, workers, log_dir, "solo", env)
        self.services.start_api()
        self.services.start_worker()
        self.services.wait_healthy(need_worker=True)
        self.url = self.services.url
        self._phase = 0

    def pids(self) -> dict[str, int]:
        return {"api": self.services.procs["api"].pid,
                "worker": self.services.procs["worker"].pid, "redis": self.redis.proc.pid}

    def tokens(self, requests: int) -> list[str]:
        """Fresh client ids for one phase, enough that none passes the limiter's burst."""
        if not self.auth:
            return []
        from api.auth import mint_token
        from workers.settings import Settings

        settings = Settings(jwt_secret=self.secret, auth_disabled=False)
        self._phase += 1
        return [mint_token(f"bench-{self._phase}-{i}", ["proofs:write"], settings=settings)
                for i in range(requests // TOKEN_USES + 1)]

    def request(self, rng: random.Random) -> tuple[str, dict, dict]:
        body = {"formula": rng.choice(SMALL_FORMULAS), "timeout": 10}
        # no-cache: the worker proves every job (the result cache would answer repeats)
        return "/v1/proofs", body, {"Prefer": "wait=30", "Cache-Control": "no-cache"}

    @staticmethod
    def check(status: int, payload: bytes) -> None:
        if status != 200 or "verdict" not in json.loads(payload)["result"]:
            raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")

    def stop(self) -> None:
        self.services.stop_all()


class Naive:
    """load/naive_service.py: uvicorn (one process) + a prefork Celery worker."""

    name = "naive"

    def __init__(self, redis: PrivateRedis, log_dir: Path, workers: int):
        self.redis = redis
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "NAIVE_REDIS_URL": redis.url, "PYTHONPATH": str(ROOT)}
        log = open(log_dir / "naive.log", "ab")  # noqa: SIM115 (owned by the children)
        self.api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "load.naive_service:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "load.naive_service", "worker", "-P",
             "prefork", "-c", str(workers), "--without-gossip", "--without-mingle",
             "--loglevel", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.post(self.url + "/noop", json={"x": 1}, timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"naive service not up; see {log_dir / 'naive.log'}")

    def pids(self) -> dict[str, int]:
        return {"api": self.api.pid, "worker": self.worker.pid, "redis": self.redis.proc.pid}

    def tokens(self, requests: int) -> list[str]:
        return []

    def request(self, rng: random.Random) -> tuple[str, dict, dict]:
        return "/noop", {"x": rng.randrange(1_000_000)}, {}

    @staticmethod
    def check(status: int, payload: bytes) -> None:
        if status != 200 or "x" not in json.loads(payload):
            raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            proc.terminate()
        for proc in (self.api, self.worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu_seconds(pid) for name, pid in pids.items()}


async def phase(service, clients: int, requests: int, warmup: int, max_seconds: float) -> dict:
    """One measured run: ``clients`` closed-loop clients, ``requests`` requests in all."""
    tokens = service.tokens(requests + warmup)
    raw = RawHTTP(service.url, {}, clients)
    await raw.open()
    sent = 0
    latencies: list[float] = []
    errors: list[str] = []

    async def one(rng: random.Random) -> float:
        nonlocal sent
        path, body, headers = service.request(rng)
        if tokens:
            headers["Authorization"] = f"Bearer {tokens[sent // TOKEN_USES]}"
        sent += 1
        t0 = time.perf_counter()
        status, payload = await raw.post_json(path, body, headers)
        elapsed = time.perf_counter() - t0
        service.check(status, payload)
        return elapsed

    rng0 = random.Random(0)
    for _ in range(warmup):
        await one(rng0)
    remaining = requests
    deadline = time.monotonic() + max_seconds

    async def client_loop(seed: int) -> None:
        nonlocal remaining
        rng = random.Random(seed)
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            try:
                latencies.append(await one(rng))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(str(exc))

    service.redis.client.config_resetstat()  # our own server: its command counts are this phase's
    before = cpu_seconds(service.pids())
    start = time.perf_counter()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    wall = time.perf_counter() - start
    after = cpu_seconds(service.pids())
    await raw.close()
    result = summarize(service.name, latencies, len(errors), wall)
    done = max(len(latencies) + len(errors), 1)
    result["cpu_ms_per_job"] = {k: round((after[k] - before[k]) * 1000 / done, 3) for k in after}
    result["cpu_ms_per_job"]["total"] = round(sum(result["cpu_ms_per_job"].values()), 3)
    result["redis_calls_per_job"] = {
        name.removeprefix("cmdstat_"): round(stat["calls"] / done, 2)
        for name, stat in service.redis.client.info("commandstats").items()
        if name != "cmdstat_info"
    }
    if errors:
        result["first_errors"] = errors[:3]
    return result


def median_of(runs: list[dict]) -> dict:
    out = {k: statistics.median(run[k] for run in runs)
           for k in ("throughput_per_s", "p50_ms", "p95_ms", "p99_ms")}
    out["cpu_ms_per_job"] = {k: statistics.median(r["cpu_ms_per_job"][k] for r in runs)
                             for k in runs[0]["cpu_ms_per_job"]}
    out["redis_calls_per_job"] = runs[-1]["redis_calls_per_job"]
    out["errors"] = sum(r["errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


def ratios(ours: dict, naive: dict) -> dict:
    return {
        "cpu_per_job": round(ours["cpu_ms_per_job"]["total"] / naive["cpu_ms_per_job"]["total"], 2),
        "throughput": round(ours["throughput_per_s"] / naive["throughput_per_s"], 2),
        "p50": round(ours["p50_ms"] / naive["p50_ms"], 2),
        "p95": round(ours["p95_ms"] / naive["p95_ms"], 2),
        "p99": round(ours["p99_ms"] / naive["p99_ms"], 2),
    }


def run_mode(auth: bool, args, log_dir: Path) -> list[dict]:
    """Both services up at once; every client count measured A B A B; their medians."""
    redis_ours, redis_naive = PrivateRedis(log_dir), PrivateRedis(log_dir)
    ours = naive = None
    rows = []
    try:
        ours = Ours(redis_ours, log_dir, args.worker_processes, auth)
        naive = Naive(redis_naive, log_dir, args.worker_processes)
        for clients in args.clients:
            runs: dict[str, list[dict]] = {"ours": [], "naive": []}
            for rep in range(args.repeats):
                for service in (ours, naive):
                    result = asyncio.run(
                        phase(service, clients, args.requests, args.warmup, args.max_seconds))
                    runs[service.name].append(result)
                    print(f"auth {'on' if auth else 'off'} clients {clients} rep {rep + 1} "
                          f"{service.name}: {result['throughput_per_s']}/s p50 "
                          f"{result['p50_ms']} p95 {result['p95_ms']} ms, CPU/job "
                          f"{result['cpu_ms_per_job']}, errors {result['errors']}",
                          file=sys.stderr, flush=True)
            med = {name: median_of(r) for name, r in runs.items()}
            rows.append({"auth_and_rate_limit": auth, "clients": clients, "runs": runs,
                         "ours": med["ours"], "naive": med["naive"],
                         "ratio": ratios(med["ours"], med["naive"])})
    finally:
        for service in (ours, naive):
            if service:
                service.stop()
        redis_ours.stop()
        redis_naive.stop()
    return rows


def print_table(report: dict) -> None:
    m = report["machine"]
    print(f"machine: {m.get('cpu', '?')} x{m['cpus']}, {m['platform']}, Python {m['python']}, "
          f"load avg at start {' '.join(m.get('loadavg_at_start', []))}")
    print(f"command: {report['command']}")
    print("| auth+RL | clients | service | jobs/s | P50 ms | P95 ms | P99 ms | CPU ms/job "
          "(API + worker + Redis) | errors |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|")
    for row in report["rows"]:
        for name in ("ours", "naive"):
            r = row[name]
            cpu = r["cpu_ms_per_job"]
            print(f"| {'on' if row['auth_and_rate_limit'] else 'off'} | {row['clients']} | "
                  f"{name} | {r['throughput_per_s']:.0f} | {r['p50_ms']:.1f} | "
                  f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {cpu['total']:.2f} "
                  f"({cpu['api']:.2f} + {cpu['worker']:.2f} + {cpu['redis']:.2f}) | "
                  f"{r['errors']} |")
    print()
    print("| auth+RL | clients | CPU/job ratio | throughput ratio | P50 ratio | P95 ratio | "
          "P99 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in report["rows"]:
        q = row["ratio"]
        print(f"| {'on' if row['auth_and_rate_limit'] else 'off'} | {row['clients']} | "
              f"{q['cpu_per_job']} | {q['throughput']} | {q['p50']} | {q['p95']} | "
              f"{q['p99']} |")
    print()
    print("Redis commands per job (last run; commands inside Lua scripts included):")
    for row in report["rows"]:
        for name in ("ours", "naive"):
            calls = row[name]["redis_calls_per_job"]
            shown = ", ".join(f"{k} {v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                              if v >= 0.05)
            print(f"  auth {'on' if row['auth_and_rate_limit'] else 'off'}, {row['clients']} "
                  f"clients, {name}: {sum(calls.values()):.1f} ({shown})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 5, 20], help="client counts, comma-separated (1,5,20)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per phase (1000)")
    parser.add_argument("--repeats", type=int, default=2, help="A B pairs per client count (2)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=60, help="time cap per phase")
    parser.add_argument("--auth", choices=("on", "off", "both"), default="both",
                        help="ours with bearer tokens and the rate limiter on, off, or both")
    parser.add_argument("--worker-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        parser.error("needs redis-server on PATH (a private one per service is started)")
    report = {"machine": machine(),
              "command": " ".join(["load/side_by_side.py", *(argv or sys.argv[1:])]),
              "worker_processes": args.worker_processes, "rows": []}
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.auth]
    with tempfile.TemporaryDirectory(prefix="pxl-side-by-side-") as tmp:
        for auth in modes:
            report["rows"] += run_mode(auth, args, Path(tmp))
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if not any(row[n]["errors"] for row in report["rows"] for n in ("ours", "naive")) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
