"""The proof result cache: a client who asks again about a formula the service has already
decided for it gets the stored answer instead of a second search.

* **What is kept**: the result document of a finished proof job whose verdict is decisive
  (``valid`` with its certificate, ``invalid`` with its checked countermodel) — both are facts
  about the formula, whatever the time limit. ``unknown`` is never cached.
* **The key**: the owner, the canonical formula (its canonical JSON form and overlay), whether
  a Coq proof was asked for, and ``PROVER_FINGERPRINT`` (a hash of the prover's and overlays'
  source): a new prover version misses every old entry, which then expire.
* **Isolation**: entries are per client (the owner is in the key): a hit never reveals that
  another client proved the same formula, and ``cached_from`` names one of the caller's own
  jobs.
* **Lifetime**: as long as job records (``PXL_JOB_TTL_SECONDS``).

A submission with ``Cache-Control: no-cache`` skips the lookup (and still refreshes the entry).
The cached certificate is the original's, so ``pxl check`` verifies a cached result as it
verifies a fresh one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from workers import keys

CACHEABLE_VERDICTS = frozenset({"valid", "invalid"})


@lru_cache(maxsize=1)
def prover_fingerprint() -> str:
    """SHA-256 over the source of the prover and the overlays (what decides a verdict)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*(root / "prover").rglob("*.py"), *(root / "overlays").rglob("*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(prefix: str, owner: str, params: dict) -> str:
    identity = json.dumps(
        [prover_fingerprint(), params.get("overlay") or "modal", bool(params.get("coq")),
         params["formula"]],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )  # fmt: skip
    return keys.result_cache_key(prefix, owner, hashlib.sha256(identity.encode()).hexdigest())


def lookup(client, key: str) -> tuple[str, dict] | None:
    """(the job the result came from, the result document), or None."""
    raw = client.get(key)
    if raw is None:
        return None
    entry = json.loads(raw)
    return entry["job_id"], entry["result"]


def cacheable(result: dict | None) -> bool:
    """Whether a finished proof's result is kept: a decisive verdict, not itself a hit."""
    return (isinstance(result, dict) and result.get("verdict") in CACHEABLE_VERDICTS
            and not result.get("cached"))


@dataclass(frozen=True)
class CacheWrite:
    """What a proof job leaves for the result cache, written by the job store's ``finish``
    in the job's final round trip (``FINISH_LUA``): the entry's key (None: keep nothing; the
    entry is written only for a succeeded job whose result is ``cacheable``) and the miss or
    bypass to count (None: nothing to count, a hit was counted when it was read)."""

    entry_key: str | None
    outcome: str | None


# For the job store's finish script, once the job is final: the entry built from the result's
# JSON as the record stores it (ARGV[3]), so that the result is encoded once.  KEYS[9]: the
# entry (absent: keep nothing); ARGV[6]: the TTL; the Lua local ``job_id``.
FINISH_LUA = """
if KEYS[9] then
  redis.call('SET', KEYS[9], '{"job_id":"' .. job_id .. '","result":' .. ARGV[3] .. '}',
             'EX', ARGV[6])
end
"""
