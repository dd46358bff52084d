"""HTTP metrics, request ids and ``GET /v1/metrics`` (Prometheus text format, scope metrics:read).

Two kinds of series come out of ``/v1/metrics``:

* ``http`` — this API instance's request counters and latency histograms, by route template.
  With several uvicorn worker processes set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
  (a tmpfs, emptied when the instance starts) before the processes start; each process then
  writes its samples there and any process's scrape sums all of them (prometheus-client
  multiprocess mode). Only counters and histograms are used, so dead processes' files stay
  correct as part of the totals.
  The ``http`` section also carries ``pxl_coqchk_status`` (one series per state of the kernel's
  coqchk stamp, 1 for the current one; the state ``X-PXL-Coqchk`` reports, api/provenance.py).
* ``fleet`` — job metrics, queue depth and workers online, read from Redis at scrape time
  (``workers.fleet_collector.FleetCollector``); every API instance reports the same fleet-wide values.

``?section=http`` or ``?section=fleet`` limits the answer to one kind, so Prometheus scrapes
``http`` from every instance and ``fleet`` from one (see monitoring/prometheus.yml) and nothing
is counted twice. Without the parameter both are returned.

Latency is measured to the start of the response (status and headers sent), so a long-lived SSE
stream counts its setup time, not its lifetime.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Query, Response
from fastapi.middleware import Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from api.auth import require_scope
from api.provenance import COQCHK_STATES, provenance
from workers.fleet_collector import FleetCollector
from workers.logs import (
    configure_logging,
    install_celery_signals,
    request_id_var,
    safe_request_id,
)
from workers.metrics import LATENCY_BUCKETS
from workers.settings import Settings, get_settings

REQUEST_ID_HEADER = "X-Request-ID"
# one label value for every request no route took: unknown paths, and requests answered before
# routing (rate-limit 429s, CORS preflights), so clients cannot create series at will
UNMATCHED_ROUTE = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SECTIONS = ("http", "fleet")
# Our names are all classic ones, so the text is the 0.0.4 format every Prometheus 2.x reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

_HTTP_REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "pxl_http_requests",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    registry=_HTTP_REGISTRY,
)
HTTP_DURATION = Histogram(
    "pxl_http_request_duration_seconds",
    "Time from receiving a request to sending its response status, by route template.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=_HTTP_REGISTRY,
)


def _route_template(scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path or UNMATCHED_ROUTE


class ObservabilityMiddleware:
    """Pure ASGI middleware: request id in/out and per-route HTTP metrics."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = safe_request_id(value.decode("latin-1"))
                break
        request_id = incoming or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        state = {"status": 500, "timed": False}

        def observe() -> None:
            if not state["timed"]:
                state["timed"] = True
                route, method = _route_template(scope), scope.get("method", "")
                method = method if method in METHODS else "OTHER"
                HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)
                HTTP_REQUESTS.labels(route, method, str(state["status"])).inc()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
                observe()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            observe()  # no response started (exception or disconnect): counted as 500
            request_id_var.reset(token)


class CoqchkCollector:
    """``pxl_coqchk_status{status=…}``: 1 for the state of this instance's coqchk stamp."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self):
        state = provenance(self.settings)["coqchk"].split(" ", 1)[0]
        gauge = GaugeMetricFamily(
            "pxl_coqchk_status",
            "State of the Coq kernel's coqchk stamp (X-PXL-Coqchk): 1 for the current state.",
            labels=["status"],
        )
        for status in COQCHK_STATES:
            gauge.add_metric([status], 1.0 if status == state else 0.0)
        yield gauge


def render(sections: list[str] | None = None, settings: Settings | None = None) -> bytes:
    """The metrics exposition text for the given sections (default: all)."""
    sections = sections or list(SECTIONS)
    out = b""
    if "http" in sections:
        out += _generate_latest(_http_registry())
        registry = CollectorRegistry(auto_describe=False)
        registry.register(CoqchkCollector(settings or get_settings()))
        out += _generate_latest(registry)
    if "fleet" in sections:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FleetCollector(settings or get_settings()))
        out += _generate_latest(registry)
    return out


def _http_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return _HTTP_REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def prepare_multiprocess_dir() -> Path | None:
    """Create ``PROMETHEUS_MULTIPROC_DIR`` and delete samples of earlier runs in it.

    ``pxl serve`` calls it once before the server processes start (a compose tmpfs is empty
    anyway). Returns the directory, or None in single-process mode (variable unset).
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def install(app: FastAPI, settings: Settings | None = None) -> None:
    """Observability of the app: structured logs (``settings.log_json``), the request id carried
    into Celery messages, the middleware as the outermost layer and ``GET /v1/metrics``.

    Call it after every other middleware is added, so that requests answered by outer layers
    (rate-limit 429s, CORS preflights) are counted and carry an ``X-Request-ID`` too.
    """
    configure_logging(settings or get_settings())
    install_celery_signals()
    app.user_middleware.insert(0, Middleware(ObservabilityMiddleware))

    @app.get(
        "/v1/metrics",
        tags=["operations"],
        summary="Prometheus metrics (text exposition format)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}}},
    )
    def metrics(
        section: list[Literal["http", "fleet"]] | None = Query(
            None, description="http: this instance's HTTP series; fleet: job and queue series"
        ),
        _principal=Depends(require_scope("metrics:read")),
    ) -> Response:
        return Response(render(section, settings), media_type=CONTENT_TYPE)
