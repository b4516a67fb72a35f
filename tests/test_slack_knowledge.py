"""The knowledge base in Slack's App Home (``decorum.bot.slack.knowledge_admin``), driven as Slack drives it:
signed ``app_home_opened``, ``block_actions`` and ``view_submission`` into the served app, ``views.*`` calls into
the emulator (which checks them against Block Kit's limits). Fake models keep it fast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from decorum.access import Principal, local_admin
from decorum.bot.runtime import Runtime
from decorum.bot.slack import forms, knowledge_admin
from decorum.bot.slack.forms import VIEW_INFO
from decorum.bot.slack.knowledge_admin import ACTION_PUBLISH, VIEW_PUBLISH
from decorum.knowledge.base import Entry
from tests.slack_emulator import SlackEmulator, app_home_opened, view_action, view_error, view_submission
from tests.slack_harness import Harness, blocks_text, running

ROLES = {"U0VIEW": "viewer", "U0EDIT": "editor", "U0PUB": "publisher", "U0ROOT": "admin"}
JAM = Entry(id="it-printer-jam", title="Clearing a printer jam", topic="it",
            body="Open tray 2 and pull the sheet out; call ext. 4357 if the light stays red.")
SLANT = Entry(id="hr-slant", title="Who gets promoted", topic="hr",
              body="We never promote lazy people from Poland.")  # the fake classifier's bias rule


@pytest.fixture(autouse=True)
def roomy_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The publish finishes before the ack: a busy machine must not turn the fast path into the slow one."""
    monkeypatch.setattr(forms, "SUBMIT_BUDGET_S", 30.0)


def drafts(rt: Runtime) -> None:
    """Two drafts written by an editor on the server: one clean, one saved over failed checks by an admin."""
    kb = rt.knowledge_registry("cli")
    kb.save(JAM, action="add", by=Principal("eda", "editor", "token"), message="new article")
    kb.save(SLANT, action="add", by=local_admin("root"), message="quoted", override=True, reason="training deck")


@pytest.fixture
async def slack(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str,
                tmp_path: Path) -> AsyncIterator[Harness]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"access": {"slack_roles": ROLES}}))
    async with running(emu, monkeypatch, env={"DECORUM_CONFIG": str(path)}, before=drafts) as h:
        yield h


async def home(h: Harness, user: str) -> dict[str, Any]:
    """``user`` opens App Home; the view published for them."""
    def published(e: SlackEmulator) -> int:
        return len([c for c in e.calls_to("views.publish") if c.args["user_id"] == user])

    await h.emu.settle(0.1)  # a refresh after the last change has arrived
    before = published(h.emu)
    r, _ = await h.sender.event(app_home_opened(user=user))
    assert r.status_code == 200
    await h.emu.wait_for(lambda e: published(e) > before)
    view = h.emu.home(user)
    assert view is not None and view_error(view) is None
    return view


async def click(h: Harness, value: str, *, user: str, view: dict[str, Any]) -> dict[str, Any]:
    """``user`` clicks the Publish button ``value`` of ``view``; the modal it opened."""
    before = len(h.emu.opened)
    r, _ = await h.sender.action(view_action(ACTION_PUBLISH, value, view=view, user=user))
    assert r.status_code == 200
    await h.emu.wait_for(lambda e: len(e.opened) > before)
    return h.emu.opened[-1]


async def submit(h: Harness, view: dict[str, Any], given: dict[str, Any] | None = None, *,
                 user: str) -> dict[str, Any]:
    """``user`` submits ``view``; the app's answer (``response_action`` and its errors or view)."""
    r, _ = await h.sender.action(view_submission(view, given, user=user))
    assert r.status_code == 200
    out = r.json() if r.content else {}
    if out.get("response_action") == "errors":  # Slack shows an error only under an input block of the view
        assert set(out["errors"]) <= {b["block_id"] for b in view["blocks"] if b["type"] == "input"}, out
    if out.get("response_action") == "update":
        assert view_error(out["view"]) is None
    return out


def part(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The knowledge base's blocks of App Home (from its header to the next divider)."""
    blocks = view["blocks"]
    start = next(i for i, b in enumerate(blocks) if b["type"] == "header" and b["text"]["text"] == "Knowledge base")
    end = next((i for i in range(start + 1, len(blocks)) if blocks[i]["type"] == "divider"), len(blocks))
    return blocks[start:end]


def publish_buttons(view: dict[str, Any]) -> list[str]:
    return [b["accessory"]["value"] for b in part(view) if b.get("accessory", {}).get("action_id") == ACTION_PUBLISH]


def changes(h: Harness) -> list[dict[str, Any]]:
    return [n["change"] | {"surface": n["surface"]}
            for n in reversed(h.runtime.audit.list(limit=100, verdict="change"))]


async def test_app_home_shows_drafts_by_role_and_a_publisher_publishes_one(slack: Harness) -> None:
    publisher = slack.runtime.pseudonymiser.user("U0PUB")
    view = await home(slack, "U0ALICE")  # no role: a line, no entries
    shown = blocks_text(part(view))
    assert "managed by people with a Decorum role" in shown and "it-printer-jam" not in shown

    view = await home(slack, "U0VIEW")  # a viewer sees what waits, without buttons
    shown = blocks_text(part(view))
    assert "80 entries, 2 with a draft waiting to be published. Your role: *viewer*" in shown
    assert "*Clearing a printer jam* (`it-printer-jam`) · draft v1 (checks ok) · never published" in shown
    assert "*Who gets promoted* (`hr-slant`) · draft v1 (checks FAILED) · never published" in shown
    assert "by eda at " in shown and publish_buttons(view) == []
    assert "Changed lately" in shown and "add v1 by eda" in shown

    view = stale = await home(slack, "U0PUB")
    assert sorted(publish_buttons(view)) == ["hr-slant@1", "it-printer-jam@1"]

    # an editor with a publisher's (stale) Home is told in the modal; the refusal is an access event
    refused = await click(slack, "it-printer-jam@1", user="U0EDIT", view=view)
    assert refused["callback_id"] == VIEW_INFO and "submit" not in refused
    assert "the editor role cannot do knowledge.publish (it needs publisher or above)" in blocks_text(
        refused["blocks"])

    form = await click(slack, "it-printer-jam@1", user="U0PUB", view=view)
    assert form["callback_id"] == VIEW_PUBLISH and form["submit"]["text"] == "Publish"
    shown = blocks_text(form["blocks"])
    assert "*Clearing a printer jam* (`it-printer-jam v1`, checks ok; nothing is served yet)" in shown
    assert "\\n> Open tray 2 and pull the sheet out" in shown and "_new article_" in shown
    assert "override" not in {b.get("block_id") for b in form["blocks"]}  # a publisher cannot override

    out = await submit(slack, form, {"reason": "x" * 1001}, user="U0PUB")
    assert out == {"response_action": "errors", "errors": {"reason": "1001 characters; the limit is 1000"}}
    out = await submit(slack, form, {"reason": "I am an editor"}, user="U0EDIT")  # a form passed around
    assert "the editor role cannot do knowledge.publish" in out["errors"]["reason"]
    out = await submit(slack, form, {"reason": "checked with facilities"}, user="U0PUB")
    assert out["response_action"] == "update"
    assert "*Clearing a printer jam* (`it-printer-jam v1`) is published" in blocks_text(out["view"]["blocks"])
    assert slack.runtime.knowledge.published_version("it-printer-jam") == 1  # what answers cite now

    await slack.emu.wait_for(lambda e: "publish v1 by you" in blocks_text(part(e.home("U0PUB"))))  # refreshed
    view = slack.emu.home("U0PUB")
    assert publish_buttons(view) == ["hr-slant@1"] and "1 with a draft waiting" in blocks_text(part(view))
    out = await submit(slack, form, {"reason": "again"}, user="U0PUB")
    assert out["errors"] == {"reason": "it-printer-jam v1 is already published"}
    again = await click(slack, "it-printer-jam@1", user="U0PUB", view=stale)  # Home from before the publish
    assert "is published already" in blocks_text(again["blocks"])

    assert [(c["kind"], c["entry"], c["version"], c["actor"], c["reason"], c["surface"]) for c in changes(slack)][-1] \
        == ("knowledge.publish", "it-printer-jam", 1, publisher, "checked with facilities", "slack")
    denied = [(e["action"], e["surface"]) for e in slack.runtime.access.events() if e["outcome"] == "denied_403"]
    assert denied == [("knowledge.publish", "slack")] * 2
    assert slack.runtime.audit.verify().ok


async def test_a_draft_that_failed_its_checks_needs_an_admins_override(slack: Harness) -> None:
    view = await home(slack, "U0PUB")
    form = await click(slack, "hr-slant@1", user="U0PUB", view=view)
    assert "Checks FAILED* when it was saved: bias 0.93 on body" in blocks_text(form["blocks"])
    out = await submit(slack, form, {"reason": "fine"}, user="U0PUB")
    assert "hr-slant v1 failed the guardrail checks when it was saved" in out["errors"]["reason"]
    assert "an admin's override with a reason" in out["errors"]["reason"] and "--" not in out["errors"]["reason"]

    form = await click(slack, "hr-slant@1", user="U0ROOT", view=view)
    assert "override" in {b.get("block_id") for b in form["blocks"]}
    out = await submit(slack, form, {"override": ["override"]}, user="U0ROOT")
    assert out["errors"] == {"reason": "an override needs a reason (recorded with the change)"}
    out = await submit(slack, form, {"override": ["override"], "reason": "quoted in the conduct training"},
                       user="U0ROOT")
    assert "is published (checks overridden)" in blocks_text(out["view"]["blocks"])
    last = changes(slack)[-1]
    assert (last["kind"], last["override"], last["reason"]) == ("knowledge.publish", True,
                                                               "quoted in the conduct training")
    assert slack.runtime.knowledge.published_version("hr-slant") == 1


async def test_stale_and_forged_buttons(slack: Harness) -> None:
    view = await home(slack, "U0PUB")
    slack.runtime.knowledge_registry("cli").save(
        Entry(id=JAM.id, title=JAM.title, topic="it", body="Open tray 3."), action="edit", by=local_admin("root"))
    stale = await click(slack, "it-printer-jam@1", user="U0PUB", view=view)
    assert "has a newer version (v2) than this button (v1)" in blocks_text(stale["blocks"])
    forged = {**view, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": {
        "type": "button", "action_id": ACTION_PUBLISH, "value": value, "text": {"type": "plain_text", "text": "x"}}}
        for value in ("nope@1", "../etc@1", "it-printer-jam")]}
    shown = blocks_text((await click(slack, "nope@1", user="U0PUB", view=forged))["blocks"])
    assert "no knowledge entry 'nope'" in shown
    for value in ("../etc@1", "it-printer-jam"):
        shown = blocks_text((await click(slack, value, user="U0PUB", view=forged))["blocks"])
        assert "is not an entry version" in shown
    assert [c["kind"] for c in changes(slack)] == ["knowledge.add", "knowledge.add", "knowledge.edit"]


def test_many_drafts_stay_within_home_limits() -> None:
    from decorum.bot.slack.blocks import home_view
    from tests.slack_emulator import view_error as error

    rows = [{"id": f"e{i:03d}", "title": f"<!channel> entry {i} " * 8, "published": None if i % 2 else 1,
             "latest": 2, "updated_at": "t", "author": "hmac:abcdefabcdefabcdef", "created_at": "2026-12-07T10:00",
             "checks": {"passed": i % 3 != 0, "results": []}} for i in range(200)]
    recent = [{**r, "event": {"action": "publish", "version": 2, "from_version": 1, "actor": "hmac:x",
                              "at": "2026-12-07T10:00"}} for r in rows[:5]]
    data = {"total": 200, "drafts": rows, "recent": recent}
    section = knowledge_admin.home_section(data, Principal("hmac:x", "publisher", "slack"))
    assert len(section) <= 3 + knowledge_admin.HOME_DRAFTS + 2
    view = home_view(section)
    assert error(view) is None and "194 more drafts" in blocks_text(view["blocks"])
    assert "<!channel>" not in blocks_text(view["blocks"])
