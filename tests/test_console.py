"""The web console in a real browser (Debian's Chromium driven by Playwright), logged in with a role.

The console's CSP forbids eval, so the test waits with selectors, never with ``wait_for_function``.
Screenshots go to ``test-artifacts/console/`` at the repository root (kept out of git).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from decorum.access import local_admin
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")


@pytest.fixture
def console(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    """The admin listener on a free port, and one token per role used here."""
    import uvicorn

    from decorum.web.app import create_apps

    rt = Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                      generator=FakeGenerator("Open the VPN portal and choose Reset password."))
    tokens = {role: rt.access.add_user(f"{role}-1", role, by=local_admin("local:test"))[1]
              for role in ("viewer", "auditor")}
    server = uvicorn.Server(uvicorn.Config(create_apps(rt, load_models=False).admin, host="127.0.0.1", port=0,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", tokens
    server.should_exit = True
    thread.join(5)


def _browser(p):  # type: ignore[no-untyped-def]
    return p.chromium.launch(executable_path=CHROMIUM,
                             args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])


def _login(page, url: str, token: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


@pytest.mark.browser
def test_console_asks_and_audits_with_roles(console: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = _browser(p)
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
        _login(page, url, tokens["viewer"])
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
        _login(page, url, tokens["auditor"])
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
