"""End-to-end load benchmark: small proof jobs through API -> Redis -> worker -> result,
beside the same round trip through Celery with a no-op task, so our overhead is a ratio.

Phase "api": N concurrent clients (httpx, asyncio) each POST /v1/proofs with
``Prefer: wait=30`` and a small S5 formula, one request after another, until the request
budget or the time budget is spent; every answer must be 200 with a verdict.
Phase "noop": the same N clients send the Celery task ``pxl.noop`` (load/noop_worker.py,
the service's own Celery app and configuration) to the same queue and block on its reply in
Redis.  Both phases use the same number of worker processes (default: one per core).

Unless ``--url`` is given it starts its own ``pxl serve`` and ``pxl worker`` on loopback
against Redis DB 3 (``--redis-url``) under a fresh key prefix and queue, and deletes those
keys at the end.  Results (machine, command, numbers) go to stdout, and as JSON to ``--json``.

    .venv/bin/python load/e2e_bench.py --clients 20 --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `load` is a package beside it

from load.mix import SMALL_FORMULAS  # noqa: E402
from load.service import Services, machine, tree_cpu_seconds  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(name: str, latencies: list[float], errors: int, wall: float) -> dict:
    ms = [x * 1000 for x in latencies]
    return {
        "phase": name,
        "requests": len(ms),
        "errors": errors,
        "seconds": round(wall, 2),
        "throughput_per_s": round(len(ms) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


# --- where the CPU goes ------------------------------------------------------------------

def cpu_snapshot(services: Services | None, client: redis.Redis) -> dict[str, float]:
    times = os.times()
    snap = {"bench client": times.user + times.system}
    info = client.info("cpu")
    snap["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    for name, proc in services.procs.items() if services else ():
        snap[name] = tree_cpu_seconds(proc.pid)
    return snap


def cpu_per_job(before: dict, after: dict, jobs: int) -> dict[str, float]:
    """CPU milliseconds per job of each process (Redis is shared with others: approximate)."""
    return {k: round((after[k] - before[k]) * 1000 / max(jobs, 1), 2) for k in after if k in before}


# --- phase 1: the API path ------------------------------------------------------------------


class RawHTTP:
    """A minimal HTTP/1.1 keep-alive client (one connection per concurrent request): the same
    requests and checks as httpx at a fraction of its CPU, which shares the cores with the
    service under test.  Answers must carry Content-Length (uvicorn's JSON answers do)."""

    def __init__(self, url: str, headers: dict[str, str], connections: int):
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.pool: asyncio.Queue = asyncio.Queue()
        self.connections = connections

    async def open(self) -> None:
        for _ in range(self.connections):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def post_json(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.extra}"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        reader, writer = await self.pool.get()
        try:
            writer.write(head.encode() + data)
            raw_head = await reader.readuntil(b"\r\n\r\n")
            lines = raw_head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            payload = await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))
            raise
        self.pool.put_nowait((reader, writer))
        return status, payload

    async def close(self) -> None:
        while not self.pool.empty():
            _reader, writer = self.pool.get_nowait()
            writer.close()


async def api_phase(
    url: str,
    clients: int,
    requests: int,
    max_seconds: float,
    headers: dict[str, str],
    warmup: int,
    client: str = "httpx",
) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    verdicts: dict[str, int] = {}
    stages: dict[str, list[float]] = {"queue_wait_ms": [], "run_ms": [], "prover_ms": []}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    raw = RawHTTP(url, headers, clients) if client == "raw" else None
    if raw:
        await raw.open()
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:

        async def send(formula: str) -> tuple[int, bytes]:
            body = {"formula": formula, "timeout": 10}
            if raw:
                return await raw.post_json("/v1/proofs", body, {"Prefer": "wait=30", "Cache-Control": "no-cache"})
            response = await http.post("/v1/proofs", json=body, headers={"Prefer": "wait=30", "Cache-Control": "no-cache"})
            return response.status_code, response.content

        async def one(formula: str) -> float:
            t0 = time.perf_counter()
            status, payload = await send(formula)
            elapsed = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")
            result = json.loads(payload)["result"]
            verdicts[result["verdict"]] = verdicts.get(result["verdict"], 0) + 1
            # the worker's view: time queued before a pool process took it, time it ran
            stages["queue_wait_ms"].append(result.get("queue_wait_ms") or 0.0)
            stages["run_ms"].append(result.get("run_ms") or 0.0)
            stages["prover_ms"].append(result.get("elapsed_ms") or 0.0)
            return elapsed

        for formula in SMALL_FORMULAS[:warmup]:  # imports, pools, first-call costs
            await one(formula)
        verdicts.clear()
        for values in stages.values():
            values.clear()
        remaining = requests
        deadline = time.monotonic() + max_seconds

        async def client_loop(seed: int) -> None:
            nonlocal remaining
            rng = random.Random(seed)
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                try:
                    latencies.append(await one(rng.choice(SMALL_FORMULAS)))
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(str(exc))

        start = time.perf_counter()
        await asyncio.gather(*(client_loop(i) for i in range(clients)))
        wall = time.perf_counter() - start
    if raw:
        await raw.close()
    summary = summarize("api", latencies, len(errors), wall)
    summary["verdicts"] = verdicts
    summary["stages"] = {
        name: {
            "p50_ms": round(percentile(values, 0.5), 2),
            "p95_ms": round(percentile(values, 0.95), 2),
        }
        for name, values in stages.items()
    }
    if errors:
        summary["first_errors"] = errors[:3]
    return summary


# --- phase 2: the no-op Celery round trip ---------------------------------------------------


def noop_phase(env: dict, clients: int, requests: int, max_seconds: float, warmup: int) -> dict:
    # The service's Celery app, configured from the same environment as the workers.
    os.environ.update({k: v for k, v in env.items() if k.startswith("PXL_")})
    from workers.settings import get_settings

    get_settings.cache_clear()
    from workers.celery_app import app_for

    settings = get_settings()
    celery = app_for(settings)
    client = redis.Redis.from_url(settings.redis_url)
    prefix = settings.key_prefix + "bench:noop:"

    def one() -> float:
        reply = prefix + uuid.uuid4().hex
        t0 = time.perf_counter()
        celery.send_task("pxl.noop", args=[reply], queue=settings.queue_name)
        if client.blpop([reply], timeout=30) is None:
            raise RuntimeError("no reply from pxl.noop within 30 s")
        return time.perf_counter() - t0

    for _ in range(warmup):
        one()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + max_seconds

    def client_loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            try:
                elapsed = one()
                with lock:
                    latencies.append(elapsed)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(str(exc))

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    summary = summarize("noop", latencies, len(errors), wall)
    if errors:
        summary["first_errors"] = errors[:3]
    return summary


# --- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--requests", type=int, default=600, help="requests per phase (600)")
    parser.add_argument("--max-seconds", type=float, default=60, help="time cap per phase (60)")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="worker pool processes (default: one per core)",
    )
    parser.add_argument(
        "--pool",
        choices=("solo", "prefork"),
        default="solo",
        help="worker mode of both phases (`pxl worker --pool`; default solo, its default)",
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="api phase client: httpx (as recorded before) or a minimal HTTP/1.1 client "
        "that leaves more of the shared cores to the service",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--url", help="benchmark a running API instead (no no-op phase)")
    parser.add_argument("--token", help="bearer token for --url")
    parser.add_argument("--skip-noop", action="store_true")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--log-dir", type=Path, default=Path(tempfile.gettempdir()) / "pxl-e2e-bench"
    )
    args = parser.parse_args(argv)
    if args.url and not args.url.startswith(
        ("http://127.0.0.1", "http://localhost", "http://[::1]")
    ):
        parser.error("--url must be a loopback address: this tool only loads local services")

    report: dict = {
        "machine": machine(),
        "command": " ".join(["load/e2e_bench.py", *(argv or sys.argv[1:])]),
        "clients": args.clients,
        "worker_processes": args.worker_processes,
        "pool": args.pool,
        "client": args.client,
    }
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    if args.url:
        report["api"] = asyncio.run(
            api_phase(
                args.url,
                args.clients,
                args.requests,
                args.max_seconds,
                headers,
                args.warmup,
                args.client,
            )
        )
    else:
        args.log_dir.mkdir(parents=True, exist_ok=True)
        services = Services(args.redis_url, args.worker_processes, args.log_dir, args.pool)
        client = redis.Redis.from_url(args.redis_url)
        try:
            services.start_api()
            services.start_worker()
            services.wait_healthy(need_worker=True)
            before = cpu_snapshot(services, client)
            report["api"] = asyncio.run(
                api_phase(
                    services.url,
                    args.clients,
                    args.requests,
                    args.max_seconds,
                    headers,
                    args.warmup,
                    args.client,
                )
            )
            report["api"]["cpu_ms_per_job"] = cpu_per_job(
                before, cpu_snapshot(services, client), report["api"]["requests"] + args.warmup
            )
            if not args.skip_noop:
                services.stop("worker")
                services.stop("api")  # the no-op phase needs no API; free its CPU
                services.wait_workers_gone(client)
                services.start_noop_worker()
                time.sleep(3)  # the pool forks and connects; warm-up covers the rest
                before = cpu_snapshot(services, client)
                report["noop"] = noop_phase(
                    services.env, args.clients, args.requests, args.max_seconds, args.warmup
                )
                report["noop"]["cpu_ms_per_job"] = cpu_per_job(
                    before,
                    cpu_snapshot(services, client),
                    report["noop"]["requests"] + args.warmup,
                )
        finally:
            services.stop_all()
            services.cleanup_keys(client)
    api, noop = report.get("api"), report.get("noop")
    if api and noop:
        report["ratio"] = {
            "p50": round(api["p50_ms"] / noop["p50_ms"], 2),
            "p95": round(api["p95_ms"] / noop["p95_ms"], 2),
            "mean": round(api["mean_ms"] / noop["mean_ms"], 2),
            "throughput": round(noop["throughput_per_s"] / api["throughput_per_s"], 2),
        }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if api and not api["errors"] else 1


def print_report(report: dict) -> None:
    m = report["machine"]
    print(
        f"machine: {m.get('cpu', '?')} x{m['cpus']}, {m['platform']}, Python {m['python']}, "
        f"load avg at start {' '.join(m.get('loadavg_at_start', []))}"
    )
    print(f"command: {report['command']}")
    print(
        f"clients: {report['clients']}, worker processes: {report['worker_processes']} "
        f"({report.get('pool', 'prefork')}), api client: {report.get('client', 'httpx')}"
    )
    print(
        f"{'phase':6} {'requests':>8} {'errors':>6} {'jobs/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'mean ms':>7} {'max ms':>7}"
    )
    for name in ("api", "noop"):
        r = report.get(name)
        if r:
            print(
                f"{name:6} {r['requests']:>8} {r['errors']:>6} {r['throughput_per_s']:>7} "
                f"{r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7} {r['mean_ms']:>7} "
                f"{r['max_ms']:>7}"
            )
    stages = report.get("api", {}).get("stages")
    if stages:
        shown = ", ".join(f"{k} p50 {v['p50_ms']} / p95 {v['p95_ms']}" for k, v in stages.items())
        print(f"api job stages (from the results): {shown}")
    for name in ("api", "noop"):
        cpu = report.get(name, {}).get("cpu_ms_per_job")
        if cpu:
            shown = ", ".join(f"{k} {v}" for k, v in cpu.items())
            print(f"{name} CPU ms per job: {shown}")
    if "ratio" in report:
        r = report["ratio"]
        print(
            f"api/noop latency ratio: p50 {r['p50']}x, p95 {r['p95']}x, mean {r['mean']}x; "
            f"noop/api throughput {r['throughput']}x"
        )
    if report.get("api", {}).get("first_errors"):
        print("api errors:", report["api"]["first_errors"])


if __name__ == "__main__":
    sys.exit(main())
