"""OpenTelemetry traces: one trace per job, from the HTTP request through the queue to the
worker and the prover.

Off unless an OTLP endpoint is configured with the standard variables
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``; the other
``OTEL_*`` variables — headers, sampler, ``OTEL_SERVICE_NAME`` — work as the SDK documents).
When off, nothing of OpenTelemetry is imported and every hook here is a no-op.

When on, a job's trace is (OPERATIONS.md "Traces")::

    POST /v1/proofs                      (FastAPI instrumentation; pxl.job_id, pxl.request_id)
      apply_async/pxl.run_job            (Celery instrumentation, in the API: the publish)
        pxl.queue_wait                   (from submission to the worker's begin)
        run/pxl.run_job                  (Celery instrumentation, in the worker)
          pxl.run proof|chrono|v4        (the runner: prover or overlay; verdict)
          EVALSHA / XADD / ...           (Redis instrumentation, API and worker)

The W3C trace context travels in the Celery message headers. Each process sets up its own
exporter the first time it needs one (after a fork, never before: the exporter's thread does
not survive a fork).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACER_NAME = "pxl"

_provider_pid: int | None = None
_celery_instrumented = False


def enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def ensure_provider(service_name: str) -> None:
    """This process's tracer provider with an OTLP/HTTP exporter (once per process)."""
    global _provider_pid
    if not enabled() or _provider_pid == os.getpid():
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Set in the process that runs the work: a prefork pool's parent never sets one, so each
    # child sets its own after the fork.
    trace.set_tracer_provider(provider)
    if not RedisInstrumentor().is_instrumented_by_opentelemetry:
        RedisInstrumentor().instrument()
    _provider_pid = os.getpid()


def instrument_app(app) -> None:
    """Server spans for every request of the FastAPI ``app``, tagged with the request id and,
    for a submission, the job id (from the response's ``Location``)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    ensure_provider("pxl-api")
    instrument_celery()  # the publish span and the context in the message headers
    FastAPIInstrumentor.instrument_app(
        app, server_request_hook=_keep_server_span, client_response_hook=_tag_server_span
    )


_SERVER_SPAN = "pxl.server_span"  # where the request's server span waits in the ASGI scope


def _keep_server_span(span, scope) -> None:
    scope[_SERVER_SPAN] = span


def _tag_server_span(_send_span, scope, message) -> None:
    """The ids are known only when the response starts (headers X-Request-ID, Location)."""
    span = scope.get(_SERVER_SPAN)
    if span is None or message.get("type") != "http.response.start":
        return
    for name, value in message.get("headers", []):
        if name == b"x-request-id":
            span.set_attribute("pxl.request_id", value.decode("latin-1"))
        elif name == b"location" and value.startswith(b"/v1/"):
            span.set_attribute("pxl.job_id", value.rsplit(b"/", 1)[-1].decode("latin-1"))


def instrument_celery() -> None:
    """Celery's publish and run spans (idempotent); the worker's provider is made lazily."""
    global _celery_instrumented
    if not enabled() or _celery_instrumented:
        return
    from celery import signals
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    # before the instrumentation's own task_prerun receiver: the run span needs the provider
    signals.task_prerun.connect(_provider_for_task, weak=False)
    CeleryInstrumentor().instrument()
    _celery_instrumented = True


def _provider_for_task(**_kwargs) -> None:
    ensure_provider("pxl-worker")


@contextlib.contextmanager
def job_run_span(kind: str, job_id: str, request_id: str | None,
                 queue_wait_s: float | None) -> Iterator[object | None]:
    """Spans of one job's run in the worker: the queue wait just before it (a sibling of the
    Celery run span, under the publish span) and the run itself. Yields the run span (or None
    when tracing is off) so the caller can record the verdict."""
    if not enabled():
        yield None
        return
    from opentelemetry import trace

    tracer = trace.get_tracer(TRACER_NAME)
    current = trace.get_current_span()
    attributes = {"pxl.job_id": job_id, "pxl.kind": kind}
    if request_id:
        attributes["pxl.request_id"] = request_id
    current.set_attributes(attributes)
    if queue_wait_s is not None:
        parent = current.parent  # the publish span, whose context came in the message
        context = (
            trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
        )
        now = time.time_ns()
        tracer.start_span(
            "pxl.queue_wait", context=context, attributes=attributes,
            start_time=now - int(queue_wait_s * 1e9),
        ).end(end_time=now)  # fmt: skip
    with tracer.start_as_current_span(f"pxl.run {kind}", attributes=attributes) as span:
        yield span


def record_verdict(span, result: dict) -> None:
    if span is not None and result.get("verdict") is not None:
        span.set_attribute("pxl.verdict", str(result["verdict"]))
