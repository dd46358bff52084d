"""The Redis rate limiter itself (real Redis, DB from PXL_TEST_REDIS_DB): rules, headers, atomicity.

Time is a fake clock handed to the limiter where a test needs a minute to pass; the Lua script,
the keys and Redis are the real ones.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from api.ratelimit import Decision, Policy, RateLimiter
from tests.environment import redis_url
from workers.settings import Settings

pytestmark = pytest.mark.integration

REDIS_URL = redis_url()


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def prefix():
    prefix = f"pxltest-rl-{uuid.uuid4().hex[:8]}:"
    yield prefix
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(f"{prefix}*"))
    if keys:
        r.delete(*keys)


def limiter(prefix: str, clock=None, **overrides) -> RateLimiter:
    settings = Settings(redis_url=REDIS_URL, key_prefix=prefix, **overrides)
    return RateLimiter(settings, clock=clock)


def run(coro):
    return asyncio.run(coro)


async def hits(lim: RateLimiter, identity: str, n: int, clock=None, step: float = 0.0):
    out = []
    for _ in range(n):
        out.append(await lim.hit(identity))
        if clock is not None:
            clock.advance(step)
    return out


def test_policy_numbers_and_header():
    policy = Policy.from_settings(Settings())
    assert (policy.per_minute, policy.burst) == (100, 20)
    assert policy.interval == pytest.approx(0.6)
    assert policy.header() == '"default";q=100;w=60, "burst";q=20;w=12'
    with pytest.raises(ValueError):
        Policy.from_settings(Settings(rate_limit_burst=0))


def test_default_config_burst_of_20(prefix):
    clock = FakeClock()
    lim = limiter(prefix, clock)

    async def scenario():
        first = await hits(lim, "sub:alice", 20)
        twenty_first = await lim.hit("sub:alice")
        return first, twenty_first

    first, refused = run(scenario())
    assert all(d.allowed for d in first)
    assert [d.burst_remaining for d in first] == list(range(19, -1, -1))
    assert [d.remaining for d in first] == list(range(99, 79, -1))
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.6, abs=1e-3)
    headers = refused.headers(lim.policy)
    assert headers["Retry-After"] == "1"
    assert headers["RateLimit"] == '"default";r=80;t=60, "burst";r=0;t=12'
    assert headers["RateLimit-Policy"] == '"default";q=100;w=60, "burst";q=20;w=12'


def test_default_config_101st_request_in_a_minute(prefix):
    """100 requests spread over 59.4 s all pass (the burst refills); the 101st at 59.4 s is
    refused by the minute rule, and passes once the first request is 60 s old."""
    clock = FakeClock()
    lim = limiter(prefix, clock)

    async def scenario():
        spread = await hits(lim, "sub:alice", 100, clock, step=0.6)
        assert clock.now - 1_800_000_000.0 == pytest.approx(60.0)
        clock.advance(-0.6)  # the 101st comes at 59.4 s, when the burst bucket has a token
        refused = await lim.hit("sub:alice")
        clock.advance(0.6 + 1e-3)  # the first request leaves the window
        after = await lim.hit("sub:alice")
        return spread, refused, after

    spread, refused, after = run(scenario())
    assert all(d.allowed for d in spread)
    assert spread[-1].remaining == 0
    assert not refused.allowed
    assert refused.burst_remaining > 0  # it is the minute rule that refuses, not the burst
    assert refused.retry_after == pytest.approx(0.6, abs=1e-3)
    assert refused.headers(lim.policy)["RateLimit"].startswith('"default";r=0;')
    assert after.allowed


def test_refused_requests_consume_nothing_and_peeks_count_nothing(prefix):
    clock = FakeClock()
    lim = limiter(prefix, clock, rate_limit_per_minute=60, rate_limit_burst=2)

    async def scenario():
        await hits(lim, "ip:1.2.3.4", 2)
        refused = [await lim.hit("ip:1.2.3.4") for _ in range(50)]
        peek = await lim.hit("ip:1.2.3.4", consume=False)
        clock.advance(1.0)  # one token back (60/min = 1/s)
        again = await lim.hit("ip:1.2.3.4")
        return refused, peek, again

    refused, peek, again = run(scenario())
    assert not any(d.allowed for d in refused)
    assert peek.remaining == 58 and peek.burst_remaining == 0
    assert again.allowed  # the 50 refused attempts did not push the client further back


def test_identities_are_independent(prefix):
    clock = FakeClock()
    lim = limiter(prefix, clock, rate_limit_per_minute=10, rate_limit_burst=3)

    async def scenario():
        a = await hits(lim, "sub:alice", 4)
        b = await hits(lim, "sub:bob", 3)
        return a, b

    a, b = run(scenario())
    assert [d.allowed for d in a] == [True, True, True, False]
    assert all(d.allowed for d in b)


def test_two_limiters_share_one_count_through_redis(prefix):
    """Two replicas (separate limiter objects and Redis connections) enforce one quota."""
    clock = FakeClock()
    one = limiter(prefix, clock, rate_limit_per_minute=10, rate_limit_burst=10)
    two = limiter(prefix, clock, rate_limit_per_minute=10, rate_limit_burst=10)

    async def scenario():
        results = []
        for i in range(12):
            results.append(await (one if i % 2 else two).hit("sub:alice"))
        return results

    results = run(scenario())
    assert [d.allowed for d in results] == [True] * 10 + [False, False]


def test_concurrent_hits_never_exceed_the_quota(prefix):
    clock = FakeClock()
    lim = limiter(prefix, clock, rate_limit_per_minute=25, rate_limit_burst=25)

    async def scenario():
        # more at once than the connection pool holds: they queue for a connection, none fails
        # (a failure would fail open and let a flood through)
        return await asyncio.gather(*(lim.hit("sub:alice") for _ in range(300)))

    results = run(scenario())
    assert sum(d.allowed for d in results) == 25


def test_redis_clock_path(prefix):
    """Without an injected clock the script uses Redis TIME; 1/min leaves no room for timing."""
    lim = limiter(prefix, None, rate_limit_per_minute=1, rate_limit_burst=3)
    results = run(hits(lim, "sub:alice", 4))
    # per_minute=1 is also the minute rule's quota: only the first passes
    assert [d.allowed for d in results] == [True, False, False, False]
    assert 1 <= results[-1].retry_after_seconds <= 60
    lim2 = limiter(prefix, None, rate_limit_per_minute=3, rate_limit_burst=2)
    results = run(hits(lim2, "sub:bob", 3))
    assert [d.allowed for d in results] == [True, True, False]
    assert results[-1].retry_after_seconds <= 20


def test_keys_use_the_prefix_and_expire(prefix):
    # 2 a minute: the bucket key lives 30 s (at the default 100 a minute only 601 ms, which a
    # busy machine can spend between the hit and the PTTL below)
    lim = limiter(prefix, None, rate_limit_per_minute=2)
    run(lim.hit("sub:alice"))
    r = redis.Redis.from_url(REDIS_URL)
    keys = sorted(k.decode() for k in r.scan_iter(f"{prefix}*"))
    assert keys == [f"{prefix}ratelimit:sub:alice:bucket", f"{prefix}ratelimit:sub:alice:log"]
    assert all(0 < r.pttl(k) <= 60_000 for k in keys)


def test_decision_headers_when_allowed_have_no_retry_after():
    d = Decision(True, 42, 17.2, 5, 3.1, 0.0)
    headers = d.headers(Policy(100, 20))
    assert "Retry-After" not in headers
    assert headers["RateLimit"] == '"default";r=42;t=18, "burst";r=5;t=4'


def _app_behind_limiter(settings: Settings):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.ratelimit import RateLimitMiddleware

    app = FastAPI()

    @app.get("/v1/thing")
    def thing():
        return {"ok": True}

    app.add_middleware(RateLimitMiddleware, settings=settings)
    return TestClient(app)


def test_redis_down_fails_open_by_default_and_closed_when_asked():
    down = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    open_client = _app_behind_limiter(Settings(redis_url=down))
    served = open_client.get("/v1/thing")
    assert served.status_code == 200 and "ratelimit" not in served.headers
    closed_client = _app_behind_limiter(Settings(redis_url=down, rate_limit_fail_open=False))
    refused = closed_client.get("/v1/thing")
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "5"


def test_identity_is_sub_for_valid_tokens_else_the_address():
    from api.auth import mint_token
    from api.ratelimit import identity_for

    settings = Settings(jwt_secret="k" * 40)
    token = mint_token("alice", ["jobs:read"], settings=settings)

    def scope(authorization=None):
        headers = [(b"authorization", authorization.encode())] if authorization else []
        return {"type": "http", "client": ("192.0.2.7", 1), "headers": headers}

    assert identity_for(scope(f"Bearer {token}"), settings) == "sub:alice"
    assert identity_for(scope("Bearer forged.token.here"), settings) == "ip:192.0.2.7"
    assert identity_for(scope(), settings) == "ip:192.0.2.7"
    no_auth = Settings(auth_disabled=True)
    assert identity_for(scope(f"Bearer {token}"), no_auth) == "ip:192.0.2.7"


def test_a_request_of_cost_n_counts_as_n_requests(prefix):
    """Batches are charged in proportion to their size: cost n takes n tokens at once, or
    none when fewer are left (a refused request consumes nothing)."""
    clock = FakeClock()
    lim = limiter(prefix, clock)

    async def scenario():
        first = await lim.hit("batcher", cost=15)
        too_many = await lim.hit("batcher", cost=10)  # 5 of the burst of 20 are left
        rest = await hits(lim, "batcher", 5)
        over = await lim.hit("batcher")
        clock.advance(6.0)  # 10 tokens come back (one per 0.6 s)
        again = await lim.hit("batcher", cost=10)
        capped = await lim.hit("other", cost=10_000)  # at most the burst: one full bucket
        return first, too_many, rest, over, again, capped

    first, too_many, rest, over, again, capped = run(scenario())
    assert first.allowed and first.burst_remaining == 5 and first.remaining == 85
    assert not too_many.allowed and too_many.retry_after == pytest.approx(3.0, abs=0.01)
    assert all(d.allowed for d in rest) and not over.allowed
    assert again.allowed and again.remaining == 70
    assert capped.allowed and capped.burst_remaining == 0
