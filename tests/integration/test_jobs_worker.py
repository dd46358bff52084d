"""The job platform end to end: the real Redis and a real `pxl worker` process."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.integration.conftest import (
    HARD,
    INVALID,
    VALID,
    final_events,
    proof_params,
    submit_proof,
    wait_status,
)
from workers.jobs import QueueFull

pytestmark = pytest.mark.integration


def test_valid_formula_gets_a_certificate(store, worker):
    doc = submit_proof(store, VALID)
    done = store.wait_terminal(doc["id"], 20)
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["verdict"] == "valid" and result["szs_status"] == "Theorem"
    certificate = json.loads(base64.b64decode(result["certificate"]))
    assert certificate["steps"]
    assert result["queue_wait_ms"] >= 0 and result["run_ms"] >= 0
    assert done["attempts"] == 1 and done["started_at"] and done["finished_at"]
    events = [name for _id, name, _data in store.read_events(doc["id"])]
    assert events == ["queued", "started", "succeeded"]


def test_invalid_formula_gets_a_countermodel(store, worker):
    doc = submit_proof(store, INVALID)
    done = store.wait_terminal(doc["id"], 20)
    assert done["status"] == "succeeded"
    assert done["result"]["verdict"] == "invalid"
    model = done["result"]["countermodel"]
    assert model["relation"] == "universal" and len(model["worlds"]) == 2


def test_bad_input_fails_once_without_retries(store, worker):
    params = dict(proof_params(VALID), formula={"nonsense": 1})
    doc, _ = store.submit(kind="proof", owner="tester", params=params)
    done = store.wait_terminal(doc["id"], 20)
    assert done["status"] == "failed" and done["error"]["type"] == "invalid_input"
    assert done["attempts"] == 1


def test_prover_timeout_is_unknown_not_failure(store, worker):
    doc = submit_proof(store, HARD, timeout=1.0)
    done = store.wait_terminal(doc["id"], 20)
    assert done["status"] == "succeeded", done
    assert done["result"]["verdict"] == "unknown"
    assert done["result"]["szs_status"] == "Timeout"


def test_cancelling_a_running_job_stops_the_prover(store, worker):
    doc = submit_proof(store, HARD, timeout=60.0)
    wait_status(store, doc["id"], "running")
    time.sleep(0.3)  # let the prover get going
    answer = store.cancel(doc["id"], "tester")
    assert answer["status"] == "running"
    done = store.wait_terminal(doc["id"], 10)
    assert done["status"] == "cancelled", done
    assert final_events(store, doc["id"]) == ["cancelled"]
    # the pool process is free again: a small job runs right away on a 2-process pool,
    # even with another long one occupying the other
    quick = submit_proof(store, VALID)
    assert store.wait_terminal(quick["id"], 10)["status"] == "succeeded"




def test_workers_are_online_by_heartbeat(store, worker):
    online = store.workers_online()
    mine = worker.heartbeats(store)  # the worker itself, or each solo process it supervises
    assert mine and all(w["pid"] in (worker.pid, *worker.children()) for w in mine)
    assert all(w["queues"] for w in online)


def test_queue_depth_and_backpressure_on_a_queue_without_workers(pxl_env):
    from workers.celery_app import job_store
    from workers.settings import get_settings

    settings = get_settings().model_copy(
        update={"queue_name": pxl_env["PXL_QUEUE_NAME"] + "-idle", "max_queue_depth": 3}
    )
    idle = job_store(settings)
    jobs = [submit_proof(idle, VALID) for _ in range(3)]
    assert idle.queue_depth() == 3
    with pytest.raises(QueueFull):
        idle.submit(kind="proof", owner="tester", params=proof_params(VALID))
    for job in jobs:
        assert idle.cancel(job["id"], "tester")["status"] == "cancelled"
    assert [n for _i, n, _d in idle.read_events(jobs[0]["id"])] == ["queued", "cancelled"]
