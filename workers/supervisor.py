"""One single-process ("solo") Celery worker per core, and the parent that keeps them running.

Why: with the prefork pool and late acknowledgement (prefetch 1), a pool process gets its next
job only after the pool's main process has acknowledged the last one and fetched again; on a
busy 2-core machine the pool processes sat idle ~40 % of the time waiting for that hand-over
(docs/benchmarks-load.md).  A solo worker fetches, runs and acknowledges in one process.

What the prefork pool did that we must do here instead:

* A dead process's job goes back on the queue at once (prefork: ``task_reject_on_worker_lost``).
  The supervisor sees a child die, puts back the broker messages of the jobs that child was
  running (the job record names its runner, host:pid) through kombu's own restore, and starts
  a new child.  Anything else the child held (fetched, not begun) comes back after the
  broker's visibility timeout, as for any worker that dies whole.
* The hard time limit (prefork: the pool kills the child).  ``workers.tasks`` arms a watchdog
  thread per job in solo mode: past the hard limit it records the job's timeout answer
  and ends the process; the redelivered message then finds the job terminal and is skipped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

from workers.celery_app import RUN_JOB, app_for
from workers.connection import redis_client
from workers.heartbeats import SUPERVISOR_ENV
from workers.jobs import JobStore
from workers.processes import become_subreaper, end_descendants, kill_tree
from workers.record import is_job_id
from workers.settings import Settings

log = logging.getLogger("pxl.worker")

RESTART_BACKOFF_MAX = 30.0


def _unacked_jobs(settings: Settings, runners: set[str], *, restore: bool) -> list[str]:
    """The jobs of the unacknowledged run_job messages whose job's latest delivery ran in one
    of ``runners`` (host:pid); with ``restore`` those messages go back on the queue."""
    store = JobStore(redis_client(settings), settings)
    found = []
    with app_for(settings).connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client  # kombu's client: adds the broker key prefix (to some commands)
        for tag in client.zrange(channel.unacked_index_key, 0, -1):
            raw = client.hget(channel.unacked_key, tag)
            try:
                payload = json.loads(raw)[0]
                headers = payload["headers"]
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            job_id = headers.get("id")
            if headers.get("task") != RUN_JOB or not is_job_id(str(job_id)):
                continue
            if store.runner_of(job_id) in runners:
                if restore:
                    channel.qos.restore_by_tag(tag, client)
                found.append(job_id)
    return found


def restore_jobs_of(settings: Settings, runner: str) -> list[str]:
    """Put back on the queue the unacknowledged run_job messages whose job's latest delivery
    ran in ``runner`` (host:pid of a process known to be dead).  Returns the job ids."""
    return _unacked_jobs(settings, {runner}, restore=True)


class Supervisor:
    """Runs ``processes`` children made by ``child_argv()`` and restarts any that dies while we
    are not stopping.

    Stopping (SIGTERM or SIGINT): the children get SIGTERM (Celery's warm shutdown: finish the
    running job, take no new one) for ``settings.shutdown_grace_seconds``; after that, or at a
    second signal (or SIGQUIT), each child and whatever runs below it is killed and its jobs go
    back on the queue at once, for the next worker.
    """

    def __init__(self, child_argv: Callable[[], list[str]], processes: int, settings: Settings,
                 *, env: dict | None = None):
        self.child_argv = child_argv
        self.processes = processes
        self.settings = settings
        self.env = {**(env or os.environ), SUPERVISOR_ENV: f"{os.getpid()}:{processes}"}
        self.children: dict[int, tuple[subprocess.Popen, float]] = {}
        self.stopping: int | None = None
        self.stop_now = False  # a second signal (or SIGQUIT): no more waiting for jobs
        self.stop_deadline = float("inf")
        self.host = socket.gethostname()

    def _spawn(self) -> None:
        # Own process group: a terminal's Ctrl-C reaches the children once, through us.
        proc = subprocess.Popen(self.child_argv(), env=self.env, process_group=0)
        self.children[proc.pid] = (proc, time.monotonic())

    def _forward(self, signum, _frame) -> None:
        if self.stopping is not None or signum == signal.SIGQUIT:
            self.stop_now = True
        if self.stopping is None:
            self.stopping = signum
            self.stop_deadline = time.monotonic() + self.settings.shutdown_grace_seconds
            for proc, _started in self.children.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    def _announce_stop(self) -> None:
        """Say what the stop waits for (a signal handler must not talk to Redis)."""
        try:
            running = len(_unacked_jobs(self.settings, self._runners(), restore=False))
        except Exception:  # noqa: BLE001 - Redis gone: the grace period still applies
            running = None
        if running == 0:
            print("pxl worker: stopping (no running job).", flush=True)
            return
        what = "running jobs" if running is None else (
            f"{running} running job" + ("s" if running != 1 else ""))
        print(f"pxl worker: stopping; waiting for {what} (up to "
              f"{self.settings.shutdown_grace_seconds:g} s, PXL_SHUTDOWN_GRACE_SECONDS); "
              "Ctrl-C again to stop now and requeue them.", flush=True)

    def _runners(self) -> set[str]:
        return {f"{self.host}:{pid}" for pid in self.children}

    def _end_children(self) -> None:
        """Kill every child with its descendants and put their jobs back on the queue."""
        runners = self._runners()
        for pid in list(self.children):
            kill_tree(pid)
        try:
            jobs = _unacked_jobs(self.settings, runners, restore=True)
            if jobs:
                print(f"pxl worker: requeued {len(jobs)} unfinished job"
                      + ("s" if len(jobs) != 1 else "") + f": {', '.join(jobs)}", flush=True)
        except Exception:  # noqa: BLE001 - the visibility timeout still restores them
            log.exception("could not requeue the jobs of the stopped worker processes")

    def run(self) -> int:
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
        previous = {s: signal.signal(s, self._forward) for s in handled}
        failures = 0
        announced = killed = False
        become_subreaper()  # a child's orphaned descendants stay ours to end
        try:
            for _ in range(self.processes):
                self._spawn()
            while self.children:
                time.sleep(0.1)
                if self.stopping is not None and not announced:
                    announced = True
                    self._announce_stop()
                if (self.stopping is not None and not killed
                        and (self.stop_now or time.monotonic() > self.stop_deadline)):
                    killed = True
                    self._end_children()
                for pid, (proc, started) in list(self.children.items()):
                    if proc.poll() is None:
                        continue
                    del self.children[pid]
                    if self.stopping is not None:
                        continue
                    log.warning("worker process %s exited with %s; restarting it",
                                pid, proc.returncode)
                    try:
                        jobs = restore_jobs_of(self.settings, f"{self.host}:{pid}")
                        if jobs:
                            log.warning("requeued the jobs of process %s: %s", pid, jobs)
                    except Exception:  # noqa: BLE001 - the visibility timeout still restores
                        log.exception("could not requeue the jobs of process %s", pid)
                    # A child that dies at once (bad config, Redis down) is restarted slower.
                    failures = failures + 1 if time.monotonic() - started < 5 else 0
                    if failures:
                        time.sleep(min(RESTART_BACKOFF_MAX, 0.5 * 2 ** failures))
                    if self.stopping is None:
                        self._spawn()
        finally:
            end_descendants()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 0
