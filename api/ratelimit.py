"""Per-client rate limits shared by every API replica through Redis.

What "100 requests per minute with a burst of 20" means here (two rules, both must allow):

* ``"default"`` — at most ``rate_limit_per_minute`` (100) requests in any sliding 60-second
  window: the 101st request within 60 s of the first is refused, whatever the spacing.
* ``"burst"`` — a token bucket (GCRA) holding ``rate_limit_burst`` (20) tokens that refills at
  the same rate, one token every 60/100 = 0.6 s: at most 20 requests back to back, then one per
  0.6 s. It is advertised as a window of 20 requests per 12 s (the time to refill the bucket).

A refused request consumes nothing. Both rules are evaluated and recorded by one Lua script, so
concurrent requests on different replicas cannot both take the last slot; time comes from the
Redis server (``TIME``), so replica clocks do not matter (tests may inject a clock instead).
The key is the token's ``sub`` when the request carries a valid token, else the client IP
(``api.proxies.client_ip``: ``X-Forwarded-For`` only from ``settings.trusted_proxies``).
Invalid tokens count against the IP, so forged ``sub`` values cannot spread the load.

Every counted response carries the IETF draft (httpapi-ratelimit-headers) fields::

    RateLimit-Policy: "default";q=100;w=60, "burst";q=20;w=12
    RateLimit: "default";r=57;t=31, "burst";r=12;t=5

``r`` is what remains of each quota, ``t`` the seconds until that quota is whole again. A refused
request gets ``429`` problem+json with ``Retry-After`` (seconds until a request would pass).
``/v1/health`` is exempt (load-balancer probes), but still reports the quota.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from api.auth import principal_from_headers
from api.proxies import client_ip
from workers import metrics
from workers.connection import make_async_client
from workers.keys import ratelimit_keys
from workers.settings import Settings

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
POOL_CONNECTIONS = 32  # per process and event loop
POOL_WAIT_SECONDS = 5.0
EXEMPT_PATHS = frozenset({"/v1/health"})  # load-balancer probes
# the console's static files (a page load fetches several; they cost nothing to serve)
EXEMPT_PREFIXES = ("/console/",)


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)

# KEYS: bucket (GCRA theoretical arrival time), log (request times, newest first)
# ARGV: now ("" = Redis TIME), quota per window, window s, emission interval s, burst, consume 0/1
_SCRIPT = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local q = tonumber(ARGV[2])
local w = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local consume = ARGV[6] == '1'
local cost = tonumber(ARGV[7]) or 1  -- requests this one counts as (a batch: more than one)

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local burst_wait = tat + cost * interval - burst * interval - now

local window_wait = 0
if redis.call('LLEN', KEYS[2]) > q - cost then
  local oldest = tonumber(redis.call('LINDEX', KEYS[2], q - cost))
  if oldest and oldest > now - w then window_wait = oldest + w - now end
end

local allowed = burst_wait <= 1e-9 and window_wait <= 0
if allowed and consume then
  tat = tat + cost * interval
  redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1)
  for _ = 1, cost do redis.call('LPUSH', KEYS[2], string.format('%.6f', now)) end
  redis.call('LTRIM', KEYS[2], 0, q - 1)
  redis.call('PEXPIRE', KEYS[2], math.ceil(w * 1000))
end

local in_window = 0
local newest = nil
for i, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, q - 1)) do
  local at = tonumber(entry)
  if at > now - w then
    in_window = in_window + 1
    if not newest then newest = at end
  end
end
local window_reset = 0
if newest then window_reset = newest + w - now end
local burst_left = math.floor((burst * interval - (tat - now)) / interval + 1e-9)
return {allowed and 1 or 0, q - in_window, string.format('%.6f', window_reset), burst_left,
        string.format('%.6f', tat - now), string.format('%.6f', math.max(burst_wait, window_wait))}
"""


@dataclass(frozen=True)
class Policy:
    per_minute: int
    burst: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        if settings.rate_limit_per_minute < 1 or settings.rate_limit_burst < 1:
            raise ValueError("rate_limit_per_minute and rate_limit_burst must be at least 1")
        return cls(settings.rate_limit_per_minute, settings.rate_limit_burst)

    @property
    def interval(self) -> float:
        """Seconds between tokens (the sustained rate)."""
        return WINDOW_SECONDS / self.per_minute

    @property
    def burst_window(self) -> int:
        return math.ceil(self.burst * self.interval)

    def header(self) -> str:
        return (
            f'"default";q={self.per_minute};w={WINDOW_SECONDS}, '
            f'"burst";q={self.burst};w={self.burst_window}'
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # of the per-minute quota
    reset: float  # seconds until the per-minute quota is whole
    burst_remaining: int
    burst_reset: float
    retry_after: float  # seconds until a request would pass (0 when allowed)

    def headers(self, policy: Policy) -> dict[str, str]:
        headers = {
            "RateLimit-Policy": policy.header(),
            "RateLimit": (
                f'"default";r={max(self.remaining, 0)};t={math.ceil(self.reset)}, '
                f'"burst";r={max(self.burst_remaining, 0)};t={math.ceil(self.burst_reset)}'
            ),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after - 1e-6))


class RateLimiter:
    """Atomic check-and-record against Redis (``redis.asyncio``; never blocks the loop)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] | None = None,
        redis_client: aioredis.Redis | None = None,
    ):
        self.settings = settings
        self.policy = Policy.from_settings(settings)
        self.clock = clock  # None: the Redis server's clock
        self._fixed_client = redis_client
        self._clients: dict[int, tuple] = {}  # id(loop) -> (loop, client, script)

    def _redis(self) -> tuple[aioredis.Redis, object]:
        """This event loop's client and the script registered on it (EVALSHA, reloaded by
        redis-py if Redis lost it)."""
        if self._fixed_client is not None:
            return self._fixed_client, self._fixed_client.register_script(_SCRIPT)
        # one client per event loop: a redis.asyncio connection belongs to the loop it was made on
        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is None or entry[0] is not loop:
            # a blocking pool: under a flood, requests wait for a connection instead of failing
            # (a failure would fail open and let the flood through)
            client = make_async_client(
                self.settings,
                max_connections=POOL_CONNECTIONS,
                wait_s=POOL_WAIT_SECONDS,
                socket_timeout=2.0,
                socket_connect_timeout=2.0,
            )
            self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
            entry = self._clients[id(loop)] = (loop, client, client.register_script(_SCRIPT))
        return entry[1], entry[2]

    def keys(self, identity: str) -> list[str]:
        return ratelimit_keys(self.settings.key_prefix, identity)

    async def hit(self, identity: str, *, consume: bool = True, cost: int = 1) -> Decision:
        """Count ``cost`` requests for ``identity`` if both rules allow them all
        (``consume=False``: peek). ``cost`` is at most the burst (more could never pass)."""
        p = self.policy
        now = "" if self.clock is None else f"{self.clock():.6f}"
        _client, script = self._redis()
        cost = max(1, min(int(cost), p.burst, p.per_minute))
        args = [now, p.per_minute, WINDOW_SECONDS, repr(p.interval), p.burst, int(consume), cost]
        allowed, remaining, reset, burst_left, burst_reset, wait = await script(
            keys=self.keys(identity), args=args
        )
        return Decision(
            allowed=bool(allowed),
            remaining=int(remaining),
            reset=float(reset),
            burst_remaining=int(burst_left),
            burst_reset=float(burst_reset),
            retry_after=0.0 if allowed else float(wait),
        )

    async def reset(self, identity: str) -> None:
        await self._redis()[0].delete(*self.keys(identity))


def identity_for(scope, settings: Settings) -> str:
    """``sub:<client id>`` for a valid bearer token, else ``ip:<client address>`` (always the
    address when auth is disabled: every caller is then the same local principal)."""
    if settings.auth_disabled:
        return f"ip:{client_ip(scope, settings)}"
    authorization = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    principal = principal_from_headers(authorization, settings) if authorization else None
    if principal is not None:
        return f"sub:{principal.sub}"
    return f"ip:{client_ip(scope, settings)}"


def too_many_requests(
    decision: Decision, policy: Policy, path: str
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Too Many Requests",
            "status": 429,
            "detail": (
                f"rate limit of {policy.per_minute} requests per minute "
                f"(burst {policy.burst}) exceeded; retry in {decision.retry_after_seconds} s"
            ),
            "instance": path,
            "retry_after": decision.retry_after_seconds,
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in decision.headers(policy).items()]
    return body, headers


class RateLimitMiddleware:
    """ASGI middleware: count each HTTP request, refuse with 429, add the quota headers."""

    def __init__(self, app, settings: Settings, limiter: RateLimiter | None = None):
        self.app = app
        self.settings = settings
        self.limiter = limiter or RateLimiter(settings)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.settings.rate_limit_enabled:
            return await self.app(scope, receive, send)
        identity = identity_for(scope, self.settings)
        try:
            decision = await self.limiter.hit(identity, consume=not is_exempt(scope["path"]))
        except (RedisError, OSError) as exc:
            if self.settings.rate_limit_fail_open:
                log.warning("rate limiter unavailable, serving without a limit: %s", exc)
                return await self.app(scope, receive, send)
            log.error("rate limiter unavailable, refusing (rate_limit_fail_open=false): %s", exc)
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "detail": "the rate limiter cannot reach Redis",
                    "retry_after": 5,
                }
            ).encode()
            headers = [
                (b"content-type", b"application/problem+json"),
                (b"retry-after", b"5"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        policy = self.limiter.policy
        if not decision.allowed and not is_exempt(scope["path"]):
            # The metrics hook does blocking Redis I/O: keep it off the event loop.
            await asyncio.to_thread(metrics.rate_limit_rejection)
            body, headers = too_many_requests(decision, policy, scope["path"])
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in decision.headers(policy).items()]
        extra = [h for h in extra if h[0] != b"retry-after"]

        async def send_with_quota(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_quota)
