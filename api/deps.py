"""FastAPI dependencies shared by the routes: settings, the job store, request ids, JSON bodies.

JSON bodies are read here rather than by FastAPI so that every bad body gets
its precise problem: 413 over ``max_body_bytes`` (by Content-Length, then as
streamed), 415 for another media type, 400 for bytes that are not JSON
(including invalid UTF-8, NaN and numbers too long to read), 422 for nesting
deeper than we parse and for fields pydantic refuses.  Routes take
``body: Model = Depends(json_body(Model))`` and declare
``openapi_extra=json_body_openapi(Model)`` so the contract still shows the body.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import uuid
from typing import Any, TypeVar

import anyio
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.problems import ProblemError
from workers.connection import BLOCKING_READ_CONNECTIONS, make_async_client
from workers.events import MAX_BLOCK_MS
from workers.record import MAX_DOCUMENT_NESTING
from workers.settings import Settings

M = TypeVar("M", bound=BaseModel)

# A formula of the deepest nesting the prover accepts, in the JSON form, nests about twice as
# deep in JSON (an object and an array per binary connective), inside the request object.
MAX_JSON_DEPTH = MAX_DOCUMENT_NESTING

# Blocking Redis calls (waits, event reads) run in threads under this limiter, apart from
# the default thread pool, so that long waits never starve ordinary sync routes.
_BLOCKING_THREADS = 256
_blocking_limiter: anyio.CapacityLimiter | None = None

_PARSE_INLINE_BYTES = 64 * 1024

# Open waits (Prefer: wait) and event streams one client may hold in one API process: each
# holds a thread and a blocking-read connection (workers.connection) while it lasts.
WAITS_PER_CLIENT = 20
_waits: dict[str, int] = {}
_waits_lock = threading.Lock()

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request):
    """The app's ``workers.jobs.JobStore`` (created by create_app)."""
    return request.app.state.store


# redis.asyncio connections of the job path (the submission script, waits) per event loop:
# commands wait up to JOB_PATH_WAIT_S for one of their pool; blocking reads (Prefer: wait)
# have a pool of their own, as the threads' blocking reads do (workers.connection).
JOB_PATH_CONNECTIONS = 32
JOB_PATH_WAIT_S = 5.0


def job_path_redis(request: Request):
    """(commands, blocking reads): this event loop's redis.asyncio clients for the job path,
    decoding responses and speaking RESP2 as the job store's own client does."""
    loop = asyncio.get_running_loop()
    clients = request.app.state.job_path_redis  # id(loop) -> (loop, commands, blocking)
    entry = clients.get(id(loop))
    if entry is None or entry[0] is not loop:
        settings: Settings = request.app.state.settings
        options = {"decode_responses": True, "protocol": 2, "socket_connect_timeout": 5,
                   "health_check_interval": 30}
        commands = make_async_client(settings, max_connections=JOB_PATH_CONNECTIONS,
                                     wait_s=JOB_PATH_WAIT_S, socket_timeout=30, **options)
        blocking = make_async_client(settings, max_connections=BLOCKING_READ_CONNECTIONS,
                                     wait_s=None, socket_timeout=MAX_BLOCK_MS / 1000 + 10,
                                     **options)
        for key in [k for k, v in clients.items() if v[0].is_closed()]:
            del clients[key]
        entry = clients[id(loop)] = (loop, commands, blocking)
    return entry[1], entry[2]


def request_id(request: Request) -> str:
    """The request's id: set by middleware, else a well-formed X-Request-ID, else a new one."""
    rid = getattr(request.state, "request_id", None)
    if rid:
        return rid
    header = request.headers.get("x-request-id", "")
    rid = header if _REQUEST_ID_RE.match(header) else uuid.uuid4().hex
    request.state.request_id = rid
    return rid


async def run_blocking(func, *args):
    """Run a blocking call (Redis wait/read) in a thread; the caller may be cancelled meanwhile."""
    global _blocking_limiter
    if _blocking_limiter is None:
        _blocking_limiter = anyio.CapacityLimiter(_BLOCKING_THREADS)
    return await anyio.to_thread.run_sync(
        func, *args, limiter=_blocking_limiter, abandon_on_cancel=True
    )


class WaitSlot:
    """One of a client's WAITS_PER_CLIENT open waits or streams; ``release()`` (idempotent)
    gives it back."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._held = True

    def release(self) -> None:
        with _waits_lock:
            if self._held:
                self._held = False
                left = _waits[self.owner] - 1
                if left:
                    _waits[self.owner] = left
                else:
                    del _waits[self.owner]


def wait_slot(owner: str) -> WaitSlot:
    """Take one of ``owner``'s wait slots, or raise the 429 ``too-many-waits`` problem."""
    with _waits_lock:
        held = _waits.get(owner, 0)
        if held >= WAITS_PER_CLIENT:
            raise ProblemError(
                "too-many-waits",
                f"This client already has {held} open waits and event streams here (at most "
                f"{WAITS_PER_CLIENT}); close one or poll the job instead.",
                headers={"Retry-After": "1"},
                limit=WAITS_PER_CLIENT,
            )
        _waits[owner] = held + 1
    return WaitSlot(owner)


# --- JSON bodies ----------------------------------------------------------------------------


def _is_json_media_type(content_type: str) -> bool:
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    maintype, _, subtype = media.partition("/")
    if maintype != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def check_declared_length(request: Request, limit: int) -> None:
    """Refuse (413) a body whose Content-Length is over ``limit`` before reading any of it."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ProblemError(
                "malformed-json", "Content-Length is not a number.", status=400
            ) from None
        if declared > limit:
            raise ProblemError(
                "body-too-large",
                f"The body has {declared} bytes; the limit is {limit}.",
                limit=limit,
            )


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as more than ``limit`` bytes have streamed in."""
    check_declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(
                "body-too-large", f"The body exceeds the limit of {limit} bytes.", limit=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)


_NESTING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(text: str) -> int:
    """The deepest array/object nesting in ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for match in _NESTING_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Bytes to a JSON value, or a 400/422 problem; never RecursionError or another crash."""
    if not raw.strip():
        raise ProblemError("malformed-json", "The request body is empty; send a JSON object.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            "malformed-json", f"The body is not valid UTF-8 (byte {exc.start})."
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    # Fewer brackets than the limit cannot nest past it: skip the scan for most bodies.
    depth = json_depth(text) if text.count("[") + text.count("{") > MAX_JSON_DEPTH else 0
    if depth > MAX_JSON_DEPTH:
        raise ProblemError(
            "json-too-deep",
            f"The JSON nests {depth} levels deep; at most {MAX_JSON_DEPTH} are read.",
            limit=MAX_JSON_DEPTH,
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ProblemError(
            "malformed-json",
            f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:  # only if the interpreter's limit is lower than MAX_JSON_DEPTH needs
        raise ProblemError("json-too-deep", "The JSON nests too deeply to read.") from None
    except ValueError as exc:  # NaN/Infinity, integers longer than Python reads
        raise ProblemError("malformed-json", f"Invalid JSON: {_value_error_detail(exc)}.") from None


def _value_error_detail(exc: ValueError) -> str:
    # Python's own message for a long integer tells the reader to call
    # sys.set_int_max_str_digits(), advice for a Python programmer, not for a client.
    if "integer string conversion" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return str(exc)


def json_body(model: type[M]):
    """A dependency reading the request body as JSON and validating it as ``model``."""

    async def dependency(request: Request) -> M:
        settings: Settings = request.app.state.settings
        check_declared_length(request, settings.max_body_bytes)
        content_type = request.headers.get("content-type")
        if content_type is None or not _is_json_media_type(content_type):
            raise ProblemError(
                "unsupported-media-type",
                f"Send the body as application/json (UTF-8), not {content_type or 'no type'}.",
                headers={"Accept-Post": "application/json"},
            )
        raw = await read_body_limited(request, settings.max_body_bytes)
        # a large body takes milliseconds to scan and parse: keep that off the event loop
        if len(raw) > _PARSE_INLINE_BYTES:
            data = await anyio.to_thread.run_sync(parse_json, raw)
        else:
            data = parse_json(raw)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
            ) from None

    return dependency


def json_body_openapi(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON request body (see COMPONENT_MODELS)."""
    return {
        "requestBody": {
            "required": required,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }
