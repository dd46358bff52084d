"""HTTP hardening of the app: CORS, security and provenance headers, rate limits, proxy trust.

``install(app, settings)`` is called last in ``create_app`` so its middleware wraps everything
else (outermost first: headers -> CORS -> rate limit -> the app), which puts the security and
provenance headers on every response, 429s, CORS refusals and problem+json errors included.
(Only an unhandled exception's bare 500 from Starlette's outermost error middleware escapes.)

Proxy trust (which address is the client's, whether it used HTTPS) is api.proxies.
"""

from __future__ import annotations

import json

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from api.provenance import provenance_headers
from api.proxies import check_trusted_proxies, request_scheme
from api.ratelimit import RateLimiter, RateLimitMiddleware
from api.routes.auth import router as token_router
from workers.settings import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML pages of the console (served by the API itself, never inline script or style)
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# FastAPI's /docs and /redoc load their bundles from jsDelivr and bootstrap with an inline script
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; connect-src 'self'; worker-src blob:; font-src "
    "https://fonts.gstatic.com; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")

CORS_ALLOW_METHODS = ["GET", "POST", "DELETE", "OPTIONS"]
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Prefer",
    "Last-Event-ID",
    "X-Request-ID",
]
CORS_EXPOSE_HEADERS = [
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "X-Request-ID",
    "X-Build-SHA",
    "X-V4-SHA",
    "X-PXL-Coqchk",
]


# --- headers on every response -----------------------------------------------------------------


def _csp_for(path: str, content_type: str) -> str:
    if path.startswith(DOCS_PATHS):
        return DOCS_CSP
    if content_type.startswith("text/html"):
        return CONSOLE_CSP
    return API_CSP


class SecurityHeadersMiddleware:
    """Adds security and provenance headers to every HTTP response (unless a route set its own)."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.settings = settings
        self.provenance = [
            (k.lower().encode(), v.encode()) for k, v in provenance_headers(settings).items()
        ]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = request_scheme(scope, self.settings) == "https"

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                content_type = next(
                    (v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), ""
                )
                wanted = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", _csp_for(scope["path"], content_type).encode()),
                    *self.provenance,
                ]
                if https:
                    hsts = f"max-age={self.settings.hsts_max_age}; includeSubDomains"
                    wanted.append((b"strict-transport-security", hsts.encode()))
                headers += [(k, v) for k, v in wanted if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with refused preflights answered as problem+json instead of text."""

    def preflight_response(self, request_headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = response.body.decode("utf-8", "replace")
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Bad Request",
                "status": response.status_code,
                "detail": f"CORS preflight refused: {detail}",
            }
        )
        return Response(
            body, status_code=response.status_code, media_type="application/problem+json"
        )


def check_cors_origins(origins: list[str]) -> list[str]:
    for origin in origins:
        if "*" in origin or origin.endswith("/") or "://" not in origin:
            raise ValueError(
                f"PXL_CORS_ORIGINS entry {origin!r}: list exact origins like https://app.example.org "
                "(no wildcard, no path, no trailing slash)"
            )
    return origins


def install(app, settings: Settings) -> None:
    """Add the token route, and the rate limiter, CORS and header middleware as the outermost
    layers of ``app`` (wherever in ``create_app`` this is called)."""
    app.include_router(token_router)  # POST /v1/auth/token
    origins = check_cors_origins(list(settings.cors_origins))
    check_trusted_proxies(settings)
    app.state.rate_limiter = RateLimiter(settings)
    # user_middleware[0] is the outermost layer: headers, then CORS, then the rate limiter
    app.user_middleware[0:0] = [
        Middleware(SecurityHeadersMiddleware, settings=settings),
        Middleware(
            ProblemCORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,  # bearer tokens, no cookies: credentials are never needed
            allow_methods=CORS_ALLOW_METHODS,
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        ),
        Middleware(RateLimitMiddleware, settings=settings, limiter=app.state.rate_limiter),
    ]
