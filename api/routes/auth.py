"""POST /v1/auth/token: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).

The client authenticates with HTTP Basic (RFC 6749 §2.3.1, preferred) or with ``client_id`` and
``client_secret`` in the form body, never both. Errors use the OAuth error response of RFC 6749
§5.2 (``{"error": ..., "error_description": ...}``), which is what OAuth client libraries parse,
rather than problem+json.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qsl, unquote_plus

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from api.auth import mint_token
from workers.clients import ALL_SCOPES, authenticate_client
from workers.settings import Settings, get_settings

router = APIRouter(prefix="/v1", tags=["auth"])

MAX_FORM_BYTES = 4096
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400, basic: bool = False):
        super().__init__(description)
        self.error, self.description, self.status, self.basic = error, description, status, basic


def _oauth_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**NO_STORE, **(headers or {})},
    )


def _error_response(exc: OAuthError) -> Response:
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="pxl", charset="UTF-8"'
    body = {"error": exc.error, "error_description": exc.description}
    return _oauth_response(body, exc.status, headers)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "client authentication must use HTTP Basic", 401)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding
    return unquote_plus(client_id), unquote_plus(secret)


async def _read_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send application/x-www-form-urlencoded parameters")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", f"the form exceeds {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form is not valid UTF-8 urlencoded") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.1: parameters MUST NOT be included more than once
            raise OAuthError("invalid_request", f"parameter {name!r} repeated")
        form[name] = value
    return form


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


async def _issue(request: Request) -> Response:
    settings = _settings(request)
    basic = _basic_credentials(request.headers.get("authorization"))
    form = await _read_form(request)
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is offered")
    in_form = "client_id" in form or "client_secret" in form
    if basic and in_form:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    if not client_id or not secret:
        raise OAuthError("invalid_client", "client authentication required", 401)
    client = await anyio.to_thread.run_sync(authenticate_client, client_id, secret, settings)
    if client is None:
        raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
    requested = form.get("scope")
    if requested is None:
        scopes = [s for s in ALL_SCOPES if s in client.scopes]
    else:
        scopes = list(dict.fromkeys(requested.split()))
        refused = [s for s in scopes if s not in client.scopes]
        if refused or not scopes:
            raise OAuthError(
                "invalid_scope", f"scope not granted to this client: {' '.join(refused)}"
            )
    if not scopes:
        raise OAuthError("invalid_scope", "this client has no scopes")
    token = mint_token(client.id, scopes, settings=settings)
    return _oauth_response(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": settings.token_ttl_seconds,
            "scope": " ".join(scopes),
        }
    )


TOKEN_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {"type": "string", "description": "space-separated subset of the client's scopes"},
        "client_id": {"type": "string", "description": "when not using HTTP Basic"},
        "client_secret": {"type": "string", "description": "when not using HTTP Basic"},
    },
}
TOKEN_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
        "scope": {"type": "string"},
    },
}
OAUTH_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "invalid_request",
                "invalid_client",
                "unsupported_grant_type",
                "invalid_scope",
            ],
        },
        "error_description": {"type": "string"},
    },
}


@router.post(
    "/auth/token",
    summary="Get an access token (OAuth 2.0 client credentials)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": TOKEN_REQUEST_SCHEMA}},
        },
    },
    responses={
        200: {
            "description": "A bearer access token (HS256 JWT).",
            "content": {"application/json": {"schema": TOKEN_RESPONSE_SCHEMA}},
        },
        400: {
            "description": "RFC 6749 §5.2: invalid_request, unsupported_grant_type, invalid_scope.",
            "content": {"application/json": {"schema": OAUTH_ERROR_SCHEMA}},
        },
        401: {
            "description": "RFC 6749 §5.2: invalid_client (unknown client or wrong secret).",
            "content": {"application/json": {"schema": OAUTH_ERROR_SCHEMA}},
        },
    },
)
async def token(request: Request) -> Response:
    try:
        return await _issue(request)
    except OAuthError as exc:
        return _error_response(exc)
