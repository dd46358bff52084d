"""Structured JSON logs (workers/logs.py): fields, bound ids, and ids from an API request."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient

from tests.unit.obs_support import isolated_env
from workers import logs
from workers.settings import Settings


def capture(settings: Settings | None = None) -> io.StringIO:
    stream = io.StringIO()
    logs.configure_logging(settings or Settings(log_json=True, log_level="DEBUG"), stream=stream)
    return stream


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_line_is_one_json_object_with_the_standard_fields():
    stream = capture()
    logging.getLogger("pxl.test").info("hello %s", "world", extra={"attempt": 2})
    (line,) = lines(stream)
    assert line["message"] == "hello world"
    assert line["level"] == "INFO" and line["logger"] == "pxl.test"
    assert line["request_id"] is None and line["job_id"] is None
    assert line["attempt"] == 2
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]


def test_bound_ids_appear_and_are_restored():
    stream = capture()
    log = logging.getLogger("pxl.test")
    with logs.bound(request_id="req-1"):
        with logs.bound(job_id="job-9"):
            log.warning("inside")
        log.warning("outer")
    log.warning("after")
    inside, outer, after = lines(stream)
    assert (inside["request_id"], inside["job_id"]) == ("req-1", "job-9")
    assert (outer["request_id"], outer["job_id"]) == ("req-1", None)
    assert (after["request_id"], after["job_id"]) == (None, None)


def test_exceptions_are_kept_in_the_line():
    stream = capture()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("pxl.test").exception("failed")
    (line,) = lines(stream)
    assert "ValueError: boom" in line["exception"]


def test_text_mode_also_carries_the_ids():
    stream = capture(Settings(log_json=False, log_level="INFO"))
    with logs.bound(request_id="req-7", job_id="job-3"):
        logging.getLogger("pxl.test").info("plain")
    assert "[req=req-7 job=job-3] plain" in stream.getvalue()


def test_repeated_configuration_keeps_one_handler_and_foreign_ones():
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    capture()
    capture()
    ours = [h for h in logging.getLogger().handlers if h.name == "pxl-structured"]
    assert len(ours) == 1 and foreign in logging.getLogger().handlers


def test_unsafe_request_ids_are_refused():
    assert logs.safe_request_id("abc-DEF_1.2:3") == "abc-DEF_1.2:3"
    for bad in ("", "a b", "x" * 129, "id\nforged", "é"):
        assert logs.safe_request_id(bad) is None


@pytest.mark.integration
def test_an_api_request_logs_with_its_request_id(monkeypatch):
    from api.app import create_app

    env = isolated_env(monkeypatch)
    settings, _ = next(env)
    try:
        app = create_app(settings)

        @app.get("/test-log-line")
        def log_something():
            logging.getLogger("pxl.test").info("handled")
            return {}

        stream = capture()
        with TestClient(app) as client:
            client.get("/test-log-line", headers={"X-Request-ID": "req-from-client"})
        handled = [line for line in lines(stream) if line["message"] == "handled"]
        assert handled and handled[0]["request_id"] == "req-from-client"
    finally:
        next(env, None)
