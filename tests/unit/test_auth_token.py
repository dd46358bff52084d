"""The client registry (hashed secrets, webhook secrets) and POST /v1/auth/token (RFC 6749 §4.4)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth import decode_token
from api.routes.auth import router
from workers.clients import (
    MAX_SECRET_HASHES,
    ClientConfigError,
    WebhookSecretMissing,
    authenticate_client,
    hash_secret,
    load_clients,
    parse_clients,
    verify_secret,
    webhook_secret,
)
from workers.settings import Settings

KEY = "s" * 48
ALICE_SECRET = "alice-secret-0123456789"
BOB_SECRET = "bob: secret with spaces & colon"
ALICE_WEBHOOK = "whsec_" + base64.b64encode(b"w" * 32).decode()


@pytest.fixture(scope="module")
def clients_doc() -> dict:
    return {
        "clients": {
            "alice": {
                "secret_hash": hash_secret(ALICE_SECRET),
                "scopes": ["proofs:write", "jobs:read"],
                "webhook_secret": ALICE_WEBHOOK,
            },
            "bob": {"secret_hash": hash_secret(BOB_SECRET), "scopes": "jobs:read"},
        }
    }


@pytest.fixture()
def settings(clients_doc) -> Settings:
    return Settings(jwt_secret=KEY, clients=clients_doc, webhook_master_key="m" * 40)


# --- secrets and the registry ----------------------------------------------------------------


def test_hash_is_salted_and_verifies_in_both_directions():
    a, b = hash_secret("same"), hash_secret("same")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_secret("same", a) and verify_secret("same", b)
    assert not verify_secret("Same", a)
    assert not verify_secret("same", "scrypt$1$1$1$x$y")  # malformed or absurd parameters
    assert not verify_secret("same", "plain")
    assert "same" not in a


def test_parse_clients_validates(clients_doc):
    clients = parse_clients(clients_doc)
    assert clients["bob"].scopes == frozenset({"jobs:read"})
    bad_docs = [
        {},
        {"clients": []},
        {"clients": {"x": {"secret_hash": "plaintext", "scopes": []}}},
        {"clients": {"x": {"secret_hash": hash_secret("s"), "scopes": ["root"]}}},
        {"clients": {"x": {"secret_hash": hash_secret("s"), "webhook_secret": "short"}}},
    ]
    for doc in bad_docs:
        with pytest.raises(ClientConfigError):
            parse_clients(doc)


def test_clients_file_yaml_and_env_override(tmp_path, clients_doc):
    import yaml

    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump(clients_doc))
    from_file = load_clients(Settings(clients_file=str(path)))
    assert set(from_file) == {"alice", "bob"}
    override = {"clients": {"bob": {"secret_hash": hash_secret("x"), "scopes": ["metrics:read"]}}}
    merged = load_clients(Settings(clients_file=str(path), clients=override))
    assert merged["bob"].scopes == frozenset({"metrics:read"}) and "alice" in merged
    # changing the file is seen without a restart
    path.write_text(json.dumps({"clients": {}}))
    assert load_clients(Settings(clients_file=str(path))) == {}
    json_path = tmp_path / "clients.json"
    json_path.write_text(json.dumps(clients_doc))
    assert set(load_clients(Settings(clients_file=str(json_path)))) == {"alice", "bob"}
    with pytest.raises(ClientConfigError):
        load_clients(Settings(clients_file=str(tmp_path / "missing.yaml")))


def test_authenticate_client(settings):
    assert authenticate_client("alice", ALICE_SECRET, settings).id == "alice"
    assert authenticate_client("alice", BOB_SECRET, settings) is None
    assert authenticate_client("mallory", ALICE_SECRET, settings) is None


def test_a_client_rotating_its_secret_may_list_two_hashes():
    doc = {
        "clients": {"dan": {"secret_hash": [hash_secret("old-secret"), hash_secret("new-secret")]}}
    }
    rotating = Settings(clients=doc)
    assert authenticate_client("dan", "old-secret", rotating).id == "dan"
    assert authenticate_client("dan", "new-secret", rotating).id == "dan"
    assert authenticate_client("dan", "other-secret", rotating) is None
    with pytest.raises(ClientConfigError):
        parse_clients({"clients": {"dan": {"secret_hash": []}}})


def test_webhook_secrets_are_per_client(settings):
    assert webhook_secret("alice", settings) == ALICE_WEBHOOK
    bob, carol = webhook_secret("bob", settings), webhook_secret("carol", settings)
    assert bob.startswith("whsec_") and len(base64.b64decode(bob[6:])) == 32
    assert bob != carol and bob != ALICE_WEBHOOK
    assert webhook_secret("bob", settings) == bob  # stable (replicas and restarts agree)
    other_master = settings.model_copy(update={"webhook_master_key": "n" * 40})
    assert webhook_secret("bob", other_master) != bob


def test_no_default_webhook_secret(settings):
    for master in (None, "too-short"):
        no_master = settings.model_copy(update={"webhook_master_key": master})
        with pytest.raises(WebhookSecretMissing, match="PXL_WEBHOOK_MASTER_KEY"):
            webhook_secret("bob", no_master)
        assert webhook_secret("alice", no_master) == ALICE_WEBHOOK  # configured secrets still work


# --- the endpoint -------------------------------------------------------------------------------


@pytest.fixture()
def client(settings) -> TestClient:
    app = FastAPI()
    app.state.settings = settings
    app.include_router(router)
    return TestClient(app)


def basic(client_id: str, secret: str) -> dict:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_basic_auth_grant_with_all_client_scopes(client, settings):
    response = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic("alice", ALICE_SECRET),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "proofs:write jobs:read"
    assert response.headers["cache-control"] == "no-store"
    principal = decode_token(body["access_token"], settings)
    assert principal.sub == "alice" and principal.scopes == {"proofs:write", "jobs:read"}


def test_form_credentials_and_scope_subset(client, settings):
    response = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "alice",
            "client_secret": ALICE_SECRET,
            "scope": "jobs:read",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "jobs:read"
    assert decode_token(response.json()["access_token"], settings).scopes == {"jobs:read"}


def test_basic_credentials_are_form_urldecoded(client):
    response = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic("bob", BOB_SECRET),
    )
    assert response.status_code == 200, response.text


def oauth_error(response, status: int, error: str):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_wrong_secret_and_unknown_client_are_invalid_client_401(client):
    for headers in (basic("alice", "wrong"), basic("mallory", ALICE_SECRET)):
        response = client.post(
            "/v1/auth/token", data={"grant_type": "client_credentials"}, headers=headers
        )
        oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic realm=")
    no_credentials = client.post("/v1/auth/token", data={"grant_type": "client_credentials"})
    oauth_error(no_credentials, 401, "invalid_client")
    garbage = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!"},
    )
    oauth_error(garbage, 401, "invalid_client")


def test_scope_outside_the_clients_is_invalid_scope(client):
    for scope in ("metrics:read", "jobs:read admin", ""):
        response = client.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            headers=basic("bob", BOB_SECRET),
        )
        oauth_error(response, 400, "invalid_scope")


def test_grant_type_errors(client):
    for data, error in (
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
    ):
        response = client.post("/v1/auth/token", data=data, headers=basic("alice", ALICE_SECRET))
        oauth_error(response, 400, error)


def test_request_shape_errors(client):
    both = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "alice", "client_secret": "x"},
        headers=basic("alice", ALICE_SECRET),
    )
    oauth_error(both, 400, "invalid_request")
    as_json = client.post(
        "/v1/auth/token",
        json={"grant_type": "client_credentials"},
        headers=basic("alice", ALICE_SECRET),
    )
    oauth_error(as_json, 400, "invalid_request")
    repeated = client.post(
        "/v1/auth/token",
        content="grant_type=client_credentials&scope=jobs:read&scope=proofs:write",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **basic("alice", ALICE_SECRET),
        },
    )
    oauth_error(repeated, 400, "invalid_request")
    huge = client.post(
        "/v1/auth/token",
        content="grant_type=client_credentials&pad=" + "x" * 10_000,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **basic("alice", ALICE_SECRET),
        },
    )
    oauth_error(huge, 400, "invalid_request")


# --- token hygiene (issue 10, finding 7) ---------------------------------------------------------


def test_authentication_runs_the_same_scrypt_checks_for_every_client(monkeypatch):
    """Unknown client, one hash, two hashes (rotation), right or wrong secret: same work."""
    import hashlib

    doc = {
        "clients": {
            "one": {"secret_hash": hash_secret("one-secret")},
            "two": {"secret_hash": [hash_secret("old-secret"), hash_secret("new-secret")]},
        }
    }
    rotating = Settings(clients=doc)
    calls = []
    real_scrypt = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real_scrypt(*a, **k))
    counts = {}
    for client_id, secret in [
        ("nobody", "one-secret"),
        ("one", "one-secret"),
        ("one", "wrong"),
        ("two", "old-secret"),
        ("two", "wrong"),
    ]:
        calls.clear()
        authenticate_client(client_id, secret, rotating)
        counts[client_id, secret] = len(calls)
    assert set(counts.values()) == {MAX_SECRET_HASHES}, counts
    with pytest.raises(ClientConfigError, match="at most"):
        parse_clients({"clients": {"x": {"secret_hash": [hash_secret("s")] * 3}}})


def test_disabled_client_gets_no_token(settings, clients_doc):
    doc = {"clients": {**clients_doc["clients"], "bob": {
        **clients_doc["clients"]["bob"], "disabled": True}}}
    assert authenticate_client("bob", BOB_SECRET, Settings(clients=doc)) is None
    assert authenticate_client("bob", BOB_SECRET, settings).id == "bob"


def test_tokens_of_removed_disabled_or_bumped_clients_are_refused_from_the_next_request(tmp_path):
    from api.auth import InvalidToken, mint_token

    path = tmp_path / "clients.json"

    def configure(**bob) -> Settings:
        entry = {"secret_hash": hash_secret(BOB_SECRET), "scopes": ["jobs:read"], **bob}
        clients = {"alice": {"secret_hash": hash_secret(ALICE_SECRET)}, "bob": entry}
        if bob.get("removed"):
            del clients["bob"]
        path.write_text(json.dumps({"clients": clients}))
        return Settings(jwt_secret=KEY, clients_file=str(path))

    settings = configure()
    token = mint_token("bob", ["jobs:read"], settings=settings)
    assert decode_token(token, settings).sub == "bob"
    with pytest.raises(InvalidToken, match="not configured"):
        decode_token(mint_token("mallory", ["jobs:read"], settings=settings), settings)
    for change, reason in (
        ({"disabled": True}, "disabled"),
        ({"removed": True}, "not configured"),
        ({"generation": 1}, "revoked"),
    ):
        settings = configure(**change)
        with pytest.raises(InvalidToken, match=reason):
            decode_token(token, settings)
    # a token minted at the new generation is honoured
    assert decode_token(mint_token("bob", ["jobs:read"], settings=settings), settings).sub == "bob"
    # a configuration that cannot be read refuses rather than admits
    path.write_text("{not json")
    with pytest.raises(InvalidToken, match="registry"):
        decode_token(token, settings)


def test_pxl_token_refuses_an_unconfigured_client_unless_forced(tmp_path, monkeypatch, capsys):
    from api.cli import main
    from workers.settings import get_settings

    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": {"alice": {"secret_hash": hash_secret("s" * 16)}}}))
    monkeypatch.setenv("PXL_JWT_SECRET", KEY)
    monkeypatch.setenv("PXL_CLIENTS_FILE", str(path))
    get_settings.cache_clear()
    try:
        assert main(["token", "--client", "mallory"]) == 2
        assert "not configured" in capsys.readouterr().err
        assert main(["token", "--client", "mallory", "--force"]) == 0
        assert main(["token", "--client", "alice"]) == 0
        tokens = capsys.readouterr().out.split()
        assert len(tokens) == 2 and decode_token(tokens[1]).sub == "alice"
    finally:
        get_settings.cache_clear()
