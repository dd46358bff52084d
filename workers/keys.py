"""Every Redis key the service uses, named in one place (``P`` = ``settings.key_prefix``).

The job store, the queue, the metrics and the API's rate limiter all build their key names
here, so a reader of one can find what another touches, and one Redis database can hold
isolated deployments (everything starts with ``P``).

* ``P job:<id>`` hash — the job record (workers.jobs); ``…:events`` its event stream;
  ``…:final`` a one-element list written with the final event (what a wait blocks on, so
  that the ``started`` event does not wake it); ``…:webhook:<attempt>`` the lock of one
  callback delivery.
* ``P batch:<id>`` — a batch's record (workers.batches); ``…:pending`` its count of jobs not
  yet final plus one while the batch is being submitted (only for a batch with a callback;
  the job store's finish paths count it down, and build this name too).
* ``P batch:<id>:webhook`` / ``P ping:<id>:webhook`` hashes — the delivery log (``webhook``)
  and ``owner`` of a batch's callback and of a ping (a job's log is its record's ``webhook``);
  ``…:webhook:<attempt>`` the lock of one delivery, as for jobs.
* ``P job:<id>:lease`` — set while a live process runs the job (workers.reconciler).
* ``P active:<queue>`` sorted set — ids of the queue's jobs not yet terminal, by submission
  time (the reconciler's worklist); ``P reconciler:<queue>:lock`` / ``…:suspects`` — its lock
  and its notes (per queue: deployments may share a prefix and differ in queue).
* ``P owner:<owner>:jobs`` sorted set — the owner's job ids, ordered by id (time);
  ``P owner:<owner>:status:<status>`` the same for one status (listing by status reads it;
  the job store's Lua scripts build this name too, from the prefix and the owner).
* ``P idem:<owner>:<sha256 of the Idempotency-Key>`` — the job a key was first used for.
* ``P workers`` sorted set and ``P worker:<id>`` — the workers' heartbeats.
* ``P metrics:counters`` / ``P metrics:histograms`` / ``P metrics:in_progress`` — fleet metrics.
* ``P ratelimit:<identity>:bucket`` / ``…:log`` — the API's rate limits.
* ``P broker:…`` — everything kombu keeps (queues, unacked, bindings); see broker_queue_keys.
"""

from __future__ import annotations

import hashlib

from kombu.transport.redis import PRIORITY_STEPS, Channel

from workers.settings import Settings

# --- job records -----------------------------------------------------------------------------


def job_key(prefix: str, job_id: str) -> str:
    return f"{prefix}job:{job_id}"


def events_key(prefix: str, job_id: str) -> str:
    return f"{prefix}job:{job_id}:events"


def final_key(prefix: str, job_id: str) -> str:
    return f"{prefix}job:{job_id}:final"


def webhook_log_key(prefix: str, subject: str, subject_id: str) -> str:
    """The hash holding the delivery log (field ``webhook``) of a webhook's subject: a job's
    record itself, else the batch's or the ping's own hash."""
    if subject == "job":
        return job_key(prefix, subject_id)
    return f"{prefix}{subject}:{subject_id}:webhook"


def webhook_lock_key(prefix: str, subject: str, subject_id: str, attempt: int) -> str:
    return f"{prefix}{subject}:{subject_id}:webhook:{attempt}"


def lease_key(prefix: str, job_id: str) -> str:
    return f"{prefix}job:{job_id}:lease"


def active_key(prefix: str, queue: str) -> str:
    return f"{prefix}active:{queue}"


def reconciler_lock_key(prefix: str, queue: str) -> str:
    return f"{prefix}reconciler:{queue}:lock"


def reconciler_suspects_key(prefix: str, queue: str) -> str:
    return f"{prefix}reconciler:{queue}:suspects"


def owner_key(prefix: str, owner: str) -> str:
    return f"{prefix}owner:{owner}:jobs"


def owner_status_key(prefix: str, owner: str, status: str) -> str:
    return f"{prefix}owner:{owner}:status:{status}"


def idempotency_key(prefix: str, owner: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{prefix}idem:{owner}:{digest}"


def batch_key(prefix: str, batch_id: str) -> str:
    return f"{prefix}batch:{batch_id}"


def batch_pending_key(prefix: str, batch_id: str) -> str:
    return f"{prefix}batch:{batch_id}:pending"


def result_cache_key(prefix: str, owner: str, digest: str) -> str:
    return f"{prefix}cache:{owner}:{digest}"


# --- workers' heartbeats ---------------------------------------------------------------------


def workers_key(prefix: str) -> str:
    return f"{prefix}workers"


def worker_key(prefix: str, worker_id: str) -> str:
    return f"{prefix}worker:{worker_id}"


# --- metrics (after the prefix) --------------------------------------------------------------

COUNTERS_KEY = "metrics:counters"
HISTOGRAMS_KEY = "metrics:histograms"
IN_PROGRESS_KEY = "metrics:in_progress"


# --- rate limits -----------------------------------------------------------------------------


def ratelimit_keys(prefix: str, identity: str) -> list[str]:
    """The token bucket and the sliding-window log of one identity."""
    base = f"{prefix}ratelimit:{identity}"
    return [f"{base}:bucket", f"{base}:log"]


# --- the broker (kombu) ----------------------------------------------------------------------


def broker_prefix(settings: Settings) -> str:
    return f"{settings.key_prefix}broker:"


def webhook_queue(settings: Settings) -> str:
    """The broker queue of webhook deliveries (the job queue is ``settings.queue_name``)."""
    return f"{settings.queue_name}.webhooks"


def broker_queue_keys(settings: Settings, queue: str) -> list[str]:
    """The Redis lists holding a queue's waiting messages (one per priority step)."""
    prefix = broker_prefix(settings)
    keys = []
    for pri in PRIORITY_STEPS:
        keys.append(f"{prefix}{queue}{Channel.sep}{pri}" if pri else f"{prefix}{queue}")
    return keys


def broker_unacked_key(settings: Settings) -> str:
    """kombu's hash of messages fetched and not yet acknowledged."""
    return broker_prefix(settings) + "unacked"


def broker_unacked_index_key(settings: Settings) -> str:
    """kombu's sorted set of the unacked delivery tags, by delivery time."""
    return broker_prefix(settings) + "unacked_index"
