"""How the API is served: the uvicorn options, with limits on request headers.

Without a limit, uvicorn's HTTP parsers read a header of any size: one unauthenticated
request with a 200 MB header took 60 s and 340 MB of API memory (issue 10).  The head of a
request (request line and header fields) is therefore limited to ``MAX_HEADER_BYTES`` as it
arrives (``HeaderLimitedHttpToolsProtocol``), and a request with more than
``MAX_HEADER_FIELDS`` fields is refused by ``HeaderCountMiddleware``; both answer
``431 Request Header Fields Too Large`` with the ``headers-too-large`` problem and close.
A real client sends about 1 KiB: a bearer token is under 1 KiB, browsers send ~20 fields.

The parser is httptools (llhttp, in C), uvicorn's default, rather than the pure-Python h11:
it costs less CPU per request (docs/benchmarks-load.md).
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, problem_body, problem_response

MAX_HEADER_BYTES = 32 * 1024  # request line + every header field, as received
MAX_HEADER_FIELDS = 100


def _too_large_detail() -> str:
    return (
        f"The request head exceeds {MAX_HEADER_BYTES} bytes or {MAX_HEADER_FIELDS} header "
        "fields; send fewer or shorter headers."
    )


def _head_too_large_answer() -> bytes:
    """The raw 431 answer to a head over ``MAX_HEADER_BYTES`` (the connection then closes)."""
    problem = PROBLEM_TYPES["headers-too-large"]
    body = json.dumps(
        problem_body(status=431, type_=problem.uri, title=problem.title,
                     detail=_too_large_detail(), instance=None)
    ).encode()
    return (
        f"HTTP/1.1 431 {problem.title}\r\ncontent-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"x-content-type-options: nosniff\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + body


class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing (431) a head over ``MAX_HEADER_BYTES`` while it
    arrives: llhttp itself buffers a header field of any size before handing it over.

    Bytes count towards the head from the end of one message (or the connection's start)
    to the end of the next head; a chunk that ends one message and starts the next is
    not counted for the new head, so a head may pass the limit by at most one read.
    """

    _reading_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (self._reading_head and self._head_bytes > MAX_HEADER_BYTES
                and not self.transport.is_closing()):
            self.transport.write(_head_too_large_answer())
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        super().on_message_complete()


class HeaderCountMiddleware:
    """Refuses (431) a request with more than ``MAX_HEADER_FIELDS`` header fields."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and len(scope.get("headers", ())) > MAX_HEADER_FIELDS:
            problem = PROBLEM_TYPES["headers-too-large"]
            response = problem_response(
                None, status=431, type_=problem.uri, title=problem.title,
                detail=_too_large_detail(), headers={"Connection": "close"},
            )
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def uvicorn_options() -> dict:
    """The options every uvicorn that serves the API runs with (``pxl serve``, tests)."""
    return {
        "http": HeaderLimitedHttpToolsProtocol,
        "proxy_headers": False,  # proxies are trusted only per PXL_TRUSTED_PROXIES (api.security)
    }
