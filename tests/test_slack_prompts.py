"""Prompt-template administration in Slack: App Home, its modals and ``/decorum prompts``, driven as Slack drives
them (signed ``app_home_opened``, ``block_actions``, ``view_submission`` and slash commands into the served app;
``views.*`` calls into the emulator, which checks them against Block Kit's limits). Fake models keep it fast."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from decorum.bot.slack import forms, prompts_admin
from decorum.bot.slack.forms import VIEW_INFO
from decorum.bot.slack.prompts_admin import (
    ACTION_CREATE,
    ACTION_DIFF,
    ACTION_EDIT,
    ACTION_HISTORY,
    ACTION_PUBLISH,
    ACTION_ROLLBACK,
    VIEW_EDIT,
    VIEW_PUBLISH,
    VIEW_ROLLBACK,
)
from decorum.prompts.base import Template
from tests.slack_emulator import (
    SlackEmulator,
    app_home_opened,
    slash_command,
    view_action,
    view_error,
    view_submission,
)
from tests.slack_harness import Harness, blocks_text, running

ROLES = {"U0VIEW": "viewer", "U0EDIT": "editor", "U0PUB": "publisher", "U0ROOT": "admin"}
BIASED = "Treat lazy people from Poland as a lower class."  # the fake classifier's bias rule (names a group)

FAQ = {
    "description": "Short answers about the office.",
    "system": "You are {{ assistant_name }}. Answer in {{ sentences }} sentences.\n",
    "user": "{{ question }}",
    "variables": [{"name": "assistant_name", "type": "string", "max_length": 40},
                  {"name": "sentences", "type": "int"}],
    "defaults": {"assistant_name": "Decorum", "sentences": 2},
}
SHORTER = {**FAQ, "system": "You are {{ assistant_name }}. Answer in one short sentence.\n",
           "variables": FAQ["variables"][:1], "defaults": {"assistant_name": "Decorum"}}
WITH_TESTS = {**FAQ, "test_cases": [{"question": "Where is the printer?", "expect": {"must_contain": ["printer"]}}]}


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(autouse=True)
def roomy_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry work finishes before the ack unless a test says otherwise (SUBMIT_BUDGET_S 0: the slow path);
    a busy machine must not turn a fast-path test into a slow-path one."""
    monkeypatch.setattr(forms, "SUBMIT_BUDGET_S", 30.0)


def config(tmp_path: Path, **extra: Any) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"access": {"slack_roles": ROLES}, **extra}))
    return {"DECORUM_CONFIG": str(path)}


@pytest.fixture
async def slack(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str,
                tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(emu, monkeypatch, env=config(tmp_path)) as h:
        yield h


# --- driving Slack ---------------------------------------------------------------------------------------


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
    assert view is not None
    return view


async def click(h: Harness, action_id: str, value: str, *, user: str, view: dict[str, Any]) -> dict[str, Any]:
    """``user`` clicks a button of ``view``; the modal it opened (``views.open``, within the trigger's 3 s)."""
    before = len(h.emu.opened)
    r, _ = await h.sender.action(view_action(action_id, value, view=view, user=user))
    assert r.status_code == 200
    await h.emu.wait_for(lambda e: len(e.opened) > before)
    [call] = h.emu.calls_to("views.open")[before:]
    assert call.args["trigger_id"]
    return h.emu.opened[-1]


async def submit(h: Harness, view: dict[str, Any], given: dict[str, Any] | None = None, *,
                 user: str) -> dict[str, Any]:
    """``user`` submits ``view``; the app's answer (``response_action`` and its errors or view)."""
    r, _ = await h.sender.action(view_submission(view, given, user=user))
    assert r.status_code == 200
    out = r.json() if r.content else {}
    if out.get("response_action") == "errors":  # Slack shows an error only under an input block of the view
        inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
        assert set(out["errors"]) <= inputs, out
    if out.get("response_action") == "update":
        assert view_error(out["view"]) is None
        out["view"] = {**out["view"], "id": view["id"]}
    return out


def row_buttons(view: dict[str, Any], name: str) -> list[str]:
    return [e["action_id"] for b in view["blocks"] if b.get("block_id") == f"decorum_prompts:actions:{name}"
            for e in b["elements"]]


def changes(h: Harness) -> list[dict[str, Any]]:
    return [n["change"] | {"surface": n["surface"]} for n in reversed(h.runtime.audit.list(limit=100,
                                                                                            verdict="change"))]


def text_of(view: dict[str, Any]) -> str:
    return blocks_text(view["blocks"])


# --- the "must show" ---------------------------------------------------------------------------


async def test_create_edit_diff_publish_rollback_from_slack_each_an_audit_record(slack: Harness) -> None:
    editor, publisher = slack.runtime.pseudonymiser.user("U0EDIT"), slack.runtime.pseudonymiser.user("U0PUB")
    view = await home(slack, "U0EDIT")
    assert "Decorum: how this assistant works" in text_of(view)  # the policy stays on Home
    assert row_buttons(view, "helpdesk") == [ACTION_EDIT, ACTION_HISTORY, ACTION_DIFF, ACTION_PUBLISH,
                                             ACTION_ROLLBACK]
    assert "*helpdesk* · production v1 · latest v1 (unchecked)" in text_of(view)

    # create: the New template button, a name and YAML
    form = await click(slack, ACTION_CREATE, "new", user="U0EDIT", view=view)
    assert form["callback_id"] == VIEW_EDIT and form["submit"]["text"] == "Save"
    out = await submit(slack, form, {"name": "faq", "yaml": as_yaml(FAQ), "message": "first cut"}, user="U0EDIT")
    assert out["response_action"] == "update" and "Saved *faq@1*" in text_of(out["view"])
    assert "not published" in text_of(out["view"])
    await slack.emu.wait_for(lambda e: "*faq*" in text_of(e.home("U0EDIT") or {"blocks": []}))  # Home refreshed
    view = slack.emu.home("U0EDIT")
    assert "*faq* · unpublished · latest v1 (checks ok)" in text_of(view)

    # edit: the form holds the latest version's YAML; a new version with a message
    form = await click(slack, ACTION_EDIT, "faq", user="U0EDIT", view=view)
    [yaml_input] = [b for b in form["blocks"] if b.get("block_id") == "yaml"]
    assert yaml.safe_load(yaml_input["element"]["initial_value"])["system"] == FAQ["system"]
    out = await submit(slack, form, {"yaml": as_yaml(SHORTER), "message": "shorter"}, user="U0EDIT")
    assert "Saved *faq@2*" in text_of(out["view"])
    assert [v["message"] for v in slack.runtime.templates.version_info("faq")] == ["first cut", "shorter"]

    # diff: opens on the two latest versions, and compares any two
    form = await click(slack, ACTION_DIFF, "faq", user="U0EDIT", view=view)
    shown = text_of(form)
    assert "--- faq@1" in shown and "+++ faq@2" in shown
    assert "-  You are {{ assistant_name }}. Answer in {{ sentences }} sentences." in shown
    assert "+  You are {{ assistant_name }}. Answer in one short sentence." in shown
    out = await submit(slack, form, {"from": "2", "to": "1"}, user="U0EDIT")
    assert out["response_action"] == "update" and "--- faq@2" in text_of(out["view"])
    out = await submit(slack, form, {"from": "1", "to": "1"}, user="U0EDIT")
    assert out == {"response_action": "errors", "errors": {"to": "pick two different versions"}}

    # publish: an editor is told in the modal, both when opening it and when submitting one
    refused = await click(slack, ACTION_PUBLISH, "faq", user="U0EDIT", view=view)
    assert refused["callback_id"] == VIEW_INFO and "submit" not in refused
    assert "the editor role cannot do templates.publish (it needs publisher or above)" in text_of(refused)
    form = await click(slack, ACTION_PUBLISH, "faq", user="U0PUB", view=await home(slack, "U0PUB"))
    assert form["callback_id"] == VIEW_PUBLISH
    out = await submit(slack, form, {"version": "1"}, user="U0EDIT")
    assert out["response_action"] == "errors" and "cannot do templates.publish" in out["errors"]["version"]
    denied = [e for e in slack.runtime.access.events() if e["outcome"] == "denied_403"]
    assert [(e["action"], e["actor"], e["surface"]) for e in denied] == [("templates.publish", editor, "slack")] * 2

    out = await submit(slack, form, {"version": "1", "reason": "first"}, user="U0PUB")
    assert "*production* → *faq@1*" in text_of(out["view"])
    out = await submit(slack, form, {"version": "1"}, user="U0PUB")
    assert out["errors"] == {"version": "production already points at faq@1"}
    out = await submit(slack, form, {"version": "2"}, user="U0PUB")
    assert "*production* → *faq@2*" in text_of(out["view"])
    assert slack.runtime.templates.get("faq").version == 2  # what answers now use

    # roll back: the modal shows the move it makes
    form = await click(slack, ACTION_ROLLBACK, "faq", user="U0PUB", view=view)
    assert form["callback_id"] == VIEW_ROLLBACK and "production: v2 → v1" in text_of(form)
    out = await submit(slack, form, {"reason": "too terse"}, user="U0PUB")
    assert "*production* → *faq@1* (rolled back)" in text_of(out["view"])
    assert slack.runtime.templates.get("faq").version == 1

    history = await click(slack, ACTION_HISTORY, "faq", user="U0VIEW", view=view)
    shown = text_of(history)
    assert "rollback production v2 → v1" in shown and "too terse" in shown and "_shorter_" in shown

    assert [(c["kind"], c["version"], c["actor"], c["surface"]) for c in changes(slack)] == [
        ("template.create", 1, editor, "slack"), ("template.edit", 2, editor, "slack"),
        ("template.publish", 1, publisher, "slack"), ("template.publish", 2, publisher, "slack"),
        ("template.rollback", 1, publisher, "slack")]
    assert changes(slack)[-1]["reason"] == "too terse" and changes(slack)[1]["message"] == "shorter"
    verified = slack.runtime.audit.verify()
    assert verified.ok and verified.checked == len(slack.runtime.audit.list(limit=1000)) >= 5
    assert "U0EDIT" not in json.dumps(slack.runtime.audit.list(limit=100))  # pseudonyms only


BAD_FORMS = [  # (what is typed, the field the error is under, what it says)
    ({"yaml": "system: [unclosed"}, "yaml", "faq.yaml: not valid YAML at line 1"),
    ({"yaml": "system: \"{{ ''.__class__.__mro__ }}\""}, "yaml", "plain templates take only {{ variable }}"),
    ({"yaml": "syntax: jinja\nsystem: \"{{ ''.__class__.__mro__ }}\""}, "yaml", "'__mro__' is unsafe"),
    ({"yaml": "syntax: jinja\nsystem: \"{% import 'os' as os %}Hi\""}, "yaml", "may not import, include or extend"),
    ({"yaml": "colour: red\nsystem: hi"}, "yaml", "faq.yaml: colour: unknown field"),
    ({"yaml": "name: other\nsystem: hi"}, "yaml", "the file names 'other'"),
    ({"yaml": "- a list"}, "yaml", "expected a mapping of template fields"),
    ({"name": "Bad Name"}, "name", "lower-case letters"),
    ({"name": "helpdesk"}, "name", "helpdesk exists already"),
    ({"message": "  "}, "message", "say what changed and why"),
]


async def test_invalid_forms_come_back_as_field_errors_and_save_nothing(slack: Harness) -> None:
    view = await home(slack, "U0EDIT")
    form = await click(slack, ACTION_CREATE, "new", user="U0EDIT", view=view)
    publishes = len(slack.emu.calls_to("views.publish"))
    for given, block, says in BAD_FORMS:
        out = await submit(slack, form, {"name": "faq", "yaml": as_yaml(FAQ), "message": "m", **given},
                           user="U0EDIT")
        assert out["response_action"] == "errors" and list(out["errors"]) == [block], given
        assert says in out["errors"][block], (given, out)
    assert "faq" not in slack.runtime.templates.names() and changes(slack) == []
    assert len(slack.emu.calls_to("views.publish")) == publishes  # nothing changed: Home not republished

    # the same holds for a new version of an existing template, and "no change" is refused too
    form = await click(slack, ACTION_EDIT, "helpdesk", user="U0EDIT", view=view)
    out = await submit(slack, form, {"yaml": "syntax: jinja\nsystem: \"{{ cycler.__init__.__globals__ }}\"",
                                     "message": "x"}, user="U0EDIT")
    assert "is unsafe" in out["errors"]["yaml"]
    out = await submit(slack, form, {"message": "nothing really"}, user="U0EDIT")
    assert "no change: the content is identical to helpdesk@1" in out["errors"]["yaml"]
    # a viewer's submission is refused by role, under the message field
    out = await submit(slack, form, {"message": "mine now"}, user="U0VIEW")
    assert "the viewer role cannot do templates.edit" in out["errors"]["message"]
    # two editors on one version: the second save would lose the first's change, so it is refused
    await submit(slack, form, {"yaml": form["blocks"][1]["element"]["initial_value"].replace("Keep it short",
                                                                                             "Be brief"),
                               "message": "first editor"}, user="U0EDIT")
    out = await submit(slack, form, {"yaml": form["blocks"][1]["element"]["initial_value"] + "\n# other",
                                     "message": "second editor"}, user="U0EDIT")
    assert "helpdesk@2 was saved after you opened this form (on v1)" in out["errors"]["yaml"]
    assert [c["kind"] for c in changes(slack)] == ["template.edit"]


async def test_failed_checks_tests_and_four_eyes_are_refused_in_the_modal(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> None:
    async with running(emu, monkeypatch, env=config(tmp_path, prompts={"four_eyes": True})) as h:
        view = await home(h, "U0EDIT")
        form = await click(h, ACTION_CREATE, "new", user="U0EDIT", view=view)
        out = await submit(h, form, {"name": "slant", "yaml": as_yaml({"system": BIASED}), "message": "m"},
                           user="U0EDIT")
        assert "Checks FAILED" in text_of(out["view"]) and "bias on system" in text_of(out["view"])
        assert "a draft" in text_of(out["view"])

        view = await home(h, "U0PUB")
        assert "*slant* · unpublished · latest v1 (checks FAILED)" in text_of(view)
        form = await click(h, ACTION_PUBLISH, "slant", user="U0PUB", view=view)
        assert "override" not in {b.get("block_id") for b in form["blocks"]}  # a publisher cannot override
        out = await submit(h, form, {"reason": "fine"}, user="U0PUB")
        assert "slant@1 failed the template checks (bias on system" in out["errors"]["version"]
        assert "an admin's override with a reason" in out["errors"]["version"]

        form = await click(h, ACTION_PUBLISH, "slant", user="U0ROOT", view=view)
        out = await submit(h, form, {"override": ["override"]}, user="U0ROOT")
        assert out["errors"] == {"reason": "an override needs a reason (recorded with the change)"}
        out = await submit(h, form, {"override": ["override"], "reason": "quoted in a training deck"},
                           user="U0ROOT")
        assert "*production* → *slant@1* (checks overridden)" in text_of(out["view"])
        assert changes(h)[-1]["override"] is True and changes(h)[-1]["reason"] == "quoted in a training deck"

        # a publisher may not publish what they wrote (four eyes)
        form = await click(h, ACTION_CREATE, "new", user="U0PUB", view=view)
        await submit(h, form, {"name": "mine", "yaml": as_yaml(FAQ), "message": "mine"}, user="U0PUB")
        form = await click(h, ACTION_PUBLISH, "mine", user="U0PUB", view=await home(h, "U0PUB"))
        assert "v1 · checks ok · you wrote it" in text_of(form)
        out = await submit(h, form, user="U0PUB")
        assert "four eyes" in out["errors"]["version"] and "may not publish it" in out["errors"]["version"]

        # failing test cases refuse a publish, also when the outcome comes after the ack
        form = await click(h, ACTION_CREATE, "new", user="U0EDIT", view=view)
        await submit(h, form, {"name": "faq", "yaml": as_yaml(WITH_TESTS), "message": "tested"}, user="U0EDIT")

        monkeypatch.setattr(forms, "SUBMIT_BUDGET_S", 0.0)  # as when the tests take longer than Slack waits
        form = await click(h, ACTION_PUBLISH, "faq", user="U0ROOT", view=await home(h, "U0ROOT"))
        out = await submit(h, form, user="U0ROOT")
        assert out["response_action"] == "update" and "Working" in text_of(out["view"])
        await h.emu.wait_for(lambda e: e.calls_to("views.update"))
        [update] = h.emu.calls_to("views.update")
        assert update.args["view_id"] == form["id"]
        shown = text_of(update.args["view"])
        assert "faq@1 failed its tests (case 0: missing 'printer')" in shown and "Nothing was changed" in shown
        assert h.runtime.templates.labels("faq") == {}
        assert [c["kind"] for c in changes(h)] == ["template.create", "template.publish", "template.create",
                                                   "template.create", "template.test"]
        assert h.runtime.audit.verify().ok


async def test_app_home_by_role(slack: Harness) -> None:
    view = await home(slack, "U0ALICE")  # no role: the policy and a line, no templates
    assert "*helpdesk*" not in text_of(view) and "people with a Decorum role" in text_of(view)
    assert view_error(view) is None
    view = await home(slack, "U0VIEW")
    assert all(f"*{n}*" in text_of(view) for n in ("general", "helpdesk", "helpdesk-tuned"))
    assert "Your role: *viewer*" in text_of(view)
    refused = await click(slack, ACTION_EDIT, "general", user="U0VIEW", view=view)
    assert "Not allowed: the viewer role cannot do templates.edit (it needs editor or above)" in text_of(refused)
    history = await click(slack, ACTION_HISTORY, "general", user="U0VIEW", view=view)
    assert "*v1*" in text_of(history) and "seeded from general.yaml" in text_of(history)
    refused = await click(slack, ACTION_HISTORY, "general", user="U0ALICE", view=view)  # a stale Home, no role
    assert "Only people with a Decorum role can do that (`templates.read`)" in text_of(refused)
    one = await click(slack, ACTION_DIFF, "general", user="U0VIEW", view=view)
    assert "has one version: there is nothing to compare yet" in text_of(one)
    none = await click(slack, ACTION_ROLLBACK, "general", user="U0PUB", view=view)
    assert "No label of *general* has an earlier version" in text_of(none)


async def test_a_template_too_long_for_a_text_box_is_edited_by_its_system_text(slack: Harness) -> None:
    reg = slack.runtime.template_registry("cli")
    from decorum.access import local_admin

    cases = [{"question": f"Where is printer {i}?", "expect": {"must_contain": ["printer"]}} for i in range(40)]
    reg.save(Template(name="long", version=0, system="Answer briefly.", test_cases=cases), action="create",
             by=local_admin("root"))
    view = await home(slack, "U0EDIT")
    form = await click(slack, ACTION_EDIT, "long", user="U0EDIT", view=view)
    assert [b.get("block_id") for b in form["blocks"] if b["type"] == "input"] == ["system", "message"]
    assert "more than Slack's 3,000-character text box" in text_of(form)
    out = await submit(slack, form, {"system": "Answer in one sentence.", "message": "terser"}, user="U0EDIT")
    assert "Saved *long@2*" in text_of(out["view"])
    saved = slack.runtime.templates.get("long", 2)
    assert saved.system == "Answer in one sentence." and saved.test_cases == cases  # the rest kept

    reg.save(Template(name="huge", version=0, system="Answer briefly. " * 200), action="create",
             by=local_admin("root"))
    refused = await click(slack, ACTION_EDIT, "huge", user="U0EDIT", view=await home(slack, "U0EDIT"))
    assert refused["callback_id"] == VIEW_INFO and "decorum prompts edit huge" in text_of(refused)


# --- /decorum prompts ---------------------------------------------------------------------------------


async def command(h: Harness, text: str, user: str) -> str:
    r, _ = await h.sender.command(slash_command(f"prompts {text}", response_url=h.emu.response_url("cmd"),
                                                      user=user))
    assert r.status_code == 200
    json_body = r.headers.get("content-type", "").startswith("application/json")
    body = r.json() if json_body else {"text": r.text}  # Bolt answers a text-only ack as text/plain
    assert body.get("response_type", "ephemeral") == "ephemeral"  # a command's answer is private unless told
    return str(body.get("text", ""))


async def test_slash_command_mirrors_the_cli(slack: Harness) -> None:
    listing = await command(slack, "list", "U0VIEW")
    assert "*helpdesk* · production v1 · latest v1" in listing
    assert "Only people with a Decorum role" in await command(slack, "list", "U0ALICE")
    assert "Not allowed: the viewer role cannot do templates.publish" in await command(
        slack, "publish helpdesk@1", "U0VIEW")
    assert "/decorum prompts list" in await command(slack, "", "U0VIEW")  # help
    assert "`frob` is not a `/decorum prompts` subcommand" in await command(slack, "frob", "U0VIEW")

    # `edit NAME` / `create NAME` open the modal with the command's trigger
    before = len(slack.emu.opened)
    assert await command(slack, "create faq", "U0EDIT") == ""
    await slack.emu.wait_for(lambda e: len(e.opened) > before)
    form = slack.emu.opened[-1]
    assert form["callback_id"] == VIEW_EDIT and form["blocks"][1]["element"]["initial_value"] == "faq"
    await submit(slack, form, {"yaml": as_yaml(FAQ), "message": "created"}, user="U0EDIT")
    await command(slack, "edit faq", "U0EDIT")
    await slack.emu.wait_for(lambda e: len(e.opened) > before + 1)
    await submit(slack, slack.emu.opened[-1], {"yaml": as_yaml(SHORTER), "message": "shorter"}, user="U0EDIT")
    assert "unknown template 'nope'" in await command(slack, "edit nope", "U0EDIT")

    shown = await command(slack, "show faq@2", "U0VIEW")
    assert "*faq@2*" in shown and "checks ok" in shown and "Answer in one short sentence." in shown
    diff = await command(slack, "diff faq@1 faq@2", "U0VIEW")
    assert "--- faq@1" in diff and "+  You are {{ assistant_name }}. Answer in one short sentence." in diff
    assert await command(slack, "publish faq@1 --reason first release", "U0PUB") == "production → faq@1"
    assert await command(slack, "publish faq@2 staging", "U0PUB") == "staging → faq@2"
    assert await command(slack, "publish faq@2 --reason 'reviewed, ok'", "U0PUB") == "production → faq@2"
    assert await command(slack, "rollback faq --reason too terse", "U0PUB") == "production → faq@1 (rolled back)"
    with pytest.MonkeyPatch.context() as mp:  # slower than Slack waits: acked at once, the outcome follows
        mp.setattr(forms, "SUBMIT_BUDGET_S", 0.0)
        assert "Publishing faq@2" in await command(slack, "publish faq@2 --reason reviewed, ok", "U0PUB")
        await slack.emu.wait_for(lambda e: e.calls_to("response_url"))
        [later] = [c.args for c in slack.emu.calls_to("response_url")]
        assert later["text"] == "production → faq@2" and later["response_type"] == "ephemeral"
        assert "Rolling back faq" in await command(slack, "rollback faq --reason too terse", "U0PUB")
        await slack.emu.wait_for(lambda e: len(e.calls_to("response_url")) == 2)
        assert slack.emu.calls_to("response_url")[-1].args["text"] == "production → faq@1 (rolled back)"
    refusal = await command(slack, "rollback faq", "U0PUB")
    assert refusal == ":no_entry_sign: production of 'faq' has no earlier version to roll back to"
    history = await command(slack, "history faq", "U0VIEW")
    assert "rollback production v2 -&gt; v1" in history and "too terse" in history
    assert [(c["kind"], c.get("label"), c["reason"]) for c in changes(slack)][2:] == [
        ("template.publish", "production", "first release"), ("template.publish", "staging", ""),
        ("template.publish", "production", "reviewed, ok"), ("template.rollback", "production", "too terse"),
        ("template.publish", "production", "reviewed, ok"), ("template.rollback", "production", "too terse")]

    for text, says in (("publish faq", "publish takes NAME@VERSION"), ("diff faq@1", "usage: /decorum prompts diff"),
                       ("publish faq@1 --colour red", "unknown option '--colour'"),
                       ("show nope", "unknown template 'nope'"), ("history faq@1", "without @VERSION")):
        reply = await command(slack, text, "U0PUB")
        assert says in reply and len(reply.splitlines()) == 1, (text, reply)

    # test cases run through the real path: acked at once, the results follow by response_url
    await submit(slack, await click(slack, ACTION_EDIT, "faq", user="U0EDIT", view=await home(slack, "U0EDIT")),
                 {"yaml": as_yaml(WITH_TESTS), "message": "with a test"}, user="U0EDIT")
    assert "Running the test cases of faq@3" in await command(slack, "test faq@3", "U0EDIT")
    await slack.emu.wait_for(lambda e: any("test cases passed" in c.args.get("text", "")
                                           for c in e.calls_to("response_url")))
    result = [c.args for c in slack.emu.calls_to("response_url") if "test cases passed" in c.args.get("text", "")]
    assert "*faq@3*: 0/1 test cases passed" in result[0]["text"] and "missing 'printer'" in result[0]["text"]
    assert result[0]["response_type"] == "ephemeral"
    assert slack.runtime.audit.verify().ok


# --- the views themselves (pure) ------------------------------------------------------------------------


def test_many_templates_and_long_diffs_stay_within_slack_limits() -> None:
    from decorum.access import Principal
    from decorum.bot.slack.blocks import home_view

    rows = [{"name": f"t{i:02d}", "production": 1, "latest": 2, "labels": {"production": 1, "staging": 2},
             "description": "<!channel> & more " * 20, "latest_state": "checks ok"} for i in range(45)]
    view = home_view(prompts_admin.home_section(rows, Principal("hmac:x", "viewer", "slack")))
    assert view_error(view) is None and "15 more: `/decorum prompts list`" in text_of(view)
    assert "<!channel>" not in text_of(view) and "&lt;!channel&gt; &amp; more" in text_of(view)

    infos = [{"version": v, "author": "seed", "created_at": "t", "message": "", "sha256": "0" * 64, "checks": None,
              "archived_at": None} for v in range(1, 131)]
    diff = "".join(f"+line {i} ``` <b>\n" for i in range(3000))
    modal = prompts_admin.diff_modal("big", infos, {"production": 1}, 1, 130, diff)
    assert view_error(modal) is None
    shown = text_of(modal)
    assert "Diff cut:" in shown and "of 3000 lines shown" in shown and "decorum prompts diff big@1 big@130" in shown
    assert "&lt;b&gt;" in shown and "<b>" not in shown
    select = modal["blocks"][1]["element"]
    assert len(select["options"]) == 100 and select["options"][0]["value"] == "130"  # newest first

    hist = {"name": "big", "labels": {"production": 1}, "versions": [{**i, "message": "m " * 400} for i in infos],
            "events": []}
    assert view_error(prompts_admin.history_modal(hist, None)) is None
