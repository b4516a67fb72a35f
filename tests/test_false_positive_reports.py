"""A way back for the wrongly blocked: "This was wrong" from a Slack refusal (or the console playground) into the
auditors' review queue, an auditor's mark, and out again as labelled data for ``decorum guardrails calibrate``.

Slack is driven as Slack drives it (signed HTTP into the served app, Web API calls into the emulator); the
console over its admin API with bearer tokens; the CLI through ``decorum.cli.main``. Fake models keep it fast.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from decorum.access import local_admin
from decorum.audit.retention import check_texts, purge_texts
from decorum.audit.review import REPORTS_SAMPLE, RefusedTexts
from decorum.bot.slack.blocks import ACTION_REPORT, ACTION_WHY, REPORT_KEEP_BLOCK, REPORT_KEEP_VALUE
from decorum.cli import main
from decorum.guardrails.policy import TOXICITY_THRESHOLD
from decorum.guardrails.training.calibrate import read_reports
from decorum.store.tables import AuditTextRow, FalsePositiveReportRow
from tests.console_harness import launch_chromium, login
from tests.slack_emulator import BOT_USER, block_action, message, view_submission
from tests.slack_harness import Harness, action_ids, blocks_text

ADMIN = "http://127.0.0.1:8001"
TOXIC = "you are a worthless idiot"


def reported(check: str) -> float:
    return REGISTRY.get_sample_value("decorum_false_positive_reports_total", {"check": check}) or 0.0


def changes(h: Harness, kind: str) -> list[dict[str, Any]]:
    return [n["change"] for n in h.runtime.audit.list(limit=500, verdict="change") if n["change"]["kind"] == kind]


async def refused_in_slack(h: Harness, text: str = TOXIC, **kw: Any) -> tuple[dict[str, Any], str]:
    """A mention the guardrails refuse; returns the refusal (ephemeral) and its note id."""
    await h.mention(f"<@{BOT_USER}> {text}", **kw)
    await h.idle()
    refusal = h.posts("chat.postEphemeral")[-1]
    [note_id] = [e["value"] for b in refusal["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == ACTION_REPORT]
    return refusal, note_id


async def press(h: Harness, note_id: str, user: str = "U0ALICE") -> dict[str, Any] | None:
    """Press "This was wrong"; returns the modal opened, or None (then the answer went to response_url)."""
    opened = len(h.emu.opened)
    r, _ = await h.sender.action(block_action(ACTION_REPORT, note_id, user=user,
                                              response_url=h.emu.response_url("report")))
    assert r.status_code == 200
    await h.idle()
    return h.emu.opened[-1] if len(h.emu.opened) > opened else None


async def submit(h: Harness, view: dict[str, Any], *, keep: bool, user: str = "U0ALICE") -> str:
    """Submit the report modal; returns the text of the modal it was updated to."""
    given = {REPORT_KEEP_BLOCK: [REPORT_KEEP_VALUE] if keep else []}
    r, _ = await h.sender.action(view_submission(view, given, user=user))
    assert r.status_code == 200
    body = r.json()
    assert body["response_action"] == "update"
    return blocks_text(body["view"]["blocks"])


def last_reply(h: Harness) -> str:
    return str(h.emu.calls_to("response_url")[-1].args["text"])


def tokens(h: Harness) -> dict[str, dict[str, str]]:
    add = h.runtime.access.add_user
    return {name: {"authorization": f"Bearer {add(name, role, by=local_admin('local:test'))[1]}"}
            for name, role in (("ana", "auditor"), ("pat", "viewer"), ("quinn", "viewer"))}


# --- the "must show" ---------------------------------------------------------------------------


async def test_this_was_wrong_from_slack_to_the_review_queue_and_back_to_an_export(
        slack: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = reported("toxicity")
    refusal, note_id = await refused_in_slack(slack)
    # the refusal says which kind of check stopped it and how to rephrase, offers the button, quotes nothing
    text = refusal["text"]
    assert "toxic or insulting" in text and "To rephrase" in text and "This was wrong" in text
    assert note_id in text and "worthless" not in blocks_text(refusal["blocks"])
    assert action_ids(refusal["blocks"]) == [ACTION_WHY, ACTION_REPORT]

    # another person cannot report Alice's refusal: told privately, no modal, nothing filed
    assert await press(slack, note_id, user="U0BOB") is None
    assert "Only the person" in last_reply(slack)

    # Alice presses: a modal that explains, with the opt-in; the text travels nowhere in it
    view = await press(slack, note_id)
    assert view is not None and view["callback_id"] == "decorum_report"
    shown = json.dumps(view)
    assert "worthless" not in shown and json.loads(view["private_metadata"]) == {"note": note_id}
    assert "Keep my message text for the reviewers (deleted after 30 days)" in shown
    assert "toxic or insulting" in shown

    # a stranger replaying Alice's modal is refused too
    assert "Only the person" in await submit(slack, view, keep=True, user="U0BOB")
    done = await submit(slack, view, keep=True)
    assert "in the reviewers' queue" in done and "kept for the reviewers" in done
    assert reported("toxicity") == before + 1

    # pressing again, or submitting again, files nothing more
    assert await press(slack, note_id) is None and "already reported" in last_reply(slack)
    assert "already reported" in await submit(slack, view, keep=True)
    assert reported("toxicity") == before + 1
    [report] = changes(slack, "review.report")
    pseudo = slack.runtime.pseudonymiser.user("U0ALICE")
    assert report["note_id"] == note_id and report["actor"] == pseudo and report["check"] == "toxicity"
    assert report["text_kept"] is True and report["score"] == pytest.approx(0.97)
    assert "worthless" not in json.dumps(slack.runtime.audit.list(limit=500))  # the log never holds the text

    # the review queue (console API): the item, with the check, its score and threshold, and the kept text
    h = tokens(slack)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app.admin), base_url=ADMIN) as admin:
        r = await admin.get("/api/audit/reviews", headers=h["ana"])
        assert REPORTS_SAMPLE in [s["sample"] for s in r.json()["samples"]]
        r = await admin.get(f"/api/audit/reviews/{REPORTS_SAMPLE}", headers=h["ana"])
        [item] = r.json()["items"]
        assert item["note_id"] == note_id and item["verdict"] == "blocked_input" and item["mark"] is None
        assert item["report"]["check"] == "toxicity"
        assert item["report"]["threshold"] == pytest.approx(TOXICITY_THRESHOLD)
        assert item["report"]["text"] == TOXIC and item["report"]["surface"] == "slack"
        # a viewer may not mark; the auditor marks: the block was wrong
        r = await admin.post(f"/api/audit/reviews/{REPORTS_SAMPLE}/{note_id}", headers=h["pat"],
                             json={"mark": "disagree"})
        assert r.status_code == 403
        r = await admin.post(f"/api/audit/reviews/{REPORTS_SAMPLE}/{note_id}", headers=h["ana"],
                             json={"mark": "disagree", "comment": "a quote from a film"})
        assert r.status_code == 200 and r.json()["mark"] == "disagree"
        r = await admin.get(f"/api/audit/reviews/{REPORTS_SAMPLE}/export.jsonl", headers=h["ana"])
        assert r.status_code == 200 and json.loads(r.text.splitlines()[0])["label"] == "false_positive"
    assert [m["note_id"] for m in changes(slack, "review.mark")] == [note_id]

    # the CLI: the item, and the labelled export that calibrate reads
    assert main(["audit", "review", "show", REPORTS_SAMPLE]) == 0
    assert f"{note_id}  blocked_input" in capsys.readouterr().out
    out = tmp_path / "fp.jsonl"
    assert main(["audit", "review", "export", "--false-positives", "--format", "jsonl", "--out", str(out)]) == 0
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["text"] == TOXIC and row["check"] == "toxicity" and row["label"] == "false_positive"
    assert row["stage"] == "input" and row["scored_label"] == "toxicity"
    assert read_reports(out, "toxicity") == ([TOXIC], [0]) and read_reports(out, "bias") == ([], [])
    assert len(changes(slack, "review.export")) == 2  # the console's export and the CLI's, each recorded

    # the chain holds, the kept text matches its note; the retention purge deletes it (and the export row)
    assert slack.runtime.audit.verify().ok
    assert check_texts(slack.runtime.db, slack.runtime.pseudonymiser) == (1, [])
    purge_texts(slack.runtime.db, slack.runtime.audit, older_than_days=0, actor="local:test")
    assert main(["audit", "review", "export", "--false-positives", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == ""
    assert slack.runtime.audit.verify().ok


async def test_without_consent_no_text_is_kept_or_exported(slack: Harness, tmp_path: Path) -> None:
    await slack.sender.event(message(TOXIC))  # a DM: the refusal is posted in the DM
    await slack.idle()
    refusal = slack.posts()[-1]
    assert action_ids(refusal["blocks"]) == [ACTION_WHY, ACTION_REPORT]
    note_id = refusal["metadata"]["event_payload"]["note_id"]
    view = await press(slack, note_id)
    assert view is not None
    done = await submit(slack, view, keep=False)
    assert "was not kept" in done
    db = slack.runtime.db
    with db.session() as s:
        assert s.execute(select(AuditTextRow)).first() is None
        assert s.get(FalsePositiveReportRow, note_id).text_kept is False
    assert len(slack.surface.answerer.refused_texts) == 0  # the process lets go of it once reported
    assert main(["audit", "review", "mark", REPORTS_SAMPLE, note_id, "disagree", "--as", "ana"]) == 0
    out = tmp_path / "fp.jsonl"
    assert main(["audit", "review", "export", "--false-positives", "--format", "jsonl", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == ""
    assert TOXIC not in json.dumps(slack.runtime.audit.list(limit=500))


async def test_opted_in_but_the_text_is_gone_files_the_report_without_it(slack: Harness) -> None:
    _, note_id = await refused_in_slack(slack)
    slack.surface.answerer.refused_texts.forget(note_id)  # as after a restart, or on another replica
    view = await press(slack, note_id)
    assert view is not None
    assert "no longer available" in await submit(slack, view, keep=True)
    with slack.runtime.db.session() as s:
        assert s.execute(select(AuditTextRow)).first() is None


async def test_bad_report_payloads_are_answered_without_a_500(slack: Harness) -> None:
    _, note_id = await refused_in_slack(slack)
    # an unknown note id on the button
    assert await press(slack, "01NOPE") is None and "can't find" in last_reply(slack)
    # an answer (not a refusal)
    await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    await slack.idle()
    answered = slack.posts()[-1]["metadata"]["event_payload"]["note_id"]
    assert await press(slack, answered) is None and "not a refusal" in last_reply(slack)
    # another workspace's press on this note reveals nothing
    r, _ = await slack.sender.action(block_action(ACTION_REPORT, note_id, team="T0OTHER",
                                                  response_url=slack.emu.response_url()))
    assert r.status_code == 200
    await slack.idle()
    assert "can't find" in last_reply(slack)
    view = await press(slack, note_id)
    assert view is not None
    # a modal whose metadata is not ours, or names an unknown note: answered in the modal
    assert "out of date" in await submit(slack, {**view, "private_metadata": "{broken"}, keep=True)
    assert "out of date" in await submit(slack, {**view, "private_metadata": json.dumps({"note": 5})}, keep=True)
    assert "can't find" in await submit(slack, {**view, "private_metadata": json.dumps({"note": "01NOPE"})},
                                        keep=True)
    # malformed JSON in a signed payload: a 4xx, never a 500
    r, _ = await slack.sender.raw(b"payload=%7B%22type%22%3A%22view_submission%22%2C", 
                                  "application/x-www-form-urlencoded")
    assert 400 <= r.status_code < 500
    with slack.runtime.db.session() as s:
        assert s.execute(select(FalsePositiveReportRow)).first() is None


async def test_console_playground_reports_its_own_refusal(slack: Harness) -> None:
    h = tokens(slack)
    before = reported("toxicity")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app.admin), base_url=ADMIN) as admin:
        r = await admin.post("/api/ask", headers=h["pat"], json={"text": TOXIC})
        data = r.json()
        assert data["verdict"] == "blocked_input" and "This was wrong" in data["answer"]
        assert data["report"] == {"url": f"/api/ask/{data['id']}/report", "retention_days": 30}
        url = data["report"]["url"]
        r = await admin.post(url, headers=h["quinn"], json={"keep_text": True})  # not quinn's refusal
        assert r.status_code == 403
        r = await admin.post(url, headers=h["pat"], json={"keep_text": "yes"})
        assert r.status_code == 400
        r = await admin.post(url, headers=h["pat"], content=b"{nope", )
        assert r.status_code in (400, 415)
        r = await admin.post("/api/ask/01NOPE/report", headers=h["pat"], json={})
        assert r.status_code == 404
        r = await admin.post(url, headers=h["pat"], json={"keep_text": True})
        assert r.status_code == 201 and r.json()["text_kept"] is True and r.json()["check"] == "toxicity"
        r = await admin.post(url, headers=h["pat"], json={"keep_text": False})
        assert r.status_code == 200 and r.json()["created"] is False
        r = await admin.get(f"/api/audit/reviews/{REPORTS_SAMPLE}", headers=h["ana"])
        [item] = r.json()["items"]
        assert item["report"]["surface"] == "web" and item["report"]["text"] == TOXIC
        r = await admin.get("/metrics", headers=h["pat"])
        assert 'decorum_false_positive_reports_total{check="toxicity"}' in r.text
    assert reported("toxicity") == before + 1


def test_refused_texts_are_held_briefly_and_boundedly(monkeypatch: pytest.MonkeyPatch) -> None:
    import decorum.audit.review as review

    now = [1000.0]
    monkeypatch.setattr(review.time, "monotonic", lambda: now[0])
    keep = RefusedTexts(ttl_s=60, max_items=2)
    keep.keep("a", "one")
    keep.keep("b", "two")
    keep.keep("c", "three")
    assert keep.get("a") is None and keep.get("b") == "two"  # the oldest went first
    now[0] += 61
    assert keep.get("c") is None and len(keep) == 0


@pytest.mark.parametrize("line,problem", [
    ("{nope", "not JSON"),
    ('{"text": "x"}', 'needs "text" and "label"'),
    ('{"text": "", "label": "false_positive"}', 'needs "text" and "label"'),
    ('["x"]', 'needs "text" and "label"'),
])
def test_calibrate_refuses_a_bad_reports_file_by_line(tmp_path: Path, line: str, problem: str) -> None:
    from decorum.errors import UsageError

    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "fine", "check": "bias", "label": "blocked_correctly"}\n' + line + "\n",
                    encoding="utf-8")
    with pytest.raises(UsageError, match=rf":2: .*{problem}"):
        read_reports(path, "bias")
    with pytest.raises(UsageError, match="no such file"):
        read_reports(tmp_path / "absent.jsonl", "bias")


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (make setup)")
def test_console_this_was_wrong_link_and_the_review_page(console: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, tokens = console
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        login(page, url, tokens["viewer"])
        page.fill("#q", "you are worthless")
        page.click("#ask button[type=submit]")
        page.wait_for_selector("#answer p.notice:has-text('blocked_input')")
        assert "toxic or insulting" in page.inner_text("#answer pre")
        page.click("#report-open")
        expect(page.locator("#report-form")).to_contain_text("deleted after 30 days")
        page.check("#report-keep")
        page.click("#report-send")
        expect(page.locator("#report-result.ok")).to_contain_text("in the reviewers' queue")
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])")

        login(page, url, tokens["auditor"])
        page.click("#audit-tab-review")
        page.click(f"#rv-samples a[data-sample={REPORTS_SAMPLE}]")
        expect(page.locator("#rv-items")).to_contain_text("text: “you are worthless”")
        expect(page.locator("#rv-export-labelled")).to_be_visible()
        page.click("#rv-items button.rv-disagree")
        expect(page.locator("#rv-mark-result.ok")).to_contain_text("disagree")
        browser.close()
