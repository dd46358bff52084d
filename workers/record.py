"""The job record: what a job is, whatever its kind, and how its fields are stored.

A job is a Redis hash (workers.keys.job_key) whose fields hold JSON values: the public
document (DOCUMENT_FIELDS, in the order the API shows them) and a few internal fields.  Its
id is a ULID, so ids sort by submission time.  The job store (workers.jobs) moves records
through their statuses; this module only says what they look like.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from workers.prover.jsonform import MAX_JSON_NESTING


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
)
KINDS = ("proof", "chrono", "v4")  # one job model for every kind of work

# Job documents carry formulas in the JSON form (nested up to MAX_JSON_NESTING) a few levels
# down (document, params). The json module recurses once per level, so every process that
# encodes or decodes job documents needs a recursion limit above this.
MAX_DOCUMENT_NESTING = MAX_JSON_NESTING + 8
RECURSION_LIMIT_FOR_DOCUMENTS = MAX_DOCUMENT_NESTING + 2000

# Fields of the job document, in the order the API shows them.
DOCUMENT_FIELDS = (
    "id", "kind", "owner", "status", "progress", "submitted_at", "started_at", "finished_at",
    "attempts", "params", "result", "error", "webhook", "request_id",
)
# Internal fields of the hash, never shown.
CANCEL = "_cancel"  # "1" once a cancel was requested
SUBMITTED_TS = "_submitted_ts"
STARTED_TS = "_started_ts"
RUNNER = "_runner"  # host:pid of the process running the latest delivery
QUEUE_WAIT_S = "_queue_wait_s"  # in the document begin() returns, not stored
VERDICT = "_verdict"  # the result's verdict, for list summaries (the result may be megabytes)
PREVIEW = "_preview"  # the start of the formula's text, for list summaries
BATCH = "_batch"  # the id of the batch (with a callback) whose countdown the job's end moves
PREVIEW_CHARS = 120

# A job's summary in listings: small fields only (no formula, no result), whatever the job's
# size, so a page of summaries is bounded.
SUMMARY_FIELDS = ("id", "kind", "status", "progress", "submitted_at", "started_at",
                  "finished_at", "attempts")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_last_id = (0, 0)


def new_job_id(now: float | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 Crockford base32 characters.

    Ids sort by submission time, which is what makes the owner index and its cursor work.
    Within one process they are strictly increasing (monotonic ULIDs); across processes,
    ids of the same millisecond sort arbitrarily.
    """
    global _last_id
    ms = int((time.time() if now is None else now) * 1000)
    with _id_lock:
        if ms <= _last_id[0]:
            ms, rand = _last_id[0], _last_id[1] + 1
        else:
            rand = secrets.randbits(79)  # a zero top bit leaves room to count up
        _last_id = (ms, rand)
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def id_floor(epoch_s: float) -> str:
    """The smallest id a job submitted at ``epoch_s`` can have."""
    ms = int(epoch_s * 1000)
    value = ms << 80
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def is_job_id(value: str) -> bool:
    return len(value) == 26 and all(c in _CROCKFORD for c in value)


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class StoredDocument(dict):
    """A job document decoded from the JSON text it was stored as, which it keeps
    (``text``): an answer showing it unchanged need not encode it again.  Whoever changes
    the document must not keep it in this type."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        super().__init__(json.loads(text))
        self.text = text


def decode(raw: dict[str, str]) -> dict:
    doc = {name: json.loads(raw[name]) if name in raw else None for name in DOCUMENT_FIELDS}
    doc["attempts"] = doc["attempts"] or 0
    return doc


def formula_preview(params: dict) -> str | None:
    """What a listing shows of the job's formula: the start of its text."""
    text = params.get("formula_text") if isinstance(params, dict) else None
    if not isinstance(text, str):
        return None
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def decode_summary(values: list[str | None]) -> dict | None:
    """A summary from HMGET of (*SUMMARY_FIELDS, VERDICT, "error", PREVIEW); None for a
    missing job."""
    if values[0] is None:
        return None
    summary = {name: json.loads(v) if v is not None else None
               for name, v in zip(SUMMARY_FIELDS, values, strict=False)}
    summary["attempts"] = summary["attempts"] or 0
    verdict, error, preview = values[len(SUMMARY_FIELDS):]
    summary["formula_preview"] = json.loads(preview) if preview else None
    summary["verdict"] = verdict or None
    error = json.loads(error) if error else None
    summary["error_type"] = error.get("type") if isinstance(error, dict) else None
    return summary


# The most a job stores as its result (it is stored twice: the record and the final event).
# A larger result keeps its verdict and loses its bulk, saying so (issue 10: 2.5 MB per job).
MAX_RESULT_BYTES = 256 * 1024
_KEPT_TRACE_LINES = 20


def bounded_result(result: dict | None) -> dict | None:
    """``result`` if its JSON fits MAX_RESULT_BYTES, else a smaller copy with a note: first
    without the certificate, then with a shortened trace, then only the verdict's fields."""
    return bounded_result_json(result)[0]


def bounded_result_json(result: dict | None) -> tuple[dict | None, str]:
    """``bounded_result`` and its JSON (the common case encodes the result once)."""
    encoded = dumps(result)
    if result is None or len(encoded) <= MAX_RESULT_BYTES:
        return result, encoded
    size = len(encoded)
    reduced = dict(result)
    note = (f"the result ({size} bytes) is over the {MAX_RESULT_BYTES} bytes a job stores; "
            "`pxl prove --json` gives the whole result locally")
    if reduced.get("certificate"):
        reduced["certificate"] = None
        reduced["certificate_omitted"] = note
    if len(dumps(reduced)) > MAX_RESULT_BYTES and isinstance(reduced.get("trace"), list):
        reduced["trace"] = [*reduced["trace"][:_KEPT_TRACE_LINES], f"(trace cut: {note})"]
    if len(dumps(reduced)) > MAX_RESULT_BYTES:
        reduced = {name: result[name] for name in ("verdict", "szs_status", "elapsed_ms",
                                                  "queue_wait_ms", "run_ms") if name in result}
    reduced["result_truncated"] = note
    return reduced, dumps(reduced)
