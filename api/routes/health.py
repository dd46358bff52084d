"""/v1/health: is the service usable?  (No auth: load balancers and probes call it.)"""

from __future__ import annotations

import logging
from importlib import metadata

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import get_store
from api.provenance import provenance
from api.routes.jobs import json_response
from api.schemas import Health

router = APIRouter(prefix="/v1", tags=["health"])
log = logging.getLogger("pxl.api")


def service_version() -> str:
    try:
        return metadata.version("logos-pxl-core")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def health_provenance(settings) -> dict[str, str | None]:
    """Build provenance (coqchk stamp, build SHA, v4 table SHA), as in the response headers."""
    return dict(provenance(settings))


@router.get(
    "/health",
    operation_id="getHealth",
    response_model=Health,
    summary="Service, Redis and worker liveness",
    responses={
        503: {"description": "Redis does not answer (status `unhealthy`).", "model": Health}
    },
)
def health(request: Request) -> Response:
    store = get_store(request)
    try:
        redis_ok = bool(store.ping())
        workers = store.workers_online() if redis_ok else []
        depth = store.queue_depth() if redis_ok else None
    except Exception as exc:  # health must answer even when Redis is gone
        log.warning("health check: Redis unreachable: %s", exc)
        redis_ok, workers, depth = False, [], None
    status = "healthy" if redis_ok and workers else "degraded" if redis_ok else "unhealthy"
    body = {
        "status": status,
        "version": service_version(),
        "redis": redis_ok,
        "workers_online": len(workers),
        "workers": workers,
        "queue_depth": depth,
        "provenance": health_provenance(request.app.state.settings),
    }
    return json_response(body, 503 if status == "unhealthy" else 200)
