"""Workers that die or overrun: SIGKILL of a pool process (prefork) or of one supervised solo
worker process, or of the whole worker, and the time limits behind the prover's own timeout.
Real Redis, real `pxl worker`; every test runs under both pools (the ``pool_worker`` fixture):
prefork requeues a lost pool process's job (``task_reject_on_worker_lost``) and kills a pool
process at the hard time limit, solo's supervisor and watchdog do the same by hand.

(These leave the observability metric pxl_jobs_in_progress with entries for the killed runs
until they time out, so they live in a file that sorts after the metrics tests.)
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.conftest import HARD, final_events, submit_proof, wait_status

pytestmark = pytest.mark.integration


def _runner_pid(store, job_id: str) -> int:
    return int(store.runner_of(job_id).rsplit(":", 1)[1])


def _started_attempts(store, job_id: str) -> list[int]:
    return [data["attempt"] for _id, name, data in store.read_events(job_id) if name == "started"]


def _wait_gone(worker, pid: int, timeout: float = 20.0) -> None:
    """Wait (bounded) until ``pid`` is no longer one of the worker's processes."""
    deadline = time.monotonic() + timeout
    while pid in worker.children():
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.1)


def test_sigkill_of_the_pool_process_redelivers_the_job_once(pool_worker):
    store, worker = pool_worker.store, pool_worker
    doc = submit_proof(store, HARD, timeout=3.0)
    wait_status(store, doc["id"], "running")
    pid = _runner_pid(store, doc["id"])
    assert pid in worker.children()
    os.kill(pid, signal.SIGKILL)
    # Without the requeue (prefork: task_reject_on_worker_lost; solo: the supervisor) the
    # message would be acknowledged or wait out the visibility timeout; the job never ends
    # here, or (solo) the log line below is missing.
    done = store.wait_terminal(doc["id"], 30)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and _started_attempts(store, doc["id"]) == [1, 2]
    assert done["result"]["szs_status"] == "Timeout"
    assert final_events(store, doc["id"]) == ["succeeded"]
    assert _runner_pid(store, doc["id"]) != pid
    assert worker.alive
    if worker.pool == "solo":
        # the supervisor put the job back at once (not after the visibility timeout)
        assert f"requeued the jobs of process {pid}: ['{doc['id']}']" in worker.log.read_text()


def test_sigkill_of_the_whole_worker_loses_no_job(pool_worker):
    store, worker = pool_worker.store, pool_worker
    doc = submit_proof(store, HARD, timeout=2.0)
    wait_status(store, doc["id"], "running")
    worker.kill()
    assert store.get(doc["id"])["status"] == "running"
    # The message waits in the broker's unacked set until the visibility timeout
    # (PXL_BROKER_VISIBILITY_TIMEOUT, short in tests), then the restarted worker restores it.
    worker.start()
    done = store.wait_terminal(doc["id"], 60)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and _started_attempts(store, doc["id"]) == [1, 2]
    assert final_events(store, doc["id"]) == ["succeeded"]


def test_celery_time_limits_backstop_a_prover_that_overruns(pool_worker):
    from workers.celery_app import RUN_JOB, app_for
    from workers.jobs import JobStore

    store = pool_worker.store
    # Enqueue by hand with limits far below the prover's own 60 s timeout.
    manual = JobStore(store.r, store.settings, enqueue=lambda job_id, params: None,
                      queue_depth=store.queue_depth)
    doc = submit_proof(manual, HARD, timeout=60.0)
    app_for(store.settings).send_task(RUN_JOB, args=[doc["id"]], task_id=doc["id"],
                                      queue=store.settings.queue_name,
                                      soft_time_limit=1, time_limit=2)
    done = store.wait_terminal(doc["id"], 30)
    assert done["status"] == "succeeded", done
    assert done["result"]["verdict"] == "unknown"
    assert done["result"]["szs_status"] == "Timeout"
    assert "time limit" in done["result"]["trace"][0]
    assert final_events(store, doc["id"]) == ["succeeded"]


def test_the_hard_time_limit_stops_a_job_the_soft_limit_did_not(pool_worker):
    """No soft limit, so the prover (60 s timeout) runs on until the hard limit: prefork kills
    the pool process, solo's watchdog records the timeout and ends its process. Either way the
    job ends once as unknown/Timeout and the worker carries on."""
    from workers.celery_app import RUN_JOB, app_for
    from workers.jobs import JobStore

    store, worker = pool_worker.store, pool_worker
    manual = JobStore(store.r, store.settings, enqueue=lambda job_id, params: None,
                      queue_depth=store.queue_depth)
    doc = submit_proof(manual, HARD, timeout=60.0)
    app_for(store.settings).send_task(RUN_JOB, args=[doc["id"]], task_id=doc["id"],
                                      queue=store.settings.queue_name, time_limit=1)
    done = store.wait_terminal(doc["id"], 30)
    assert done["status"] == "succeeded", done
    assert done["result"]["szs_status"] == "Timeout"
    assert "TimeLimitExceeded" in done["result"]["trace"][0]
    _wait_gone(worker, _runner_pid(store, doc["id"]))  # the overrunning process was ended
    assert worker.alive
    quick = submit_proof(store, "[]p -> p")
    assert store.wait_terminal(quick["id"], 30)["status"] == "succeeded"
    # ended once: (solo) the message's redelivery found the job terminal and skipped it
    assert store.get(doc["id"])["attempts"] == 1
    assert final_events(store, doc["id"]) == ["succeeded"]
