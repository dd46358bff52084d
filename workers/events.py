"""A job's event stream: the Redis Stream ``workers.keys.events_key`` of its lifecycle.

Every status change appends one event (``queued``, ``started``, ``progress``, then one final
``succeeded`` / ``failed`` / ``cancelled`` carrying the whole public document), in the same
transaction as the record's change.  The API's SSE endpoint and ``Prefer: wait`` read it.
(The job store's Lua scripts append their events themselves, with the same fields.)

The final event also writes the job's ``final`` list (workers.keys.final_key): a wait for the
final document blocks on that list, not on the stream, so the ``started`` and ``progress``
events do not wake it for nothing (``read_events_when_final``).
"""

from __future__ import annotations

import json

from workers import keys
from workers.record import dumps
from workers.settings import Settings

MAX_BLOCK_MS = 60_000  # the longest a read_events call blocks


def append_event(pipe, settings: Settings, job_id: str, name: str, data: dict,
                 final: bool = False) -> None:
    """Queue the event on ``pipe`` (a transaction of the caller's); ``final``: the job's
    final event, which also writes its ``final`` list."""
    key = keys.events_key(settings.key_prefix, job_id)
    pipe.xadd(key, {"event": name, "data": dumps(data)},
              maxlen=settings.job_events_maxlen, approximate=True)
    pipe.expire(key, settings.job_ttl_seconds)
    if final:
        marker = keys.final_key(settings.key_prefix, job_id)
        pipe.rpush(marker, "1")
        pipe.expire(marker, settings.job_ttl_seconds)


def read_events(client, prefix: str, job_id: str, after: str | None = None,
                block_ms: int = 0) -> list[tuple[str, str, dict]]:
    """Events of the job after the id ``after`` (exclusive; None or "0": from the start),
    waiting up to ``block_ms`` for one when there are none yet."""
    streams = {keys.events_key(prefix, job_id): after or "0"}
    if block_ms and block_ms > 0:
        reply = client.xread(streams, count=100, block=int(min(block_ms, MAX_BLOCK_MS)))
    else:
        reply = client.xread(streams, count=100)
    return decode_events(reply)


async def read_events_async(client, prefix: str, job_id: str, after: str | None = None,
                            block_ms: int = 0) -> list[tuple[str, str, dict]]:
    """``read_events`` on a redis.asyncio client (decoding responses, RESP2)."""
    streams = {keys.events_key(prefix, job_id): after or "0"}
    block = int(min(block_ms, MAX_BLOCK_MS)) if block_ms and block_ms > 0 else None
    return decode_events(await client.xread(streams, count=100, block=block))


def _when_final(pipe, prefix: str, job_id: str, after: str | None, block_ms: int):
    """Queue on ``pipe`` (no transaction): a wait of up to ``block_ms`` for the job's
    ``final`` list (BLMOVE of its one element onto itself: it stays for other waiters), then
    the read of the events after ``after``.  Redis runs a client's commands in order and
    holds the read until the wait ends, so the two are one round trip."""
    if block_ms and block_ms > 0:
        marker = keys.final_key(prefix, job_id)
        pipe.blmove(marker, marker, min(block_ms, MAX_BLOCK_MS) / 1000, "LEFT", "LEFT")
    pipe.xread({keys.events_key(prefix, job_id): after or "0"}, count=100)


def read_events_when_final(client, prefix: str, job_id: str, after: str | None = None,
                           block_ms: int = 0) -> list[tuple[str, str, dict]]:
    """The job's events after ``after``, read once its final event is written or after
    ``block_ms`` (0: at once), whichever comes first."""
    with client.pipeline(transaction=False) as pipe:
        _when_final(pipe, prefix, job_id, after, block_ms)
        return decode_events(pipe.execute()[-1])


async def read_events_when_final_async(client, prefix: str, job_id: str,
                                       after: str | None = None,
                                       block_ms: int = 0) -> list[tuple[str, str, dict]]:
    """``read_events_when_final`` on a redis.asyncio client (decoding responses, RESP2)."""
    async with client.pipeline(transaction=False) as pipe:
        _when_final(pipe, prefix, job_id, after, block_ms)
        return decode_events((await pipe.execute())[-1])


def decode_events(reply) -> list[tuple[str, str, dict]]:
    """(event id, name, data) of an XREAD reply on one job's stream."""
    out = []
    for _stream, entries in reply or []:
        for event_id, fields in entries:
            out.append((event_id, fields.get("event", ""), json.loads(fields.get("data", "{}"))))
    return out
