"""One connected trace per job: a real `pxl serve` and a real `pxl worker` export their spans
over OTLP/HTTP to a receiver in this test, which keeps them in memory. The trace of a proof
job runs from the HTTP request through the publish and the queue wait to the worker's run and
the prover, every span's parent is in the trace, and the job and request ids are attributes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import defaultdict

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.http_servers import RecordingServer
from tests.integration.conftest import ROOT, VALID, WorkerProcess

pytestmark = pytest.mark.integration


def received_spans(receiver: RecordingServer) -> list[dict]:
    """Every span of the OTLP/HTTP (protobuf) export requests the receiver got."""
    spans = []
    for request in list(receiver.requests):
        export = ExportTraceServiceRequest.FromString(request["body"])
        for resource in export.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes
                           if a.key == "service.name")
            for scope in resource.scope_spans:
                spans.extend(as_dict(service, span) for span in scope.spans)
    return spans


def as_dict(service: str, span) -> dict:
    attributes = {}
    for a in span.attributes:
        value = a.value
        attributes[a.key] = value.string_value or value.int_value or value.bool_value
    return {
        "service": service, "name": span.name, "trace": span.trace_id.hex(),
        "id": span.span_id.hex(), "parent": span.parent_span_id.hex() or None,
        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
        "attributes": attributes,
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=["solo", "prefork"])
def traced(request, pxl_env, tmp_path_factory):
    """A traced API and worker (of each pool in turn) on a queue of their own."""
    from workers.settings import get_settings

    receiver = RecordingServer().start()
    pool = request.param
    queue = f"{pxl_env['PXL_QUEUE_NAME']}-traced-{pool}"
    env = {
        **pxl_env,
        "PXL_QUEUE_NAME": queue,
        "PXL_AUTH_DISABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export soon after a span ends
    }
    logs = tmp_path_factory.mktemp(f"traced-{pool}")
    settings = get_settings().model_copy(update={"queue_name": queue})
    worker = WorkerProcess(env, settings=settings, pool=pool, concurrency=1,
                           log=logs / "worker.log").start()
    port = free_port()
    with open(logs / "api.log", "wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/v1/health", timeout=2)
            break
        except httpx.HTTPError:
            assert api.poll() is None and time.monotonic() < deadline, "pxl serve did not start"
            time.sleep(0.2)
    yield base, receiver
    api.terminate()
    api.wait(15)
    worker.stop()
    receiver.stop()


def spans_of_trace(receiver: RecordingServer, job_id: str, limit: float = 20.0) -> list[dict]:
    """The spans of the trace whose server span carries ``job_id``, once the worker's are in."""
    deadline = time.monotonic() + limit
    while True:
        by_trace = defaultdict(list)
        for span in received_spans(receiver):
            by_trace[span["trace"]].append(span)
        for spans in by_trace.values():
            names = {s["name"] for s in spans}
            if (any(s["attributes"].get("pxl.job_id") == job_id for s in spans)
                    and "pxl.run proof" in names and "run/pxl.run_job" in names):
                return spans
        assert time.monotonic() < deadline, f"no complete trace for {job_id}"
        time.sleep(0.2)


def test_a_proof_job_is_one_connected_trace(traced):
    base, receiver = traced
    response = httpx.post(base + "/v1/proofs", json={"formula": VALID},
                          headers={"Prefer": "wait=20"}, timeout=30)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["result"]["verdict"] == "valid"
    request_id = response.headers["X-Request-ID"]

    spans = spans_of_trace(receiver, job["id"])
    by_name = {s["name"]: s for s in spans}
    by_id = {s["id"]: s for s in spans}
    server = next(s for s in spans if s["parent"] is None)
    assert server["service"] == "pxl-api" and server["name"].startswith("POST /v1/proofs")
    assert server["attributes"]["pxl.job_id"] == job["id"]
    assert server["attributes"]["pxl.request_id"] == request_id

    publish, wait = by_name["apply_async/pxl.run_job"], by_name["pxl.queue_wait"]
    run, work = by_name["run/pxl.run_job"], by_name["pxl.run proof"]
    assert publish["service"] == "pxl-api"
    assert {run["service"], work["service"], wait["service"]} == {"pxl-worker"}
    # connected: every span but the root has its parent in this trace
    for span in spans:
        assert span["parent"] is None or span["parent"] in by_id, span
    # the shape: request -> publish -> (queue wait, run -> prover run)
    ancestors = {s["id"]: s["parent"] for s in spans}

    def chain(span):
        out, current = [], span["parent"]
        while current:
            out.append(by_id[current]["name"])
            current = ancestors[current]
        return out

    assert chain(wait)[:1] == ["apply_async/pxl.run_job"]
    assert chain(run)[:1] == ["apply_async/pxl.run_job"]
    assert chain(work)[:2] == ["run/pxl.run_job", "apply_async/pxl.run_job"]
    assert chain(publish)[-1] == server["name"]
    for span in (wait, run, work):
        assert span["attributes"]["pxl.job_id"] == job["id"]
        assert span["attributes"]["pxl.request_id"] == request_id
    assert work["attributes"]["pxl.verdict"] == "valid"
    # the queue wait ends where the worker's run begins, and is as long as the job says
    assert wait["end"] <= work["start"]
    assert abs((wait["end"] - wait["start"]) / 1e6 - job["result"]["queue_wait_ms"]) < 5
    # Redis calls of both processes are in the same trace
    assert {s["service"] for s in spans if s["attributes"].get("db.system") == "redis"} == {
        "pxl-api", "pxl-worker"}
