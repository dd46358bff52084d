"""The client registry: who may get a token, with which scopes, and each client's webhook secret.

Clients come from ``settings.clients_file`` (YAML or JSON) and ``PXL_CLIENTS`` (the same document
as JSON; its entries override the file's)::

    clients:
      alice:
        secret_hash: "scrypt$16384$8$1$<salt b64>$<hash b64>"   # pxl token --hash-secret
        # (a list of two is accepted too: old and new secret while a client rotates it)
        scopes: [proofs:write, overlays:write, jobs:read]
        webhook_secret: "whsec_<base64 of 24..64 random bytes>"   # optional
        previous_webhook_secret: "whsec_…"   # optional, while receivers switch to the new one
        disabled: false     # optional: true refuses its secret and every token it holds
        generation: 0       # optional: raise it to revoke every token minted before

Client secrets are stored only as salted scrypt hashes and compared in constant time; every
authentication runs exactly ``MAX_SECRET_HASHES`` scrypt checks (padded with a dummy hash), so
an unknown client, a client with one hash and one rotating with two all cost the same.

When a registry is configured, a token is honoured only while its ``sub`` is a configured,
enabled client whose ``generation`` is not above the token's ``gen`` (``token_refusal``); the
file is re-read when it changes, so removing, disabling or bumping a client takes effect from
the next request.  With no registry at all, tokens come only from ``pxl token`` (operators) and
any ``sub`` is honoured.

Webhook secrets (Standard Webhooks ``whsec_…``) are per client: a client's configured
``webhook_secret`` if any, else one derived as HMAC-SHA256(``settings.webhook_master_key``,
"pxl-webhook-secret/v1:" + client id) — stable across restarts and replicas, different for every
client, and never a built-in default: without either, ``WebhookSecretMissing`` is raised (the
sender then refuses to deliver unsigned). Lives in ``workers`` because the webhook sender signs.

Rotation (``webhook_secrets``): while a client's ``previous_webhook_secret`` is configured (or,
for derived secrets, ``settings.webhook_previous_master_key`` is set), every callback carries
two signatures, the current secret's first, so a receiver may switch at any moment of the
window (Standard Webhooks allows several space-separated signatures).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from workers.settings import Settings, get_settings

# The scopes a token can carry (api.auth re-exports them; here because workers must not import api).
ALL_SCOPES = ("proofs:write", "overlays:write", "jobs:read", "metrics:read")

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MiB, tens of ms per check
SCRYPT_DKLEN = 32
MAX_SECRET_HASHES = 2  # the old and the new secret while a client rotates it
WEBHOOK_SECRET_PREFIX = "whsec_"
MIN_MASTER_KEY_BYTES = 32
_DERIVATION_LABEL = b"pxl-webhook-secret/v1:"


class ClientConfigError(ValueError):
    """The clients file or PXL_CLIENTS is unreadable or malformed."""


class WebhookSecretMissing(LookupError):
    """Neither a configured webhook secret nor a webhook master key to derive one."""


@dataclass(frozen=True)
class Client:
    id: str
    secret_hashes: tuple[str, ...]
    scopes: frozenset[str]
    webhook_secret: str | None = None
    disabled: bool = False
    generation: int = 0  # tokens minted with a lower ``gen`` are refused
    previous_webhook_secret: str | None = None  # signs too, during a rotation


# --- secret hashing -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for a client secret (what goes into ``secret_hash``)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, encoded: str) -> bool:
    """Constant-time check of ``secret`` against a ``hash_secret`` string (False if malformed)."""
    try:
        algo, n, r, p, salt_b64, hash_b64 = encoded.split("$")
        if algo != "scrypt":
            return False
        n_, r_, p_ = int(n), int(r), int(p)
        if not (2**10 <= n_ <= 2**20 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        actual = hashlib.scrypt(
            secret.encode("utf-8"),
            salt=salt,
            n=n_,
            r=r_,
            p=p_,
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# a well-formed hash of nothing anyone knows: unknown client ids cost the same time as known ones
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(16))


# --- registry -----------------------------------------------------------------------------------


def load_clients(settings: Settings | None = None) -> dict[str, Client]:
    """All configured clients by id (the file first, then PXL_CLIENTS over it).

    Re-read when the file changes (its mtime), so adding a client needs no restart."""
    settings = settings or get_settings()
    mtime = None
    if settings.clients_file:
        try:
            stat = Path(settings.clients_file).stat()
            mtime = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            mtime = None
    inline = json.dumps(settings.clients, sort_keys=True) if settings.clients else None
    return _load_clients(settings.clients_file, mtime, inline)


@lru_cache(maxsize=4)
def _load_clients(
    clients_file: str | None, _changed: tuple | None, inline: str | None
) -> dict[str, Client]:
    clients: dict[str, Client] = {}
    if clients_file:
        path = Path(clients_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ClientConfigError(f"cannot read clients file {path}: {exc.strerror}") from None
        try:
            if path.suffix in (".yaml", ".yml"):
                doc = yaml.safe_load(text)
            else:
                doc = json.loads(text)
        except ValueError as exc:
            raise ClientConfigError(f"{path}: {exc}") from None
        clients.update(parse_clients(doc, str(path)))
    if inline:
        clients.update(parse_clients(json.loads(inline), "PXL_CLIENTS"))
    return clients


def parse_clients(doc: object, source: str = "clients") -> dict[str, Client]:
    if not isinstance(doc, dict) or not isinstance(doc.get("clients"), dict):
        raise ClientConfigError(f"{source}: expected {{'clients': {{<id>: {{...}}}}}}")
    out: dict[str, Client] = {}
    for client_id, entry in doc["clients"].items():
        where = f"{source}: client {client_id!r}"
        if not isinstance(client_id, str) or not client_id or not isinstance(entry, dict):
            raise ClientConfigError(f"{where}: an id must map to a mapping")
        hashes = entry.get("secret_hash")
        hashes = [hashes] if isinstance(hashes, str) else hashes
        if (
            not isinstance(hashes, list)
            or not hashes
            or not all(isinstance(h, str) and h.startswith("scrypt$") for h in hashes)
        ):
            raise ClientConfigError(
                f"{where}: secret_hash must come from `pxl token --hash-secret`"
            )
        if len(hashes) > MAX_SECRET_HASHES:
            raise ClientConfigError(
                f"{where}: at most {MAX_SECRET_HASHES} secret hashes (old and new while rotating)"
            )
        disabled = entry.get("disabled", False)
        generation = entry.get("generation", 0)
        if not isinstance(disabled, bool):
            raise ClientConfigError(f"{where}: disabled must be true or false")
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise ClientConfigError(f"{where}: generation must be a natural number")
        scopes = entry.get("scopes", [])
        if isinstance(scopes, str):
            scopes = scopes.split()
        unknown = [s for s in scopes if s not in ALL_SCOPES]
        if not isinstance(scopes, list) or unknown:
            raise ClientConfigError(f"{where}: unknown scopes {unknown}; known: {ALL_SCOPES}")
        webhook = entry.get("webhook_secret")
        previous = entry.get("previous_webhook_secret")
        for value in (webhook, previous):
            if value is not None:
                _check_webhook_secret(value, where)
        out[client_id] = Client(
            client_id, tuple(hashes), frozenset(scopes), webhook, disabled, generation, previous
        )
    return out


def _check_webhook_secret(value: object, where: str) -> None:
    try:
        ok = isinstance(value, str) and value.startswith(WEBHOOK_SECRET_PREFIX)
        ok = (
            ok
            and 24
            <= len(base64.b64decode(value[len(WEBHOOK_SECRET_PREFIX) :], validate=True))
            <= 64
        )
    except ValueError:
        ok = False
    if not ok:
        raise ClientConfigError(f"{where}: webhook_secret must be whsec_<base64 of 24..64 bytes>")


def authenticate_client(
    client_id: str, secret: str, settings: Settings | None = None
) -> Client | None:
    """The enabled client whose secret ``secret`` is, else None (same cost in every case)."""
    client = load_clients(settings).get(client_id)
    hashes = client.secret_hashes if client else ()
    # Always MAX_SECRET_HASHES checks, no short cut: the time taken says nothing about
    # whether the client exists or how many secrets it has.
    padded = (*hashes, *[_DUMMY_HASH] * (MAX_SECRET_HASHES - len(hashes)))
    matches = [verify_secret(secret, encoded) for encoded in padded]
    ok = any(matches[: len(hashes)])
    return client if (client and ok and not client.disabled) else None


def client_refusal(sub: str, settings: Settings | None = None) -> str | None:
    """Why tokens of ``sub`` are not honoured (not configured, disabled), or None.

    Always None without a client registry (see the module docstring); raises
    ClientConfigError when the registry cannot be read.
    """
    clients = load_clients(settings)
    if not clients:
        return None
    client = clients.get(sub)
    if client is None:
        return "the client is not configured"
    if client.disabled:
        return "the client is disabled"
    return None


def token_refusal(sub: str, generation: object, settings: Settings | None = None) -> str | None:
    """Why a token of ``sub`` minted at ``generation`` is no longer honoured, or None."""
    refusal = client_refusal(sub, settings)
    if refusal:
        return refusal
    client = load_clients(settings).get(sub)
    if client and (not isinstance(generation, int) or generation < client.generation):
        return "the token was revoked (minted before the client's current generation)"
    return None


def client_generation(sub: str, settings: Settings | None = None) -> int:
    """The generation a token minted now for ``sub`` carries (0 for an unconfigured client)."""
    client = load_clients(settings).get(sub)
    return client.generation if client else 0


# --- webhook secrets ---------------------------------------------------------------------------


def webhook_secret(client_id: str, settings: Settings | None = None) -> str:
    """The Standard Webhooks signing secret (``whsec_<base64>``) for ``client_id``'s callbacks."""
    settings = settings or get_settings()
    client = load_clients(settings).get(client_id)
    if client and client.webhook_secret:
        return client.webhook_secret
    master = (settings.webhook_master_key or "").encode("utf-8")
    if len(master) < MIN_MASTER_KEY_BYTES:
        raise WebhookSecretMissing(
            f"no webhook secret for client {client_id!r}: configure its webhook_secret or set "
            f"PXL_WEBHOOK_MASTER_KEY (at least {MIN_MASTER_KEY_BYTES} random bytes)"
        )
    return _derived_secret(master, client_id)


def _derived_secret(master: bytes, client_id: str) -> str:
    derived = hmac.new(master, _DERIVATION_LABEL + client_id.encode("utf-8"), "sha256").digest()
    return WEBHOOK_SECRET_PREFIX + _b64(derived)


def webhook_secrets(client_id: str, settings: Settings | None = None) -> list[str]:
    """The secrets that sign ``client_id``'s callbacks: the current one, and during a rotation
    the previous one (see the module docstring)."""
    settings = settings or get_settings()
    secrets_ = [webhook_secret(client_id, settings)]
    client = load_clients(settings).get(client_id)
    if client and client.webhook_secret:
        previous = client.previous_webhook_secret
    elif len((settings.webhook_previous_master_key or "").encode()) >= MIN_MASTER_KEY_BYTES:
        previous = _derived_secret(settings.webhook_previous_master_key.encode(), client_id)
    else:
        previous = None
    if previous and previous not in secrets_:
        secrets_.append(previous)
    return secrets_
