"""Browser fixtures: a real `pxl serve` and `pxl worker` on the test Redis (integration
fixtures), and Debian's Chromium driven by Playwright for Python.

Playwright's own browser download is never used (`playwright install` needs the network): the
system Chromium at /usr/bin/chromium (Debian package `chromium`, installed by .ci/run) is
launched headless.  The console gets its own queue so that stopping this worker leaves jobs
waiting even when another test's worker is running in the same session.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.environment import missing
from tests.integration.conftest import ROOT, WorkerProcess, pxl_env  # noqa: F401 (fixture)

CHROMIUM = os.environ.get("PXL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Where to save screenshots of the pages (docs/console when refreshing the docs' pictures)
SCREENSHOTS = os.environ.get("PXL_CONSOLE_SCREENSHOTS")

pytestmark = pytest.mark.integration


def _require_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing(f"Chromium at {CHROMIUM}", "apt-get install chromium (.ci/run does)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLIENT_ID = "console-tester"
CLIENT_SECRET = "console-test-secret-" + "s" * 24


@pytest.fixture(scope="module")
def console_env(pxl_env):  # noqa: F811
    from api.auth import ALL_SCOPES
    from workers.clients import hash_secret

    clients = {"clients": {CLIENT_ID: {"secret_hash": hash_secret(CLIENT_SECRET),
                                       "scopes": list(ALL_SCOPES)}}}
    return {**pxl_env, "PXL_QUEUE_NAME": pxl_env["PXL_QUEUE_NAME"] + "-console",
            "PXL_CLIENTS": json.dumps(clients)}


@pytest.fixture(scope="module")
def console_worker(console_env, tmp_path_factory):
    from workers.settings import Settings

    settings = Settings(redis_url=console_env["PXL_REDIS_URL"],
                        key_prefix=console_env["PXL_KEY_PREFIX"])
    proc = WorkerProcess(console_env, log=tmp_path_factory.mktemp("console") / "worker.log",
                         settings=settings)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def server(console_env, console_worker, tmp_path_factory):
    """Base URL of a real `pxl serve` (uvicorn) subprocess."""
    port = _free_port()
    log = tmp_path_factory.mktemp("console") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())",
             "serve", "--port", str(port)],
            env={**os.environ, **console_env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"pxl serve exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("pxl serve did not come up")
    yield base
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def token(console_env):
    from api.auth import ALL_SCOPES, mint_token
    from workers.settings import Settings

    return mint_token(CLIENT_ID, ALL_SCOPES, ttl=3600,
                      settings=Settings(jwt_secret=console_env["PXL_JWT_SECRET"]))


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    # a shared, loaded machine: waiting is bounded, not a timing assertion
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class ConsoleErrors(list):
    """Console errors and uncaught exceptions of a page; a test that provokes one on purpose
    takes it out with ``expect``."""

    def expect(self, fragment: str) -> None:
        matching = [e for e in self if fragment in e]
        assert matching, f"expected a console error with {fragment!r}, got {list(self)}"
        for e in matching:
            self.remove(e)


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    page = context.new_page()
    errors = ConsoleErrors()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.console_errors = errors
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert not errors, f"browser console errors: {list(errors)}"


@pytest.fixture
def signed_in(page, token):
    """The page with the token in this tab's session storage (as the sign-in form leaves it)."""
    page.goto("/")
    page.evaluate("t => sessionStorage.setItem('pxl.console.token', t)", token)
    return page


def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True,
                        animations="disabled")
