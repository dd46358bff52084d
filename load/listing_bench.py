"""Listing cost with thousands of large jobs: the status index and summaries against reading
every document (what `GET /v1/jobs` did before issue 10), side by side on one Redis.

    .venv/bin/python load/listing_bench.py --jobs 2092 --params-kb 256

Creates the jobs under a private key prefix in PXL_TEST_REDIS_DB (default 15) through the real
job store (no queue: the jobs are never run), ends the oldest one failed, then times
``?status=failed&limit=1`` and ``?limit=100`` both ways and reports seconds, bytes of the
page and Python memory peak (tracemalloc); deletes its keys at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
import uuid

from workers.connection import redis_client
from workers.jobs import JobStore
from workers.record import JobStatus, decode
from workers.settings import Settings


def scan_documents(store: JobStore, owner: str, status: str | None, limit: int) -> list[dict]:
    """The pre-issue-10 listing: every document of the owner, newest first, until ``limit``
    match (at most 5,000 read)."""
    ids = store.r.zrevrangebylex(store.owner_key(owner), "+", "-", start=0, num=5000)
    page = []
    for start in range(0, len(ids), 50):
        with store.r.pipeline(transaction=False) as pipe:
            for job_id in ids[start:start + 50]:
                pipe.hgetall(store.job_key(job_id))
            for raw in pipe.execute():
                doc = decode(raw)
                if status is None or doc["status"] == status:
                    page.append(doc)
                    if len(page) == limit:
                        return page
    return page


def measure(fn, repeat: int) -> tuple[float, int, int]:
    """(median seconds, JSON bytes of the page, tracemalloc peak bytes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    page = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), len(json.dumps(page)), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2092)
    parser.add_argument("--params-kb", type=int, default=256, help="size of each job's params")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    db = os.environ.get("PXL_TEST_REDIS_DB", "15")
    settings = Settings(redis_url=f"redis://127.0.0.1:6379/{db}",
                        key_prefix=f"pxlbench-list-{uuid.uuid4().hex[:8]}:",
                        max_live_jobs_per_client=10**9, max_queue_depth=10**9)
    store = JobStore(redis_client(settings), settings, enqueue=lambda *_: None,
                     queue_depth=lambda: 0, schedule_webhook=lambda *_: None)
    params = {"formula": {"atom": "p"}, "formula_text": "x" * (args.params_kb * 1024),
              "timeout": 1.0, "overlay": None}
    try:
        ids = [store.submit(kind="proof", owner="bench", params=params)[0]["id"]
               for _ in range(args.jobs)]
        store.finish(ids[0], JobStatus.FAILED, error={"type": "internal", "detail": "bench"})
        cases = {
            "status=failed&limit=1": ("failed", 1),
            "limit=100": (None, 100),
        }
        print(f"{args.jobs} jobs of {args.params_kb} KiB params each")
        for name, (status, limit) in cases.items():
            index = measure(lambda s=status, n=limit: store.list("bench", status=s, limit=n)[0],
                            args.repeat)
            scan = measure(lambda s=status, n=limit: scan_documents(store, "bench", s, n),
                           max(1, args.repeat // 2))
            for label, (seconds, size, peak) in (("index + summaries", index),
                                                 ("documents scan", scan)):
                print(f"  {name:22} {label:18} {seconds * 1000:9.1f} ms  page {size:>11,} B  "
                      f"peak {peak / 1e6:8.1f} MB")
    finally:
        keys = list(store.r.scan_iter(match=settings.key_prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            store.r.delete(*keys[start:start + 500])


if __name__ == "__main__":
    main()
