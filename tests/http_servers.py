"""Servers the tests run on loopback: the app on a real uvicorn in a thread, and a recording
HTTP server standing where a receiver would be (webhooks, Alertmanager notifications, OTLP)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn


@contextlib.contextmanager
def serve_app(app, timeout_s: float = 20.0) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server on a free loopback port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


class RecordingServer(ThreadingHTTPServer):
    """Records every POST as {"path", "headers" (lower-case names), "body"} and answers with
    ``statuses`` in turn (the last one repeats). A context manager that serves in a thread."""

    def __init__(self, statuses: tuple[int, ...] = (200,)):
        self.statuses = list(statuses)
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805 - the server's handler, not a method of ours
                body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in handler.headers.items()}
                self.requests.append({"path": handler.path, "headers": headers, "body": body})
                status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
                handler.send_response(status)
                if 300 <= status < 400:  # a redirect a webhook sender must not follow
                    handler.send_header("Location", "http://127.0.0.1:1/elsewhere")
                handler.send_header("Content-Length", "0")
                handler.end_headers()

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> RecordingServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
