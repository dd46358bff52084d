"""Integration fixtures: the real test Redis (tests/environment.py) and real `pxl worker` processes.

Each session gets its own key prefix and queue name in the database named by
PXL_TEST_REDIS_DB (default 15), and deletes its keys at the end.  The broker's visibility
timeout is short here (PXL_BROKER_VISIBILITY_TIMEOUT below) so that a job whose whole
worker was killed comes back within seconds; no test job runs that long.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from tests.environment import delete_keys, redis_url
from tests.hard_formulas import HARD  # noqa: F401 (re-exported for the job tests)

ROOT = Path(__file__).resolve().parents[2]
TEST_VISIBILITY_TIMEOUT = 8


@pytest.fixture(scope="session")
def pxl_env():
    """Environment of this test session (also applied to os.environ)."""
    from workers.settings import get_settings

    tag = uuid.uuid4().hex[:10]
    env = {
        "PXL_REDIS_URL": redis_url(),
        "PXL_KEY_PREFIX": f"pxltest:{tag}:",
        "PXL_QUEUE_NAME": f"pxltest-{tag}",
        "PXL_WEBHOOK_ALLOWLIST": json.dumps(["127.0.0.1"]),
        "PXL_JWT_SECRET": "test-signing-key-" + "k" * 40,
        "PXL_WEBHOOK_MASTER_KEY": "test-webhook-master-key-" + "m" * 40,
        "PXL_WEBHOOK_RETRY_SCHEDULE": json.dumps([0.3, 0.6]),
        "PXL_WEBHOOK_RETRY_JITTER": "0.1",
        "PXL_WEBHOOK_TIMEOUT_SECONDS": "3",
        "PXL_BROKER_VISIBILITY_TIMEOUT": str(TEST_VISIBILITY_TIMEOUT),
        "PXL_BROKER_RESTORE_INTERVAL": "1",
        "PXL_WORKER_HEARTBEAT_SECONDS": "1",
        "PXL_JOB_TIME_LIMIT_GRACE": "2",
        "PXL_JOB_HARD_TIME_LIMIT_MARGIN": "3",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    delete_keys(redis.Redis.from_url(env["PXL_REDIS_URL"]), env["PXL_KEY_PREFIX"])


class WorkerProcess:
    """A real `pxl worker` subprocess."""

    def __init__(self, env: dict, concurrency: int = 2, log: Path | None = None,
                 settings=None, pool: str | None = None):
        self.env = {**os.environ, **env}
        self.settings = settings  # where to look for its heartbeat (default: get_settings())
        self.concurrency = concurrency
        self.pool = pool  # "solo" or "prefork"; None: the default (PXL_WORKER_POOL)
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @functools.cached_property
    def store(self):
        """The job store of this worker's queue."""
        from workers.celery_app import job_store
        from workers.settings import get_settings

        return job_store(self.settings or get_settings())

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             "worker", "--concurrency", str(self.concurrency), "--loglevel", "info",
             *(["--pool", self.pool] if self.pool else [])],
            env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
        if out is not subprocess.DEVNULL:
            out.close()
        # Ready when its heartbeats are in Redis (written once a consumer is up): its own
        # (prefork pool), or one from each process it supervises (solo pool).
        store = self.store
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"pxl worker exited with {self.proc.returncode}")
            mine = self.heartbeats(store)
            if mine and len(mine) >= mine[0].get("processes", 1):
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("pxl worker did not come up")

    def heartbeats(self, store) -> list[dict]:
        """The online workers this process is or supervises."""
        return [w for w in store.workers_online()
                if self.pid in (w.get("pid"), w.get("supervisor"))]

    def children(self) -> list[int]:
        """Pids of the pool processes (prefork) or of the supervised solo workers."""
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the main process and its pool children."""
        if self.proc is None:
            return
        children = self.children() if self.alive else []
        if self.alive:
            self.proc.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture(scope="session")
def worker(pxl_env, tmp_path_factory):
    proc = WorkerProcess(pxl_env, log=tmp_path_factory.mktemp("worker") / "worker.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module", params=["solo", "prefork"])
def pool_worker(request, pxl_env, tmp_path_factory):
    """A `pxl worker` of each pool in turn (supervised solo processes, one prefork pool), on a
    queue of its own so that the session worker takes none of its jobs.  Its job store is
    ``pool_worker.store``."""
    from workers.settings import get_settings

    pool = request.param
    queue = f"{pxl_env['PXL_QUEUE_NAME']}-{pool}"
    settings = get_settings().model_copy(update={"queue_name": queue})
    proc = WorkerProcess({**pxl_env, "PXL_QUEUE_NAME": queue}, settings=settings, pool=pool,
                         log=tmp_path_factory.mktemp(f"worker-{pool}") / "worker.log")
    proc.start()
    try:
        # The pool asked for is the pool running: prefork is one Celery worker (one heartbeat,
        # all the slots); solo is one single-slot worker per process under the supervisor.
        beats = [(w["pid"], w.get("supervisor"), w["concurrency"])
                 for w in proc.heartbeats(proc.store)]
        if pool == "prefork":
            assert beats == [(proc.pid, None, proc.concurrency)], beats
        else:
            assert len(beats) == proc.concurrency, beats
            assert all(pid != proc.pid and sup == proc.pid and n == 1 for pid, sup, n in beats)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def store(pxl_env):
    from workers.celery_app import job_store
    from workers.settings import get_settings

    return job_store(get_settings())


# --- helpers for the job platform's tests (import from tests.integration.conftest) ---

VALID = "[](p -> q) -> ([]p -> []q)"
INVALID = "p -> []p"




def proof_params(text: str, timeout: float = 10.0) -> dict:
    from workers.prover.jsonform import formula_to_json
    from workers.prover.reader import read_formula

    return {
        "formula": formula_to_json(read_formula(text)),
        "formula_text": text,
        "timeout": timeout,
        "overlay": None,
    }


def submit_proof(store, text: str, *, timeout: float = 10.0, owner: str = "tester", **kw) -> dict:
    doc, created = store.submit(kind="proof", owner=owner, params=proof_params(text, timeout), **kw)
    assert created
    return doc


def wait_status(store, job_id: str, status: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = store.get(job_id)
        if doc and doc["status"] == status:
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached {status}: {doc}")
        time.sleep(0.05)


def final_events(store, job_id: str) -> list[str]:
    return [
        name
        for _id, name, _data in store.read_events(job_id)
        if name in ("succeeded", "failed", "cancelled")
    ]
