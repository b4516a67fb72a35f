"""The console's template page in a real browser (Debian's Chromium driven by Playwright), as a publisher.

Edit a template to a new version, compare it side by side, publish it, roll back, run its tests; each result
is read from the page, then from the server. The CSP forbids eval, so the test waits with selectors and
``expect``, never with ``wait_for_function``. The screenshot goes to ``test-artifacts/console/templates.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from decorum.access import local_admin
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.console_harness import CHROMIUM, SHOTS, admin_server, login
from tests.fakes import FakeClassifier, FakeGenerator

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")


@pytest.fixture
def console(settings: Settings) -> Iterator[tuple[str, str, Runtime]]:
    """The admin listener on a free port, a publisher's token, and the runtime behind it."""


    rt = Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                      generator=FakeGenerator("Open the VPN portal and choose Reset password."))
    _, token = rt.access.add_user("pia", "publisher", by=local_admin("local:test"))
    with admin_server(rt) as url:
        yield url, token, rt


@pytest.mark.browser
def test_publisher_edits_diffs_publishes_rolls_back_and_tests(console: tuple[str, str, Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, token, rt = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "templates.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        login(page, url, token)
        page.click("nav button[data-view=templates]")
        listed = page.locator("#templates tr", has=page.locator("a[data-template=helpdesk]"))
        expect(listed).to_contain_text("production v1")

        # a new template from the form's starting text: a draft, listed, opened in the detail pane
        page.click("#tpl-new-open")
        page.fill("#tpl-new-name", "holidays")
        starting = page.locator("#tpl-new-yaml").input_value()
        assert starting.startswith("description: What this template is for.\n")
        page.fill("#tpl-new-yaml", starting.replace("What this template is for.", "'<b id=x>Leave</b> dates'"))
        page.fill("#tpl-new-message", "first draft")
        page.click("#tpl-new button[type=submit]")
        expect(page.locator("#tpl-new-result.ok")).to_have_text("created holidays@1 (checks ok); not published yet")
        expect(page.locator("#templates tr", has=page.locator("a[data-template=holidays]"))).to_contain_text(
            "unpublished")
        expect(page.locator("#tpl-title")).to_have_text("holidays: production unpublished, latest v1")
        expect(page.locator("#tpl-description")).to_have_text("<b id=x>Leave</b> dates")  # text, never markup
        expect(page.locator("#x")).to_have_count(0)

        page.click("#templates a[data-template=helpdesk]")

        # the editor opens on the latest version's YAML
        editor = page.locator("#tpl-yaml")
        expect(editor).to_have_value(re.compile(r"^name: helpdesk\n(.|\n)*Keep it short\."))
        expect(page.locator("#tpl-title")).to_have_text("helpdesk: production v1, latest v1")
        text = editor.input_value()

        # a template injection is refused with the server's words, and nothing is saved
        editor.fill(text.replace("Keep it short.", "Keep it short. {{ ''.__class__.__mro__ }}"))
        page.fill("#tpl-message", "sneaky")
        page.click("#tpl-edit button[type=submit]")
        expect(page.locator("#tpl-edit-result.refused")).to_contain_text(
            "400 Refused: system: line 2: '__mro__' is unsafe")

        editor.fill(text.replace("Keep it short.", "Keep it very short."))
        page.fill("#tpl-message", "shorter answers")
        page.click("#tpl-edit button[type=submit]")
        expect(page.locator("#tpl-edit-result.ok")).to_have_text("saved helpdesk@2 (checks ok); not published yet")
        v2 = page.locator("#tpl-versions tr[data-version='2']")
        expect(v2).to_contain_text("pia")
        expect(v2).to_contain_text("shorter answers")

        # side by side: production v1 on the left, the new latest v2 on the right
        page.click("#tpl-diff button[type=submit]")
        expect(page.locator("#tpl-diff-result.ok")).to_have_text("1 line(s) differ between v1 and v2")
        changed = page.locator("#tpl-diff-rows tr.replace")
        expect(changed).to_have_count(1)
        expect(changed.locator("td.del")).to_contain_text("Keep it short. If the steps")
        expect(changed.locator("td.add")).to_contain_text("Keep it very short. If the steps")
        assert page.locator("#tpl-diff-rows tr.equal").count() > 10

        page.fill("#tpl-pub-reason", "reviewed")
        page.click("#tpl-publish button[type=submit]")
        # publishing runs the test case through the pipeline (its first retrieval loads the sentence encoder)
        expect(page.locator("#tpl-publish-result.ok")).to_have_text("published: production → helpdesk@2 (was v1)",
                                                                    timeout=120_000)
        expect(v2).to_contain_text("production")
        expect(v2).to_contain_text("passed")  # publishing ran its test case
        page.check("#tpl-pub-override")
        page.fill("#tpl-pub-reason", "just because")
        page.click("#tpl-publish button[type=submit]")
        expect(page.locator("#tpl-publish-result.refused")).to_have_text(
            "403 Forbidden: the publisher role cannot do override (it needs admin or above)")

        page.fill("#tpl-rb-reason", "too terse for new staff")
        page.click("#tpl-rollback button[type=submit]")
        expect(page.locator("#tpl-rollback-result.ok")).to_have_text("rolled back: production → helpdesk@1 (was v2)")
        expect(page.locator("#tpl-title")).to_have_text("helpdesk: production v1, latest v2")
        page.click("#tpl-rollback button[type=submit]")
        expect(page.locator("#tpl-rollback-result.refused")).to_have_text(
            "409 Refused: production of 'helpdesk' has no earlier version to roll back to")

        page.select_option("#tpl-test-version", "1")
        page.click("#tpl-test button[type=submit]")
        expect(page.locator("#tpl-test-result.ok")).to_have_text("helpdesk@1: 1/1 cases passed")
        expect(page.locator("#tpl-test-version")).to_have_value("1")  # the refresh kept the choice
        expect(page.locator("#tpl-tests tr")).to_have_count(1)
        expect(page.locator("#tpl-tests tr")).to_contain_text("How do I reset my VPN password?")
        expect(page.locator("#tpl-tests tr .pass")).to_have_text("pass")
        events = page.locator("#tpl-events tr")
        expect(events.first).to_contain_text("test")
        expect(page.locator("#tpl-events")).to_contain_text("too terse for new staff")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    assert shot.stat().st_size > 1000
    assert rt.templates.labels("helpdesk") == {"production": 1} and rt.templates.versions("helpdesk") == [1, 2]
    assert rt.templates.versions("holidays") == [1] and rt.templates.labels("holidays") == {}
    kinds = [n["change"]["kind"] for n in reversed(rt.audit.list(limit=100, verdict="change"))]
    assert kinds == ["template.create", "template.edit", "template.test", "template.publish", "template.rollback",
                     "template.test"]
    assert rt.audit.verify().ok
