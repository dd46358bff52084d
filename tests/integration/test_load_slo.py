"""The Locust SLO gate (load/locustfile.py) against a real `pxl serve` and real workers on the
test Redis, with auth and rate limits on: the short profile passes, the gate fails (non-zero
exit) when a threshold is broken, and every job a client saw accepted ended exactly once.

The short profile is the CI share of the load tests (about a minute); the full ramp, the
stress, soak and fault runs are load/run.py, load/stress.py and load/faults.py (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import redis

from load.run import PROFILES
from load.service import Services, audit_when_final, free_port, locust_command, write_clients
from tests.integration.conftest import ROOT, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Latency on a machine other work oversubscribes measures that work, not the service: the SLO
# figures are judged only below this 1-minute load average (this test's own processes stay far
# below it; on the development machine other sessions' builds pushed it to 8-27 on 2 cores).
BUSY_LOADAVG = 3 * (os.cpu_count() or 1)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@pytest.fixture(scope="module")
def load_service(pxl_env, tmp_path_factory):
    """API + 2 worker processes on a queue and key prefix of their own (under the session's),
    configured with the load clients."""
    from workers.settings import get_settings

    out = tmp_path_factory.mktemp("load")
    clients_file, credentials = write_clients(out, 30)
    env = {
        **pxl_env,
        "PXL_KEY_PREFIX": pxl_env["PXL_KEY_PREFIX"] + "load:",
        "PXL_QUEUE_NAME": pxl_env["PXL_QUEUE_NAME"] + "-load",
        "PXL_CLIENTS_FILE": str(clients_file),
    }
    settings = get_settings().model_copy(
        update={"key_prefix": env["PXL_KEY_PREFIX"], "queue_name": env["PXL_QUEUE_NAME"]})
    worker = WorkerProcess(env, concurrency=2, log=out / "worker.log", settings=settings)
    worker.start()
    api = Services(env["PXL_REDIS_URL"], 2, out, auth=True, extra_env=env)
    api.start_api()
    try:
        api.wait_healthy(need_worker=True)
        yield api, credentials
    finally:
        api.stop_all()
        worker.stop()


def run_locust(load_service, out, stages: str, *extra: str) -> tuple[int, dict, set[str]]:
    api, credentials = load_service
    out.mkdir()
    cmd = locust_command(url=api.url, out=out, credentials=credentials, stages=stages,
                         webhook_port=free_port(), user_classes=["ApiClient", "HealthProbe"],
                         extra=list(extra))
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    summary = json.loads((out / "summary.json").read_text())
    accepted = set((out / "jobs.txt").read_text().split())
    return proc.returncode, summary, accepted


def test_the_short_profile_meets_the_slos_and_no_job_is_lost(load_service, tmp_path):
    rc, summary, accepted = run_locust(load_service, tmp_path / "short", PROFILES["short"])
    busy = load_average()

    assert summary["jobs"] >= 100 and summary["queue_depth_scrapes"] >= 30
    assert summary["error_rate"] < 0.05, json.dumps(summary)
    assert summary["webhook_deliveries"] >= 1 and summary["webhook_bad_signatures"] == 0
    api, _ = load_service
    audit = audit_when_final(redis.Redis.from_url(api.env["PXL_REDIS_URL"]), api.key_prefix,
                             accepted, timeout=30)
    assert len(accepted) >= summary["jobs"]
    assert audit["lost"] == 0 and audit["finished_twice"] == 0, audit
    if busy >= BUSY_LOADAVG:
        pytest.skip(f"SLO figures not judged: load average {busy} on {os.cpu_count()} cores "
                    f"(other work); breaches {summary['breaches']}")
    assert summary["breaches"] == [], json.dumps(summary)
    assert rc == 0


def test_the_gate_fails_when_a_threshold_is_broken(load_service, tmp_path):
    rc, summary, _ = run_locust(load_service, tmp_path / "tight", "5:8",
                                "--slo-p95-ms", "0.5", "--slo-queue-depth", "0")

    assert rc == 1
    assert not summary["passed"]
    assert any(b.startswith("P95 end to end") for b in summary["breaches"])
    assert any(b.startswith("max queue depth") for b in summary["breaches"])
