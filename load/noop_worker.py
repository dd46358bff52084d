"""A Celery worker with the service's exact Celery configuration plus one bench-only task.

``pxl.noop(reply_key)`` does nothing but push to ``reply_key`` so that the sender,
blocked on BLPOP, learns it ran.  It never touches job records: it measures the engine
alone (broker enqueue -> worker pick-up -> task -> signal back through Redis), the
baseline that load/e2e_bench.py compares the full API -> Redis -> worker -> result path to.

Run (the bench does it): ``python load/noop_worker.py --concurrency N [--pool solo]`` with the
same PXL_* environment as ``pxl worker``; it consumes the job queue of that environment.
"""

from __future__ import annotations

import argparse
import os
import socket

import redis

from workers.celery_app import app
from workers.settings import get_settings

NOOP_TASK = "pxl.noop"
_client: redis.Redis | None = None


@app.task(name=NOOP_TASK, ignore_result=True)
def noop(reply_key: str) -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(get_settings().redis_url)
    with _client.pipeline(transaction=False) as pipe:
        pipe.rpush(reply_key, b"1")
        pipe.expire(reply_key, 60)
        pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", "-c", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pool", choices=("solo", "prefork"), default="prefork",
                        help="as `pxl worker --pool`: solo runs N supervised solo processes")
    args = parser.parse_args()
    if args.pool == "solo" and args.concurrency > 1:
        import sys

        from workers.supervisor import Supervisor

        child = [sys.executable, __file__, "--pool", "solo", "--concurrency", "1"]
        sys.exit(Supervisor(lambda: child, args.concurrency, get_settings()).run())
    app.worker_main(
        [
            "worker",
            f"--concurrency={args.concurrency}",
            f"--queues={get_settings().queue_name}",
            f"--pool={args.pool}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=warning",
            f"--hostname=noop-{os.getpid()}@{socket.gethostname()}",
        ]
    )


if __name__ == "__main__":
    main()
