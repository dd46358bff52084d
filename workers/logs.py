"""Structured logs: one JSON object per line, carrying the request id and the job id.

The API's request-id middleware binds ``request_id`` for each request (``X-Request-ID`` in and
out). A job submitted during that request carries it to the worker twice: in the job record
(``JobStore.submit(request_id=...)``) and in the Celery message header ``pxl_request_id``, which
``install_celery_signals`` adds when the task is published and binds (with the job id, the task's
first argument) while the worker runs it. So every line about one request, in the API and in any
worker, can be found by ``request_id``, and every line about one job by ``job_id``.

Line format::

    {"timestamp": "2026-11-26T12:00:00.123Z", "level": "INFO", "logger": "pxl.jobs",
     "message": "...", "request_id": "…" | null, "job_id": "…" | null, ...extra fields}
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

from celery import signals

from workers.settings import get_settings

request_id_var: ContextVar[str | None] = ContextVar("pxl_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("pxl_job_id", default=None)

_HANDLER_NAME = "pxl-structured"
REQUEST_ID_HEADER = "pxl_request_id"  # the Celery message header carrying the request id
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def safe_request_id(value: str | None) -> str | None:
    """The value if it is a safe id to echo and log (1–128 of ``A-Z a-z 0-9 . _ : -``), else None."""
    if value and _SAFE_ID.match(value):
        return value
    return None


@contextlib.contextmanager
def bound(*, request_id: str | None = None, job_id: str | None = None):
    """Bind the ids for log lines emitted inside the block (restored afterwards)."""
    tokens = []
    if request_id is not None:
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if job_id is not None:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line (see module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        doc = {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "job_id": getattr(record, "job_id", None) or job_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in doc:
                doc[key] = _jsonable(value)
        if record.exc_info:
            doc["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(doc, ensure_ascii=False)


def _jsonable(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class _IdsFilter(logging.Filter):
    """Adds request_id / job_id to plain-text records (the JSON formatter reads them itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or request_id_var.get() or "-"
        record.job_id = getattr(record, "job_id", None) or job_id_var.get() or "-"
        return True


def configure_logging(settings=None, stream=None) -> None:
    """Send all logs to ``stream`` (stderr) as JSON lines (``settings.log_json``) or text."""
    if settings is None:
        settings = get_settings()
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(_IdsFilter())
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s] %(message)s"
            )
        )
    handler.name = _HANDLER_NAME
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.name == _HANDLER_NAME:  # ours from an earlier call; others (pytest's) stay
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn and celery install their own handlers; route them through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


_celery_installed = False


def install_celery_signals() -> None:
    """Carry the request id through Celery and bind ids while a task runs (idempotent).

    Call it once in every process that publishes or runs tasks (the Celery app module).
    """
    global _celery_installed
    if _celery_installed:
        return
    signals.before_task_publish.connect(_add_request_id_header, weak=False)
    signals.task_prerun.connect(_bind_task_ids, weak=False)
    signals.task_postrun.connect(_unbind_task_ids, weak=False)
    signals.setup_logging.connect(_celery_setup_logging, weak=False)
    _celery_installed = True


def _add_request_id_header(headers=None, **_kwargs) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


_task_tokens: dict[str, list] = {}


def _bind_task_ids(task_id=None, task=None, args=None, **_kwargs) -> None:
    request = getattr(task, "request", None)
    request_id = getattr(request, REQUEST_ID_HEADER, None)
    if request_id is None:
        headers = getattr(request, "headers", None) or {}
        request_id = headers.get(REQUEST_ID_HEADER)
    job_id = args[0] if args and isinstance(args[0], str) else None
    tokens = []
    if safe_request_id(request_id):
        tokens.append((request_id_var, request_id_var.set(request_id)))
    if job_id:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    if task_id:
        _task_tokens[task_id] = tokens


def _unbind_task_ids(task_id=None, **_kwargs) -> None:
    for var, token in reversed(_task_tokens.pop(task_id, [])):
        with contextlib.suppress(ValueError):
            var.reset(token)


def _celery_setup_logging(**_kwargs) -> None:
    # Connecting to setup_logging stops Celery from installing its own text handlers.
    configure_logging()
