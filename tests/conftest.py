"""Suite-wide hooks: the Redis that tests/environment.py may have started is stopped at the end."""

from __future__ import annotations

from tests.environment import stop_redis


def pytest_unconfigure(config) -> None:
    stop_redis()
