"""The one settings module of the service: every knob, its default, its variable.

Each field is read from the environment variable ``PXL_<FIELD>`` (for example
``PXL_REDIS_URL``).  It lives in ``workers`` because both the API and the
workers read it, and ``workers`` must not import ``api``.  Sections are owned
by the parts of the system that use them; docs/configuration.md lists them.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from workers.prover.limits import DEFAULT_TIMEOUT_SECONDS


class ConfigError(ValueError):
    """An invalid PXL_* value, as the one line a user reads (variable, value, expected, example)."""


def _list_value(raw: Any) -> Any:
    """A list setting from the environment: JSON (``["a", "b"]``) or comma-separated (``a,b``)."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text.startswith("["):
        return json.loads(text)  # a JSON error is reported as "expected a JSON list or a,b"
    return [item.strip() for item in text.split(",") if item.strip()]


# List settings: JSON or comma-separated in the environment (NoDecode: not JSON-only).
StrList = Annotated[list[str], NoDecode, BeforeValidator(_list_value)]
FloatList = Annotated[list[float], NoDecode, BeforeValidator(_list_value)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PXL_", extra="ignore")

    def __init__(self, **values: Any):
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(describe_error(exc)) from None
        except SettingsError as exc:  # a value the environment source could not decode
            raise ConfigError(f"invalid setting: {exc}") from None

    # --- Redis, queue and job records -------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"  # broker, job records, events, rate limits and metrics
    # Redis Sentinel: when sentinels are listed, every client (API, workers, broker, metrics,
    # rate limiter) asks them for the current primary; PXL_REDIS_URL then gives only the
    # password, TLS and database number (its host is not used).
    redis_sentinels: StrList = Field(default_factory=list)  # host:port of each sentinel
    redis_sentinel_master: str = "pxl"  # the master name the sentinels monitor
    redis_sentinel_password: str | None = None  # the sentinels' own password (requirepass), if any
    # A submission is answered 202 only once this many replicas have its record (Redis WAIT):
    # 0 = asynchronous replication (an acknowledged job can be lost in a failover).
    redis_min_replica_acks: int = 0
    redis_replica_ack_timeout_ms: int = 500  # how long a submission waits for those replicas
    key_prefix: str = "pxl:"  # every Redis key the service writes starts with it
    queue_name: str = "pxl"  # the Celery queue proof and overlay jobs go to
    job_ttl_seconds: int = 24 * 3600  # job records and their event streams expire
    default_job_timeout: float = DEFAULT_TIMEOUT_SECONDS  # seconds, when a submission names none
    max_job_timeout: float = 300.0  # seconds, the largest timeout a submission may ask for
    max_prefer_wait: float = 30.0  # the largest N honoured in ``Prefer: wait=N``
    worker_heartbeat_seconds: float = 5.0  # how often a worker announces itself (health, pxl_workers_online)
    max_queue_depth: int = 1000  # backpressure: above it submissions get 503
    queue_full_retry_after: int = 5  # seconds, the Retry-After of that 503
    max_live_jobs_per_client: int = 200  # queued + running jobs of one client; above: 429
    job_events_maxlen: int = 1000  # entries kept per job event stream (approximate trim)
    # Celery time limits per job: soft = timeout + grace, hard = soft + margin.  The prover's
    # own timeout normally fires first and answers unknown/Timeout.
    job_time_limit_grace: float = 5.0
    job_hard_time_limit_margin: float = 10.0  # seconds between the soft and the hard Celery time limit
    job_max_attempts: int = 5  # deliveries of one job before it is failed (poison-message guard)
    job_infra_retries: int = 5  # Celery retries (exponential backoff) on Redis connection errors
    cancel_poll_seconds: float = 0.15  # how long a worker caches the cancel flag
    # Seconds a taken-but-unacknowledged job stays invisible before Redis hands it to another
    # worker (a whole worker died).  None: max_job_timeout + grace + margin + 300.
    broker_visibility_timeout: float | None = None
    broker_restore_interval: float = 10.0  # how often workers sweep for such messages
    # Celery task events: off, as they cost three publishes per job; a running Flower turns
    # them on in the workers by remote control (enable_events), or set this to true.
    worker_send_events: bool = False
    # `pxl worker`: "solo" runs one single-process Celery worker per core under a supervisor
    # (no hand-over between pool processes; see workers/supervisor.py); "prefork" one pool.
    worker_pool: Literal["solo", "prefork"] = "solo"
    # `pxl up` without a reachable PXL_REDIS_URL: auto starts a Redis server of its own
    # (persisting to data_dir), always does so even when one answers, never refuses to start.
    embedded: Literal["auto", "always", "never"] = "auto"
    # Where `pxl up`'s own Redis keeps its data (append-only file): jobs and tokens survive
    # a restart.  None: ~/.local/share/pxl (XDG_DATA_HOME/pxl when that is set).
    data_dir: str | None = None
    # Seconds a stopping `pxl worker` / `pxl up` waits for running jobs before it ends them
    # and puts them back on the queue (a second Ctrl-C ends them at once).
    shutdown_grace_seconds: float = 10.0

    # --- Webhooks ------------------------------------------------------------
    # Hosts or CIDRs that callbacks may reach although they are private.
    webhook_allowlist: StrList = Field(default_factory=list)
    webhook_timeout_seconds: float = 10.0  # connect + read timeout of one delivery attempt
    # Delays before the 2nd, 3rd, ... delivery attempt (seconds, +-jitter); then failed.
    webhook_retry_schedule: FloatList = Field(
        default_factory=lambda: [5, 30, 120, 600, 1800, 3600, 7200, 14400]
    )
    webhook_retry_jitter: float = 0.2  # fraction of each delay, drawn uniformly +-
    webhook_max_countdown: float = 300.0  # longer waits hop through several Celery messages

    # --- HTTP API ------------------------------------------------------------
    host: str = "127.0.0.1"  # `pxl serve` / `pxl up` bind address
    port: int = 8080  # `pxl serve` / `pxl up` port
    max_body_bytes: int = 1024 * 1024  # the JSON form of a formula at MAX_TEXT_BYTES fits
    cors_origins: StrList = Field(default_factory=list)  # exact origins; "*" is refused
    # Peers (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed; none by default.
    trusted_proxies: StrList = Field(default_factory=list)
    hsts_max_age: int = 63072000  # Strict-Transport-Security on https responses (2 years)
    # The stamp `pxl coq-check` writes (X-PXL-Coqchk); unset: the checkout's build/coq/coqchk.json,
    # empty: no stamp (unchecked).  docs/coq.md
    coqchk_result_file: str | None = None

    # --- Auth ----------------------------------------------------------------
    auth_disabled: bool = False  # only for local use; `pxl serve` warns loudly
    jwt_secret: str | None = None  # HS256 signing key, at least 32 bytes; no default
    jwt_secret_file: str | None = None  # a file holding the signing key (a mounted secret)
    jwt_previous_secret: str | None = None  # accepted during key rotation
    jwt_issuer: str = "logos-pxl-core"  # `iss` of issued tokens, required on incoming ones
    jwt_audience: str = "pxl-api"  # `aud` of issued tokens, required on incoming ones
    token_ttl_seconds: int = 3600  # lifetime of tokens from POST /v1/auth/token
    clients_file: str | None = None  # JSON/YAML file of clients and scopes
    clients: dict | None = None  # PXL_CLIENTS: the same document as JSON (merged over the file)
    # Derives per-client webhook secrets for clients without a configured one (>= 32 bytes).
    webhook_master_key: str | None = None
    # During a rotation of that key: callbacks are signed with both (receivers switch meanwhile).
    webhook_previous_master_key: str | None = None

    # --- Rate limits ---------------------------------------------------------
    rate_limit_per_minute: int = 100  # requests per client (or IP) in any sliding minute
    rate_limit_burst: int = 20  # back-to-back requests (token bucket refilling at the per-minute rate)
    rate_limit_enabled: bool = True  # False turns the limiter off (benchmarks, trusted networks)
    rate_limit_fail_open: bool = True  # Redis unreachable: serve (and log) rather than refuse

    # --- Observability -------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"  # root log level of API and workers
    log_json: bool = True  # JSON lines (request_id, job_id) on stderr; False: plain text
    metrics_redis_timeout: float = 0.5  # seconds; a metrics write never waits longer
    flower_address: str = "127.0.0.1"  # `pxl flower` bind address
    flower_port: int = 5555  # `pxl flower` port
    flower_basic_auth: str | None = None  # "user:password[,user2:password2]"
    flower_basic_auth_file: str | None = None  # the same, read from a file (a secret)
    flower_allow_unauthenticated: bool = False  # only for a loopback-bound local Flower


    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, url: str) -> str:
        from redis.connection import parse_url

        expected = "a redis://host:port/db, rediss://... or unix://path URL"
        try:
            parse_url(url)  # the scheme and the port
        except ValueError as exc:
            raise ValueError(f"{expected} ({exc})") from None
        scheme, _, rest = url.partition("://")
        db = rest.partition("/")[2].partition("?")[0]
        if scheme in ("redis", "rediss") and db and not db.isdigit():
            raise ValueError(f"{expected} (database {db!r} is not a number)")
        return url

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"host:port entries ({entry!r} is not one)")
        return entries

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


_EXPECTED = {  # pydantic error type -> what the value should have been
    "int_parsing": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "bool_parsing": "true or false",
    "json_invalid": "JSON", "dict_type": "a JSON object", "list_type": "a JSON list or a,b",
}


def describe_error(exc: ValidationError) -> str:
    """One line for the first invalid setting: variable, value, what is expected, an example."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    info = Settings.model_fields.get(field)
    variable = f"PXL_{field.upper()}"
    value = os.environ.get(variable, error.get("input"))  # the whole value, as the user wrote it
    annotation = str(info.annotation) if info else ""
    if error["type"] == "literal_error":
        expected = "one of " + error["ctx"]["expected"].replace("'", "")
    elif error["type"] == "value_error" and not isinstance(
        error.get("ctx", {}).get("error"), json.JSONDecodeError
    ):  # a validator of ours said what it expects
        expected = error["msg"].removeprefix("Value error, ")
    elif "list" in annotation:
        expected = "a JSON list or comma-separated values"
    elif "dict" in annotation:
        expected = "a JSON object"
    else:
        expected = _EXPECTED.get(error["type"]) or error["msg"].removeprefix("Value error, ")
    return (f"invalid setting {variable}={value!r}: expected {expected}, "
            f"e.g. {variable}={_example(field, info)}")


def _example(field: str, info) -> str:
    default = info.get_default(call_default_factory=True) if info else None
    if isinstance(default, list):
        return ",".join(str(x) for x in default) if default else "a,b"
    if isinstance(default, bool):
        return str(default).lower()
    if default is None:
        return '\'{"name": {...}}\'' if "dict" in str(info.annotation) else "..."
    return str(default)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
