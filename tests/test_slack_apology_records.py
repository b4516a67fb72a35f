"""Every reference a person is shown in Slack is an audit record (issue 25): the sweep's apology for a message
lost to a crash, a claim whose apology could not be posted, a capacity or rate-limit refusal, an apology for a
failure outside the pipeline. Each record holds ids only (verdict ``error``, ``error.where``), never the text.

Served like ``decorum serve`` against the Slack emulator, two databases (``db_url``), fake models.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from decorum import cli
from decorum.bot.note import summary
from decorum.bot.slack.dedupe import EventClaims, message_key
from decorum.guardrails.note_schema import note_json_schema, validate_note
from decorum.store.tables import SlackEventRow
from tests.fakes import FakeGenerator
from tests.slack_emulator import BOT_USER, SlackEmulator, app_mention
from tests.slack_harness import running

REF = re.compile(r"[Rr]eference ([0-9A-HJKMNP-TV-Z]{26})")
QUESTION = "How do I reset my VPN password?"


def ref_in(text: str) -> str:
    m = REF.search(text)
    assert m, text
    return m.group(1)


def audit_show(capsys: pytest.CaptureFixture[str], ref: str) -> dict[str, Any]:
    """``decorum audit show REF`` (a process of its own would read the same database and keys)."""
    capsys.readouterr()
    code = cli.main(["audit", "show", ref, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def assert_ids_only(note: dict[str, Any], *texts: str) -> None:
    validate_note(note)
    jsonschema = pytest.importorskip("jsonschema")
    assert not list(jsonschema.Draft202012Validator(note_json_schema()).iter_errors(note))
    raw = json.dumps(note)
    for text in texts:
        assert text not in raw
    assert "request" not in note and "response" not in note


def claim_row(rt: Any, key: str) -> SlackEventRow:
    with rt.db.session() as s:
        return s.execute(select(SlackEventRow).where(SlackEventRow.key == key)).scalar_one()


# --- a message lost to a crash ---------------------------------------------------------------------------------


async def test_the_sweeps_apology_for_a_lost_message_is_an_audit_record(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        db_url: str) -> None:
    """The probe: a replica acked a mention and died; the message cannot be read back from Slack (gone), or it
    had three owners already; the sweep apologises, and ``decorum audit show REF`` finds the reference."""
    gone, tried = "1700000000.000200", "1700000000.000400"
    emu.add_message("C0GENERAL", f"<@{BOT_USER}> {QUESTION}", ts=tried)  # readable, but tried three times

    def died_after_ack(rt: Any) -> None:
        claims = EventClaims(rt.db, owner="dead-host:1")
        for ts in (gone, tried):
            claims.claim(message_key("C0GENERAL", ts), kind="app_mention", team="T0EMU", channel="C0GENERAL",
                         thread_ts=ts)
        with rt.db.session() as s:
            s.execute(update(SlackEventRow).values(lease_until="2020-01-01T00:00:00.000Z"))
            s.execute(update(SlackEventRow).where(SlackEventRow.key == message_key("C0GENERAL", tried))
                      .values(attempts=3))

    async with running(emu, monkeypatch, before=died_after_ack) as h:  # its first sweep runs at start
        await emu.wait_for(lambda e: len(e.calls_to("chat.postMessage")) == 2)
        await emu.settle(0.2)
        by_thread = {p["thread_ts"]: p for p in h.posts()}
        for ts, reason, attempts in ((gone, "unreadable", 2), (tried, "attempts", 4)):
            post = by_thread[ts]
            assert "restarted before I could answer" in post["text"]
            ref = ref_in(post["text"])
            row = claim_row(h.runtime, message_key("C0GENERAL", ts))
            assert (row.status, row.note_id) == ("abandoned", ref)
            note = audit_show(capsys, ref)
            assert note["id"] == ref and note["verdict"] == "error" and note["surface"] == "slack"
            assert note["error"] == {"type": "LostMessage", "reason": reason, "where": "slack_recovery",
                                     "attempts": attempts}
            assert note["slack"] == {"team": "T0EMU", "channel": "C0GENERAL", "thread_ts": ts, "ts": ts}
            assert_ids_only(note, QUESTION)
            assert summary(note) == (f"[error · LostMessage ({reason}) after {attempts} owners · slack_recovery · "
                                     f"id {ref}]")
        assert h.generator.requests == []
        verified = h.runtime.audit.verify()
        assert verified.ok and verified.checked == 2


async def test_a_lost_claim_whose_apology_cannot_be_posted_still_has_its_record(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """Slack refuses the apology too (the channel is gone): the claim ends ``lost``, its reference recorded."""
    ts = "1700000000.000700"
    key = message_key("C0GONE", ts)

    def died_after_ack(rt: Any) -> None:
        EventClaims(rt.db, owner="dead-host:1").claim(key, kind="app_mention", team="T0EMU", channel="C0GONE",
                                                      thread_ts=ts)
        with rt.db.session() as s:
            s.execute(update(SlackEventRow).values(lease_until="2020-01-01T00:00:00.000Z"))

    emu.fail_next(8, status=500, method="chat.postMessage")  # every retry of the apology fails
    async with running(emu, monkeypatch, before=died_after_ack) as h:
        row = await emu.wait_for(lambda _e: (r := claim_row(h.runtime, key)).status == "lost" and r, within_s=30)
        note = h.runtime.audit.get(row.note_id)
        assert note["error"]["where"] == "slack_recovery" and note["error"]["reason"] == "unreadable"
        assert note["slack"]["channel"] == "C0GONE" and note["slack"]["ts"] == ts
        assert_ids_only(note)


# --- refusals: at capacity, rate-limited -----------------------------------------------------------------------


def slow(seconds: float) -> FakeGenerator:
    def reply(_req: Any) -> str:
        time.sleep(seconds)
        return "Open Settings and choose Reset."

    return FakeGenerator(reply)


def ephemerals(emu: SlackEmulator, needle: str) -> list[dict[str, Any]]:
    return [c.args for c in emu.calls_to("chat.postEphemeral") if needle in c.args["text"]]


async def test_busy_and_rate_limit_refusals_are_audit_records(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: str,
        tmp_path: Path) -> None:
    config = tmp_path / "limits.yaml"
    config.write_text("routing: {semantic: false}\nlimits: {asks_per_user_per_minute: 1, asks_burst: 1}\n")
    env = {"DECORUM_SLACK_CONCURRENCY": "1", "DECORUM_SLACK_MAX_QUEUED": "1", "DECORUM_SLACK_QUEUED_NOTICE_S": "30",
           "DECORUM_CONFIG": str(config)}
    async with running(emu, monkeypatch, generator=slow(1.0), env=env) as h:
        first = app_mention(f"<@{BOT_USER}> {QUESTION}", user="U0ALICE")
        await h.sender.event(first)
        await emu.wait_for(lambda _: h.generator.requests)  # answering: the only slot is taken
        second = app_mention(f"<@{BOT_USER}> And my mail password?", user="U0BOB")
        await h.sender.event(second)
        await emu.wait_for(lambda _: h.surface.answerer.waiting == 1)  # the only queue place is taken
        third = app_mention(f"<@{BOT_USER}> And the wifi?", user="U0CAROL")
        await h.sender.event(third)
        [busy] = await emu.wait_for(lambda e: ephemerals(e, "at capacity"))
        again = app_mention(f"<@{BOT_USER}> Still there?", user="U0ALICE")  # alice's second ask this minute
        await h.sender.event(again)
        [limited] = await emu.wait_for(lambda e: ephemerals(e, "asking faster than I can answer"))
        assert await h.surface.answerer.wait_idle(30)

        for post, event, user, error in (
                (busy, third, "U0CAROL", {"type": "Busy", "reason": "capacity", "where": "slack"}),
                (limited, again, "U0ALICE", {"type": "RateLimited", "reason": "rate_limit", "where": "slack"})):
            assert post["user"] == user and post["thread_ts"] == event["ts"]
            ref = ref_in(post["text"])
            note = audit_show(capsys, ref)
            assert note["verdict"] == "error" and note["error"] == error
            slack = note["slack"]
            assert (slack["team"], slack["channel"], slack["ts"], slack["thread_ts"]) == (
                event["team"], event["channel"], event["ts"], event["ts"])
            assert slack["user"] == h.runtime.pseudonymiser.user(user) and note["pseudonym_key"]
            assert_ids_only(note, event["text"], user)
            row = claim_row(h.runtime, message_key(event["channel"], event["ts"]))
            assert row.note_id == ref
        assert h.surface.answerer.outcomes["busy"] == 1 and h.surface.answerer.outcomes["rate_limited"] == 1
        verdicts = sorted(n["verdict"] for n in h.runtime.audit.list(limit=10))
        assert verdicts == ["answered", "answered", "error", "error"]


# --- an apology for a failure around the answer ---------------------------------------------------------------


async def test_an_apology_for_a_failure_outside_the_pipeline_is_an_audit_record(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        db_url: str) -> None:
    async with running(emu, monkeypatch) as h:
        async def broken_history(_job: Any) -> list[dict[str, str]]:
            raise RuntimeError("the thread could not be read")

        monkeypatch.setattr(h.surface.answerer, "_history", broken_history)
        event = app_mention(f"<@{BOT_USER}> {QUESTION}")
        await h.sender.event(event)
        assert await h.surface.answerer.wait_idle(30)
        await emu.settle(0.2)
        [post] = h.posts()
        assert "something went wrong" in post["text"] and post["thread_ts"] == event["ts"]
        ref = ref_in(post["text"])
        note = audit_show(capsys, ref)
        assert note["error"] == {"type": "RuntimeError", "where": "slack"}
        assert note["slack"]["ts"] == event["ts"]
        assert_ids_only(note, QUESTION)
        assert claim_row(h.runtime, message_key(event["channel"], event["ts"])).note_id == ref
        assert h.generator.requests == []  # it failed before the pipeline: that is why it needed its own record
