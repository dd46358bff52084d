"""Bearer-token authentication and scopes: HS256 JWT access tokens (joserfc).

Routes declare what they need with ``Depends(require_scope("proofs:write"))`` and receive the
caller's ``Principal``; job ownership is ``principal.sub``.

Validation follows RFC 8725 (JWT best practice): the algorithm is pinned to HS256 (``none``,
RS256 and every other header value are refused before any key is used), the header must say
``typ: at+jwt`` (RFC 9068, so no other kind of JWT signed with the same key passes), and
``exp``, ``iss``, ``aud``, ``sub`` are essential claims checked with a small leeway. During a
key rotation tokens signed with ``jwt_previous_secret`` are accepted too; new tokens are always
signed with the current key. There is no default key anywhere: see ``ensure_signing_key``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPBearer
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey

from workers.clients import (
    ALL_SCOPES,
    ClientConfigError,
    client_generation,
    token_refusal,
)
from workers.settings import Settings, get_settings

__all__ = ["ALL_SCOPES", "Principal", "mint_token", "require_scope", "ensure_signing_key"]
ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 access-token media type, checked on every token
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key has at least 256 bits
LEEWAY_SECONDS = 30  # clock skew tolerated on exp / nbf / iat
REALM = "pxl"


@dataclass(frozen=True)
class Principal:
    sub: str
    scopes: frozenset[str]


LOCAL_PRINCIPAL = Principal(sub="local", scopes=frozenset(ALL_SCOPES))


class SigningKeyMissing(RuntimeError):
    """No usable JWT signing key is configured (and auth is not disabled)."""


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or not meant for this service."""


class AuthError(HTTPException):
    """A 401/403 with its RFC 6750 ``WWW-Authenticate`` challenge.

    The problem+json handler renders it (``title``/``type`` are read from the exception)."""

    def __init__(
        self, status_code: int, detail: str, error: str | None, title: str, scope: str = ""
    ):
        challenge = f'Bearer realm="{REALM}"'
        if error:
            challenge += f', error="{error}", error_description="{_quote(detail)}"'
        if scope:
            challenge += f', scope="{scope}"'
        super().__init__(status_code, detail, headers={"WWW-Authenticate": challenge})
        self.error = error
        self.title = title
        self.type = "about:blank"


def _quote(text: str) -> str:
    # error_description is a quoted-string limited to printable ASCII without '"' and '\'
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


# --- keys -------------------------------------------------------------------------------------


def _key_bytes(value: str | None, file: str | None, what: str) -> bytes | None:
    if file:
        try:
            raw = Path(file).read_bytes().strip()
        except OSError as exc:
            raise SigningKeyMissing(f"cannot read {what} file {file!r}: {exc.strerror}") from None
    elif value:
        raw = value.strip().encode("utf-8")
    else:
        return None
    if len(raw) < MIN_KEY_BYTES:
        raise SigningKeyMissing(
            f"{what} is {len(raw)} bytes; HS256 needs at least {MIN_KEY_BYTES} bytes (256 bits). "
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return raw


def ensure_signing_key(settings: Settings | None = None) -> bytes:
    """The current signing key (from PXL_JWT_SECRET_FILE, else PXL_JWT_SECRET).

    Raises ``SigningKeyMissing`` with a remedy when none is set or it is shorter than 256 bits
    (also when auth is disabled, since then no token should be minted at all)."""
    settings = settings or get_settings()
    key = _key_bytes(settings.jwt_secret, settings.jwt_secret_file, "the JWT signing key")
    if key is None:
        raise SigningKeyMissing(
            "no JWT signing key: set PXL_JWT_SECRET (at least 32 random bytes) or "
            "PXL_JWT_SECRET_FILE (a file holding it); for local experiments only, "
            "PXL_AUTH_DISABLED=true turns authentication off"
        )
    return key


@lru_cache(maxsize=8)
def _verification_keys(secret: str | None, file: str | None, previous: str | None) -> tuple:
    keys = [OctKey.import_key(_key_bytes(secret, file, "the JWT signing key") or b"")]
    old = _key_bytes(previous, None, "PXL_JWT_PREVIOUS_SECRET")
    if old is not None:
        keys.append(OctKey.import_key(old))
    return tuple(keys)


def _keys_for(settings: Settings) -> tuple:
    ensure_signing_key(settings)
    return _verification_keys(
        settings.jwt_secret, settings.jwt_secret_file, settings.jwt_previous_secret
    )


# --- tokens -----------------------------------------------------------------------------------


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator (header ``typ: at+jwt``; claims iss, exp, aud, sub,
    client_id, iat, jti, scope) for this service: HS256 with the current signing key, our
    audience, a random ``jti``, and ``gen`` (the client's generation, see workers.clients)."""

    def __init__(self, settings: Settings, ttl: int | None = None):
        lifetime = int(ttl if ttl is not None else settings.token_ttl_seconds)
        super().__init__(settings.jwt_issuer, alg=ALGORITHM,
                         expires_generator=lambda _client, _grant: lifetime)
        self.settings = settings

    def get_jwks(self) -> OctKey:
        return OctKey.import_key(ensure_signing_key(self.settings))

    def get_audiences(self, client, user, scope) -> str:
        return self.settings.jwt_audience

    def get_jti(self, client, grant_type, user, scope) -> str:
        return uuid.uuid4().hex

    def get_extra_claims(self, client, grant_type, user, scope) -> dict:
        return {"gen": client_generation(client.get_client_id(), self.settings)}


@dataclass(frozen=True)
class TokenClient:
    """The client a token is issued to, as Authlib's generator asks for it."""

    client_id: str

    def get_client_id(self) -> str:
        return self.client_id


def mint_token(
    sub: str,
    scopes: Iterable[str],
    *,
    ttl: int | None = None,
    settings: Settings | None = None,
) -> str:
    """A signed access token for client ``sub`` with ``scopes`` (space-separated in ``scope``)."""
    settings = settings or get_settings()
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; known: {' '.join(ALL_SCOPES)}")
    if not sub:
        raise ValueError("sub must be a non-empty client id")
    generator = AccessTokenGenerator(settings, ttl)
    return generator.access_token_generator(
        TokenClient(sub), "client_credentials", None, " ".join(scopes)
    )


# Verified claims by token, kept until the token's ``exp``: a client sends the same token for
# its whole lifetime, and the signature check and claim validation cost more than the rest of
# the auth dependency (the rate limiter and the route both authenticate every request).  What
# can revoke a token before ``exp`` is not cached: ``token_refusal`` (the client registry,
# re-read when it changes) runs on every request; a new key or issuer is a new cache key.
_VERIFIED_MAX = 4096
_verified: dict[tuple, tuple[float, dict]] = {}


def _verified_claims(token: str, settings: Settings) -> dict:
    """The token's validated claims (signature, header, essential claims), cached until exp."""
    cache_key = (token, settings.jwt_secret, settings.jwt_secret_file,
                 settings.jwt_previous_secret, settings.jwt_issuer, settings.jwt_audience)
    hit = _verified.get(cache_key)
    now = time.time()
    if hit is not None and now < hit[0]:
        return hit[1]
    claims = _validate(token, settings)
    if len(_verified) >= _VERIFIED_MAX:
        for key, (exp, _claims) in list(_verified.items()):
            if exp <= now:
                _verified.pop(key, None)
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
    _verified[cache_key] = (float(claims["exp"]), claims)
    return claims


def _validate(token: str, settings: Settings) -> dict:
    if not token or token.count(".") != 2:
        raise InvalidToken("the token is not a compact JWS")
    decoded = None
    for key in _keys_for(settings):
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
            break
        except BadSignatureError:
            error = "the signature does not verify"
        except (JoseError, ValueError, TypeError):  # undecodable base64 / JSON inside the token
            error = "the token is malformed"
    if decoded is None:
        # our words, not the JOSE library's exception names (they only describe our internals)
        raise InvalidToken(error)
    if decoded.header.get("typ") != TOKEN_TYPE:
        raise InvalidToken(f"token type must be {TOKEN_TYPE}")
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": settings.jwt_issuer},
        aud={"essential": True, "value": settings.jwt_audience},
        sub={"essential": True},
        exp={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise InvalidToken(f"claims rejected: {exc.description or exc.error}") from None
    claims = decoded.claims
    scope = claims.get("scope", "")
    if not isinstance(scope, str) or not isinstance(claims["sub"], str) or not claims["sub"]:
        raise InvalidToken("claims rejected: scope must be a string and sub non-empty")
    if not isinstance(claims["exp"], int | float):
        raise InvalidToken("claims rejected: exp must be a number")
    return claims


def decode_token(token: str, settings: Settings | None = None) -> Principal:
    """Verify signature, header and claims; the caller, or ``InvalidToken`` saying why not."""
    settings = settings or get_settings()
    claims = _verified_claims(token, settings)
    try:
        refusal = token_refusal(claims["sub"], claims.get("gen", 0), settings)
    except ClientConfigError:
        refusal = "the client registry cannot be read; ask the operator"
    if refusal:
        raise InvalidToken(refusal)
    return Principal(sub=claims["sub"], scopes=frozenset(claims.get("scope", "").split()))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; None when there is no bearer header.

    A ``Bearer`` header with an empty or blank value yields ``""`` (malformed, not missing)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def principal_from_headers(authorization: str | None, settings: Settings) -> Principal | None:
    """The caller when the header carries a valid token, else None (never raises for bad tokens).

    The rate limiter uses it to key by client; routes use ``require_scope``."""
    if settings.auth_disabled:
        return LOCAL_PRINCIPAL
    token = bearer_token(authorization)
    if not token:
        return None
    try:
        return decode_token(token, settings)
    except InvalidToken:
        return None


# --- the FastAPI dependency ------------------------------------------------------------------

_bearer_scheme = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="Access token from POST /v1/auth/token"
)


def authenticate(request: Request, settings: Settings) -> Principal:
    """The caller of ``request`` or a 401 ``AuthError``."""
    if settings.auth_disabled:
        return LOCAL_PRINCIPAL
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise AuthError(401, "a bearer access token is required", None, "Unauthorized")
    try:
        return decode_token(token, settings)
    except InvalidToken as exc:
        raise AuthError(
            401, f"invalid access token: {exc}", "invalid_token", "Unauthorized"
        ) from None


def _settings_of(request: Request) -> Settings:
    # the app's own settings when create_app stored them (tests run apps with different ones)
    return getattr(request.app.state, "settings", None) or get_settings()


def require_scope(*scopes: str):
    """A FastAPI dependency returning the caller, or raising 401 (no/invalid token) or 403
    (the token lacks one of ``scopes``; all of them are required)."""
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown}")

    # async: a token check is microseconds of CPU, less than the thread hop FastAPI makes
    # for a sync dependency
    async def dependency(request: Request, _creds=Security(_bearer_scheme)) -> Principal:
        principal = authenticate(request, _settings_of(request))
        missing = [s for s in scopes if s not in principal.scopes]
        if missing:
            raise AuthError(
                403,
                f"the access token lacks the scope {' '.join(missing)}",
                "insufficient_scope",
                "Forbidden",
                scope=" ".join(scopes),
            )
        return principal

    return dependency
