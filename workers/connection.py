"""The Redis client of the job store, the queue's inspection and the heartbeats."""

from __future__ import annotations

import os

import redis

from workers.events import MAX_BLOCK_MS
from workers.settings import Settings, get_settings

_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_client(settings: Settings | None = None) -> redis.Redis:
    """A pooled client (decode_responses=True) per process and URL."""
    settings = settings or get_settings()
    key = (os.getpid(), settings.redis_url)
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30,
            socket_connect_timeout=5, protocol=2,
            # Above the longest blocking read (read_events caps block_ms at MAX_BLOCK_MS).
            socket_timeout=MAX_BLOCK_MS / 1000 + 10,
        )
        _clients[key] = client
    return client
