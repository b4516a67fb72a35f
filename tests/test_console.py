"""The web console in a real browser (Debian's Chromium driven by Playwright), logged in with a role.

The console's CSP forbids eval, so the test waits with selectors, never with ``wait_for_function``.
Screenshots go to ``test-artifacts/console/`` at the repository root (kept out of git).
"""

from __future__ import annotations

import shutil

import pytest

from tests.console_harness import SHOTS, launch_chromium, login

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")


@pytest.mark.browser
def test_console_asks_and_audits_with_roles(console: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        # Nobody logged in: the login form, nothing else.
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#login:not([hidden])")
        assert page.is_hidden("#app")
        page.fill("#token", "dcm_not-a-token")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-error:not([hidden])")
        assert "Login refused" in page.inner_text("#login-error")
        page.screenshot(path=str(SHOTS / "login-refused.png"))

        # A viewer asks in the playground and cannot open the audit list.
        login(page, url, tokens["viewer"])
        assert "viewer-1 (viewer)" in page.inner_text("#whoami")
        page.fill("#q", "How do I reset my VPN password?")
        page.click("#ask button[type=submit]")
        page.wait_for_selector("#answer pre")
        assert "VPN portal" in page.inner_text("#answer") and "verdict answered" in page.inner_text("#answer")
        page.fill("#q", "you are worthless")
        page.click("#ask button[type=submit]")
        page.wait_for_selector("#answer p.notice:has-text('blocked_input')")
        page.click("nav button[data-view=audit]")
        page.wait_for_selector("#refused:not([hidden])")
        assert "403 Forbidden: the viewer role cannot do audit.read" in page.inner_text("#refused")
        assert page.is_hidden("section[data-section=audit]")
        page.screenshot(path=str(SHOTS / "viewer-audit-refused.png"))
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])")

        # An auditor sees the audit list, verifies the chain, opens a note, and cannot manage users.
        login(page, url, tokens["auditor"])
        expect(page.locator("#audit tr")).to_have_count(2)
        assert "blocked_input" in page.inner_text("#audit") and "answered" in page.inner_text("#audit")
        page.click("#verify")
        expect(page.locator("#verified")).to_have_text("chain holds (2 records)")
        page.click("#audit tr a")
        page.wait_for_selector("#ad-verify.pass")  # shown only once the record has been fetched and checked
        assert '"hash"' in (page.text_content("#detail") or "")  # the whole note, under its readable sections
        page.screenshot(path=str(SHOTS / "auditor-audit.png"))
        page.click("nav button[data-view=users]")
        page.wait_for_selector("#refused:not([hidden])")
        assert "403 Forbidden: the auditor role cannot do users.manage (it needs admin or above)" in \
            page.inner_text("#refused")
        assert page.is_hidden("section[data-section=users]")
        page.screenshot(path=str(SHOTS / "auditor-users-refused.png"))
        browser.close()
    assert all((SHOTS / name).stat().st_size > 1000 for name in
               ("login-refused.png", "viewer-audit-refused.png", "auditor-audit.png", "auditor-users-refused.png"))
