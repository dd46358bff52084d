"""CPU per job of handing a job to the queue: Celery's ``send_task`` (what ``publish_job``
does) against pushing the same message built by ``job_message`` (what the store does in its
submission transaction), one thread, against a private redis-server.

    .venv/bin/python load/publish_cost.py --jobs 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load.side_by_side import PrivateRedis  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = PrivateRedis(Path(tmp))
        try:
            os.environ["PXL_REDIS_URL"] = server.url
            from workers.celery_app import job_message, publish_job
            from workers.connection import redis_client
            from workers.settings import get_settings

            settings = get_settings()
            client = redis_client(settings)
            params = {"timeout": 10}
            for i in range(50):  # connections, imports
                publish_job(settings, f"warm{i}", params)
            for name, push in (
                ("celery send_task", lambda i: publish_job(settings, f"a{i}", params)),
                ("job_message + LPUSH", lambda i: client.lpush(
                    *job_message(settings, f"b{i}", params, "req"))),
            ):
                start = time.process_time()
                for i in range(args.jobs):
                    push(i)
                cpu_ms = (time.process_time() - start) * 1000 / args.jobs
                print(f"{name}: {cpu_ms:.3f} ms CPU per job (client side)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
