"""The idempotency ledger: which job an owner's ``Idempotency-Key`` was first used for.

``workers.keys.idempotency_key`` holds ``{"job_id", "fingerprint"}`` for the job's lifetime
(settings.job_ttl_seconds).  The same key with the same request answers the first job; with a
different request it is a conflict (HTTP 409).
"""

from __future__ import annotations

import hashlib
import json

from workers.record import dumps


class IdempotencyConflict(Exception):
    """The same owner reused an Idempotency-Key with a different request body (HTTP 409)."""

    def __init__(self, job_id: str):
        super().__init__(f"Idempotency-Key already used for job {job_id} with a different request")
        self.job_id = job_id


def params_fingerprint(kind: str, params: dict, callback_url: str | None) -> str:
    canonical = json.dumps(
        {"kind": kind, "params": params, "callback_url": callback_url},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(client, key: str, job_id: str, fingerprint: str, ttl: int) -> bool:
    """Record ``job_id`` as the key's job; False when another submission claimed it first."""
    value = dumps({"job_id": job_id, "fingerprint": fingerprint})
    return bool(client.set(key, value, nx=True, ex=ttl))


def claimed_job(client, key: str, fingerprint: str) -> str | None:
    """The id of the job the key was used for (None: unused or expired); raises
    IdempotencyConflict when that submission was a different request."""
    raw = client.get(key)
    if not raw:
        return None
    entry = json.loads(raw)
    if entry["fingerprint"] != fingerprint:
        raise IdempotencyConflict(entry["job_id"])
    return entry["job_id"]
