"""The one settings module of the service: every knob, its default, its variable.

Each field is read from the environment variable ``PXL_<FIELD>`` (for example
``PXL_REDIS_URL``).  It lives in ``workers`` because both the API and the
workers read it, and ``workers`` must not import ``api``.  Sections are owned
by the parts of the system that use them; docs/configuration.md lists them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PXL_", extra="ignore")

    # --- Redis, queue and job records -------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "pxl:"  # every Redis key the service writes starts with it
    queue_name: str = "pxl"  # the Celery queue proof and overlay jobs go to
    job_ttl_seconds: int = 24 * 3600  # job records and their event streams expire
    default_job_timeout: float = 30.0  # seconds, when a submission names none
    max_job_timeout: float = 300.0
    max_prefer_wait: float = 30.0  # the largest N honoured in ``Prefer: wait=N``
    worker_heartbeat_seconds: float = 5.0
    max_queue_depth: int = 1000  # backpressure: above it submissions get 503

    # --- Webhooks ------------------------------------------------------------
    # Hosts or CIDRs that callbacks may reach although they are private.
    webhook_allowlist: list[str] = Field(default_factory=list)
    webhook_timeout_seconds: float = 10.0

    # --- HTTP API ------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 256 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)

    # --- Auth ----------------------------------------------------------------
    auth_disabled: bool = False  # only for local use; `pxl serve` warns loudly
    jwt_secret: str | None = None
    jwt_secret_file: str | None = None
    jwt_previous_secret: str | None = None  # accepted during key rotation
    jwt_issuer: str = "logos-pxl-core"
    jwt_audience: str = "pxl-api"
    token_ttl_seconds: int = 3600
    clients_file: str | None = None  # JSON/YAML file of clients and scopes

    # --- Rate limits ---------------------------------------------------------
    rate_limit_per_minute: int = 100
    rate_limit_burst: int = 20


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
