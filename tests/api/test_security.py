"""Security of the whole app (create_app) on the real Redis: auth on every route, isolation,
rate limits shared between app instances, proxy trust, CORS, headers, SSRF, body limits,
backpressure. Redis DB from PXL_TEST_REDIS_DB; every key under a per-test prefix, removed after.
"""

from __future__ import annotations

import base64
import uuid

import pytest
import redis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import mint_token
from api.provenance import provenance
from tests.environment import redis_url
from workers.clients import hash_secret
from workers.settings import Settings

pytestmark = pytest.mark.integration

REDIS_URL = redis_url()
KEY = base64.urlsafe_b64encode(b"security-tests-signing-key-0123456789").decode()
ORIGIN = "https://console.example.org"
OPEN_ROUTES = {"/v1/health", "/v1/auth/token"}
FORMULA = {"formula": "[]p -> p"}
CLIENT_SECRET = "carol-secret-0123456789"


class FakeClock:
    def __init__(self, start: float = 1_900_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


OTHER_CLIENTS_HASH = hash_secret("not-used-by-these-tests")


@pytest.fixture()
def make_settings():
    prefixes: list[str] = []

    def make(**overrides) -> Settings:
        tag = uuid.uuid4().hex[:8]
        prefix = overrides.pop("key_prefix", f"pxltest-sec-{tag}:")
        prefixes.append(prefix)
        values = {
            "redis_url": REDIS_URL,
            "key_prefix": prefix,
            "queue_name": f"pxltest-sec-{tag}",
            "jwt_secret": KEY,
            "auth_disabled": False,
            "coqchk_result_file": "",  # no stamp, whatever this checkout built: "unchecked"
            "webhook_allowlist": [],
            "cors_origins": [ORIGIN],
            "rate_limit_per_minute": 100_000,
            "rate_limit_burst": 100_000,
            "clients": {
                "clients": {
                    "carol": {
                        "secret_hash": hash_secret(CLIENT_SECRET),
                        "scopes": ["proofs:write", "jobs:read"],
                    },
                    # with a registry, only configured clients' tokens are honoured
                    **{sub: {"secret_hash": OTHER_CLIENTS_HASH} for sub in ("alice", "bob", "a")},
                }
            },
        }
        values.update(overrides)
        prefixes.append(values["queue_name"])
        return Settings(**values)

    yield make
    r = redis.Redis.from_url(REDIS_URL)
    for prefix in prefixes:
        keys = list(r.scan_iter(f"{prefix}*"))
        if keys:
            r.delete(*keys)


@pytest.fixture()
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture()
def client(settings) -> TestClient:
    with TestClient(create_app(settings)) as c:
        yield c


def auth(sub: str, scopes=("proofs:write", "jobs:read"), settings=None, **kw) -> dict:
    return {"Authorization": f"Bearer {mint_token(sub, scopes, settings=settings, **kw)}"}


def api_routes(routes, prefix=""):
    """Every APIRoute of the app, also inside included routers (FastAPI keeps those nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def protected_operations(app):
    for full_path, route in api_routes(app.routes):
        if full_path.startswith("/v1") and full_path not in OPEN_ROUTES:
            path = full_path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", "0123456789abcdef0123456789abcdef")
            for method in sorted(route.methods - {"HEAD"}):
                yield method, path


def api_routes_templates(app):
    for full_path, route in api_routes(app.routes):
        if full_path.startswith("/v1") and full_path not in OPEN_ROUTES:
            for method in route.methods - {"HEAD"}:
                yield method, full_path


def call(client, method, path, headers=None):
    kwargs = {"json": FORMULA} if method == "POST" else {}
    return client.request(method, path, headers=headers or {}, **kwargs)


# --- authentication on every route -----------------------------------------------------------


def test_every_v1_route_but_health_and_token_needs_a_valid_token(client, settings):
    operations = list(protected_operations(client.app))
    documented = {
        (method.upper(), path)
        for path, item in client.app.openapi()["paths"].items()
        for method in item
        if path.startswith("/v1") and path not in OPEN_ROUTES
    }
    walked = {(m, p) for m, p in api_routes_templates(client.app)}
    assert documented <= walked and ("POST", "/v1/proofs") in walked  # nothing escapes the walk
    expired = auth("alice", settings=settings, ttl=-3600)["Authorization"]
    other_key = Settings(jwt_secret="x" * 40)
    forged = auth("alice", settings=other_key)["Authorization"]
    for method, path in operations:
        missing = call(client, method, path)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.headers["www-authenticate"] == 'Bearer realm="pxl"'
        assert missing.headers["content-type"] == "application/problem+json"
        for bad in ("Bearer not.a.jwt", expired, forged):
            response = call(client, method, path, {"Authorization": bad})
            assert response.status_code == 401, (method, path, bad)
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
        no_scope = call(client, method, path, auth("alice", (), settings))
        assert no_scope.status_code == 403, (method, path, no_scope.text)
        assert 'error="insufficient_scope"' in no_scope.headers["www-authenticate"]


def test_submission_needs_proofs_write_and_reading_needs_jobs_read(client, settings):
    read_only = auth("alice", ("jobs:read",), settings)
    assert client.post("/v1/proofs", json=FORMULA, headers=read_only).status_code == 403
    write_only = auth("alice", ("proofs:write",), settings)
    created = client.post("/v1/proofs", json=FORMULA, headers=write_only)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=write_only).status_code == 403
    assert client.get(f"/v1/jobs/{job_id}", headers=read_only).status_code == 200


def test_health_and_token_routes_are_open(client):
    assert client.get("/v1/health").status_code == 200  # no token; 200 even with no worker
    token = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("carol", CLIENT_SECRET),
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    created = client.post("/v1/proofs", json=FORMULA, headers=bearer)
    assert created.status_code == 202, created.text
    assert created.json()["owner"] == "carol"


# --- isolation -------------------------------------------------------------------------------


def test_another_clients_job_is_404_on_every_route(client, settings):
    alice, bob = auth("alice", settings=settings), auth("bob", settings=settings)
    created = client.post("/v1/proofs", json=FORMULA, headers=alice)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.json()["owner"] == "alice"

    for method, path in (
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/proofs/{job_id}"),
        ("DELETE", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/events"),
    ):
        response = client.request(method, path, headers=bob)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "alice" not in response.text

    listed = client.get("/v1/jobs", headers=bob)
    assert listed.status_code == 200 and listed.json()["items"] == []
    # bob's DELETE did nothing; alice still sees her job, queued, in GET and listing
    mine = client.get(f"/v1/jobs/{job_id}", headers=alice)
    assert mine.status_code == 200 and mine.json()["status"] == "queued"
    assert [j["id"] for j in client.get("/v1/jobs", headers=alice).json()["items"]] == [job_id]
    unknown = client.get(f"/v1/jobs/{uuid.uuid4().hex}", headers=bob)
    assert unknown.status_code == 404
    assert unknown.json()["type"] == client.get(f"/v1/jobs/{job_id}", headers=bob).json()["type"]


def test_idempotency_keys_are_per_client(client, settings):
    key = {"Idempotency-Key": "same-key-123"}
    a = client.post("/v1/proofs", json=FORMULA, headers={**auth("alice", settings=settings), **key})
    b = client.post("/v1/proofs", json=FORMULA, headers={**auth("bob", settings=settings), **key})
    assert a.status_code == 202 and b.status_code == 202
    assert a.json()["id"] != b.json()["id"] and b.json()["owner"] == "bob"


# --- rate limits through the app --------------------------------------------------------------


def limited_app(make_settings, clock=None, **overrides):
    app = create_app(make_settings(**overrides))
    if clock is not None:
        app.state.rate_limiter.clock = clock
    return app


def test_default_limits_101st_request_in_a_minute_is_429(make_settings):
    clock = FakeClock()
    settings = make_settings(rate_limit_per_minute=100, rate_limit_burst=20)
    app = create_app(settings)
    app.state.rate_limiter.clock = clock
    alice = auth("alice", ("jobs:read",), settings)
    with TestClient(app) as client:
        statuses = []
        for _ in range(100):
            statuses.append(client.get("/v1/jobs", headers=alice).status_code)
            clock.now += 0.59
        assert statuses == [200] * 100
        refused = client.get("/v1/jobs", headers=alice)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-policy"] == '"default";q=100;w=60, "burst";q=20;w=12'
        assert refused.headers["ratelimit"].startswith('"default";r=0;')
        for header, value in {**provenance(settings), "x-content-type-options": "nosniff"}.items():
            name = {"build_sha": "x-build-sha", "v4_sha": "x-v4-sha", "coqchk": "x-pxl-coqchk"}.get(
                header, header
            )
            assert refused.headers[name] == value
        # another client is not affected
        assert (
            client.get("/v1/jobs", headers=auth("bob", ("jobs:read",), settings)).status_code == 200
        )


def test_burst_of_20_then_429_and_quota_on_every_response(make_settings):
    clock = FakeClock()
    settings = make_settings(rate_limit_per_minute=100, rate_limit_burst=20)
    app = create_app(settings)
    app.state.rate_limiter.clock = clock
    alice = auth("alice", ("jobs:read",), settings)
    with TestClient(app) as client:
        responses = [client.get("/v1/jobs", headers=alice) for _ in range(21)]
    assert [r.status_code for r in responses] == [200] * 20 + [429]
    assert responses[0].headers["ratelimit"] == '"default";r=99;t=60, "burst";r=19;t=1'
    assert responses[19].headers["ratelimit"].endswith('"burst";r=0;t=12')
    assert responses[20].headers["retry-after"] == "1"
    assert all("ratelimit" in r.headers and "ratelimit-policy" in r.headers for r in responses)


def test_two_app_instances_share_one_limit_through_redis(make_settings):
    shared = make_settings(rate_limit_per_minute=6, rate_limit_burst=6)
    one, two = create_app(shared), create_app(shared.model_copy())
    assert one.state.rate_limiter is not two.state.rate_limiter
    alice = auth("alice", ("jobs:read",), shared)
    with TestClient(one) as c1, TestClient(two) as c2:
        statuses = [
            (c1 if i % 2 else c2).get("/v1/jobs", headers=alice).status_code for i in range(8)
        ]
    assert statuses == [200] * 6 + [429, 429]


def test_requests_without_token_are_limited_per_ip_and_xff_is_ignored(make_settings):
    app = limited_app(make_settings, rate_limit_per_minute=3, rate_limit_burst=3)
    with TestClient(app) as client:
        statuses = [
            client.get("/v1/jobs", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(5)
        ]
        # invalid tokens count against the IP too (a forged sub cannot buy a fresh quota)
        forged = client.get("/v1/jobs", headers={"Authorization": "Bearer x.y.z"})
    assert statuses == [401, 401, 401, 429, 429]
    assert forged.status_code == 429


def test_xff_from_a_trusted_proxy_separates_clients(make_settings):
    app = limited_app(
        make_settings,
        rate_limit_per_minute=2,
        rate_limit_burst=2,
        trusted_proxies=["127.0.0.0/8"],
    )
    # the test client connects from 127.0.0.1: the proxy
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        first = [
            client.get("/v1/jobs", headers={"X-Forwarded-For": "198.51.100.7"}) for _ in range(3)
        ]
        second = client.get("/v1/jobs", headers={"X-Forwarded-For": "198.51.100.8"})
        spoof = client.get("/v1/jobs", headers={"X-Forwarded-For": "198.51.100.9, 198.51.100.7"})
    assert [r.status_code for r in first] == [401, 401, 429]
    assert second.status_code == 401  # a different client behind the proxy has its own quota
    assert (
        spoof.status_code == 429
    )  # the left part is the client's to invent; the proxy's hop counts


def test_health_is_exempt_but_reports_the_quota(make_settings):
    app = limited_app(make_settings, rate_limit_per_minute=2, rate_limit_burst=2)
    with TestClient(app) as client:
        statuses = [client.get("/v1/health").status_code for _ in range(5)]
        assert 429 not in statuses
        assert client.get("/v1/health").headers["ratelimit"].startswith('"default";r=2;')


def _jobs_of(app, owner: str) -> list[str]:
    store = app.state.store
    return store.r.zrange(store.owner_key(owner), 0, -1)


@pytest.mark.parametrize("path, body", [
    ("/v1/proofs", FORMULA),
    ("/v1/overlays/chrono", {"operation": "validate", "formula": "Next(p)"}),
])
@pytest.mark.parametrize("wait", [False, True])
def test_a_submission_is_charged_in_its_own_round_trip_with_the_same_answers(
        make_settings, path, body, wait):
    """POST /v1/proofs and /v1/overlays/*: the route charges the limiter in the submission's
    script (api.ratelimit.DeferredCharge). Every answer is the middleware's: the quota on
    each, the 429 problem when refused, and a refused submission writes nothing."""
    clock = FakeClock()
    app = limited_app(make_settings, clock, rate_limit_per_minute=6, rate_limit_burst=3)
    scopes = ("proofs:write", "overlays:write", "jobs:read")
    alice = auth("alice", scopes, app.state.settings)
    headers = {**alice, "Prefer": "wait=2"} if wait else alice
    with TestClient(app) as client:
        responses = [client.post(path, json=body, headers=headers) for _ in range(4)]
        assert [r.status_code for r in responses] == [202, 202, 202, 429]
        assert responses[0].headers["ratelimit"] == '"default";r=5;t=60, "burst";r=2;t=10'
        assert responses[2].headers["ratelimit"] == '"default";r=3;t=60, "burst";r=0;t=30'
        refused = responses[3]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 429 and refused.json()["instance"] == path
        assert refused.headers["retry-after"] == "10"
        assert refused.headers["ratelimit-policy"] == '"default";q=6;w=60, "burst";q=3;w=30'
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert sorted(_jobs_of(app, "alice")) == sorted(r.json()["id"] for r in responses[:3])
        clock.now += 10  # one token back
        assert client.post(path, json=body, headers=alice).status_code == 202


def test_every_answer_of_a_submission_route_is_charged_first(make_settings):
    """What the route answers without submitting (401, 422, 400, an Idempotency-Key's
    thread) counts as before; once the limit is reached the answer is the 429, whatever the
    body, and nothing is written."""
    clock = FakeClock()
    app = limited_app(make_settings, clock, rate_limit_per_minute=100, rate_limit_burst=5)
    settings = app.state.settings
    alice = auth("alice", ("proofs:write", "jobs:read"), settings)
    with TestClient(app) as client:
        assert client.post("/v1/proofs", json={"formula": "p &"},
                           headers=alice).status_code == 422
        assert client.post("/v1/proofs", content=b"{", headers={
            **alice, "content-type": "application/json"}).status_code == 400
        keyed = {**alice, "Idempotency-Key": "key-1"}
        first = client.post("/v1/proofs", json=FORMULA, headers=keyed)
        assert first.status_code == 202 and "ratelimit" in first.headers
        assert client.post("/v1/proofs", json=FORMULA, headers=keyed).json()["id"] \
            == first.json()["id"]  # a replay counts too
        assert client.post("/v1/proofs", json=FORMULA, headers=alice).status_code == 202
        for headers in (alice, {**alice, "Idempotency-Key": "key-2"}):
            assert client.post("/v1/proofs", json=FORMULA, headers=headers).status_code == 429
        assert client.post("/v1/proofs", json={"formula": "p &"},
                           headers=alice).status_code == 429
        assert len(_jobs_of(app, "alice")) == 2
        # without a token: counted against the address, before the 401
        statuses = [client.post("/v1/proofs", json=FORMULA).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]


def test_a_submission_route_fails_open_or_closed_as_the_limiter_does(make_settings):
    """The limiter's Redis down: the submission (same Redis) fails; the answer is the
    route's 503 when the limiter fails open, the limiter's own 503 when it fails closed."""
    for fail_open in (True, False):
        app = limited_app(make_settings, redis_url="redis://127.0.0.1:1/0",
                          rate_limit_fail_open=fail_open)
        alice = auth("alice", ("proofs:write",), app.state.settings)
        with TestClient(app) as client:
            response = client.post("/v1/proofs", json=FORMULA, headers=alice)
        assert response.status_code == 503, response.text
        assert "ratelimit" not in response.headers
        detail = response.json().get("detail", "")
        assert ("rate limiter" in detail) is (not fail_open)


# --- headers, CORS ------------------------------------------------------------------------------


def test_security_and_provenance_headers_on_success_and_errors(client, settings):
    expected = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "x-build-sha": provenance(settings)["build_sha"],
        "x-v4-sha": provenance(settings)["v4_sha"],
        "x-pxl-coqchk": "unchecked",
    }
    responses = [
        client.get("/v1/health"),
        client.get("/v1/jobs"),  # 401
        client.get("/v1/jobs", headers=auth("alice", settings=settings)),
        client.get("/no/such/route"),
        client.post(
            "/v1/proofs",
            content=b"{",
            headers={**auth("a", settings=settings), "Content-Type": "application/json"},
        ),
    ]
    for response in responses:
        for name, value in expected.items():
            assert response.headers.get(name) == value, (response.request.url, name)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "strict-transport-security" not in response.headers  # plain http


def test_hsts_only_over_https(make_settings):
    app = create_app(make_settings(trusted_proxies=["127.0.0.1"]))
    with TestClient(app, base_url="https://api.example.org") as tls:
        assert tls.get("/v1/health").headers["strict-transport-security"].startswith("max-age=")
    with TestClient(app, client=("127.0.0.1", 40000)) as proxied:
        via_proxy = proxied.get("/v1/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" in via_proxy.headers
    with TestClient(app, client=("192.0.2.1", 40000)) as direct:
        spoofed = direct.get("/v1/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in spoofed.headers


def test_cors_preflight_allowed_origin(client):
    response = client.options(
        "/v1/proofs",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"
    simple = client.get("/v1/health", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "ratelimit" in simple.headers["access-control-expose-headers"].lower()


def test_cors_preflight_refused_origin(client):
    for origin in ("https://evil.example", "https://console.example.org.evil.example", "null"):
        response = client.options(
            "/v1/proofs",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 400, origin
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["content-type"] == "application/problem+json"
        simple = client.get("/v1/health", headers={"Origin": origin})
        assert "access-control-allow-origin" not in simple.headers


def test_cors_wildcard_configuration_is_refused(make_settings):
    with pytest.raises(ValueError, match="exact origins"):
        create_app(make_settings(cors_origins=["*"]))
    with pytest.raises(ValueError, match="PXL_TRUSTED_PROXIES"):
        create_app(make_settings(trusted_proxies=["proxy.internal"]))


# --- SSRF, body limits, backpressure ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",  # a name that resolves to a private (loopback) address
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "ftp://example.org/hook",
        "file:///etc/passwd",
    ],
)
def test_ssrf_callback_urls_are_422(client, settings, url):
    response = client.post(
        "/v1/proofs",
        json={**FORMULA, "callback_url": url},
        headers=auth("alice", settings=settings),
    )
    assert response.status_code == 422, (url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/jobs", headers=auth("alice", settings=settings)).json()["items"] == []


def test_oversized_bodies_are_413(client, settings):
    alice = auth("alice", settings=settings)
    big = b'{"formula": "' + b"p & " * (settings.max_body_bytes // 4 + 10) + b'p"}'
    declared = client.post(
        "/v1/proofs", content=big, headers={**alice, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"

    def chunks():
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    streamed = client.post(
        "/v1/proofs", content=chunks(), headers={**alice, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert client.get("/v1/jobs", headers=alice).json()["items"] == []


def test_backpressure_503_on_submissions_while_reads_work(make_settings):
    settings = make_settings(max_queue_depth=1)
    alice = auth("alice", settings=settings)
    with TestClient(create_app(settings)) as client:
        statuses = [client.post("/v1/proofs", json=FORMULA, headers=alice) for _ in range(4)]
        codes = [r.status_code for r in statuses]
        assert codes[0] == 202 and codes[-1] == 503, codes
        refused = statuses[-1]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-type"] == "application/problem+json"
        listing = client.get("/v1/jobs", headers=alice)
        assert listing.status_code == 200 and len(listing.json()["items"]) == codes.count(202)
        job_id = statuses[0].json()["id"]
        assert client.get(f"/v1/jobs/{job_id}", headers=alice).status_code == 200
