"""The web console in a real browser (Chromium via Playwright) against a real `pxl serve`,
`pxl worker` and Redis: sign in, prove and see the pictures, parse errors, an overlay diff, and
the queue filling and draining on the dashboard.  Any browser console error fails a test."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CLIENT_ID, CLIENT_SECRET, screenshot
from workers.prover import check_result_document

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VALID = "[](p -> q) -> ([]p -> []q)"
INVALID = "<>p -> []p"


def prove(page, formula: str) -> None:
    page.fill("#formula", formula)
    page.click("#submit")


def test_sign_in_with_a_pasted_token(page, token):
    page.goto("/proofs")
    expect(page.locator("#signin h2")).to_have_text("Sign in")
    page.fill("#token-input", "not-a-token")
    page.click("#token-submit")
    expect(page.locator("#signin-error")).to_contain_text("refused")
    page.console_errors.expect("401")
    page.fill("#token-input", token)
    page.click("#token-submit")
    expect(page.locator("#signed-in")).to_contain_text("console-tester")
    # the token lives in this tab's session storage, nowhere else
    assert page.evaluate("sessionStorage.getItem('pxl.console.token')") == token
    assert page.evaluate("localStorage.length") == 0
    assert token not in page.url


def test_sign_in_with_client_credentials(page):
    page.goto("/overlays")
    page.fill("#client-id", CLIENT_ID)
    page.fill("#client-secret", "wrong")
    page.click("#client-form button[type=submit]")
    expect(page.locator("#signin-error")).not_to_be_empty()
    page.console_errors.expect("401")
    page.fill("#client-secret", CLIENT_SECRET)
    page.click("#client-form button[type=submit]")
    expect(page.locator("#signed-in")).to_contain_text(CLIENT_ID)
    expect(page.locator("#signed-in")).to_contain_text("metrics:read")


def test_the_token_in_the_url_fragment_signs_in_and_leaves_the_address_bar(page, token):
    page.goto(f"/#token={token}")
    expect(page.locator("#signed-in")).to_contain_text("console-tester")
    assert "#" not in page.url
    screenshot(page, "home")


def test_a_valid_formula_shows_its_checked_tableau(signed_in):
    page = signed_in
    page.goto("/proofs")
    prove(page, VALID)
    expect(page.locator("#verdict-word")).to_have_text("VALID")
    expect(page.locator("#szs")).to_contain_text("Theorem")
    tree = page.locator("#tableau")
    expect(tree).to_be_visible()
    # the root says the formula is false at w1; the K axiom's tree splits once, both closed
    first = tree.locator(".tentry").first
    expect(first).to_contain_text("w1")
    expect(first.locator(".sign")).to_have_text("⊭")
    expect(tree.locator(".tbranch")).to_have_count(2)
    expect(tree.locator(".closed")).to_have_count(2)
    expect(tree.locator(".tentry", has_text="π from")).to_have_count(1)  # one new world
    expect(page.locator("#trace")).to_contain_text("tableau")
    # the downloaded result document is one `pxl check` accepts (tableau included)
    with page.expect_download() as download:
        page.click("#download")
    doc = json.loads(Path(download.value.path()).read_text())
    report = check_result_document(doc)
    assert report.ok and "tableau: closed tableau" in report.reason, report.reason
    expect(page.locator("#recent")).to_contain_text("valid")
    screenshot(page, "proofs-valid")


def test_an_invalid_formula_shows_two_worlds_with_the_failing_one_marked(signed_in):
    page = signed_in
    page.goto("/proofs")
    prove(page, INVALID)
    expect(page.locator("#verdict-word")).to_have_text("INVALID")
    expect(page.locator("#szs")).to_contain_text("CounterSatisfiable")
    worlds = page.locator("#countermodel svg .world")
    expect(worlds).to_have_count(2)
    actual = page.locator("#countermodel svg .world.actual")
    expect(actual).to_have_count(1)
    expect(actual).to_contain_text("formula false here")
    # the actual world has p false, the other p true (<>p holds, []p fails)
    expect(actual.locator(".watoms")).to_have_text("∅")
    expect(page.locator("#countermodel svg .world:not(.actual) .watoms")).to_have_text("p")
    # hovering []p: true nowhere; hovering the atom p: true exactly at the other world
    box_p = page.locator("#formula-hover .sub", has_text="□p").last
    box_p.hover()
    expect(page.locator("#hover-info")).to_contain_text("true at no world")
    atom = page.locator("#formula-hover .sub", has_text="p").last
    atom.hover()
    expect(page.locator("#countermodel svg .world.holds")).to_have_count(1)
    expect(page.locator("#countermodel svg .world.actual.fails")).to_have_count(1)
    screenshot(page, "proofs-invalid")


def test_keyboard_only_at_phone_width(signed_in):
    page = signed_in
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/proofs")
    page.focus("#formula")
    page.keyboard.press("Control+A")
    page.keyboard.type(INVALID)
    page.keyboard.press("Control+Enter")  # submits the form
    expect(page.locator("#verdict-word")).to_have_text("INVALID")
    # tab through the formula's parts: focusing one shows where it is true
    page.focus("#formula-hover .sub")
    page.keyboard.press("Tab")
    expect(page.locator("#hover-info")).to_contain_text("true at")
    # nothing wider than the phone's screen but the drawings' own scroll boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "proofs-phone")


def test_a_parse_error_is_shown_where_the_api_says(signed_in, server, token):
    page = signed_in
    text = "[](p ->\n  q) & (r |"
    api = httpx.post(f"{server}/v1/proofs", json={"formula": text},
                     headers={"Authorization": f"Bearer {token}"}).json()
    assert api["line"] == 2 and api["column"] > 1
    page.goto("/proofs")
    prove(page, text)
    error = page.locator("#parse-error")
    expect(error).to_be_visible()
    page.console_errors.expect("422")
    assert error.get_attribute("data-line") == str(api["line"])
    assert error.get_attribute("data-column") == str(api["column"])
    expect(error.locator(".caret-source")).to_have_text(text.split("\n")[1])
    expect(error.locator(".caret-mark")).to_have_text(" " * (api["column"] - 1) + "^")
    # the cursor is put at the error in the formula box
    offset = len(text.split("\n")[0]) + 1 + api["column"] - 1
    assert page.evaluate("document.getElementById('formula').selectionStart") == offset
    screenshot(page, "proofs-parse-error")


def test_chrono_normalize_shows_input_and_output_with_the_changes(signed_in):
    page = signed_in
    page.goto("/overlays")
    page.select_option("#overlay-kind", "chrono")
    page.select_option("#operation", "normalize")
    page.fill("#overlay-input", "~[](p & At(2, <>q)) -> Eternal(r)")
    page.click("#run")
    expect(page.locator("#diff")).to_be_visible()
    expect(page.locator("#diff-output")).to_have_text("□p ∧ ◇q ∨ r")
    expect(page.locator("#diff-input mark.del").first).to_be_visible()
    assert page.locator("#diff-input mark.del").count() >= 3  # At(2, …), Eternal(…), ¬, →
    expect(page.locator("#diff-output mark.ins")).to_have_text(["∨"])
    expect(page.locator("#overlay-verdict-word")).to_have_text("EQUIVALENT")
    expect(page.locator("#overlay-trace li").first).to_contain_text("S5 collapse")
    screenshot(page, "overlays")


def test_queue_depth_rises_without_a_worker_and_falls_after_restart(
        signed_in, server, token, console_worker):
    page = signed_in
    page.goto("/health")
    chart = page.locator("#queue-chart")
    expect(chart).to_have_attribute("data-depth", "0")
    console_worker.stop()
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(4):
        answer = httpx.post(f"{server}/v1/proofs", headers=headers,
                            json={"formula": f"[]p{i} -> p{i}"})
        assert answer.status_code == 202
    expect(chart).to_have_attribute("data-depth", "4")
    expect(chart.locator("polyline.depth-line")).to_be_visible()
    expect(chart.locator("line.slo")).to_have_count(1)
    console_worker.start()
    expect(chart).to_have_attribute("data-depth", "0", timeout=60_000)
    expect(page.locator("#metrics")).to_contain_text("jobs/min")
    page.wait_for_timeout(3_000)  # a few more samples after the fall, for the picture
    screenshot(page, "health")
