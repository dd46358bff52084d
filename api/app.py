"""The FastAPI application: ``create_app(settings)`` builds it (uvicorn runs it with factory=True).

Other parts plug in with one line each below (security, metrics); the routes
live in api/routes/, errors in api/problems.py, the contract in
openapi/prooftoken.yaml (regenerate with scripts/export-openapi).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import api.metrics
import api.routes.console
import api.security
from api import problems
from api.problems import PROBLEM_MEDIA_TYPE, problem_responses
from api.ratelimit import EXEMPT_PATHS
from api.routes import ROUTERS
from api.routes.health import service_version
from api.schemas import COMPONENT_MODELS
from api.server import HeaderCountMiddleware
from workers import tracing
from workers.celery_app import job_store
from workers.record import RECURSION_LIMIT_FOR_DOCUMENTS
from workers.settings import Settings, get_settings

TITLE = "LOGOS PXL Core API"
DESCRIPTION = (
    "Asynchronous S5 (PXL) proof service: submit proof and overlay jobs, poll them, follow them "
    "as server-sent events or get a signed webhook. Errors are RFC 9457 problem+json; the "
    "problem types are listed in each response and in docs/api.md."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # JSON bodies and job documents may nest up to MAX_DOCUMENT_NESTING (the deepest formula in the
    # JSON form) and the json module recurses once per level, so the interpreter's default
    # limit of 1000 is too low while the app serves; restored when it stops.
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, RECURSION_LIMIT_FOR_DOCUMENTS))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=service_version(),
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = job_store(settings)
    app.state.job_path_redis = {}  # api.deps.job_path_redis
    problems.install(app)
    app.add_middleware(HeaderCountMiddleware)  # inside the header middleware: its 431 gets them
    for router in ROUTERS:
        app.include_router(router)
    api.routes.console.install(app)  # the web console's pages and files (not in the contract)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    api.security.install(app, settings)  # auth router, CORS, rate limits, security headers
    api.metrics.install(app, settings)  # its middleware must be outside the app's own layers
    tracing.instrument_app(app)  # OpenTelemetry server spans, when an OTLP endpoint is set
    return app


# --- the OpenAPI contract -------------------------------------------------------------------

RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "Location": {"description": "URL of the job.", "schema": {"type": "string"}},
    "Preference-Applied": {
        "description": "RFC 7240: `wait=N` when the server honoured `Prefer: wait`.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
    "X-PXL-Coqchk": {
        "description": "Provenance: the coqchk stamp of the kernel the prover follows.",
        "schema": {"type": "string"},
    },
    "X-Build-SHA": {
        "description": "Provenance: the git commit the service was built from.",
        "schema": {"type": "string"},
    },
    "X-V4-SHA": {
        "description": "Provenance: SHA-256 of the v4 overlay adapter table.",
        "schema": {"type": "string"},
    },
}
AUTH_RESPONSES = {
    "401": "`about:blank` problem: no, malformed, expired or forged bearer token "
    "(with a `WWW-Authenticate: Bearer` challenge).",
    "403": "`about:blank` problem: the token lacks the scope this operation needs.",
}
RATE_LIMITED = (
    "`about:blank` problem: over the client's rate limit (per minute and burst); "
    "`Retry-After` says when to retry."
)
SERVERS = [  # relative first: the contract served by a deployment describes that deployment
    {"url": "/", "description": "this server"},
    {"url": "http://127.0.0.1:8080", "description": "local: ./scripts/up (pxl up)"},
]
PROVENANCE_HEADERS = ("X-PXL-Coqchk", "X-Build-SHA", "X-V4-SHA")
RETRY_AFTER_STATUSES = ("429", "503")


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with what FastAPI cannot infer: shared headers and schemas.

    Every response carries the provenance headers; 429/503 carry Retry-After.  Models used
    only through ``json_body`` or problem responses are added to the components.
    """
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in COMPONENT_MODELS:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(model_schema.pop("$defs", {}))
        schemas.setdefault(model.__name__, model_schema)
    components["headers"] = RESPONSE_HEADERS
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if operation.get("security"):
                for status, text in AUTH_RESPONSES.items():
                    responses.setdefault(status, _about_blank_problem(text))
            if path not in EXEMPT_PATHS:
                responses.setdefault("429", _about_blank_problem(RATE_LIMITED))
            if _is_fastapi_validation_response(responses.get("422")):
                # our 422s are problem+json, not FastAPI's HTTPValidationError
                responses["422"] = problem_responses("validation-error")[422]
            for status, response in responses.items():
                headers = response.setdefault("headers", {})
                names = list(PROVENANCE_HEADERS)
                if status in RETRY_AFTER_STATUSES:
                    names.append("Retry-After")
                for name in names:
                    headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})
    text = json.dumps(schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in text:
            schemas.pop(unused, None)
    components["schemas"] = dict(sorted(schemas.items()))
    schema["servers"] = SERVERS
    app.openapi_schema = schema
    return schema


def _about_blank_problem(description: str) -> dict[str, Any]:
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {"description": description, "content": content}


def _is_fastapi_validation_response(response: dict[str, Any] | None) -> bool:
    content = (response or {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.endswith("/HTTPValidationError")
