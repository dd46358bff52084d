"""Shared helpers of the observability tests: an isolated settings namespace on the real Redis."""

from __future__ import annotations

import uuid

import redis

from tests.environment import delete_keys, redis_url
from workers.settings import get_settings

JWT_KEY = "observability-test-signing-key-0123456789"


def isolated_env(monkeypatch):
    """Settings on the real Redis under a fresh key prefix and queue; keys removed afterwards.

    A generator for a fixture: ``yield from isolated_env(monkeypatch)``.
    """
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    tag = uuid.uuid4().hex[:10]
    env = {
        "PXL_REDIS_URL": redis_url(),
        "PXL_KEY_PREFIX": f"t-obs-{tag}:",
        "PXL_QUEUE_NAME": f"q-obs-{tag}",
        "PXL_JWT_SECRET": JWT_KEY,
        "PXL_AUTH_DISABLED": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings(), client
    delete_keys(client, env["PXL_KEY_PREFIX"])
    get_settings.cache_clear()


def parse_samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label pairs): value} from a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))
