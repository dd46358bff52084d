"""Batches: many proof jobs from one request (``POST /v1/proofs:batch``), read back together.

A batch is a record of its items in submission order — each either the id of the proof job
it became or the error that refused it (one bad formula does not refuse the others) — kept
as long as job records. Its status reads the items' job summaries in one pipeline and counts
them by state. The jobs are ordinary proof jobs: the queue, the worker, events, webhooks,
cancellation and the result cache treat them as any other.

A batch with a ``callback_url`` gets one ``batch.completed`` webhook when its last job ends.
Its countdown (workers.keys.batch_pending_key) is opened at 1 before any item is submitted
(the submission's own hold), counted up by each job in the transaction that creates it and
down by the atomic write that ends it (workers.jobs); ``create`` drops the submission's hold
in the transaction that records the batch. Whichever write brings it to 0 — the last job's
end, or ``create`` when every job had already ended — is the batch's completion, which
happens once, and queues the webhook (workers.webhooks delivers it, logged like a job's).
"""

from __future__ import annotations

import json
import time
from collections import Counter

from workers import keys
from workers.record import TERMINAL_STATUSES, dumps, new_job_id, rfc3339

MAX_BATCH_ITEMS = 500
WEBHOOK_ITEMS_MAX = 100  # a batch.completed webhook lists the items of batches up to this size
ITEMS_PER_RATE_TOKEN = 25  # a batch of n items costs ceil(n / 25) requests of the rate limit


def rate_cost(items: int) -> int:
    return -(-items // ITEMS_PER_RATE_TOKEN)


def new_batch_id() -> str:
    return new_job_id()


def open_countdown(client, prefix: str, batch_id: str, ttl_s: int) -> None:
    """Before the items of a batch with a callback are submitted: its countdown holds 1 (the
    submission itself), so no job's end can complete the batch while jobs are being added."""
    client.set(keys.batch_pending_key(prefix, batch_id), 1, ex=ttl_s)


def create(client, prefix: str, owner: str, items: list[dict], ttl_s: int, *,
           batch_id: str | None = None, callback_url: str | None = None) -> tuple[dict, bool]:
    """Record a batch of ``items`` ({"index", "id"} or {"index", "error"}) for ``owner``;
    (the batch, whether it is complete now). With a ``callback_url`` (and ``batch_id`` whose
    countdown ``open_countdown`` opened), also its delivery log, and the submission's hold
    on the countdown is dropped in the same transaction: True when that made it 0 (every
    job had already ended), and the caller queues the webhook."""
    now = time.time()
    batch = {"id": batch_id or new_job_id(now), "owner": owner, "created_at": rfc3339(now),
             "items": items}
    if callback_url is None:
        client.set(keys.batch_key(prefix, batch["id"]), dumps(batch), ex=ttl_s)
        return batch, False
    batch["callback_url"] = callback_url
    log_key = keys.webhook_log_key(prefix, "batch", batch["id"])
    with client.pipeline(transaction=True) as pipe:
        pipe.set(keys.batch_key(prefix, batch["id"]), dumps(batch), ex=ttl_s)
        pipe.hset(log_key, mapping={"owner": dumps(owner), "webhook": dumps(
            {"url": callback_url, "state": "pending", "attempts": []})})
        pipe.expire(log_key, ttl_s)
        pipe.decr(keys.batch_pending_key(prefix, batch["id"]))
        left = pipe.execute()[-1]
    return batch, left == 0


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
        **({"callback_url": batch["callback_url"]} if batch.get("callback_url") else {}),
    }  # fmt: skip


def completed_payload_data(view: dict) -> dict:
    """The ``data`` of a batch's ``batch.completed`` webhook: its status (``status``), the
    items only for batches of up to WEBHOOK_ITEMS_MAX (else ``GET /v1/batches/{id}``)."""
    if view["size"] <= WEBHOOK_ITEMS_MAX:
        return view
    return {**{k: v for k, v in view.items() if k != "items"}, "items_omitted": True}
