"""Security and provenance headers, proxy trust and CORS on a small app (no Redis needed)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import HTMLResponse, Response

from api import problems, provenance
from api.proxies import client_ip, request_scheme
from api.security import (
    API_CSP,
    CONSOLE_CSP,
    check_cors_origins,
    install,
)
from workers.settings import Settings


def settings(**overrides) -> Settings:
    # no coqchk stamp (whether or not this checkout has built one): X-PXL-Coqchk is "unchecked"
    values = {"rate_limit_enabled": False, "jwt_secret": "k" * 40, "coqchk_result_file": ""}
    values.update(overrides)
    return Settings(**values)


def scope(peer="192.0.2.10", headers=(), scheme="http"):
    return {
        "type": "http",
        "client": (peer, 1234),
        "scheme": scheme,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }


# --- proxy trust ------------------------------------------------------------------------------


def test_forwarded_for_ignored_without_trusted_proxies():
    s = settings()
    assert client_ip(scope(headers=[("X-Forwarded-For", "1.1.1.1")]), s) == "192.0.2.10"
    assert request_scheme(scope(headers=[("X-Forwarded-Proto", "https")]), s) == "http"


def test_forwarded_for_from_trusted_proxy_chain():
    s = settings(trusted_proxies=["10.0.0.0/8", "192.0.2.10"])
    chain = [("X-Forwarded-For", "203.0.113.9, 198.51.100.1, 10.1.2.3")]
    # right to left: 10.1.2.3 is a trusted hop, 198.51.100.1 is the first untrusted: the client
    assert client_ip(scope(headers=chain), s) == "198.51.100.1"
    assert client_ip(scope(headers=[("X-Forwarded-For", "10.0.0.1, 10.0.0.2")]), s) == "10.0.0.1"
    assert client_ip(scope(headers=[("X-Forwarded-For", "junk, 10.0.0.2")]), s) == "10.0.0.2"
    assert client_ip(scope(), s) == "192.0.2.10"  # trusted peer without the header
    split = [("X-Forwarded-For", "198.51.100.4"), ("X-Forwarded-For", "10.0.0.7")]
    assert client_ip(scope(headers=split), s) == "198.51.100.4"
    untrusted_peer = scope(peer="198.51.100.50", headers=chain)
    assert client_ip(untrusted_peer, s) == "198.51.100.50"
    assert request_scheme(scope(headers=[("X-Forwarded-Proto", "https")]), s) == "https"
    assert (
        request_scheme(scope(peer="198.51.100.50", headers=[("X-Forwarded-Proto", "https")]), s)
        == "http"
    )


def test_ipv6_peers():
    s = settings(trusted_proxies=["::1"])
    assert (
        client_ip(scope(peer="::1", headers=[("X-Forwarded-For", "2001:db8::5")]), s)
        == "2001:db8::5"
    )


def test_cors_origins_must_be_exact():
    assert check_cors_origins(["https://a.example", "http://localhost:5173"])
    for bad in (["*"], ["https://*.example"], ["https://a.example/"], ["a.example"]):
        with pytest.raises(ValueError):
            check_cors_origins(bad)


# --- the middleware on a small app -------------------------------------------------------------


def small_app(s: Settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = s
    problems.install(app)

    @app.get("/v1/thing")
    def thing():
        return {"ok": True}

    @app.get("/console/")
    def console():
        return HTMLResponse("<!doctype html><title>console</title>")

    @app.get("/v1/own-csp")
    def own_csp():
        return Response("x", headers={"Content-Security-Policy": "sandbox"})

    @app.get("/v1/boom")
    def boom():
        raise problems.ProblemError("job-not-found", "nope")

    install(app, s)
    return app


EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_headers_on_success_errors_and_unknown_routes():
    s = settings()
    client = TestClient(small_app(s))
    values = provenance.provenance(s)
    for path in ("/v1/thing", "/v1/boom", "/nowhere", "/v1/auth/token"):
        response = client.get(path)
        for name, value in EXPECTED.items():
            assert response.headers[name] == value, path
        assert response.headers["content-security-policy"] == API_CSP
        assert response.headers["x-build-sha"] == values["build_sha"]
        assert response.headers["x-v4-sha"] == values["v4_sha"]
        assert response.headers["x-pxl-coqchk"] == values["coqchk"] == "unchecked"
        assert "strict-transport-security" not in response.headers


def test_console_pages_get_the_console_csp_and_routes_may_set_their_own():
    client = TestClient(small_app(settings()))
    assert client.get("/console/").headers["content-security-policy"] == CONSOLE_CSP
    assert "unsafe-inline" not in CONSOLE_CSP
    assert client.get("/v1/own-csp").headers["content-security-policy"] == "sandbox"


def test_hsts_on_https_only():
    app = small_app(settings())
    https = TestClient(app, base_url="https://api.example").get("/v1/thing")
    assert https.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert "strict-transport-security" not in TestClient(app).get("/v1/thing").headers


def test_cors_preflights():
    client = TestClient(small_app(settings(cors_origins=["https://ok.example"])))
    ok = client.options(
        "/v1/thing",
        headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "GET"},
    )
    assert (
        ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ok.example"
    )
    refused = client.options(
        "/v1/thing",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 400
    assert refused.headers["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in refused.headers


# --- provenance values ----------------------------------------------------------------------------


def test_build_sha_prefers_the_build_info_file(tmp_path):
    info = tmp_path / "build_info.json"
    info.write_text(json.dumps({"build_sha": "abc123"}))
    assert provenance.build_sha(info) == "abc123"


def test_build_sha_from_the_checkout_or_unknown(tmp_path, monkeypatch):
    missing = tmp_path / "none.json"
    head = subprocess.run(
        ["git", "-C", str(provenance.SOURCE_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
    )
    if head.returncode == 0:
        assert provenance.build_sha(missing).split("-")[0] == head.stdout.strip()
    monkeypatch.setattr(provenance, "SOURCE_ROOT", tmp_path)  # not a checkout
    assert provenance.build_sha(missing) == "unknown"


def test_write_build_info(tmp_path):
    path = tmp_path / "b.json"
    assert provenance.write_build_info("deadbeef", path) == "deadbeef"
    assert provenance.build_sha(path) == "deadbeef"


def test_v4_sha_is_the_adapter_table_hash():
    from workers.overlays.v4 import ADAPTER_TABLE, canonical_json

    assert provenance.v4_sha() == hashlib.sha256(canonical_json(ADAPTER_TABLE)).hexdigest()


def test_coqchk_states(tmp_path):
    assert provenance.coqchk_status(None) == "unchecked"
    assert provenance.coqchk_status("") == "unchecked"
    assert provenance.coqchk_status(tmp_path / "absent.json") == "unchecked"
    kernel = tmp_path / "Kernel.v"
    kernel.write_text("Theorem t : True. Proof. exact I. Qed.\n")
    (tmp_path / "Kernel.vo").write_bytes(b"compiled")
    digest, files = provenance.file_digests(tmp_path, ["Kernel.v", "Kernel.vo"])
    assert files["Kernel.v"] == hashlib.sha256(kernel.read_bytes()).hexdigest()
    result = tmp_path / "coqchk.json"
    stamp = {
        "status": "passed",
        "sources_sha256": digest,
        "files": files,
        "coqchk_version": "8.20.1",
    }
    result.write_text(json.dumps(stamp))
    assert provenance.coqchk_status(result) == f"passed kernel-sha256={digest} coqchk=8.20.1"
    kernel.write_text("Axiom cheat : False.\n")  # the kernel changed after the check
    assert provenance.coqchk_status(result).startswith(f"stale kernel-sha256={digest}")
    (tmp_path / "Kernel.vo").unlink()  # or its build vanished
    assert provenance.coqchk_status(result).startswith("stale ")
    result.write_text(json.dumps({**stamp, "status": "verified!!"}))
    assert provenance.coqchk_status(result) == "unchecked"
    result.write_text(json.dumps({**stamp, "files": {}}))
    assert provenance.coqchk_status(result) == "unchecked"
    result.write_text("not json")
    assert provenance.coqchk_status(result) == "unchecked"


def test_coqchk_metric_without_a_stamp_is_unchecked():
    from api.metrics import render

    text = render(["http"], settings()).decode()
    assert 'pxl_coqchk_status{status="unchecked"} 1.0' in text
    assert 'pxl_coqchk_status{status="passed"} 0.0' in text
