"""The console's Knowledge page in a real browser (Debian's Chromium driven by Playwright): an editor adds an
entry (after the checks refuse a first wording), a publisher publishes it, and the list shows the new version.

Each result is read from the page, then from the server. The CSP forbids eval, so the test waits with selectors
and ``expect``, never with ``wait_for_function``. Screenshots go to ``test-artifacts/console/knowledge*.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from decorum.access import local_admin
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.console_harness import CHROMIUM, SHOTS, admin_server, login
from tests.fakes import FakeClassifier, FakeGenerator

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")

BODY = "Open tray 2 and pull the sheet out; call ext. 4357 if the light stays red."


@pytest.fixture
def console(settings: Settings) -> Iterator[tuple[str, dict[str, str], Runtime]]:
    """The admin listener on a free port, an editor's and a publisher's token, and the runtime behind it."""


    rt = Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                      generator=FakeGenerator())
    tokens = {role: rt.access.add_user(name, role, by=local_admin("local:test"))[1]
              for name, role in (("eda", "editor"), ("pia", "publisher"))}
    with admin_server(rt) as url:
        yield url, tokens, rt



@pytest.mark.browser
def test_editor_adds_publisher_publishes_and_the_list_shows_it(
        console: tuple[str, dict[str, str], Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens, rt = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = {name: SHOTS / f"{name}.png" for name in ("knowledge-refused", "knowledge")}
    for shot in shots.values():
        shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        # the editor: the list, then a new entry whose first wording the checks refuse
        login(page, url, tokens["editor"])
        page.click("nav button[data-view=knowledge]")
        leave = page.locator("#knowledge tr[data-entry=hr-annual-leave]")
        expect(leave).to_contain_text("v1")
        expect(page.locator("#kn-count")).to_have_text("78 entries, 0 with a draft waiting to be published")
        assert "locked" not in (page.get_attribute("#kn-new button[type=submit]", "class") or "")
        assert "locked" in (page.get_attribute("#kn-publish button[type=submit]", "class") or "")  # not an editor's
        assert "lacks knowledge.publish" in (page.get_attribute("#kn-publish button[type=submit]", "title") or "")

        page.click("#kn-new-open")
        page.fill("#kn-new-id", "it-printer-jam")
        page.fill("#kn-new-title", "Clearing a printer jam")
        page.fill("#kn-new-topic", "it")
        page.fill("#kn-new-body", "Anyone who jams the printer is worthless. " + BODY)
        page.fill("#kn-new-message", "new article")
        page.click("#kn-new button[type=submit]")
        expect(page.locator("#kn-new-result.refused")).to_contain_text(
            "422 Refused: it-printer-jam: the entry failed the guardrail checks (toxicity 0.95")
        checks = page.locator("#kn-new-checks")
        expect(checks).to_be_visible()
        expect(checks).to_contain_text("nothing was saved")
        expect(checks.locator("tr[data-check=toxicity]")).to_contain_text("body")
        expect(checks.locator("tr[data-check=toxicity]")).to_contain_text("0.9500")
        expect(page.locator("#knowledge tr[data-entry=it-printer-jam]")).to_have_count(0)
        page.screenshot(path=str(shots["knowledge-refused"]), full_page=True)
        assert "it-printer-jam" not in rt.knowledge.ids()

        page.fill("#kn-new-body", BODY)
        page.click("#kn-new button[type=submit]")
        expect(page.locator("#kn-new-result.ok")).to_have_text(
            "saved it-printer-jam v1 (checks ok); a draft: not published yet")
        expect(checks).to_be_hidden()
        jam = page.locator("#knowledge tr[data-entry=it-printer-jam]")
        expect(jam).to_contain_text("unpublished")
        expect(jam).to_contain_text("v1 (draft)")
        expect(page.locator("#kn-title")).to_have_text("Clearing a printer jam")
        expect(page.locator("#kn-state")).to_have_text("it-printer-jam v1: draft · published none · latest v1")
        expect(page.locator("#kn-body")).to_have_text(BODY)
        expect(page.locator("#kn-checks tr[data-field=body][data-check=toxicity]")).to_contain_text("pass")
        expect(page.locator("#kn-edit-body")).to_have_value(BODY)

        # an editor's publish is refused in the server's words
        page.click("#kn-publish button[type=submit]")
        expect(page.locator("#kn-publish-result.refused")).to_have_text(
            "403 Forbidden: the editor role cannot do knowledge.publish (it needs publisher or above)")
        page.click("#logout")

        # the publisher: the draft waits in the list; publish it with a reason
        login(page, url, tokens["publisher"])
        page.click("nav button[data-view=knowledge]")
        expect(page.locator("#kn-count")).to_have_text("79 entries, 1 with a draft waiting to be published")
        page.click("#knowledge a[data-entry=it-printer-jam]")
        expect(page.locator("#kn-versions tr[data-version='1']")).to_contain_text("eda")
        expect(page.locator("#kn-pub-version")).to_have_value("1")
        page.fill("#kn-pub-reason", "checked with facilities")
        page.click("#kn-publish button[type=submit]")
        expect(page.locator("#kn-publish-result.ok")).to_have_text(
            "published it-printer-jam v1; answers cite it from now on")
        expect(jam).to_contain_text("v1")
        expect(jam).not_to_contain_text("unpublished")
        expect(jam).not_to_contain_text("draft")
        expect(page.locator("#kn-state")).to_have_text("it-printer-jam v1: published · published v1 · latest v1")
        expect(page.locator("#kn-events tr").first).to_contain_text("checked with facilities")
        expect(page.locator("#kn-count")).to_have_text("79 entries, 0 with a draft waiting to be published")
        page.screenshot(path=str(shots["knowledge"]), full_page=True)
        browser.close()

    assert all(shot.stat().st_size > 1000 for shot in shots.values())
    assert rt.knowledge.published_version("it-printer-jam") == 1
    kinds = [(n["change"]["kind"], n["change"]["actor"]) for n in reversed(rt.audit.list(limit=100, verdict="change"))]
    assert kinds == [("knowledge.add", "eda"), ("knowledge.publish", "pia")]
    assert rt.audit.verify().ok
