"""Server-sent events for one job, read from its Redis stream (the job's event log).

Each stored event goes out as ``id:`` (the stream id, so ``Last-Event-ID``
resumes exactly after it), ``event:`` and one JSON ``data:`` line.  The blocking
stream read runs in a thread, a slice at a time, so the event loop stays free
and a disconnected client is noticed within a slice.  A ``: keep-alive`` comment
(no id) goes out when nothing happened for ``HEARTBEAT_SECONDS``.  The stream
ends after the final event, or at once when a resumed client has already seen it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import redis
from fastapi import Request

from api.deps import run_blocking
from workers.record import TERMINAL_STATUSES

log = logging.getLogger("pxl.api")

HEARTBEAT_SECONDS = 15.0
READ_SLICE_MS = 1000  # longest blocking read; bounds how late a disconnect is noticed
RETRY_MS = 2000  # EventSource reconnect delay we suggest


_MAX_ID_PART = 2**64 - 1  # each part of a Redis stream id is an unsigned 64-bit number
_STREAM_ID_RE = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")


def resume_point(last_event_id: str | None) -> str | None:
    """The stream id to resume after, or None (from the start) for an id we never issued.

    Garbage and ids out of the 64-bit range (which Redis would refuse, ending the stream
    empty) are treated alike: the client gets the whole stream again.
    """
    match = _STREAM_ID_RE.fullmatch(last_event_id or "")
    if match is None or any(int(p) > _MAX_ID_PART for p in match.groups() if p is not None):
        return None
    return last_event_id


def format_event(event_id: str, name: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # json.dumps never emits raw newlines, so the data fits one `data:` line.
    return f"id: {event_id}\nevent: {name}\ndata: {payload}\n\n".encode()


def _job_is_over(store, job_id: str) -> bool:
    doc = store.get(job_id)
    return doc is None or doc.get("status") in TERMINAL_STATUSES


async def event_stream(
    store,
    job_id: str,
    after: str | None,
    request: Request,
    on_close=None,
) -> AsyncIterator[bytes]:
    """The SSE byte stream; ``on_close()`` is called when it ends, however it ends."""
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        async for chunk in _events(store, job_id, after, request):
            yield chunk
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # The response has started, so no problem+json is possible: end the stream; the
        # client reconnects with Last-Event-ID and loses nothing.
        log.warning("event stream of job %s ended: Redis unavailable: %s", job_id, exc)
    except redis.RedisError as exc:  # Redis answered but refused the read: not an outage
        log.error("event stream of job %s ended: Redis refused the read: %s", job_id, exc)
    finally:
        if on_close is not None:
            on_close()


async def _events(store, job_id: str, after: str | None, request: Request) -> AsyncIterator[bytes]:
    last_sent = time.monotonic()
    while True:
        if await request.is_disconnected():
            return
        wait_ms = max(
            1, min(READ_SLICE_MS, int((HEARTBEAT_SECONDS - (time.monotonic() - last_sent)) * 1000))
        )
        events = await run_blocking(store.read_events, job_id, after, wait_ms)
        for event_id, name, data in events:
            yield format_event(event_id, name, data)
            after = event_id
            last_sent = time.monotonic()
            if name in TERMINAL_STATUSES:
                return
        if events:
            continue
        # Nothing new.  A client resuming after the final event would wait forever: end
        # when the job is over and its stream holds nothing after `after`.
        if await run_blocking(_job_is_over, store, job_id) and not await run_blocking(
            store.read_events, job_id, after, 1
        ):
            return
        if time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
