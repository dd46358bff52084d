"""An in-process Redis for trying the service out without installing one (``pxl up``).

fakeredis's TCP server speaks the Redis protocol on a loopback port, so the API and the
worker run unchanged as separate processes against it: Celery's BRPOP and pub/sub, the
job store's transactions and streams.  Everything lives in the memory of the ``pxl up``
process and is gone when it stops; it is for trying the service out, not for production.
"""

from __future__ import annotations

import threading

import redis


def redis_answers(url: str, timeout_s: float = 0.5) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s,
                                      socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


class EmbeddedRedis:
    """A fakeredis TCP server on a free loopback port, served from a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        from fakeredis import TcpFakeServer

        self.server = TcpFakeServer((host, port), server_type="redis")
        # Connection handler threads block in BRPOP/XREAD: do not wait for them on close.
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="pxl-embedded-redis", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
