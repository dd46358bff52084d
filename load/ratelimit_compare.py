"""The project's rate limiter against the `limits` library, side by side on one Redis.

Why the question: pyproject once declared `limits` without using it. This measures what one
allowed request costs with each, interleaved (A B A B) so machine noise hits both alike:

* ours    - api.ratelimit.RateLimiter.hit: one EVALSHA that checks and records both rules
            (100 per sliding minute and a GCRA burst of 20) atomically;
* limits  - limits.aio MovingWindowRateLimiter on its redis.asyncio storage, the nearest it can
            express: "100/minute" and "20 per 12 seconds" as two moving windows, tested and
            then hit (two rules cannot be checked-and-recorded atomically in one call, and a
            hit on the first rule would be spent even when the second refuses).

    .venv/bin/python load/ratelimit_compare.py --rounds 5

Prints microseconds per allowed request (median of rounds) and Redis commands per request
(server-side, Lua's inner calls included). By default it starts a private `redis-server` (from
PATH) on a free loopback port, so no other client's commands are counted; `--redis URL` uses
another server instead (then the counts include whatever else that server does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid

import redis
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.ratelimit import RateLimiter
from workers.settings import Settings


def commands_total(client: redis.Redis) -> int:
    return sum(v["calls"] for k, v in client.info("commandstats").items())


async def ours(limiter: RateLimiter, n: int, tag: str) -> None:
    for i in range(n):
        decision = await limiter.hit(f"bench:{tag}:{i % 1000}")
        assert decision.allowed


async def library(strategy: MovingWindowRateLimiter, n: int, tag: str) -> None:
    per_minute, burst = parse("100/minute"), parse("20/12 seconds")
    for i in range(n):
        key = f"bench:{tag}:{i % 1000}"
        assert await strategy.test(per_minute, key) and await strategy.test(burst, key)
        await strategy.hit(per_minute, key)
        await strategy.hit(burst, key)


@contextlib.contextmanager
def private_redis():
    """A throw-away redis-server on a free loopback port (no persistence)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: pass --redis URL")
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"redis://127.0.0.1:{port}/0"
            for _ in range(100):
                with contextlib.suppress(redis.RedisError):
                    redis.Redis.from_url(url).ping()
                    break
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            process.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="use this server (default: a private redis-server)")
    parser.add_argument("--requests", type=int, default=2000, help="per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.redis is None:
        with private_redis() as url:
            await compare(args, url)
    else:
        await compare(args, args.redis)


async def compare(args: argparse.Namespace, url: str) -> None:
    prefix = f"rlbench-{uuid.uuid4().hex[:8]}:"
    plain = redis.Redis.from_url(url)
    limiter = RateLimiter(Settings(redis_url=url, key_prefix=prefix))
    storage = RedisStorage(
        url.replace("redis://", "async+redis://"), implementation="redispy",
        key_prefix=prefix + "limits",
    )  # fmt: skip
    strategy = MovingWindowRateLimiter(storage)
    results: dict[str, list[float]] = {"ours": [], "limits": []}
    commands: dict[str, int] = {"ours": 0, "limits": 0}
    try:
        await ours(limiter, 50, "warm")
        await library(strategy, 50, "warm")
        for r in range(args.rounds):
            for name in ("ours", "limits"):
                before = commands_total(plain)
                start = time.perf_counter()
                if name == "ours":
                    await ours(limiter, args.requests, f"r{r}")
                else:
                    await library(strategy, args.requests, f"r{r}")
                elapsed = time.perf_counter() - start
                commands[name] += commands_total(plain) - before - 1  # less the INFO itself
                results[name].append(elapsed / args.requests * 1e6)
    finally:
        for key in plain.scan_iter(match=prefix + "*", count=1000):
            plain.delete(key)
    total = args.requests * args.rounds
    print(f"{'limiter':8} {'us/request (median)':>20} {'min':>8} {'max':>8} {'commands/request':>17}")
    for name, values in results.items():
        print(
            f"{name:8} {statistics.median(values):20.1f} {min(values):8.1f} {max(values):8.1f} "
            f"{commands[name] / total:17.2f}"
        )
    ratio = statistics.median(results["limits"]) / statistics.median(results["ours"])
    print(f"limits / ours: {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
