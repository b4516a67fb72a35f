"""The console's policy & routing page in a real browser (Debian's Chromium driven by Playwright), as an admin.

Change a threshold to a new version, see the test gate refuse it, publish it with an override and a reason, see
the active version and the threshold change, roll back, save a second version as YAML and compare the two; each
result is read from the page, then from the server. The CSP forbids eval, so the test waits with selectors and
``expect``. The configuration file is the one of ``tests/test_live_config.py`` (no sentence encoder: a rule
routes the seeds' VPN case). The screenshot goes to ``test-artifacts/console/policy.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from decorum.access import local_admin
from decorum.bot.runtime import Runtime
from decorum.guardrails.policy import TOXICITY_THRESHOLD
from decorum.settings import Settings
from tests.console_harness import CHROMIUM, SHOTS, admin_server, login
from tests.fakes import FakeClassifier, FakeGenerator

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")


@pytest.fixture
def console(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Runtime]]:
    """The admin listener on a free port, an admin's token, and the runtime behind it."""


    cfg = tmp_path / "config.yaml"
    vpn = {"name": "vpn", "match": {"pattern": "VPN"}, "strategy": "fine_tuned", "domain": "helpdesk"}
    cfg.write_text(yaml.safe_dump({"routing": {"semantic": False, "rules": [vpn]}}), encoding="utf-8")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    rt = Runtime.open(Settings(), classifier=FakeClassifier({"idiot": {"toxicity": 0.9}}),
                      generator=FakeGenerator("Open the VPN portal, choose Reset, and follow the steps."))
    _, token = rt.access.add_user("ada", "admin", by=local_admin("local:test"))
    with admin_server(rt) as url:
        yield url, token, rt


@pytest.mark.browser
def test_admin_changes_a_threshold_publishes_with_override_and_rolls_back(
        console: tuple[str, str, Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, token, rt = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "policy.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        login(page, url, token)
        page.click("nav button[data-view=policy]")
        active = page.locator("#pol-active")
        expect(active).to_have_text("Active: configuration file only · policy default@1")
        toxicity = page.locator("#pol-checks tr[data-check=toxicity]")
        expect(toxicity).to_contain_text(f"{TOXICITY_THRESHOLD:.2f}")
        expect(page.locator("#pol-rules tr")).to_contain_text("vpn")
        expect(page.locator("#pol-rules tr")).to_contain_text("pattern: VPN")
        expect(page.locator("#pol-yaml")).to_have_value("policy: {}\nrouting: {}\n")

        # the quick form: one threshold, saved as a new version that is not active yet
        page.fill("#pol-quick-message", "block nearly everything")
        page.click("#pol-quick button[type=submit]")
        expect(page.locator("#pol-quick-result.refused")).to_have_text("No threshold changed: edit one before saving.")
        page.fill("#pol-th-toxicity", "0.005")
        page.click("#pol-quick button[type=submit]")
        expect(page.locator("#pol-quick-result.ok")).to_contain_text("saved live@1 (sha256 ")
        v1 = page.locator("#pol-versions tr[data-version='1']")
        expect(v1).to_contain_text("block nearly everything")
        expect(v1).to_contain_text("untested")
        expect(active).to_have_text("Active: configuration file only · policy default@1")
        # the editor shows the configuration just saved, not the empty overlay it started from
        expect(page.locator("#pol-yaml")).to_have_value("policy:\n  checks:\n    toxicity:\n      threshold: 0.005\n")
        expect(page.locator("#pol-base")).to_have_text("(from live@1, not active; saved as a new version)")

        # the YAML editor: a key the guard refuses, in the server's words
        page.fill("#pol-yaml", "policy:\n  classifier: {max_length: 64}\n")
        page.fill("#pol-message", "try")
        page.click("#pol-edit button[type=submit]")
        expect(page.locator("#pol-edit-result.refused")).to_contain_text(
            "400 Refused: policy.classifier: not a live setting")

        # publishing runs the gate, which refuses it; an override with a reason publishes it
        page.fill("#pol-pub-reason", "we know")
        page.click("#pol-publish button[type=submit]")
        expect(page.locator("#pol-publish-result.refused")).to_contain_text(
            "409 Refused: live@1 failed the test gate (general@1 case 0: guardrails did not pass")
        expect(v1).to_contain_text("0/3 cases passed FAILED")
        page.check("#pol-pub-override")
        page.fill("#pol-pub-reason", "incident drill")
        page.click("#pol-publish button[type=submit]")
        expect(page.locator("#pol-publish-result.ok")).to_have_text(
            "live@1 active (test gate overridden); was the configuration file alone")
        expect(active).to_have_text("Active: live@1 · policy default@1")
        expect(toxicity).to_contain_text("0.005")
        expect(v1).to_contain_text("active")
        expect(page.locator("#pol-yaml")).to_have_value(
            "policy:\n  checks:\n    toxicity:\n      threshold: 0.005\n")
        expect(page.locator("#pol-events tr").first).to_contain_text("publish (override)")
        expect(page.locator("#pol-events tr").first).to_contain_text("incident drill")
        page.screenshot(path=str(shot), full_page=True)

        page.fill("#pol-rb-reason", "drill over")
        page.click("#pol-rollback button[type=submit]")
        expect(page.locator("#pol-rollback-result.ok")).to_have_text(
            "the configuration file alone (rolled back from live@1)")
        expect(active).to_have_text("Active: configuration file only · policy default@1")
        expect(toxicity).to_contain_text(f"{TOXICITY_THRESHOLD:.2f}")
        page.click("#pol-rollback button[type=submit]")
        expect(page.locator("#pol-rollback-result.refused")).to_have_text(
            "409 Refused: no earlier live configuration to roll back to")

        # a second version from the YAML editor, compared side by side with the first
        expect(page.locator("#pol-yaml")).to_have_value("policy: {}\nrouting: {}\n")
        page.fill("#pol-yaml", "policy:\n  checks:\n    bias:\n      threshold: 0.4\n")
        page.fill("#pol-message", "bias only")
        page.click("#pol-edit button[type=submit]")
        expect(page.locator("#pol-edit-result.ok")).to_contain_text("saved live@2 (sha256 ")
        expect(page.locator("#pol-yaml")).to_have_value("policy:\n  checks:\n    bias:\n      threshold: 0.4\n")
        page.click("#pol-diff button[type=submit]")
        expect(page.locator("#pol-diff-result.ok")).to_have_text("2 line(s) differ between live@1 and live@2")
        changed = page.locator("#pol-diff-rows tr.replace")
        expect(changed).to_have_count(2)
        expect(changed.first.locator("td.del")).to_have_text("    toxicity:")
        expect(changed.first.locator("td.add")).to_have_text("    bias:")
        browser.close()

    assert shot.stat().st_size > 1000
    assert rt.live.active_version() is None and [v["version"] for v in rt.live.versions()] == [1, 2]
    kinds = [(n["change"]["kind"], n["change"]["actor"], n["surface"])
             for n in reversed(rt.audit.list(limit=100, verdict="change"))]
    assert kinds == [("live_config.save", "ada", "console"), ("live_config.test", "ada", "console"),
                     ("live_config.publish", "ada", "console"), ("live_config.rollback", "ada", "console"),
                     ("live_config.save", "ada", "console")]
    assert rt.audit.verify().ok
