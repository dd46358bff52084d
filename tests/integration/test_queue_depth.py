"""Done-when of the observability issue: queue depth and job latency read from GET /v1/metrics.

Real Redis, a real `pxl worker`, the real app: stop the worker, submit 25 proof jobs, see
pxl_queue_depth = 25; start the worker, see the depth fall to 0 and the end-to-end latency
histogram count grow by exactly 25.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from tests.unit.obs_support import parse_samples, sample

pytestmark = pytest.mark.integration
JOBS = 25


@pytest.fixture
def api(pxl_env):
    from api.app import create_app
    from api.auth import mint_token
    from workers.settings import get_settings

    # 25 submissions in a burst from one client would (rightly) meet the rate limiter
    settings = get_settings().model_copy(update={"rate_limit_enabled": False})
    with TestClient(create_app(settings)) as client:
        token = mint_token("ops-queue-depth", ["proofs:write", "jobs:read", "metrics:read"])
        client.headers["Authorization"] = f"Bearer {token}"
        client.queue = settings.queue_name
        yield client


def scrape(api) -> dict:
    answer = api.get("/v1/metrics")
    assert answer.status_code == 200
    return parse_samples(answer.text)


def wait_for(api, condition, what: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(api)
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_queue_depth_and_latency_histogram_from_v1_metrics(api, worker):
    queue = api.queue
    depth = lambda s: sample(s, "pxl_queue_depth", queue=queue)  # noqa: E731
    e2e_count = lambda s: sample(s, "pxl_job_end_to_end_seconds_count", kind="proof") or 0  # noqa: E731
    reserved = lambda s: sample(s, "pxl_queue_reserved", queue=queue)  # noqa: E731

    # start from a drained queue (earlier tests share this worker and queue): nothing waiting
    # and nothing fetched by a worker (with late acks that includes running jobs)
    wait_for(api, lambda s: depth(s) == 0 and reserved(s) == 0, "an idle queue")
    worker.stop()
    try:
        before = scrape(api)
        assert depth(before) == 0
        assert sample(before, "pxl_workers_online") == 0
        assert reserved(before) == 0
        finished_before = e2e_count(before)

        ids = []
        for i in range(JOBS):
            answer = api.post("/v1/proofs", json={"formula": f"[](p{i} -> p{i})"})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        queued = scrape(api)
        assert depth(queued) == JOBS
        assert sample(queued, "pxl_jobs_submitted_total", kind="proof") >= JOBS
    finally:
        worker.start()

    done = wait_for(
        api,
        lambda s: depth(s) == 0 and reserved(s) == 0 and e2e_count(s) - finished_before == JOBS,
        "the worker to drain the queue",
    )
    assert sample(done, "pxl_workers_online") >= 1
    inf = sample(done, "pxl_job_end_to_end_seconds_bucket", kind="proof", le="+Inf")
    assert inf == e2e_count(done)  # the histogram is consistent: every job is in a bucket
    assert sample(done, "pxl_job_queue_wait_seconds_count", kind="proof") >= JOBS
    for job_id in ids:
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"


def test_request_id_and_job_id_reach_the_worker_logs(pxl_env, tmp_path):
    """A job submitted with X-Request-ID is logged by the worker with that id and its job id."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from api.app import create_app
    from api.auth import mint_token
    from workers.celery_app import job_store
    from workers.settings import get_settings

    queue = pxl_env["PXL_QUEUE_NAME"] + "-logs"  # its own queue: the session worker stays out
    settings = get_settings().model_copy(update={"queue_name": queue})
    log_file = tmp_path / "worker.log"
    env = {**os.environ, **pxl_env, "PXL_QUEUE_NAME": queue, "PXL_LOG_JSON": "true"}
    code = (
        "import sys; from workers import logs; logs.install_celery_signals(); "
        "from api.cli import main; sys.exit(main())"
    )
    with open(log_file, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "worker", "--concurrency", "1"],
            env=env, cwd=Path(__file__).resolve().parents[2], stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        with TestClient(create_app(settings)) as api:
            token = mint_token("ops-logs", ["proofs:write", "jobs:read"])
            answer = api.post(
                "/v1/proofs",
                json={"formula": "p -> p"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-trace-77"},
            )
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["id"]
            doc = job_store(settings).wait_terminal(job_id, 60)
            assert doc and doc["status"] == "succeeded", doc
    finally:
        proc.terminate()
        proc.wait(30)
    records = []
    for line in log_file.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    assert records, log_file.read_text()[:2000]
    about_job = [r for r in records if r.get("job_id") == job_id]
    assert about_job, "no worker log line carries the job id"
    assert all(r["request_id"] == "req-trace-77" for r in about_job)


def test_reserved_counts_a_message_fetched_but_not_acknowledged(pxl_env):
    """kombu's own unacked bookkeeping (with the service's global key prefix) is what
    pxl_queue_reserved reads: fetch a message without acking it, then give it back."""
    from api.app import create_app
    from api.auth import mint_token
    from workers.celery_app import app_for
    from workers.settings import get_settings

    queue = pxl_env["PXL_QUEUE_NAME"] + "-reserved"  # no worker consumes it
    settings = get_settings().model_copy(update={"queue_name": queue})
    celery = app_for(settings)
    with TestClient(create_app(settings)) as api:
        token = mint_token("ops-reserved", ["metrics:read"])
        api.headers["Authorization"] = f"Bearer {token}"
        read = lambda: scrape(api)  # noqa: E731
        celery.send_task("pxl.run_job", args=["not-a-job"], queue=queue)
        s = read()
        assert sample(s, "pxl_queue_depth", queue=queue) == 1
        assert sample(s, "pxl_queue_reserved", queue=queue) == 0
        with celery.connection_for_read() as conn:
            fetched = conn.SimpleQueue(queue)
            message = fetched.get(timeout=10)
            s = read()
            assert sample(s, "pxl_queue_depth", queue=queue) == 0
            assert sample(s, "pxl_queue_reserved", queue=queue) == 1
            message.ack()
            fetched.close()
        s = read()
        assert sample(s, "pxl_queue_reserved", queue=queue) == 0
