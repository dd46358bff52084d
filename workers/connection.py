"""Every Redis connection of the service is made here: the job store's client, the metrics
client, the API's rate limiter and the Celery broker's URL.

One Redis (``PXL_REDIS_URL``), or a Sentinel-monitored primary (``PXL_REDIS_SENTINELS``,
``PXL_REDIS_SENTINEL_MASTER``): with sentinels, each client asks them for the current primary
and asks again after a failover, and the URL gives only the password, TLS and database.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis

from workers.events import MAX_BLOCK_MS
from workers.settings import Settings, get_settings

_clients: dict[tuple[int, str], redis.Redis] = {}
_blocking_clients: dict[tuple[int, str], redis.Redis] = {}

# Connections for blocking reads (Prefer: wait, SSE), apart from everything else: a reader
# beyond these waits for one of them to come free, and no number of readers can take the
# connections ordinary requests need (issue 10: 150 waits exhausted a shared pool of 100).
BLOCKING_READ_CONNECTIONS = 64


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    return [(host, int(port)) for host, _, port in
            (entry.rpartition(":") for entry in settings.redis_sentinels)]


def _url_options(settings: Settings) -> dict[str, Any]:
    """What PXL_REDIS_URL says besides the address: database, credentials, TLS."""
    parts = urlsplit(settings.redis_url)
    options: dict[str, Any] = {"db": int(parts.path.lstrip("/") or 0)}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    if parts.scheme == "rediss":
        options["ssl"] = True
    return options


def _sentinel(settings: Settings, module, timeout: float):
    sentinel_kwargs = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if settings.redis_sentinel_password:
        sentinel_kwargs["password"] = settings.redis_sentinel_password
    return module.Sentinel(sentinel_addresses(settings), sentinel_kwargs=sentinel_kwargs)


def make_client(settings: Settings, **options: Any) -> redis.Redis:
    """A new client with ``options`` (timeouts, decode_responses, ...) on the current primary."""
    if not settings.redis_sentinels:
        return redis.Redis.from_url(settings.redis_url, **options)
    from redis import sentinel

    timeout = options.get("socket_connect_timeout") or 5.0
    return _sentinel(settings, sentinel, timeout).master_for(
        settings.redis_sentinel_master, **_url_options(settings), **options
    )


def make_async_client(settings: Settings, *, max_connections: int, wait_s: float,
                      **options: Any):
    """A redis.asyncio client. With one Redis its pool blocks (up to ``wait_s``) when all
    ``max_connections`` are busy; the Sentinel pool of redis-py has no blocking variant."""
    import redis.asyncio as aioredis

    if not settings.redis_sentinels:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=max_connections, timeout=wait_s, **options
        )
        return aioredis.Redis(connection_pool=pool)
    from redis.asyncio import sentinel

    timeout = options.get("socket_connect_timeout") or 5.0
    return _sentinel(settings, sentinel, timeout).master_for(
        settings.redis_sentinel_master, max_connections=max_connections,
        **_url_options(settings), **options,
    )  # fmt: skip


def redis_client(settings: Settings | None = None) -> redis.Redis:
    """The job store's pooled client (decode_responses=True), one per process and address."""
    settings = settings or get_settings()
    key = (os.getpid(), settings.redis_url + "|" + ",".join(settings.redis_sentinels))
    client = _clients.get(key)
    if client is None:
        client = make_client(
            settings, decode_responses=True, health_check_interval=30,
            socket_connect_timeout=5, protocol=2,
            # Above the longest blocking read (read_events caps block_ms at MAX_BLOCK_MS).
            socket_timeout=MAX_BLOCK_MS / 1000 + 10,
        )  # fmt: skip
        _clients[key] = client
    return client


def broker(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and the transport options it needs beyond the common ones."""
    if not settings.redis_sentinels:
        return settings.redis_url, {}
    options = _url_options(settings)
    auth = ""
    if "password" in options:
        auth = f"{quote(options.get('username', ''), safe='')}:{quote(options['password'], safe='')}@"
    url = ";".join(f"sentinel://{auth}{host}:{port}/{options['db']}"
                   for host, port in sentinel_addresses(settings))
    transport = {"master_name": settings.redis_sentinel_master}
    if settings.redis_sentinel_password:
        transport["sentinel_kwargs"] = {"password": settings.redis_sentinel_password}
    return url, transport


def blocking_redis_client(settings: Settings | None = None) -> redis.Redis:
    """The client for blocking reads: its own pool of BLOCKING_READ_CONNECTIONS, per process
    and address.  With one Redis a reader beyond them waits for a free connection; redis-py's
    Sentinel pool has no waiting variant, so there a reader beyond them fails (a wait then
    answers the job as it is, a stream ends and the client resumes it)."""
    settings = settings or get_settings()
    key = (os.getpid(), settings.redis_url + "|" + ",".join(settings.redis_sentinels))
    client = _blocking_clients.get(key)
    if client is None:
        options: dict[str, Any] = {
            "decode_responses": True, "health_check_interval": 30,
            "socket_connect_timeout": 5, "protocol": 2,
            "socket_timeout": MAX_BLOCK_MS / 1000 + 10,
        }
        if settings.redis_sentinels:
            client = make_client(settings, max_connections=BLOCKING_READ_CONNECTIONS, **options)
        else:
            pool = redis.BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=BLOCKING_READ_CONNECTIONS, timeout=None,
                **options,
            )
            client = redis.Redis(connection_pool=pool)
        _blocking_clients[key] = client
    return client
