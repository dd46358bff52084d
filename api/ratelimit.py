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
import contextlib
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
from workers.limits import RATE_LIMIT_LUA
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
# ARGV: workers.limits.ARGS (now "" = Redis TIME, quota per window, window s, emission
# interval s, burst, consume 0/1, cost)
_SCRIPT = RATE_LIMIT_LUA + "return rate_limit(KEYS[1], KEYS[2], unpack(ARGV, 1, 7))\n"


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


def decision_from_reply(reply) -> Decision:
    """The decision in the reply of the limiter's Lua function (workers.limits)."""
    allowed, remaining, reset, burst_left, burst_reset, wait = reply
    return Decision(
        allowed=bool(int(allowed)),
        remaining=int(remaining),
        reset=float(reset),
        burst_remaining=int(burst_left),
        burst_reset=float(burst_reset),
        retry_after=0.0 if int(allowed) else float(wait),
    )


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

    def script_args(self, identity: str, *, consume: bool = True,
                    cost: int = 1) -> tuple[list[str], list]:
        """The keys and arguments (workers.limits.ARGS) of one charge of ``identity``, for
        this limiter's script or the job store's submission script."""
        p = self.policy
        now = "" if self.clock is None else f"{self.clock():.6f}"
        cost = max(1, min(int(cost), p.burst, p.per_minute))
        args = [now, p.per_minute, WINDOW_SECONDS, repr(p.interval), p.burst, int(consume), cost]
        return self.keys(identity), args

    async def hit(self, identity: str, *, consume: bool = True, cost: int = 1) -> Decision:
        """Count ``cost`` requests for ``identity`` if both rules allow them all
        (``consume=False``: peek). ``cost`` is at most the burst (more could never pass)."""
        _client, script = self._redis()
        keys, args = self.script_args(identity, consume=consume, cost=cost)
        return decision_from_reply(await script(keys=keys, args=args))

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


# Submissions whose route charges the limiter itself, in the submission's own round trip
# (DeferredCharge): POST only, and only these routes' handlers, which settle the charge
# before any other side effect.
DEFERRED_PATHS = frozenset({"/v1/proofs", "/v1/overlays/chrono", "/v1/overlays/v4"})
_STATE_KEY = "pxl_rate_limit_charge"


class DeferredCharge:
    """The rate-limit charge of a job submission, left by the middleware to the route.

    The route either hands it to the job store's submission script (``keys_and_args`` in,
    ``record`` of the reply: one round trip for the limit and the job), or, on any other
    path that has side effects, ``settle``s it first.  A response that went out without
    either (a 4xx before the submission, an error) is charged by the middleware before it
    is sent, exactly as if the middleware had charged it first: so every request counts,
    and a refused one is a 429 whatever the route would have answered."""

    __slots__ = ("decision", "identity", "limiter", "unavailable")

    def __init__(self, limiter: RateLimiter, identity: str):
        self.limiter = limiter
        self.identity = identity
        self.decision: Decision | None = None
        self.unavailable: Exception | None = None  # the limiter's Redis failed

    @property
    def settled(self) -> bool:
        return self.decision is not None or self.unavailable is not None

    def keys_and_args(self) -> tuple[list[str], list]:
        """For the job store's submission script (workers.limits' function)."""
        return self.limiter.script_args(self.identity)

    def record(self, reply) -> None:
        """The decision the submission script made (its limiter values)."""
        self.decision = decision_from_reply(reply)

    async def settle(self) -> bool:
        """Charge now, unless already charged; whether the request may go on (False: the
        route answers anything and the middleware turns it into the 429 or 503)."""
        if not self.settled:
            try:
                self.decision = await self.limiter.hit(self.identity)
            except (RedisError, OSError) as exc:
                self.unavailable = exc
        if self.unavailable is not None:
            return self.limiter.settings.rate_limit_fail_open
        return self.decision.allowed


def deferred_charge(scope) -> DeferredCharge | None:
    """The request's charge left to its route (None: the middleware charged it already, or
    the limiter is off)."""
    return scope.get("state", {}).get(_STATE_KEY)


def unavailable_response() -> tuple[bytes, list[tuple[bytes, bytes]]]:
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
    return body, headers


class RateLimitMiddleware:
    """ASGI middleware: count each HTTP request, refuse with 429, add the quota headers."""

    def __init__(self, app, settings: Settings, limiter: RateLimiter | None = None):
        self.app = app
        self.settings = settings
        self.limiter = limiter or RateLimiter(settings)
        # The submission script uses the job store's Redis: a limiter given a client of its
        # own (tests) charges every request here.
        self.defer = self.limiter._fixed_client is None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.settings.rate_limit_enabled:
            return await self.app(scope, receive, send)
        identity = identity_for(scope, self.settings)
        if self.defer and scope["method"] == "POST" and scope["path"] in DEFERRED_PATHS:
            return await self._deferred(scope, receive, send, identity)
        try:
            decision = await self.limiter.hit(identity, consume=not is_exempt(scope["path"]))
        except (RedisError, OSError) as exc:
            if self.settings.rate_limit_fail_open:
                log.warning("rate limiter unavailable, serving without a limit: %s", exc)
                return await self.app(scope, receive, send)
            log.error("rate limiter unavailable, refusing (rate_limit_fail_open=false): %s", exc)
            await self._send_unavailable(send)
            return
        if not decision.allowed and not is_exempt(scope["path"]):
            await self._send_refusal(send, decision, scope["path"])
            return
        extra = self._quota_headers(decision)

        async def send_with_quota(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_quota)

    def _quota_headers(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        extra = [(k.lower().encode(), v.encode())
                 for k, v in decision.headers(self.limiter.policy).items()]
        return [h for h in extra if h[0] != b"retry-after"]

    async def _send_refusal(self, send, decision: Decision, path: str) -> None:
        # The metrics hook does blocking Redis I/O: keep it off the event loop.
        await asyncio.to_thread(metrics.rate_limit_rejection)
        body, headers = too_many_requests(decision, self.limiter.policy, path)
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _send_unavailable(self, send) -> None:
        body, headers = unavailable_response()
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _deferred(self, scope, receive, send, identity: str) -> None:
        """A submission: its route charges the limiter (DeferredCharge); whatever it
        answers without that is charged here before it goes out."""
        charge = DeferredCharge(self.limiter, identity)
        scope.setdefault("state", {})[_STATE_KEY] = charge
        replaced = False  # the route's answer was replaced by the limiter's

        async def send_after_charge(message):
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                await charge.settle()
                if charge.unavailable is not None:
                    if not self.settings.rate_limit_fail_open:
                        log.error("rate limiter unavailable, refusing "
                                  "(rate_limit_fail_open=false): %s", charge.unavailable)
                        replaced = True
                        await self._send_unavailable(send)
                        return
                    log.warning("rate limiter unavailable, serving without a limit: %s",
                                charge.unavailable)
                elif not charge.decision.allowed:
                    replaced = True
                    await self._send_refusal(send, charge.decision, scope["path"])
                    return
                else:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      *self._quota_headers(charge.decision)]}
            await send(message)

        try:
            await self.app(scope, receive, send_after_charge)
        finally:
            if not charge.settled:  # no answer went out (an error): counted all the same
                with contextlib.suppress(Exception):
                    await charge.settle()
