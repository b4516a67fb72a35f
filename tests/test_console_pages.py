"""Every console page as each role sees it, in a real browser (Debian's Chromium driven by Playwright).

One server over a seeded log (answers, refusals, a template edit), a second adapter version waiting as a
candidate, and question and answer texts kept. Each role logs in and opens every page: axe-core
(``tests/vendor/axe.min.js``) finds no serious or critical WCAG 2 A/AA violation, and a screenshot of each page
goes to ``test-artifacts/console/ROLE-PAGE.png``. Then what each role came for: a viewer reads the playground's
transparency note and gives feedback, an auditor reads a kept question in a record and in the review queue,
finds a refusal by its reference and reopens a deep link in a fresh page, a publisher promotes a model, an
admin revokes a user (the token shown once is gone) but not themselves.

The console's CSP forbids inline scripts and eval; the axe contexts bypass it (``bypass_csp``) to inject axe.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from decorum.access import ROLES, Principal, local_admin
from decorum.audit.query import AuditFilter, count
from decorum.audit.query import stats as stats_of
from decorum.audit.review import draw_sample
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.console_harness import CHROMIUM, SHOTS, admin_server, login
from tests.fakes import FakeClassifier, FakeGenerator
from tests.test_audit_review import seed_notes

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGES = ("playground", "audit", "templates", "knowledge", "policy", "models", "users")
ANSWER = "Open the VPN portal and choose Reset password."
QUESTION = "How do I reset my VPN password?"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")

# axe's serious and critical findings under the WCAG 2.0/2.1 A and AA rules, as "rule: selectors"
AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ': ' + v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(' | '));
}"""


@pytest.fixture
def console(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, str],
                                                                                             Runtime]]:


    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"routing": {"semantic": False},
                                   "audit": {"store_question": True, "store_answer": True}}), encoding="utf-8")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    rt = Runtime.open(Settings(), classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                      generator=FakeGenerator(ANSWER))
    v1 = rt.templates.get("helpdesk", 1)
    v2 = rt.template_registry("console").save(
        replace(v1, system=v1.system + "\nAnswer in at most three sentences."), action="edit",
        by=Principal("edith", "editor", "session"), message="shorter answers for Slack")
    seed_notes(rt.db, rt.audit, 40, templates={"helpdesk@1": v1.sha256, "helpdesk@2": v2.sha256})
    shipped = rt.models.get("helpdesk-lora", 1)
    rt.models.register(name="helpdesk-lora", version=2, domain=shipped.domain, path="package:helpdesk-lora",
                       sha256=shipped.sha256, card={**shipped.card, "version": 2}, actor="local:trainer")
    figures = {"questions": 3, "token_f1": 0.1, "rouge_l": 0.2, "key_fact_recall": 0.0, "guardrail_pass_rate": 1.0,
               "latency_ms_p50": 900.0, "latency_ms_p95": 1500.0, "prompt_tokens_mean": 200.0,
               "answer_tokens_mean": 60.0, "right": 0, "not_sure": 1, "wrong": 2, "right_share": 0.0,
               "not_sure_share": 0.3333, "wrong_share": 0.6667}
    rt.models.attach_compare("helpdesk-lora", 2, {
        "domain": "helpdesk", "test": {"file": "test.jsonl", "questions": 3}, "engine": {"engine": "onnx"},
        "templates": {"prompt_engineering": "helpdesk@1"}, "adapter": {"name": "helpdesk-lora", "version": 2},
        "strategies": {"prompt_engineering": figures, "fine_tuned": {**figures, "token_f1": 0.25}},
        "winner": {"statement": "fine_tuned answers best on this test split."}, "costs": {"time_to_change": {}},
        "examples": []}, actor="local:trainer")
    tokens = {role: rt.access.add_user(f"{role}-1", role, by=local_admin("local:test"))[1] for role in ROLES}
    with admin_server(rt) as url:
        yield url, tokens, rt


def _settled(page: Any, view: str) -> None:
    """The view is shown (its section visible) or refused (the refusal shown): nothing still loading."""
    page.wait_for_selector(f"section[data-section={view}]:not([hidden]), #refused:not([hidden])")
    page.wait_for_load_state("networkidle")


def _axe(page: Any) -> list[str]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return list(page.evaluate(AXE_RUN))


@pytest.mark.browser
def test_every_page_for_every_role_passes_axe_and_is_photographed(console: tuple[str, dict[str, str],
                                                                                 Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens, rt = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    answered = rt.audit.list(limit=1, verdict="answered")[0]["id"]
    sample = draw_sample(rt.db, rt.audit, AuditFilter(verdict="answered"), 5, by="ana")
    found: dict[str, list[str]] = {}
    shots: list[Path] = []
    details: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#login:not([hidden])")
        found["login"] = _axe(page)
        page.screenshot(path=str(SHOTS / "login.png"), full_page=True)
        context.close()
        for role in ROLES:
            context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            login(page, url, tokens[role])
            for view in PAGES:
                page.goto(f"{url}/#/{view}")
                _settled(page, view)
                can = (role != "viewer" or view != "audit") and (view != "users" or role == "admin")
                if can:
                    expect(page.locator(f"section[data-section={view}]")).to_be_visible()
                    expect(page.locator("#refused")).to_be_hidden()
                else:  # the refusal in the server's words, and nothing of the page
                    expect(page.locator("#refused")).to_contain_text("403 Forbidden: the")
                    expect(page.locator(f"section[data-section={view}]")).to_be_hidden()
                page.wait_for_load_state("networkidle")
                found[f"{role}/{view}"] = _axe(page)
                shot = SHOTS / f"{role}-{view}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots.append(shot)
            # the states a page opens into: an answer with its note, a record, charts, a sample, a template ...
            for name, hash_, show in _details(role, sample, answered):
                page.goto(f"{url}/#/{hash_}")
                show(page)
                page.wait_for_load_state("networkidle")
                found[f"{role}/{name}"] = _axe(page)
                shot = SHOTS / f"{role}-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                details.append(shot)
            context.close()
        browser.close()
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, json.dumps(bad, indent=1)
    assert all(s.stat().st_size > 1000 for s in shots + details) and len(shots) == len(ROLES) * len(PAGES)
    assert len(details) == 4 * 8 + 4  # eight states for the four roles that read the log, four for a viewer


def _details(role: str, sample: str, answered: str) -> list[tuple[str, str, Any]]:
    """(name, URL, wait until shown) of the opened states this role can see."""
    from playwright.sync_api import expect

    def asked(page: Any) -> None:
        page.locator("#ask").get_by_label("Question", exact=True).fill(QUESTION)
        page.locator("#ask button[type=submit]").click()
        expect(page.locator("#note-panel")).to_be_visible()

    def shown(selector: str) -> Any:
        return lambda page: expect(page.locator(selector).first).to_be_visible()

    def clicked(link: str, selector: str) -> Any:
        def go(page: Any) -> None:
            page.locator(link).first.click()
            expect(page.locator(selector)).to_be_visible()
        return go

    out = [("playground-answer", "playground", asked),
           ("templates-helpdesk", "templates/helpdesk", shown("#tpl-yaml")),  # a deep link to one template
           ("knowledge-entry", "knowledge", clicked("#knowledge a", "#kn-body")),
           ("models-version", "models/helpdesk-lora/2", shown("#md-eval"))]
    if role != "viewer":
        out += [("audit-record", f"audit/record/{answered}", shown("#ad-summary")),
                ("audit-charts", "audit/charts", shown("#audit-block-rates")),
                ("audit-review", f"audit/review/{sample}", shown("#rv-items tr")),
                ("audit-filtered", "audit?verdict=blocked_input&check=toxicity", shown("#audit tr"))]
    return out


@pytest.mark.browser
def test_the_playground_shows_the_whole_note_and_takes_feedback(console: tuple[str, dict[str, str], Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens, rt = console
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 1000}).new_page()
        login(page, url, tokens["viewer"])
        page.click("nav button[data-view=playground]")
        expect(page).to_have_url(re.compile(r"#/playground$"))
        # labelled controls: each found by its label, as a screen reader finds it
        page.locator("#ask").get_by_label("Question", exact=True).fill(QUESTION)
        # keyboard focus is visible: Tab from the question lands on the strategy, outlined
        page.keyboard.press("Tab")
        focus = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
          return [e.id, s.outlineStyle, s.outlineWidth]; }""")
        assert focus == ["strategy", "solid", "3px"], focus
        page.locator("#ask").get_by_label("Strategy", exact=True).select_option("prompt_engineering")
        page.locator("#ask").get_by_label("Template", exact=True).fill("general@1")
        page.get_by_role("button", name="Ask").click()
        panel = page.locator("#note-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#answer pre")).to_have_text(ANSWER)
        note = rt.audit.list(limit=1, verdict="answered")[0]
        summary = page.locator("#np-summary")
        expect(summary).to_contain_text("prompt engineering · chosen by the asker")
        expect(summary).to_contain_text("general@1")
        expect(summary).to_contain_text("adapternone")
        expect(summary).to_contain_text(f"{note['id']} (auditors can open it)")  # a viewer: no link to the log
        for c in note["guardrails"]["input"] + note["guardrails"]["output"]:
            stage = "input" if c in note["guardrails"]["input"] else "output"
            cell = page.locator(f"#np-checks tr[data-stage={stage}][data-check={c['check']}]")
            expect(cell).to_contain_text(f"{c['score']:.4f}")
            expect(cell).to_contain_text(f"{c['threshold']:.2f}")
            expect(cell).to_contain_text("pass")
        latency = page.locator("#np-latency")
        for stage in ("input checks", "route", "generation", "output checks", "total"):
            expect(latency).to_contain_text(stage)
        expect(latency).to_contain_text(f"{note['tokens']['prompt']} prompt, {note['tokens']['completion']} answer")
        page.screenshot(path=str(SHOTS / "viewer-playground-note.png"), full_page=True)

        page.get_by_role("button", name="useful", exact=True).click()
        expect(page.locator("#feedback-result")).to_contain_text("recorded as useful (1 👍, 0 👎")
        page.get_by_role("button", name="not useful").click()
        expect(page.locator("#feedback-result")).to_contain_text("recorded as not useful (0 👍, 1 👎")
        from decorum.bot.slack.feedback import FeedbackStore

        assert list(FeedbackStore(rt.db).votes(note["id"]).values()) == [-1]

        # a refusal: its reference, the failing check against its threshold, and the way back
        page.locator("#ask").get_by_label("Strategy", exact=True).select_option("auto")
        page.locator("#ask").get_by_label("Template", exact=True).fill("")
        page.locator("#ask").get_by_label("Question", exact=True).fill("you are worthless")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("#answer h3")).to_have_text("Refused")
        refusal = rt.audit.list(limit=1, verdict="blocked_input")[0]
        expect(page.locator("#answer")).to_contain_text(f"Your reference: {refusal['id']}")
        expect(page.locator("#np-checks tr[data-stage=input][data-check=toxicity]")).to_contain_text("FAIL")
        expect(page.locator("#np-summary")).to_contain_text("not routed (nothing was generated)")
        expect(page.locator("#report-open")).to_be_visible()
        expect(page.locator("#feedback")).to_have_count(0)

        # a streamed answer: the checked first sentence shows while the rest is generated, then the whole note
        first = "Open the VPN portal from the company intranet first."
        rt.generator.reply = f"{first} Then choose Reset and follow the steps that the portal shows you next."
        rt.generator.stream_delay_s = 0.15
        page.locator("#ask").get_by_label("Question", exact=True).fill(QUESTION)
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("#answer-live")).to_contain_text(first)
        expect(page.locator("#answer pre.answer")).to_have_text(rt.generator.reply)
        expect(page.locator("#answer-live")).to_have_count(0)
        expect(page.locator("#note-panel")).to_be_visible()
        streamed = rt.audit.list(limit=1, verdict="answered")[0]
        assert streamed["streaming"]["chunks_shown"] >= 1
        browser.close()


@pytest.mark.browser
def test_an_auditor_reads_kept_texts_finds_by_reference_and_follows_links(
        console: tuple[str, dict[str, str], Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens, rt = console
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Amsterdam")
        page = context.new_page()
        login(page, url, tokens["auditor"])
        expect(page.locator("#tz")).to_have_text("Europe/Amsterdam")
        # an answer asked here, its note linking to the record
        page.click("nav button[data-view=playground]")
        page.locator("#ask").get_by_label("Question", exact=True).fill(QUESTION)
        page.get_by_role("button", name="Ask").click()
        record_link = page.locator("#np-record")
        expect(record_link).to_be_visible()
        note = rt.audit.list(limit=1, verdict="answered")[0]
        record_link.click()
        expect(page).to_have_url(re.compile(rf"#/audit/record/{note['id']}$"))
        detail = page.locator("#audit-detail")
        expect(detail).to_be_visible()
        expect(page.locator("#ad-title")).to_contain_text(f"answered · {note['id']}")
        expect(page.locator("#ad-title")).to_contain_text(" CET")  # local time, the zone named
        # the detail opens at the top, its summary first, the hashes folded away
        top = page.evaluate("() => document.getElementById('audit-detail').getBoundingClientRect().top")
        assert -2 <= top <= 120, top
        expect(page.locator("#ad-summary")).to_contain_text("route and why")
        assert page.evaluate("() => document.getElementById('ad-hashes').open") is False
        expect(page.locator("#ad-chain")).to_be_hidden()
        # the kept question, revealed; the reveal is an audit record
        page.click("#ad-reveal")
        shown = page.locator("#ad-texts-shown")
        expect(shown.locator("blockquote[data-field=question]")).to_have_text(QUESTION)
        expect(shown.locator("blockquote[data-field=answer]")).to_have_text(ANSWER)
        reveal = rt.audit.list(limit=1, verdict="change")[0]
        assert (reveal["change"]["kind"], reveal["change"]["actor"], reveal["change"]["note_id"]) == (
            "audit.text_read", "auditor-1", note["id"])
        expect(shown).to_contain_text(f"this reveal is record {reveal['id']}")
        page.screenshot(path=str(SHOTS / "auditor-audit-record.png"), full_page=True)

        # a deep link, reopened in a fresh page (same session), and in a fresh browser (logging in first)
        deep = page.url
        fresh = context.new_page()
        fresh.goto(deep)
        expect(fresh.locator("#ad-title")).to_contain_text(note["id"])
        fresh.close()
        other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        other.goto(deep)
        other.wait_for_selector("#login:not([hidden])")
        other.fill("#token", tokens["auditor"])
        other.click("#login-form button[type=submit]")
        expect(other.locator("#ad-title")).to_contain_text(note["id"])
        other.close()

        # a filtered view has a URL too, and the back button returns to it
        page.goto(f"{url}/#/audit")
        page.select_option("#af-verdict", "blocked_input")
        page.click("#audit-filter button[type=submit]")
        expect(page).to_have_url(re.compile(r"#/audit\?verdict=blocked_input$"))
        n_blocked = count(rt.db, AuditFilter(verdict="blocked_input"))
        expect(page.locator("#audit-total")).to_have_text(f"{n_blocked} records match")
        expect(page.locator("#audit tr[data-verdict=blocked_input]")).to_have_count(n_blocked)
        expect(page.locator("#audit tr")).to_have_count(n_blocked)
        filtered = page.url
        view = context.new_page()
        view.goto(filtered)
        expect(view.locator("#af-verdict")).to_have_value("blocked_input")
        expect(view.locator("#audit-total")).to_have_text(page.inner_text("#audit-total"))
        view.close()
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CET", page.inner_text("#audit tr >> nth=0"))

        # block rate per route and template, input blocks included as their own group
        page.click("#audit-tab-charts")
        expect(page).to_have_url(re.compile(r"#/audit/charts\?verdict=blocked_input$"))
        page.goto(f"{url}/#/audit/charts")
        rates = page.locator("#audit-block-rates")
        expect(rates.locator("tr", has_text="before routing (input blocked)")).to_contain_text("100%")
        expect(rates.locator("tr[data-template='helpdesk@2']")).to_have_count(2)  # prompt and fine-tuned routes
        stats = stats_of(rt.db, AuditFilter())
        charts = 4 + len({e["check"] for e in stats["scores"]})  # four, and a score histogram per check
        expect(page.locator("#audit-charts img.loaded")).to_have_count(charts)
        expect(page.locator("#audit-charts img.broken")).to_have_count(0)

        # search by the reference a refusal gives people, as they paste it
        page.click("nav button[data-view=playground]")
        page.locator("#ask").get_by_label("Question", exact=True).fill("you are worthless")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("#answer h3")).to_have_text("Refused")
        refusal = rt.audit.list(limit=1, verdict="blocked_input")[0]
        page.click("nav button[data-view=audit]")
        page.locator("#ref-search").get_by_label("Find by reference").fill(f"reference {refusal['id'].lower()}.")
        page.get_by_role("button", name="Find").click()
        expect(page).to_have_url(re.compile(rf"#/audit/record/{refusal['id']}$"))
        expect(page.locator("#ad-title")).to_contain_text(f"blocked_input · {refusal['id']}")
        expect(page.locator("#ad-summary")).to_contain_text("toxicity")
        page.locator("#ref-search").get_by_label("Find by reference").fill("01JD3Q4V7X2M8K9P0R5S6T7V8W")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#ref-result.refused")).to_contain_text("404 Not found: no audit record with the reference")

        # the review queue: the kept question beside the checks, revealed where it is judged
        page.goto(f"{url}/#/audit?verdict=answered&surface=web")
        page.reload()  # a fresh page has revealed nothing yet (a page shows again what it revealed, unrecorded)
        expect(page.locator("#audit-total")).to_contain_text("match")
        page.click("#audit-tab-review")
        page.fill("#rv-n", "50")
        page.click("#rv-draw button[type=submit]")
        expect(page.locator("#rv-draw-result.ok")).to_contain_text("drew sample")
        item = page.locator(f"#rv-items tr[data-note='{note['id']}']")
        expect(item).to_be_visible()
        expect(page).to_have_url(re.compile(r"#/audit/review/[^?]+\?verdict=answered&surface=web$"))
        item.locator("button.reveal").click()
        expect(item.locator("blockquote[data-field=question]")).to_have_text(QUESTION)
        item.locator("button.rv-agree").click()
        expect(page.locator("#rv-mark-result.ok")).to_contain_text(f"marked {note['id']}: agree")
        expect(item.locator(".mark.agree")).to_have_text("agree")  # the list refreshed after the mark ...
        expect(item.locator("blockquote[data-field=question]")).to_have_text(QUESTION)  # ... the text still shown
        # the table stays inside its panel (a wide one scrolls in its own box)
        box = page.evaluate("""() => { const p = document.getElementById('rv-sample').getBoundingClientRect();
          const t = document.querySelector('#rv-sample .table-wrap').getBoundingClientRect();
          return [p.left, p.right, t.left, t.right]; }""")
        assert box[0] <= box[2] and box[3] <= box[1], box
        page.screenshot(path=str(SHOTS / "auditor-audit-review.png"), full_page=True)
        browser.close()
    reveals = [n for n in rt.audit.list(limit=100, verdict="change") if n["change"]["kind"] == "audit.text_read"]
    assert len(reveals) == 2 and all(QUESTION not in json.dumps(n) for n in reveals)
    assert rt.audit.verify().ok


@pytest.mark.browser
def test_a_publisher_promotes_and_an_admin_manages_users(console: tuple[str, dict[str, str], Runtime]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens, rt = console
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
        # a viewer reads the card but cannot promote (the server refuses, in its words)
        login(page, url, tokens["viewer"])
        page.goto(f"{url}/#/models/helpdesk-lora/2")
        expect(page.locator("#md-title")).to_have_text("helpdesk-lora v2")
        expect(page.locator("#md-stage")).to_contain_text("candidate")
        page.locator("#md-change").get_by_label("Reason").fill("try")
        page.click("#md-promote")
        expect(page.locator("#md-change-result.refused")).to_contain_text(
            "403 Forbidden: the viewer role cannot do models.promote (it needs publisher or above)")
        page.click("#logout")

        login(page, url, tokens["publisher"])
        page.click("nav button[data-view=models]")
        page.click("#models a[data-model='helpdesk-lora@2']")
        expect(page).to_have_url(re.compile(r"#/models/helpdesk-lora/2$"))
        expect(page.locator("#md-eval-figures")).to_contain_text("token F1")
        expect(page.locator("#md-compare")).to_contain_text("fine_tuned answers best on this test split.")
        expect(page.locator("#md-compare-table tr[data-strategy=fine_tuned]")).to_contain_text("0.250")
        with page.expect_download() as got:
            page.get_by_role("link", name="Download the whole report (HTML, with charts and examples)").click()
        assert got.value.suggested_filename == "decorum-compare-helpdesk-lora-2.html"
        expect(page.locator("#md-router-figures")).to_contain_text("threshold")
        expect(page.locator("#md-router-figures")).to_contain_text("in-domain questions routed here")
        expect(page.locator("#md-card-figures")).to_contain_text("LoRA r=")
        assert page.locator("#md-loss").evaluate("img => img.complete && img.naturalWidth") > 0
        expect(page.locator("#md-markdown")).to_contain_text("# Model card: helpdesk-lora")
        # the reason is asked first
        page.click("#md-promote")
        expect(page.locator("#md-change-result.refused")).to_have_text(
            "Give a reason first: it is recorded with the change.")
        page.locator("#md-change").get_by_label("Reason").fill("beats v1 on the test split")
        page.click("#md-promote")
        expect(page.locator("#md-change-result.ok")).to_have_text("helpdesk-lora v2 is now production (was candidate)")
        expect(page.locator("#models tr[data-model='helpdesk-lora@1'] .stage")).to_have_text("archived")
        expect(page.locator("#md-history tr").first).to_contain_text("beats v1 on the test split")
        expect(page.locator("#md-promote")).to_be_disabled()
        page.screenshot(path=str(SHOTS / "publisher-models-promoted.png"), full_page=True)
        page.click("#logout")

        # an admin: a new user's token shown once and gone after a revoke; no revoking oneself
        login(page, url, tokens["admin"])
        page.click("nav button[data-view=users]")
        page.locator("#add-user").get_by_label("Name").fill("temp-1")
        page.locator("#add-user").get_by_label("Role").select_option("viewer")
        page.click("#add-user button[type=submit]")
        expect(page.locator("#new-token .token")).to_contain_text("dcm_")
        expect(page.locator("#users button[data-user='admin-1']")).to_be_disabled()
        page.once("dialog", lambda d: d.accept())
        page.click("#users button[data-user='temp-1']")
        expect(page.locator("#users-result.ok")).to_have_text("revoked temp-1: their token and sessions no longer work")
        expect(page.locator("#new-token")).to_be_hidden()
        assert page.locator("#new-token").inner_text() == ""
        expect(page.locator("#users tr[data-user='temp-1']")).to_contain_text("revoked")
        browser.close()
    assert (rt.models.get("helpdesk-lora").version, rt.models.get("helpdesk-lora", 1).stage) == (2, "archived")
    (promote,) = [n for n in rt.audit.list(limit=50, verdict="change") if n["change"]["kind"] == "model.promote"]
    assert (promote["change"]["actor"], promote["change"]["version"], promote["change"]["reason"]) == (
        "publisher-1", 2, "beats v1 on the test split")
    assert rt.access.authenticate_token(tokens["admin"]) is not None
