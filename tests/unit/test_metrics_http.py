"""GET /v1/metrics, the HTTP metrics middleware and request ids, on the real app and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.auth import mint_token
from tests.unit.obs_support import isolated_env, parse_samples, sample

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def obs_env(monkeypatch):
    yield from isolated_env(monkeypatch)


@pytest.fixture
def client(obs_env):
    from api.app import create_app

    settings, _ = obs_env
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def bearer(*scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token('ops-test', scopes)}"}


def test_metrics_needs_the_metrics_read_scope(client):
    assert client.get("/v1/metrics").status_code == 401
    refused = client.get("/v1/metrics", headers=bearer("jobs:read"))
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    ok = client.get("/v1/metrics", headers=bearer("metrics:read"))
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_requests_are_counted_by_route_template_method_and_status(client):
    auth = bearer("jobs:read", "metrics:read")
    for job_id in ("0" * 32, "1" * 32):
        assert client.get(f"/v1/jobs/{job_id}", headers=auth).status_code == 404
    assert client.get("/no/such/path", headers=auth).status_code == 404
    s = parse_samples(client.get("/v1/metrics?section=http", headers=auth).text)
    route = "/v1/jobs/{job_id}"
    assert sample(s, "pxl_http_requests_total", route=route, method="GET", status="404") >= 2
    assert (
        sample(s, "pxl_http_requests_total", route="<unmatched>", method="GET", status="404") >= 1
    )
    count = sample(s, "pxl_http_request_duration_seconds_count", route=route, method="GET")
    assert count >= 2
    assert (
        sample(s, "pxl_http_request_duration_seconds_bucket", route=route, method="GET", le="0.3")
        is not None
    )
    assert not any(name.startswith("pxl_http") and "0" * 32 in str(labels) for name, labels in s)


def test_label_values_cannot_be_chosen_by_clients(client):
    auth = bearer("metrics:read")
    client.request("FROBNICATE", "/v1/metrics", headers=auth)
    client.get("/random/path/abc123", headers=auth)
    s = parse_samples(client.get("/v1/metrics?section=http", headers=auth).text)
    methods = {dict(labels)["method"] for name, labels in s if name == "pxl_http_requests_total"}
    routes = {dict(labels)["route"] for name, labels in s if name == "pxl_http_requests_total"}
    assert "OTHER" in methods and "FROBNICATE" not in methods
    assert "<unmatched>" in routes and not any("abc123" in r for r in routes)


def test_sections_split_instance_and_fleet_series(client):
    auth = bearer("metrics:read")
    http_only = parse_samples(client.get("/v1/metrics?section=http", headers=auth).text)
    fleet_only = parse_samples(client.get("/v1/metrics?section=fleet", headers=auth).text)
    both = parse_samples(client.get("/v1/metrics", headers=auth).text)
    http_names = {name for name, _ in http_only}
    fleet_names = {name for name, _ in fleet_only}
    # this instance's series: its HTTP counters and the state of its coqchk stamp
    assert "pxl_coqchk_status" in http_names
    assert all(n.startswith("pxl_http_") or n == "pxl_coqchk_status" for n in http_names)
    assert "pxl_queue_depth" in fleet_names and not any(
        n.startswith("pxl_http_") for n in fleet_names
    )
    assert http_names | fleet_names == {name for name, _ in both}
    bad = client.get("/v1/metrics?section=everything", headers=auth)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_request_id_is_echoed_replaced_when_unsafe_or_generated(client):
    given = client.get("/v1/metrics", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert given.headers["x-request-id"] == "trace-42.a:b_c"
    unsafe = client.get("/v1/metrics", headers={"X-Request-ID": "bad id\nwith newline"})
    assert unsafe.headers["x-request-id"] != "bad id\nwith newline"
    assert len(unsafe.headers["x-request-id"]) == 32
    fresh = client.get("/v1/metrics")
    assert len(fresh.headers["x-request-id"]) == 32
    assert fresh.headers["x-request-id"] != unsafe.headers["x-request-id"]


def test_submitted_job_records_the_request_id(client, obs_env):
    settings, _ = obs_env
    auth = bearer("proofs:write", "jobs:read")
    answer = client.post(
        "/v1/proofs",
        json={"formula": "[](p -> p)"},
        headers={**auth, "X-Request-ID": "req-for-job-1"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["x-request-id"] == "req-for-job-1"
    assert answer.json()["request_id"] == "req-for-job-1"


def test_multiprocess_mode_sums_every_process(tmp_path, obs_env):
    """Two API processes count requests; a third process's scrape reports their sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    serve = textwrap.dedent(
        """
        import sys
        from fastapi.testclient import TestClient
        from api.app import create_app
        from api.auth import mint_token
        client = TestClient(create_app())
        auth = {"Authorization": "Bearer " + mint_token("mp", ["metrics:read"])}
        for _ in range(int(sys.argv[1])):
            assert client.get("/v1/metrics?section=fleet", headers=auth).status_code == 200
        """
    )
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", serve, str(n)], env=env, cwd=ROOT, check=True)
    scrape = textwrap.dedent(
        """
        from fastapi.testclient import TestClient
        from api.app import create_app
        from api.auth import mint_token
        auth = {"Authorization": "Bearer " + mint_token("mp", ["metrics:read"])}
        print(TestClient(create_app()).get("/v1/metrics?section=http", headers=auth).text)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", scrape],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    s = parse_samples(out)
    labels = {"route": "/v1/metrics", "method": "GET", "status": "200"}
    assert sample(s, "pxl_http_requests_total", **labels) == 7  # 3 + 4; its own is not done yet


def test_prepare_multiprocess_dir_creates_and_empties_it(tmp_path, monkeypatch):
    from api.metrics import prepare_multiprocess_dir

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert prepare_multiprocess_dir() is None
    target = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(target))
    assert prepare_multiprocess_dir() == target and target.is_dir()
    (target / "counter_123.db").write_bytes(b"old run")
    (target / "keep.txt").write_text("not ours")
    prepare_multiprocess_dir()
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_live_server_with_two_processes_reports_every_request(tmp_path, obs_env):
    """`pxl serve --workers 2`: whichever process answers a scrape, it counts all requests.
    (Which process takes which connection is the kernel's choice; test_multiprocess_mode_sums_
    every_process pins the summing down deterministically.)"""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PXL_RATE_LIMIT_ENABLED": "false",  # 30 quick requests from one client
    }
    code = "import sys; from api.cli import main; sys.exit(main())"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/metrics"
    auth = bearer("metrics:read")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, params={"section": "fleet"}, headers=auth, timeout=5)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        for _ in range(20):  # a new connection each: both processes answer some
            assert httpx.get(url, params={"section": "fleet"}, headers=auth).status_code == 200
        counts = []
        for _ in range(6):
            text = httpx.get(url, params={"section": "http"}, headers=auth).text
            labels = {"route": "/v1/metrics", "method": "GET", "status": "200"}
            counts.append(sample(parse_samples(text), "pxl_http_requests_total", **labels))
        # the first probe + 20 requests, plus the scrapes before each reading
        assert counts == [21 + i for i in range(6)], counts
    finally:
        server.terminate()
        server.wait(30)
