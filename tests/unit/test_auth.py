"""Access tokens: minting, every way a token must be refused, keys, rotation, require_scope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from api import problems
from api.auth import (
    ALL_SCOPES,
    LOCAL_PRINCIPAL,
    InvalidToken,
    Principal,
    SigningKeyMissing,
    bearer_token,
    decode_token,
    ensure_signing_key,
    mint_token,
    principal_from_headers,
    require_scope,
)
from workers.settings import Settings

KEY = "k" * 16 + "0123456789abcdef0123"  # 36 bytes
OTHER_KEY = "z" * 40


def make_settings(**overrides) -> Settings:
    values = {"jwt_secret": KEY, "auth_disabled": False}
    values.update(overrides)
    return Settings(**values)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, claims: dict, key: bytes | None, digest=hashlib.sha256) -> str:
    """A compact JWS built without joserfc, to forge exactly what an attacker would send."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def good_claims(settings: Settings, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": "alice",
        "scope": "jobs:read proofs:write",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


HEADER = {"alg": "HS256", "typ": "at+jwt"}


# --- minting and the happy path ------------------------------------------------------------------


def test_minted_token_round_trips_with_all_claims():
    settings = make_settings()
    token = mint_token("alice", ["jobs:read", "proofs:write"], settings=settings)
    assert decode_token(token, settings) == Principal(
        "alice", frozenset({"jobs:read", "proofs:write"})
    )
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    # RFC 9068 2.2: iss, exp, aud, sub, client_id, iat, jti are required; scope; gen is ours
    assert set(claims) == {"iss", "aud", "sub", "client_id", "scope", "iat", "exp", "jti", "gen"}
    assert claims["client_id"] == claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == settings.token_ttl_seconds == 3600
    assert claims["iss"] == "logos-pxl-core" and claims["aud"] == "pxl-api"


def test_minted_tokens_pass_authlibs_own_rfc9068_validator():
    """An independent check of the token profile: Authlib's resource-server validator."""
    from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
    from joserfc.jwk import OctKey

    settings = make_settings()

    class Validator(JWTBearerTokenValidator):
        def get_jwks(self):
            return OctKey.import_key(KEY.encode())

    validator = Validator(issuer=settings.jwt_issuer, resource_server=settings.jwt_audience)
    token = mint_token("alice", ["jobs:read"], settings=settings)
    claims = validator.authenticate_token(token)
    validator.validate_token(claims, ["jobs:read"], request=None)
    assert claims.header["typ"] == "at+jwt" and claims["client_id"] == "alice"


def test_each_token_has_its_own_jti_and_custom_ttl():
    settings = make_settings()
    a = mint_token("alice", [], ttl=5, settings=settings)
    b = mint_token("alice", [], ttl=5, settings=settings)
    ca, cb = (json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==")) for t in (a, b))
    assert ca["jti"] != cb["jti"]
    assert ca["exp"] - ca["iat"] == 5


def test_mint_refuses_unknown_scopes_and_empty_sub():
    with pytest.raises(ValueError, match="unknown scope"):
        mint_token("alice", ["admin"], settings=make_settings())
    with pytest.raises(ValueError):
        mint_token("", ["jobs:read"], settings=make_settings())


def test_hand_made_token_with_the_right_key_is_accepted():
    # guards the forgery tests below: they differ from this one only in what they break
    settings = make_settings()
    token = hand_made(HEADER, good_claims(settings), KEY.encode())
    assert decode_token(token, settings).sub == "alice"


# --- refusals -------------------------------------------------------------------------------------


def refused(token: str, settings: Settings | None = None) -> str:
    with pytest.raises(InvalidToken) as info:
        decode_token(token, settings or make_settings())
    return str(info.value)


def test_forged_signature_other_key():
    settings = make_settings()
    assert "signature" in refused(hand_made(HEADER, good_claims(settings), OTHER_KEY.encode()))


def test_tampered_claims_keep_old_signature():
    settings = make_settings()
    token = mint_token("alice", ["jobs:read"], settings=settings)
    head, _, sig = token.split(".")
    evil = b64url(json.dumps(good_claims(settings, sub="bob", scope=" ".join(ALL_SCOPES))).encode())
    refused(f"{head}.{evil}.{sig}")


def test_expired():
    settings = make_settings()
    now = int(time.time())
    assert "claims" in refused(
        hand_made(HEADER, good_claims(settings, iat=now - 7200, exp=now - 3600), KEY.encode())
    )


def test_expired_within_leeway_still_accepted_but_not_beyond():
    settings = make_settings()
    now = int(time.time())
    ok = hand_made(HEADER, good_claims(settings, exp=now - 5), KEY.encode())
    assert decode_token(ok, settings).sub == "alice"
    refused(hand_made(HEADER, good_claims(settings, exp=now - 120), KEY.encode()))


def test_a_verified_token_is_honoured_until_it_expires_not_after(monkeypatch):
    # verified claims are cached per token; the cache must not outlive the token
    settings = make_settings()
    now = time.time()
    token = hand_made(HEADER, good_claims(settings, exp=int(now) + 60), KEY.encode())
    assert decode_token(token, settings).sub == "alice"
    assert decode_token(token, settings).sub == "alice"  # from the cache
    monkeypatch.setattr(time, "time", lambda: now + 60 + 120)  # past exp and the leeway
    refused(token, settings)


def test_not_yet_valid_nbf_and_future_iat():
    settings = make_settings()
    later = int(time.time()) + 3600
    refused(hand_made(HEADER, good_claims(settings, nbf=later), KEY.encode()))
    refused(hand_made(HEADER, good_claims(settings, iat=later, exp=later + 60), KEY.encode()))


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
def test_missing_essential_claim(claim):
    settings = make_settings()
    claims = good_claims(settings)
    del claims[claim]
    refused(hand_made(HEADER, claims, KEY.encode()))


@pytest.mark.parametrize(
    "override",
    [{"aud": "someone-else"}, {"aud": ["other", "list"]}, {"iss": "https://evil.example"}],
)
def test_wrong_audience_or_issuer(override):
    settings = make_settings()
    refused(hand_made(HEADER, good_claims(settings, **override), KEY.encode()))


def test_audience_list_containing_ours_is_accepted():
    settings = make_settings()
    token = hand_made(HEADER, good_claims(settings, aud=["other", "pxl-api"]), KEY.encode())
    assert decode_token(token, settings).sub == "alice"


def test_alg_none():
    settings = make_settings()
    for alg in ("none", "None", "NONE"):
        refused(hand_made({"alg": alg, "typ": "at+jwt"}, good_claims(settings), None))


def test_rs256_header_signed_with_the_hmac_key():
    # algorithm confusion: an attacker who knows a public key signs HMAC with it and says RS256
    settings = make_settings()
    token = hand_made({"alg": "RS256", "typ": "at+jwt"}, good_claims(settings), KEY.encode())
    refused(token)


@pytest.mark.parametrize("alg,digest", [("HS384", hashlib.sha384), ("HS512", hashlib.sha512)])
def test_other_hmac_algorithms_refused(alg, digest):
    settings = make_settings()
    refused(hand_made({"alg": alg, "typ": "at+jwt"}, good_claims(settings), KEY.encode(), digest))


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt"])
def test_token_type_must_be_access_token(typ):
    settings = make_settings()
    header = {"alg": "HS256"} if typ is None else {"alg": "HS256", "typ": typ}
    assert "type" in refused(hand_made(header, good_claims(settings), KEY.encode()))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.%%%.xyz", "a" * 5000 + ".b.c"],
)
def test_malformed(token):
    refused(token)


def test_scope_claim_must_be_a_string():
    settings = make_settings()
    refused(hand_made(HEADER, good_claims(settings, scope=["jobs:read"]), KEY.encode()))


# --- keys -------------------------------------------------------------------------------------


def test_no_default_secret_anywhere(monkeypatch):
    for var in ("PXL_JWT_SECRET", "PXL_JWT_SECRET_FILE", "PXL_JWT_PREVIOUS_SECRET"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.jwt_secret is None and settings.jwt_secret_file is None
    with pytest.raises(SigningKeyMissing, match="PXL_JWT_SECRET"):
        ensure_signing_key(settings)
    with pytest.raises(SigningKeyMissing):
        mint_token("alice", [], settings=settings)


def test_short_key_refused_with_remedy():
    with pytest.raises(SigningKeyMissing, match="256 bits"):
        ensure_signing_key(make_settings(jwt_secret="x" * 31))
    assert ensure_signing_key(make_settings(jwt_secret="x" * 32)) == b"x" * 32


def test_key_file(tmp_path):
    path = tmp_path / "jwt.key"
    path.write_text(OTHER_KEY + "\n")
    settings = make_settings(jwt_secret=None, jwt_secret_file=str(path))
    assert ensure_signing_key(settings) == OTHER_KEY.encode()
    token = mint_token("alice", ["jobs:read"], settings=settings)
    assert decode_token(token, settings).sub == "alice"
    refused(token, make_settings())  # signed with the file's key, not KEY
    with pytest.raises(SigningKeyMissing, match="cannot read"):
        ensure_signing_key(make_settings(jwt_secret_file=str(tmp_path / "absent")))


def test_rotation_accepts_previous_key_and_signs_with_the_new_one():
    old = make_settings(jwt_secret=OTHER_KEY)
    old_token = mint_token("alice", ["jobs:read"], settings=old)
    rotating = make_settings(jwt_secret=KEY, jwt_previous_secret=OTHER_KEY)
    assert decode_token(old_token, rotating).sub == "alice"
    new_token = mint_token("alice", ["jobs:read"], settings=rotating)
    assert decode_token(new_token, make_settings(jwt_secret=KEY)).sub == "alice"
    refused(new_token, old)  # not signed with the previous key
    refused(old_token, make_settings(jwt_secret=KEY))  # rotation finished: old tokens die


def test_bearer_token_parsing():
    assert bearer_token(None) is None
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Bearer") == ""


def test_principal_from_headers_never_raises():
    settings = make_settings()
    assert principal_from_headers("Bearer junk", settings) is None
    assert principal_from_headers(None, settings) is None
    token = mint_token("alice", ["jobs:read"], settings=settings)
    assert principal_from_headers(f"Bearer {token}", settings).sub == "alice"
    assert principal_from_headers(None, make_settings(auth_disabled=True)) == LOCAL_PRINCIPAL


# --- require_scope as FastAPI sees it ---------------------------------------------------------


def scope_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings
    problems.install(app)

    @app.get("/read")
    def read(p: Principal = Depends(require_scope("jobs:read"))):
        return {"sub": p.sub, "scopes": sorted(p.scopes)}

    @app.get("/both")
    def both(p: Principal = Depends(require_scope("jobs:read", "metrics:read"))):
        return {"sub": p.sub}

    return app


def test_require_scope_statuses_and_challenges():
    settings = make_settings()
    client = TestClient(scope_app(settings))
    token = mint_token("alice", ["jobs:read"], settings=settings)

    ok = client.get("/read", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json() == {"sub": "alice", "scopes": ["jobs:read"]}

    missing = client.get("/read")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="pxl"'  # no error: none was sent
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 401

    for header in ("Bearer nonsense", "Bearer ", f"Bearer {token}x"):
        bad = client.get("/read", headers={"Authorization": header})
        assert bad.status_code == 401, header
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert bad.headers["content-type"] == "application/problem+json"

    other_scheme = client.get("/read", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert other_scheme.status_code == 401

    lacking = client.get("/both", headers={"Authorization": f"Bearer {token}"})
    assert lacking.status_code == 403
    assert 'error="insufficient_scope"' in lacking.headers["www-authenticate"]
    assert 'scope="jobs:read metrics:read"' in lacking.headers["www-authenticate"]
    assert lacking.json()["status"] == 403


def test_require_scope_uses_the_apps_settings_not_the_environment(monkeypatch):
    monkeypatch.setenv("PXL_JWT_SECRET", OTHER_KEY)
    settings = make_settings()  # KEY
    client = TestClient(scope_app(settings))
    token = mint_token("alice", ["jobs:read"], settings=settings)
    assert client.get("/read", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_auth_disabled_gives_the_local_principal_with_every_scope():
    client = TestClient(scope_app(make_settings(auth_disabled=True, jwt_secret=None)))
    response = client.get("/both")
    assert response.status_code == 200 and response.json() == {"sub": "local"}


def test_require_scope_rejects_unknown_scope_names_at_definition():
    with pytest.raises(ValueError):
        require_scope("jobs:raed")
