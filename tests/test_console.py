"""The web console in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")


@pytest.fixture
def console_url(settings: Settings) -> Iterator[str]:
    import uvicorn

    from decorum.web.app import create_app

    rt = Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                      generator=FakeGenerator("Open the VPN portal and choose Reset password."))
    app = create_app(rt)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(5)


def test_ask_and_audit_in_the_browser(console_url: str, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        page = browser.new_page()
        page.goto(console_url)
        page.fill("#q", "How do I reset my VPN password?")
        page.click("button[type=submit]")
        page.wait_for_selector("#answer pre")
        assert "VPN portal" in page.inner_text("#answer")
        assert "verdict answered" in page.inner_text("#answer")
        page.fill("#q", "you are worthless")
        page.click("button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#audit tr').length === 2")
        assert "blocked_input" in page.inner_text("#audit")
        page.click("#verify")
        page.wait_for_function("document.getElementById('verified').textContent.length > 0")
        assert "chain holds (2 records)" in page.inner_text("#verified")
        page.click("#audit tr a")
        page.wait_for_selector("#detail:not([hidden])")  # shown only once the note has been fetched
        assert '"hash"' in page.inner_text("#detail")
        page.screenshot(path=str(tmp_path / "console.png"))
        browser.close()
