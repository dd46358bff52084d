"""The Celery application, configured from settings for no lost and no duplicated work.

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after
  its task returned; when the pool child running it dies, the message goes straight back to
  the queue.  When the whole worker dies, the message waits in Redis (``unacked``) until the
  broker's visibility timeout passes and any live worker restores it.
- ``worker_prefetch_multiplier = 1``: a worker holds no more jobs than it has pool slots.
- visibility timeout above the largest job's hard time limit, so a job still running is
  never handed to a second worker.
- no result backend: the job record in Redis is the source of truth (workers.jobs); this
  module is the queue the job store hands jobs to (``job_store``): publish, revoke, depth.
- ``global_keyprefix``: every broker key (queues, unacked, bindings, pub/sub channels) starts
  with ``<PXL_KEY_PREFIX>broker:``, so one Redis database can hold isolated deployments.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid

from celery import Celery, bootsteps

from workers import heartbeats, logs, tracing
from workers.connection import blocking_redis_client, broker, redis_client
from workers.jobs import JobStore
from workers.keys import broker_prefix, broker_queue_keys, webhook_queue
from workers.reconciler import run_pass
from workers.settings import Settings, get_settings

reconciler_log = logging.getLogger("pxl.reconciler")

RUN_JOB = "pxl.run_job"
DELIVER_WEBHOOK = "pxl.deliver_webhook"




def visibility_timeout(settings: Settings) -> float:
    if settings.broker_visibility_timeout is not None:
        return settings.broker_visibility_timeout
    return (settings.max_job_timeout + settings.job_time_limit_grace
            + settings.job_hard_time_limit_margin + 300)


def time_limits(settings: Settings, timeout: float | None) -> tuple[float, float]:
    """(soft, hard) Celery time limits for a job with this prover timeout."""
    timeout = float(timeout or settings.default_job_timeout)
    soft = timeout + settings.job_time_limit_grace
    return soft, soft + settings.job_hard_time_limit_margin



def celery_config(settings: Settings) -> dict:
    vt = visibility_timeout(settings)
    broker_url, sentinel_options = broker(settings)
    return {
        "broker_url": broker_url,
        "broker_transport_options": {
            **sentinel_options,
            "global_keyprefix": broker_prefix(settings),
            "visibility_timeout": vt,
            "unacked_restore_interval": settings.broker_restore_interval,
            "unacked_restore_throttle": 1,
            "socket_timeout": 30,
            "socket_connect_timeout": 5,
            "health_check_interval": 25,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend": None,
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_default_queue": settings.queue_name,
        "task_routes": {DELIVER_WEBHOOK: {"queue": webhook_queue(settings)}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": settings.worker_send_events,
        "task_send_sent_event": settings.worker_send_events,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "enable_utc": True,
    }


class Heartbeat(bootsteps.StartStopStep):
    """Writes ``<prefix>worker:<id>`` (with a TTL) every worker_heartbeat_seconds from the
    worker's main process, so the API can tell which workers are online."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.tref = None
        self.settings = None
        self.redis = None
        self.worker_id = None

    def start(self, parent):
        settings = self.settings = get_settings()
        self.redis = redis_client(settings)
        self.worker_id = parent.hostname
        self.info = {
            "host": socket.gethostname(), "pid": os.getpid(),
            "concurrency": getattr(parent.controller, "concurrency", None),
            "queues": sorted(q.name for q in parent.app.amqp.queues.consume_from.values())
            if parent.app.amqp.queues.consume_from else [settings.queue_name],
            **heartbeats.supervisor_info(),
        }
        self.beat()
        self.tref = parent.timer.call_repeatedly(settings.worker_heartbeat_seconds, self.beat)

    def beat(self):
        # A missed beat only makes the worker look late.
        with contextlib.suppress(Exception):
            heartbeats.heartbeat(self.redis, self.settings, self.worker_id, self.info)

    def stop(self, parent):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.redis is not None:
            with contextlib.suppress(Exception):
                heartbeats.worker_gone(self.redis, self.settings, self.worker_id)

    shutdown = stop


class Reconcile(bootsteps.StartStopStep):
    """Offers every beat to run a reconciler pass (workers.reconciler); a Redis lock lets one
    process of the whole cluster run each."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.tref = None
        self.store = None

    def start(self, parent):
        settings = get_settings()
        self.store = job_store(settings)
        self.tref = parent.timer.call_repeatedly(settings.worker_heartbeat_seconds, self.run)

    def run(self):
        try:
            run_pass(self.store)
        except Exception:  # noqa: BLE001 - Redis trouble: the next beat tries again
            reconciler_log.warning("reconciler pass failed", exc_info=True)

    def stop(self, parent):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop


def make_app(settings: Settings) -> Celery:
    celery = Celery("pxl", include=["workers.tasks"], set_as_current=False)
    celery.conf.update(celery_config(settings))
    celery.steps["consumer"].add(Heartbeat)
    celery.steps["consumer"].add(Reconcile)
    return celery


app = make_app(get_settings())
app.set_current()
# JSON logs with the request and job ids in every process that publishes or runs tasks.
logs.install_celery_signals()
tracing.instrument_celery()  # no-op unless an OTLP endpoint is configured

_apps: dict[tuple, Celery] = {}
_apps_lock = threading.Lock()


def app_for(settings: Settings) -> Celery:
    """The Celery app for these settings: the module's ``app`` when they match its config
    (the normal case), else one built for them (tests and tools using other settings)."""
    key = (settings.redis_url, settings.key_prefix, settings.queue_name)
    if key == (app.conf.broker_url, app.conf.broker_transport_options["global_keyprefix"]
               [: -len("broker:")], app.conf.task_default_queue):
        return app
    with _apps_lock:
        if key not in _apps:
            _apps[key] = make_app(settings)
        return _apps[key]


# --- the queue's side of the job store: publish, revoke, depth -------------------------------


def publish_job(settings: Settings, job_id: str, params: dict) -> None:
    """Send the job's run_job message (its Celery task id is the job id)."""
    soft, hard = time_limits(settings, params.get("timeout"))
    app_for(settings).send_task(
        RUN_JOB, args=[job_id], task_id=job_id, queue=settings.queue_name,
        soft_time_limit=soft, time_limit=hard,
    )


_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"


def job_message(settings: Settings, job_id: str, params: dict,
                request_id: str | None) -> tuple[str, str]:
    """(list key, payload) of the job's run_job message exactly as ``publish_job`` would have
    kombu push it, built directly: the store pushes it inside the submission's transaction,
    which saves kombu's publish path (its CPU was about a sixth of the API's per job) and a
    round trip, and makes the record and its message one atomic write.  Only when no
    ``before_task_publish`` receiver needs to see it (tracing off: see ``job_store``).
    tests/integration/test_queue_message.py checks it against Celery's own message."""
    soft, hard = time_limits(settings, params.get("timeout"))
    headers = {
        "lang": "py", "task": RUN_JOB, "id": job_id, "shadow": None, "eta": None,
        "expires": None, "group": None, "group_index": None, "retries": 0,
        "timelimit": [hard, soft], "root_id": job_id, "parent_id": None,
        "argsrepr": repr([job_id]), "kwargsrepr": "{}", "origin": _ORIGIN,
        "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None,
        "stamps": {},
    }
    if request_id:
        headers[logs.REQUEST_ID_HEADER] = request_id  # as logs' before_task_publish adds it
    body = base64.b64encode(json.dumps([[job_id], {}, {"callbacks": None, "errbacks": None,
                                                       "chain": None, "chord": None}]).encode())
    message = {
        "body": body.decode(), "content-encoding": "utf-8", "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": job_id, "reply_to": None, "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": settings.queue_name},
            "priority": 0, "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        },
    }
    return broker_queue_keys(settings, settings.queue_name)[0], json.dumps(message)


def revoke_job(settings: Settings, job_id: str) -> None:
    # Revoking is an optimisation: a cancelled job's task skips it anyway.
    with contextlib.suppress(Exception):
        app_for(settings).control.revoke(job_id)


def queue_depth(client, settings: Settings) -> int:
    """Jobs waiting in the broker queue (no worker fetched them yet)."""
    with client.pipeline(transaction=False) as pipe:
        for key in broker_queue_keys(settings, settings.queue_name):
            pipe.llen(key)
        return sum(pipe.execute())


def schedule_webhook(settings: Settings, subject_id: str, attempt: int, delay: float,
                     subject: str = "job") -> None:
    """Send delivery attempt ``attempt`` of a webhook (a job's callback, a batch's, a ping),
    due in ``delay`` seconds."""
    # A countdown keeps the message unacknowledged in a worker; beyond the visibility
    # timeout Redis would hand it out again, so long waits hop (see webhooks.run_delivery).
    longest = min(settings.webhook_max_countdown, visibility_timeout(settings) / 2)
    args = [subject_id, attempt, time.time() + delay]
    if subject != "job":  # a job's message keeps the three arguments it always had
        args.append(subject)
    app_for(settings).send_task(
        DELIVER_WEBHOOK, args=args,
        queue=webhook_queue(settings), countdown=min(delay, longest) or None)


def job_store(settings: Settings | None = None) -> JobStore:
    """The job store wired to this queue (the API's and the workers')."""
    settings = settings or get_settings()
    client = redis_client(settings)
    return JobStore(
        client, settings,
        enqueue=functools.partial(publish_job, settings),
        # With tracing on, messages go through Celery so that its publish signal adds the
        # trace context to their headers.
        job_message=None if tracing.enabled() else functools.partial(job_message, settings),
        revoke=functools.partial(revoke_job, settings),
        queue_depth=functools.partial(queue_depth, client, settings),
        queue_lists=broker_queue_keys(settings, settings.queue_name),
        schedule_webhook=functools.partial(schedule_webhook, settings),
        blocking_client=blocking_redis_client(settings),
    )
