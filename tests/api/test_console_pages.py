"""The console's pages and files as served: HTML under the strict console CSP, nothing inline,
static files not counted against the rate limit, and the console's copies of facts that live
elsewhere (examples, the queue SLO) still agree with their sources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.routes.console import CONSOLE_DIR, PAGES
from api.security import CONSOLE_CSP

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((CONSOLE_DIR / "js").glob("*.js"))


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_are_html_under_the_console_csp(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONSOLE_CSP
    assert "'unsafe-inline'" not in CONSOLE_CSP
    assert response.headers["x-build-sha"] and response.headers["x-v4-sha"]
    html = response.text
    # every script is a file of this origin and there is no inline style anywhere
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all('src="/console/js/' in s and 'type="module"' in s for s in scripts)
    assert all(not body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S))
    assert "<style" not in html and " style=" not in html
    assert re.search(r"<title>[^<]*LOGOS PXL Core", html)


def test_scripts_build_no_html_from_strings_and_set_no_inline_styles():
    assert SCRIPTS
    for script in SCRIPTS:
        text = script.read_text()
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                          ".style.", '"style"', "eval(", "new Function"):
            assert forbidden not in text, f"{script.name}: {forbidden}"


def test_static_files_are_served_and_not_rate_limited(client, api_settings):
    first = client.get("/console/js/api.js")
    assert first.status_code == 200
    assert "javascript" in first.headers["content-type"]
    assert client.get("/console/console.css").headers["content-type"].startswith("text/css")
    assert client.get("/console/missing.js").status_code == 404

    # a page load fetches several files: they never use up the client's quota (pages do)
    from fastapi.testclient import TestClient

    from api.app import create_app

    strict = api_settings.model_copy(update={
        "rate_limit_per_minute": 3, "rate_limit_burst": 3,
        "key_prefix": api_settings.key_prefix + "console-rl:"})
    with TestClient(create_app(strict)) as limited:
        assert all(limited.get("/console/js/shell.js").status_code == 200 for _ in range(10))
        assert 429 in {limited.get("/proofs").status_code for _ in range(6)}


def test_console_routes_stay_out_of_the_contract(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not set(PAGES) & set(paths)
    assert all(p.startswith("/v1/") for p in paths)


def test_the_examples_are_those_of_the_docs():
    source = (CONSOLE_DIR / "js" / "proofs.js").read_text()
    block = re.search(r"EXAMPLES = \[(.*?)\];", source, re.S).group(1)
    examples = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
    docs = (ROOT / "docs" / "formula-language.md").read_text()
    assert len(examples) >= 5
    for example in examples:
        in_table = example.replace("|", "\\|")  # a | inside a Markdown table cell is escaped
        assert f"`{example}`" in docs or f"`{in_table}`" in docs or f"'{example}'" in docs, example


def test_the_dashboard_slo_line_is_the_alerting_rule_threshold():
    source = (CONSOLE_DIR / "js" / "health.js").read_text()
    slo = int(re.search(r"QUEUE_DEPTH_SLO = (\d+);", source).group(1))
    rules = (ROOT / "monitoring" / "alerts.yml").read_text()
    threshold = int(re.search(r"pxl_queue_depth\{[^}]*\}\)\[1m:15s\]\) >= bool (\d+)", rules).group(1))
    assert slo == threshold
