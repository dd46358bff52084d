"""Workers that die or overrun: SIGKILL of a pool process (prefork) or of one supervised solo
worker process, or of the whole worker, and the time limits behind the prover's own timeout.
Real Redis, real `pxl worker`.

(These leave the observability metric pxl_jobs_in_progress with entries for the killed runs
until they time out, so they live in a file that sorts after the metrics tests.)
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.integration.conftest import HARD, final_events, submit_proof, wait_status

pytestmark = pytest.mark.integration


def test_sigkill_of_the_pool_process_redelivers_the_job_once(store, worker):
    doc = submit_proof(store, HARD, timeout=3.0)
    wait_status(store, doc["id"], "running")
    host_pid = store.runner_of(doc["id"])
    pid = int(host_pid.rsplit(":", 1)[1])
    assert pid in worker.children()
    os.kill(pid, signal.SIGKILL)
    done = store.wait_terminal(doc["id"], 30)
    assert done["status"] == "succeeded", done
    assert done["attempts"] >= 2
    assert done["result"]["szs_status"] == "Timeout"
    assert final_events(store, doc["id"]) == ["succeeded"]
    assert worker.alive
    if any(w.get("supervisor") == worker.pid for w in worker.heartbeats(store)) and worker.log:
        # solo pool: the supervisor put the job back at once (not after the visibility timeout)
        assert f"requeued the jobs of process {pid}: ['{doc['id']}']" in worker.log.read_text()


def test_sigkill_of_the_whole_worker_loses_no_job(store, worker):
    doc = submit_proof(store, HARD, timeout=2.0)
    wait_status(store, doc["id"], "running")
    worker.kill()
    assert store.get(doc["id"])["status"] == "running"
    # The message waits in the broker's unacked set until the visibility timeout
    # (PXL_BROKER_VISIBILITY_TIMEOUT, short in tests), then the restarted worker restores it.
    worker.start()
    done = store.wait_terminal(doc["id"], 60)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert final_events(store, doc["id"]) == ["succeeded"]


def test_celery_time_limits_backstop_a_prover_that_overruns(store, worker):
    from workers.celery_app import RUN_JOB, app_for
    from workers.jobs import JobStore

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


def test_the_hard_time_limit_stops_a_job_the_soft_limit_did_not(store, worker):
    """No soft limit, so the prover (60 s timeout) runs on until the hard limit: prefork kills
    the pool process, solo's watchdog records the timeout and ends its process. Either way the
    job ends once as unknown/Timeout and the worker carries on."""
    from workers.celery_app import RUN_JOB, app_for
    from workers.jobs import JobStore

    manual = JobStore(store.r, store.settings, enqueue=lambda job_id, params: None,
                      queue_depth=store.queue_depth)
    doc = submit_proof(manual, HARD, timeout=60.0)
    app_for(store.settings).send_task(RUN_JOB, args=[doc["id"]], task_id=doc["id"],
                                      queue=store.settings.queue_name, time_limit=1)
    done = store.wait_terminal(doc["id"], 30)
    assert done["status"] == "succeeded", done
    assert done["result"]["szs_status"] == "Timeout"
    assert "TimeLimitExceeded" in done["result"]["trace"][0]
    assert final_events(store, doc["id"]) == ["succeeded"]
    assert worker.alive
    quick = submit_proof(store, "[]p -> p")
    assert store.wait_terminal(quick["id"], 30)["status"] == "succeeded"
