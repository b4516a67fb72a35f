"""``/decorum audit REF`` in Slack, and the audit jobs ``decorum serve`` runs, driven as Slack drives them: signed
slash commands into the served app (answered privately in the ack), Web API calls into the local emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from decorum.bot.note import new_id
from decorum.bot.slack.audit_admin import parse_ref
from tests.fakes import FakeGenerator
from tests.slack_emulator import BOT_USER, SlackEmulator, block_error, slash_command
from tests.slack_harness import Harness, running
from tests.test_audit_summary import check, note

ROLES = {"U0AUDIT": "auditor", "U0VIEW": "viewer", "U0ROOT": "admin"}
QUESTION = "Where is the printer on floor seven, marker-q-4711?"
ANSWER = "The printer marker-a-0815 is next to the kitchen on floor seven."


def config(tmp_path: Path, **audit: Any) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"access": {"slack_roles": ROLES}, "routing": {"semantic": False},
                                    **({"audit": audit} if audit else {})}))
    return str(path)


@pytest.fixture
async def slack(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str,
                tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(emu, monkeypatch, env={"DECORUM_CONFIG": config(tmp_path)},
                       generator=FakeGenerator(ANSWER)) as h:
        yield h


async def audit(h: Harness, args: str, user: str) -> dict[str, Any]:
    """``/decorum audit ARGS`` by ``user``: the ephemeral answer in the ack."""
    r, _ = await h.sender.command(slash_command(f"audit {args}".rstrip(), response_url=h.emu.response_url("a"),
                                                      user=user))
    assert r.status_code == 200
    body = r.json()
    assert body["response_type"] == "ephemeral"
    assert block_error(body["blocks"]) is None, body["blocks"]  # Slack would take them
    return body


def shown(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


async def asked(h: Harness) -> dict[str, Any]:
    """Alice asks in a channel; the note of the answer."""
    _, r, _ = await h.mention(f"<@{BOT_USER}> {QUESTION}")
    assert r.status_code == 200
    await h.idle()
    [n] = [n for n in h.runtime.audit.list(limit=50) if n["surface"] == "slack"]
    return n


async def test_an_auditor_sees_the_record_and_never_the_raw_user_or_any_text(slack: Harness) -> None:
    n = await asked(slack)
    assert n["verdict"] == "answered"
    pseudo = slack.runtime.pseudonymiser.user
    slack.surface.feedback.vote(n["id"], pseudo("U0BOB"), 1)
    slack.surface.feedback.vote(n["id"], pseudo("U0CAROL"), -1)
    slack.surface.feedback.vote(n["id"], pseudo("U0DAN"), 1)

    body = await audit(slack, n["id"], "U0AUDIT")
    text = shown(body)
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": f"Audit record {n['id']}"}}
    assert "*Verdict*\\n*answered*" in text and n["created_at"] in text and "slack · channel C0GENERAL" in text
    assert f"`{pseudo('U0ALICE')}`" in text  # the asker's pseudonym
    tpl = n["template"]
    assert f"{tpl['name']}@{tpl['version']}" in text
    assert f"{n['route']['strategy']} ({n['route']['reason']}" in text and n["model"]["name"] in text
    for stage in ("input", "output"):
        assert n["guardrails"][stage], stage
        for r in n["guardrails"][stage]:  # every check of each stage, with its score and outcome
            assert f"*{r['check']}*: score {r['score']:.4f} (threshold {r['threshold']}) · ✅ passed" in text
    assert "Question checks (input)" in text and "Answer checks (output)" in text
    assert f"action *{n['guardrails']['action']}*" in text
    assert f"total {n['latency_ms']['total']} ms" in text
    assert f"hash `{n['hash'][:16]}…`" in text and "seq 1 of 1" in text
    assert "*Feedback*: 👍 2 · 👎 1" in text
    # never the Slack user ids, never the question or the answer
    for secret in ("U0ALICE", "U0BOB", "U0CAROL", "U0AUDIT", "marker-q-4711", "marker-a-0815", "printer"):
        assert secret not in text, secret

    # the reference as people paste it: in backticks, after "Ref", with a full stop, in lower case
    for typed in (f"`{n['id']}`", f"Ref `{n['id']}`", f"reference {n['id']}.", n["id"].lower(), f"<{n['id']}>"):
        again = await audit(slack, typed, "U0ROOT")
        assert again["blocks"] == body["blocks"], typed
    assert not [e for e in slack.runtime.access.events() if e["outcome"].startswith("denied")]


async def test_a_viewer_and_a_person_without_a_role_are_refused_and_it_is_recorded(slack: Harness) -> None:
    n = await asked(slack)
    body = await audit(slack, n["id"], "U0VIEW")
    assert "needs the *auditor* role or above (`audit.read`); yours: *viewer*" in body["text"]
    assert n["id"] not in shown(body)  # nothing of the record
    body = await audit(slack, n["id"], "U0ALICE")
    assert "needs the *auditor* role or above (`audit.read`); yours: *none*" in body["text"]
    denied = [(e["actor"], e["via"], e["action"], e["outcome"], e["surface"], e["target"])
              for e in slack.runtime.access.events() if e["outcome"].startswith("denied")]
    pseudo = slack.runtime.pseudonymiser.user
    assert sorted(denied) == sorted([
        (pseudo("U0VIEW"), "slack", "audit.read", "denied_403", "slack", "/decorum audit"),
        (pseudo("U0ALICE"), "slack", "audit.read", "denied_403", "slack", "/decorum audit")])
    assert "U0VIEW" not in json.dumps(slack.runtime.access.events())


async def test_unknown_and_malformed_references_get_clear_errors(slack: Harness) -> None:
    unknown = new_id()
    body = await audit(slack, unknown, "U0AUDIT")
    assert f"No audit record with the reference `{unknown}`" in body["text"]
    assert "Expected the id under an answer" in body["text"]
    for typed, says in (("'; DROP TABLE audit_record; --", "expected one reference"),
                        ("hello?world", "a reference is letters and digits"),
                        ("x" * 40, "a reference is letters and digits"),
                        ("two refs", "expected one reference")):
        body = await audit(slack, typed, "U0AUDIT")
        assert "is not an audit reference" in body["text"] and says in body["text"], (typed, body["text"])
        assert "`/decorum audit REF`" in body["text"]  # with the usage
    for typed in ("", "help"):
        body = await audit(slack, typed, "U0VIEW")  # usage needs no role
        assert body["text"].startswith("*`/decorum audit REF`*: one audit record"), typed
    assert [e["outcome"] for e in slack.runtime.access.events()] == []  # none of these looked anything up


def test_references_are_taken_as_people_paste_them() -> None:
    ulid = "01JD3Q4V7X2M8K9P0R5S6T7V8W"
    for typed in (ulid, f"`{ulid}`", f"({ulid})", f"{ulid}.", f"ref:{ulid}", f"Reference: {ulid}", ulid.lower(),
                  f"&lt;{ulid}&gt;", f"“{ulid}”"):
        assert parse_ref(typed) == ulid, typed
    assert parse_ref("change-2.x") == "change-2.x"  # not a ULID: kept as typed


async def test_another_workspaces_record_and_change_records(slack: Harness) -> None:
    foreign = note("blocked_input", datetime.now(UTC), team="T0OTHER", inputs=[check("toxicity", 0.97)])
    slack.runtime.audit.append(foreign)
    body = await audit(slack, foreign["id"], "U0AUDIT")
    assert "No audit record with the reference" in body["text"]  # not shown from this workspace

    mine = note("blocked_input", datetime.now(UTC), inputs=[check("toxicity", 0.97), check("bias", 0.1)])
    slack.runtime.audit.append(mine)
    text = shown(await audit(slack, mine["id"], "U0AUDIT"))
    assert "*toxicity*: score 0.9700 (threshold 0.5) · ❌ *failed*" in text and "action *refused*" in text
    assert "*bias*: score 0.1000 (threshold 0.5) · ✅ passed" in text
    assert "*Feedback*: none" in text

    publish = {"id": new_id(), "created_at": "2026-12-01T10:00:00.000Z", "surface": "slack", "verdict": "change",
               "schema_version": 1, "change": {"kind": "template.publish", "actor": slack.runtime.pseudonymiser.user(
                   "U0ROOT"), "template": "general", "version": 2, "label": "production",
                   "reason": "secret reason words"}}
    slack.runtime.audit.append(publish)
    text = shown(await audit(slack, publish["id"], "U0AUDIT"))
    assert "*Change*\\ntemplate.publish" in text and "general@2" in text
    assert slack.runtime.pseudonymiser.user("U0ROOT") in text and "U0ROOT" not in text
    assert "secret reason words" not in text


async def test_serve_runs_the_checkpoint_job_and_posts_to_the_witness_channel(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> None:
    def logged(rt: Any) -> None:
        for _ in range(2):
            rt.audit.append(note("blocked_input", datetime.now(UTC), inputs=[check("toxicity", 0.97)]))

    path = config(tmp_path, checkpoint_every_s=3600, witness_channel="C0WITNESS")
    async with running(emu, monkeypatch, env={"DECORUM_CONFIG": path}, before=logged) as h:
        jobs = h.app.services.audit_jobs
        assert jobs is not None and jobs._task is not None
        post = await emu.wait_for(lambda e: [c.args for c in e.calls_to("chat.postMessage")
                                             if c.args["channel"] == "C0WITNESS"])
        assert post[0]["text"].startswith("Audit checkpoint: seq 2, 2 records")
        task = jobs._task
    assert task.cancelled() or task.done()
    assert h.app.services.audit_jobs is None

    async with running(emu, monkeypatch, env={"DECORUM_CONFIG": config(tmp_path, checkpoint_every_s=0)}) as h:
        assert h.app.services.audit_jobs is None  # checkpoints off (on by default) and nothing else: no job runs
