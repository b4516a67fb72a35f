"""Claims are leases (issue 13): renewed while a replica answers, taken over when its owner stops renewing
(died, hung), released when a replica drains. Two replicas on the test's database, fake models."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from decorum.bot.slack.dedupe import EventClaims, message_key
from decorum.store.tables import SlackEventRow
from tests.fakes import FakeGenerator
from tests.slack_emulator import BOT_USER, SlackEmulator, app_mention
from tests.slack_harness import running

QUESTION = f"<@{BOT_USER}> How do I reset my VPN password?"
FAST = {"DECORUM_SLACK_LEASE_S": "2", "DECORUM_SLACK_SWEEP_S": "0.3"}


def slow(seconds: float) -> FakeGenerator:
    def reply(_req: Any) -> str:
        time.sleep(seconds)
        return "Open Settings and choose Reset."

    return FakeGenerator(reply)


def mention_in_slack(emu: SlackEmulator, text: str = QUESTION) -> dict[str, Any]:
    """A mention that exists in Slack (so a replica taking it over can read it back) and its event."""
    event = app_mention(text)
    emu.add_message(event["channel"], text, ts=event["ts"], user=event["user"])
    return event


def answers_in(emu: SlackEmulator, thread_ts: str) -> list[dict[str, Any]]:
    return [c.args for c in emu.calls_to("chat.postMessage") if c.args.get("thread_ts") == thread_ts
            and (c.args.get("metadata") or {}).get("event_payload", {}).get("verdict") == "answered"]


def claim_row(rt: Any, key: str) -> SlackEventRow:
    with rt.db.session() as s:
        return s.execute(select(SlackEventRow).where(SlackEventRow.key == key)).scalar_one()


async def test_a_slow_answer_keeps_its_lease_so_slacks_retry_elsewhere_is_a_duplicate(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    async with running(emu, monkeypatch, generator=slow(4.0), env=FAST) as a, \
            running(emu, monkeypatch, env=FAST) as b:
        event = mention_in_slack(emu)
        r, _ = await a.sender.event(event)
        assert r.status_code == 200
        await asyncio.sleep(3.0)  # past the 2 s lease: only renewals keep it A's
        r, _ = await b.sender.event(event, retry_num=1)
        assert r.status_code == 200
        assert await a.surface.answerer.wait_idle(30) and await b.surface.answerer.wait_idle(30)
        await emu.settle(0.3)
        assert len(answers_in(emu, event["ts"])) == 1
        assert a.surface.answerer.outcomes["answered"] == 1 and b.surface.answerer.outcomes["duplicate"] == 1
        assert b.generator.requests == []
        assert claim_row(a.runtime, message_key(event["channel"], event["ts"])).attempts == 1


async def test_slacks_retry_of_a_dead_replicas_message_is_answered_by_the_one_it_reaches(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """The probe: A acked a mention and died; Slack's retries went to B and were dropped as duplicates."""
    event = mention_in_slack(emu)
    key = message_key(event["channel"], event["ts"])

    def a_died_after_claiming(rt: Any) -> None:
        EventClaims(rt.db, owner="replica-a:1", lease_s=2).claim(key, kind="app_mention", team="T0EMU",
                                                                 channel=event["channel"], thread_ts=event["ts"])

    no_sweep = {**FAST, "DECORUM_SLACK_SWEEP_S": "3600"}  # only Slack's retry can recover it here
    async with running(emu, monkeypatch, env=no_sweep, before=a_died_after_claiming) as b:
        r, _ = await b.sender.event(event, retry_num=1)  # the lease still runs: A may be alive
        assert r.status_code == 200
        assert await b.surface.answerer.wait_idle(10)
        assert b.surface.answerer.outcomes["duplicate"] == 1 and answers_in(emu, event["ts"]) == []
        await asyncio.sleep(2.2)  # A never renewed: the lease lapses
        r, _ = await b.sender.event(event, retry_num=2)
        assert r.status_code == 200
        assert await b.surface.answerer.wait_idle(10)
        await emu.settle(0.2)
        assert len(answers_in(emu, event["ts"])) == 1 and b.surface.answerer.outcomes["answered"] == 1
        row = claim_row(b.runtime, key)
        assert (row.status, row.attempts, row.owner) == ("answered", 2, b.surface.claims.owner)
        notes = b.runtime.audit.list(limit=10)
        assert [n["verdict"] for n in notes] == ["answered"]


async def test_a_replica_that_lost_its_lease_does_not_deliver(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                              db_url: str) -> None:
    """A hung replica (its renewals stopped) whose message another replica took over stays silent."""
    async with running(emu, monkeypatch, generator=slow(1.5), env=FAST) as a:
        event = mention_in_slack(emu)
        key = message_key(event["channel"], event["ts"])
        await a.sender.event(event)
        await asyncio.sleep(0.5)
        with a.runtime.db.session() as s:  # what a takeover by another (live, renewing) replica leaves behind
            s.execute(update(SlackEventRow).where(SlackEventRow.key == key).values(
                owner="replica-b:2", attempts=2, lease_until="2999-01-01T00:00:00.000Z"))
        assert await a.surface.answerer.wait_idle(10)
        await emu.settle(0.3)
        assert a.surface.answerer.outcomes["superseded"] == 1 and answers_in(emu, event["ts"]) == []
        assert claim_row(a.runtime, key).owner == "replica-b:2"  # A's outcome did not overwrite B's claim


async def test_draining_finishes_answers_in_flight_and_hands_queued_work_to_another_replica(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    one_at_a_time = {**FAST, "DECORUM_SLACK_CONCURRENCY": "1", "DECORUM_SLACK_QUEUED_NOTICE_S": "30"}
    async with running(emu, monkeypatch, generator=slow(2.0), env=one_at_a_time) as a, \
            running(emu, monkeypatch, env=FAST) as b:
        events = [mention_in_slack(emu, f"<@{BOT_USER}> question {i}?") for i in range(3)]
        for e in events:
            assert (await a.sender.event(e))[0].status_code == 200
        await asyncio.sleep(0.6)  # A answers the first; two wait for its one slot
        assert a.surface.answerer.waiting == 2

        a.app.services.begin_drain()  # SIGTERM
        base = a.sender.url.removesuffix("/slack/events")
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{base}/healthz")
            live = await http.get(f"{base}/livez")
        assert (health.status_code, health.json()["status"]) == (503, "draining") and live.status_code == 200
        late = mention_in_slack(emu, f"<@{BOT_USER}> late question?")
        r, _ = await a.sender.event(late)
        assert r.status_code == 503  # not acked: Slack retries it, and the balancer sends it elsewhere
        started = time.monotonic()
        assert await a.surface.stop() is None
        assert time.monotonic() - started < 5  # the answer in flight finished; the queued ones were not waited for
        assert a.surface.answerer.outcomes["answered"] == 1 and a.surface.answerer.outcomes["released"] == 2

        r, _ = await b.sender.event(late, retry_num=1)
        assert r.status_code == 200
        await emu.wait_for(lambda _e: all(answers_in(emu, e["ts"]) for e in [*events, late]), within_s=15)
        assert await b.surface.answerer.wait_idle(10)
        await emu.settle(0.3)
        assert all(len(answers_in(emu, e["ts"])) == 1 for e in [*events, late])
        assert b.surface.answerer.outcomes["answered"] == 3
        assert len(a.generator.requests) == 1 and len(b.generator.requests) == 3
