"""How the API is served: the uvicorn options, with limits on request headers.

Without a limit, uvicorn's default HTTP parser (httptools) reads a header of any size: one
unauthenticated request with a 200 MB header took 60 s and 340 MB of API memory (issue 10).
The head of a request (request line and header fields) is therefore limited to
``MAX_HEADER_BYTES`` by h11 as it reads (``h11_max_incomplete_event_size``), and a request with
more than ``MAX_HEADER_FIELDS`` fields is refused by ``HeaderCountMiddleware``; both answer
``431 Request Header Fields Too Large`` with the ``headers-too-large`` problem and close.
A real client sends about 1 KiB: a bearer token is under 1 KiB, browsers send ~20 fields.
"""

from __future__ import annotations

import json
import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, problem_body, problem_response

MAX_HEADER_BYTES = 32 * 1024  # request line + every header field, as received
MAX_HEADER_FIELDS = 100


def _too_large_detail() -> str:
    return (
        f"The request head exceeds {MAX_HEADER_BYTES} bytes or {MAX_HEADER_FIELDS} header "
        "fields; send fewer or shorter headers."
    )


class HeaderLimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a head over the size limit with 431 instead of 400.

    h11 raises ``RemoteProtocolError(error_status_hint=431)`` once the unparsed head passes
    ``h11_max_incomplete_event_size``; uvicorn answers every protocol error with a bare 400
    from ``send_400_response``, called while that exception is handled.
    """

    def send_400_response(self, msg: str) -> None:
        exc = sys.exc_info()[1]
        if not (isinstance(exc, h11.RemoteProtocolError) and exc.error_status_hint == 431):
            return super().send_400_response(msg)
        problem = PROBLEM_TYPES["headers-too-large"]
        body = json.dumps(
            problem_body(status=431, type_=problem.uri, title=problem.title,
                         detail=_too_large_detail(), instance=None)
        ).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=431, headers=headers, reason=problem.title.encode()),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


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
        "http": HeaderLimitedH11Protocol,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "proxy_headers": False,  # proxies are trusted only per PXL_TRUSTED_PROXIES (api.security)
    }
