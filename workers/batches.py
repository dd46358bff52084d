"""Batches: many proof jobs from one request (``POST /v1/proofs:batch``), read back together.

A batch is a record of its items in submission order — each either the id of the proof job
it became or the error that refused it (one bad formula does not refuse the others) — kept
as long as job records. Its status reads the items' job summaries in one pipeline and counts
them by state. The jobs are ordinary proof jobs: the queue, the worker, events, webhooks,
cancellation and the result cache treat them as any other.
"""

from __future__ import annotations

import json
import time
from collections import Counter

from workers import keys
from workers.record import TERMINAL_STATUSES, dumps, new_job_id, rfc3339

MAX_BATCH_ITEMS = 500
ITEMS_PER_RATE_TOKEN = 25  # a batch of n items costs ceil(n / 25) requests of the rate limit


def rate_cost(items: int) -> int:
    return -(-items // ITEMS_PER_RATE_TOKEN)


def create(client, prefix: str, owner: str, items: list[dict], ttl_s: int) -> dict:
    """Record a batch of ``items`` ({"index", "id"} or {"index", "error"}) for ``owner``."""
    now = time.time()
    batch = {"id": new_job_id(now), "owner": owner, "created_at": rfc3339(now), "items": items}
    client.set(keys.batch_key(prefix, batch["id"]), dumps(batch), ex=ttl_s)
    return batch


def load(client, prefix: str, batch_id: str, owner: str) -> dict | None:
    """The owner's batch, or None (unknown, expired or another client's)."""
    raw = client.get(keys.batch_key(prefix, batch_id))
    if raw is None:
        return None
    batch = json.loads(raw)
    return batch if batch["owner"] == owner else None


def status(batch: dict, summaries: dict[str, dict | None]) -> dict:
    """The batch with each item's status and verdict, and counts by state (``rejected``: items
    that never became jobs; ``expired``: jobs whose record is gone)."""
    counts: Counter = Counter()
    items = []
    for item in batch["items"]:
        if "error" in item:
            counts["rejected"] += 1
            items.append(item)
            continue
        summary = summaries.get(item["id"])
        state = summary["status"] if summary else "expired"
        counts[state] += 1
        items.append({**item, "status": state,
                      "verdict": summary.get("verdict") if summary else None})
    jobs = len(batch["items"]) - counts["rejected"]
    finished = sum(counts[s] for s in TERMINAL_STATUSES) + counts["expired"]
    return {
        "id": batch["id"], "created_at": batch["created_at"], "size": len(batch["items"]),
        "counts": dict(counts), "done": finished == jobs, "items": items,
    }  # fmt: skip
