"""The weekly audit summary and the periodic audit jobs (``decorum serve``'s checkpoints and summary).

Synthetic records are appended through the audit log with ``created_at`` in this week, the week before and
outside both; the expected figures are computed here from what was appended, not by the code under test. The
jobs are driven with an injected clock and post through a real Slack Web API client into the local emulator.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from decorum import cli
from decorum.audit import jobs as audit_jobs
from decorum.audit.config import AuditConfig
from decorum.audit.jobs import AuditJobs, checkpoint_period, slack_poster, summary_period
from decorum.audit.query import iso
from decorum.audit.summary import THRESHOLDS, summary_blocks, summary_text, weekly_summary
from decorum.bot.note import new_id
from decorum.bot.runtime import Runtime
from decorum.bot.slack.app import build_client
from decorum.bot.slack.feedback import FeedbackStore
from decorum.store import Database
from tests.slack_emulator import TEAM, SlackEmulator, block_error

TOKEN = "xoxb-emulated-bot-token"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC: the default summary hour
WITNESS, SUMMARY = "C0WITNESS", "C0AUDIT"


def check(name: str, score: float, *, threshold: float = 0.5) -> dict[str, Any]:
    return {"check": name, "score": score, "threshold": threshold, "passed": score < threshold,
            "scorer": "fake@1"}


def note(verdict: str, created_at: datetime | str, *, strategy: str = "prompt_engineering",
         template: tuple[str, int] = ("helpdesk", 3), user: str = "hmac:" + "ab" * 16, team: str = TEAM,
         inputs: list[dict[str, Any]] | None = None, outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A transparency note as the pipeline writes one (schema v1), with the given verdict and checks."""
    at = created_at if isinstance(created_at, str) else iso(created_at)
    n: dict[str, Any] = {
        "id": new_id(), "created_at": at, "surface": "slack", "verdict": verdict, "schema_version": 1,
        "slack": {"team": team, "channel": "C0GENERAL", "thread_ts": "1700000000.000100", "user": user},
        "request": {"hmac_sha256": "a" * 64, "chars": 42, "truncated": False},
        "response": {"hmac_sha256": "b" * 64, "chars": 120},
        "guardrails": {"policy": "default@1", "input": inputs if inputs is not None else [check("toxicity", 0.02)],
                       "output": outputs or [], "action": {"answered": "allow", "error": "error"}.get(verdict,
                                                                                                       "refused")},
        "latency_ms": {"input_checks": 14, "route": 2, "total": 880}, "tokens": {"prompt": 0, "completion": 0},
    }
    if verdict in ("answered", "blocked_output"):
        n["route"] = {"strategy": strategy, "reason": "default"}
        n["template"] = {"name": template[0], "version": template[1], "sha256": "c" * 64}
        n["model"] = {"backend": "fake", "name": "fake-model", "revision": "d" * 64,
                      **({"adapter": {"name": "helpdesk-lora", "version": 2, "sha256": "e" * 64}}
                         if strategy == "fine_tuned" else {})}
        n["tokens"] = {"prompt": 120, "completion": 40}
        n["latency_ms"].update(generate=800, output_checks=20)
    if verdict == "error":
        n["error"] = {"type": "GenerationError"}
    return n


def change(created_at: datetime) -> dict[str, Any]:
    return {"id": new_id(), "created_at": iso(created_at), "surface": "cli", "verdict": "change", "schema_version": 1,
            "change": {"kind": "template.publish", "actor": "local:ana", "template": "helpdesk", "version": 3}}


# (verdict, strategy, input toxicity score, output bias score or None, feedback votes)
Spec = tuple[str, str, float, float | None, tuple[int, ...]]


def week_spec(answered: int, blocked_input: int, blocked_output: int, errors: int, *, votes_up: int,
              votes_down: int, fine_tuned: int = 0) -> list[Spec]:
    out: list[Spec] = []
    for i in range(answered):
        out.append(("answered", "fine_tuned" if i < fine_tuned else "prompt_engineering", 0.05, 0.03, ()))
    out += [("blocked_input", "", 0.92, None, ()) for _ in range(blocked_input)]
    out += [("blocked_output", "fine_tuned", 0.04, 0.81, ()) for _ in range(blocked_output)]
    out += [("error", "", 0.03, None, ()) for _ in range(errors)]
    votes = [1] * votes_up + [-1] * votes_down
    for i, v in enumerate(votes, start=2):  # votes on answered records, one each, from the third on
        verdict, strategy, ti, bo, _ = out[i]
        out[i] = (verdict, strategy, ti, bo, (v,))
    return out


def append_week(rt: Runtime, spec: list[Spec], start: datetime) -> list[dict[str, Any]]:
    """Append the week's records at random times of ``[start, start + 7 d)``; their notes."""
    rng = random.Random(7)
    feedback = FeedbackStore(rt.db)
    notes = []
    for verdict, strategy, tox, bias, votes in spec:
        at = start + timedelta(seconds=rng.randrange(7 * 86400))
        n = note(verdict, at, strategy=strategy or "prompt_engineering", inputs=[check("toxicity", tox)],
                 outputs=[check("bias", bias)] if bias is not None else [])
        rt.audit.append(n)
        for i, v in enumerate(votes):
            feedback.vote(n["id"], f"hmac:{i:032x}", v)
        notes.append(n)
    return notes


@pytest.fixture
def rt(db_url: str) -> Iterator[Runtime]:
    runtime = Runtime.open()
    yield runtime
    runtime.close()


def expected_week(spec: list[Spec]) -> dict[str, Any]:
    """The figures of a week, computed from what was appended."""
    volume = len(spec)
    blocked = sum(1 for s in spec if s[0] in ("blocked_input", "blocked_output"))
    checks: dict[tuple[str, str], list[int]] = {}
    for _, _, tox, bias, _ in spec:
        c = checks.setdefault(("input", "toxicity"), [0, 0])
        c[0] += 1
        c[1] += tox >= 0.5
        if bias is not None:
            c = checks.setdefault(("output", "bias"), [0, 0])
            c[0] += 1
            c[1] += bias >= 0.5
    feedback: dict[str, dict[str, int]] = {}
    for verdict, strategy, _, _, votes in spec:
        for v in votes:
            key = strategy if verdict in ("answered", "blocked_output") else "none"
            f = feedback.setdefault(key, {"up": 0, "down": 0})
            f["up" if v > 0 else "down"] += 1
    return {"volume": volume, "blocked": blocked, "block_rate": round(blocked / volume, 4) if volume else None,
            "checks": {k: {"scored": n, "failed": f, "fail_rate": round(f / n, 4)} for k, (n, f) in checks.items()},
            "feedback": feedback}


# --- the summary ---------------------------------------------------------------------------------------------


THIS = week_spec(22, 6, 2, 2, votes_up=3, votes_down=1, fine_tuned=4)  # 32 requests, 8 blocked
LAST = week_spec(18, 1, 0, 1, votes_up=2, votes_down=0)  # 20 requests, 1 blocked


def test_weekly_summary_figures_match_what_was_logged(rt: Runtime) -> None:
    append_week(rt, THIS, NOW - timedelta(days=7))
    append_week(rt, LAST, NOW - timedelta(days=14))
    # outside both weeks, or not a request: never counted
    for extra in (note("blocked_input", NOW, inputs=[check("toxicity", 0.99)]),  # at `now`: the next week
                  note("blocked_input", NOW - timedelta(days=14, milliseconds=1), inputs=[check("toxicity", 0.99)]),
                  change(NOW - timedelta(days=1))):
        rt.audit.append(extra)

    summary = weekly_summary(rt.db, NOW)
    this, last = expected_week(THIS), expected_week(LAST)
    assert summary["until"] == "2026-12-07T09:00:00.000Z" and summary["since"] == "2026-11-30T09:00:00.000Z"
    for got, want, spec in ((summary["this_week"], this, THIS), (summary["last_week"], last, LAST)):
        assert got["volume"] == want["volume"] and got["blocked"] == want["blocked"]
        assert got["block_rate"] == want["block_rate"]
        assert got["verdicts"] == {v: sum(1 for s in spec if s[0] == v)
                                   for v in ("answered", "blocked_input", "blocked_output", "error")}
        assert {(c["stage"], c["check"]): {k: c[k] for k in ("scored", "failed", "fail_rate")}
                for c in got["checks"]} == want["checks"]
    assert (this["volume"], this["blocked"], last["volume"], last["blocked"]) == (32, 8, 20, 1)  # the data itself

    # top failing checks: this week's, most failures first, with last week's count beside
    assert [(c["check"], c["stage"], c["failed"], c["last_failed"]) for c in summary["top_failing"]] == [
        ("toxicity", "input", 6, 1), ("bias", "output", 2, 0)]
    # feedback by strategy, both weeks
    assert this["feedback"] == {"fine_tuned": {"up": 2, "down": 0}, "prompt_engineering": {"up": 1, "down": 1}}
    assert last["feedback"] == {"prompt_engineering": {"up": 2, "down": 0}}
    assert summary["feedback"] == {
        "fine_tuned": {"up": 2, "down": 0, "last_up": 0, "last_down": 0},
        "prompt_engineering": {"up": 1, "down": 1, "last_up": 2, "last_down": 0}}
    assert summary["this_week"]["feedback"] == this["feedback"] and summary["last_week"]["feedback"] == last["feedback"]

    # drift, with the thresholds stated in the summary
    t = summary["thresholds"]
    assert t == THRESHOLDS
    drift = {(d["metric"], d.get("stage"), d.get("check")): d for d in summary["drift"]}
    vol = drift[("volume", None, None)]
    assert vol["change"] == round((32 - 20) / 20 * 100, 1) == 60.0 and vol["flagged"]
    rate = drift[("block_rate", None, None)]
    assert rate["change"] == round((this["block_rate"] - last["block_rate"]) * 100, 2) == 20.0 and rate["flagged"]
    tox = drift[("fail_rate", "input", "toxicity")]
    assert tox["this"] == round(6 / 32, 4) and tox["last"] == round(1 / 20, 4) and tox["flagged"]
    bias = drift[("fail_rate", "output", "bias")]  # 2/24 against 0/18: 8.3 pp, but last week scored < 20 records
    assert bias["change"] == round((round(2 / 24, 4) - 0.0) * 100, 2) and not bias["flagged"]
    assert summary["flagged"] == ["volume", "block rate", "toxicity (input) fail rate"]

    # the same data with a higher floor of records: nothing flagged
    calm = weekly_summary(rt.db, NOW, thresholds={"min_volume": 40})
    assert calm["flagged"] == [] and calm["this_week"] == summary["this_week"]


def test_summary_blocks_fit_slack_and_hold_no_text(rt: Runtime) -> None:
    append_week(rt, THIS, NOW - timedelta(days=7))
    append_week(rt, LAST, NOW - timedelta(days=14))
    summary = weekly_summary(rt.db, NOW)
    blocks = summary_blocks(summary)
    assert block_error(blocks) is None
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "32 requests (last week 20, +60.0%)" in shown
    assert "25.0%: 8 of 32 (last week 5.0%, +20.0 pp)" in shown
    assert "*toxicity* (input): 6 failed of 32 scored (18.8%; last week 1 failed)" in shown
    assert "*prompt_engineering*: 👍 1 · 👎 1 (last week 👍 2 · 👎 0)" in shown
    assert "*fine_tuned*: 👍 2 · 👎 0 (last week 👍 0 · 👎 0)" in shown
    assert ":warning: block rate: 5.0% → 25.0% (+20.0 pp) *flagged*" in shown
    assert "• bias (output) fail rate: 0.0% → 8.3% (+8.3 pp)" in shown  # shown, not flagged (too few records)
    assert "hmac_sha256" not in shown and "a" * 64 not in shown
    assert summary_text(summary).startswith("Decorum audit, 7 days to 2026-12-07 09:00 UTC: 32 requests")

    empty = weekly_summary(rt.db, NOW - timedelta(days=60))
    assert empty["this_week"]["volume"] == 0 and empty["this_week"]["block_rate"] is None and not empty["flagged"]
    blocks = summary_blocks(empty)
    assert block_error(blocks) is None and "No check failed this week." in json.dumps(blocks)


@pytest.mark.parametrize(("now", "weekday", "hour", "expected"), [
    ("2026-12-07T09:00:00Z", "mon", 9, "2026-12-07T09:00:00Z"),  # on the hour
    ("2026-12-07T08:59:59Z", "mon", 9, "2026-11-30T09:00:00Z"),  # just before: the week before's
    ("2026-12-09T15:30:00Z", "mon", 9, "2026-12-07T09:00:00Z"),
    ("2026-12-09T15:30:00Z", "fri", 17, "2026-12-04T17:00:00Z"),
    ("2026-12-13T23:59:00Z", "sun", 0, "2026-12-13T00:00:00Z"),
])
def test_summary_period_is_the_latest_scheduled_hour(now: str, weekday: str, hour: int, expected: str) -> None:
    got = summary_period(datetime.fromisoformat(now), weekday, hour)
    assert got == datetime.fromisoformat(expected)


def test_checkpoint_periods() -> None:
    t = datetime(2026, 12, 7, 9, 59, 59, tzinfo=UTC)
    assert checkpoint_period(t, 3600) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert checkpoint_period(t + timedelta(seconds=1), 3600) == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert checkpoint_period(t, 900) == datetime(2026, 12, 7, 9, 45, tzinfo=UTC)


# --- the jobs ------------------------------------------------------------------------------------------------


def jobs_for(rt: Runtime, emu: SlackEmulator, *, owner: str, db: Database | None = None,
             **config: Any) -> AuditJobs:
    """A replica's jobs: its own database engine on the test's database, posting into the emulator."""
    return AuditJobs(db or rt.db, AuditConfig(**config), rt.settings.audit_signing_key_path,
                     post=slack_poster(build_client(TOKEN, emu.url)), owner=owner)


def posts(emu: SlackEmulator, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in emu.calls_to("chat.postMessage") if c.args.get("channel") == channel]


async def test_weekly_summary_is_posted_once_when_two_replicas_race(rt: Runtime, emu: SlackEmulator) -> None:
    append_week(rt, THIS, NOW - timedelta(days=7))
    append_week(rt, LAST, NOW - timedelta(days=14))
    other = Database.open(rt.settings.resolved_database_url)
    try:
        a = jobs_for(rt, emu, owner="replica-a", summary_channel=SUMMARY)
        b = jobs_for(rt, emu, owner="replica-b", db=other, summary_channel=SUMMARY)
        assert await a.summary_once(NOW - timedelta(minutes=1)) == "late"  # before the hour: last week's is past
        assert posts(emu, SUMMARY) == []

        at = NOW + timedelta(seconds=5)
        for _ in range(3):  # the same period, again and again, from both
            results = await asyncio.gather(a.summary_once(at), b.summary_once(at), a.summary_once(at),
                                           b.summary_once(at))
            assert sorted(results).count("posted") <= 1
        [posted] = posts(emu, SUMMARY)
        assert block_error(posted["blocks"]) is None
        assert "32 requests (last week 20, +60.0%)" in json.dumps(posted["blocks"], ensure_ascii=False)
        run = a.runs.get("summary", "2026-12-07T09:00:00.000Z")
        assert run is not None and run["status"] == "posted" and run["attempts"] == 1
        assert run["detail"] == "volume=32 blocked=8 flagged=3"

        # later that day: still that period, nothing new; the next Monday: the next summary, once
        assert await b.summary_once(NOW + timedelta(hours=12)) == "taken"
        assert await b.summary_once(NOW + timedelta(days=3)) == "late"  # a day past the hour: not posted late
        assert await a.summary_once(NOW + timedelta(days=7, hours=1)) == "posted"
        assert await b.summary_once(NOW + timedelta(days=7, hours=2)) == "taken"
        assert len(posts(emu, SUMMARY)) == 2
    finally:
        other.dispose()


async def test_a_failed_summary_post_is_retried_later_not_lost(rt: Runtime, emu: SlackEmulator,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    rt.audit.append(note("answered", NOW - timedelta(days=1), outputs=[check("bias", 0.1)]))
    jobs = jobs_for(rt, emu, owner="a", summary_channel=SUMMARY)
    emu.errors["chat.postMessage"] = "channel_not_found"
    assert await jobs.summary_once(NOW) == "failed"
    assert "audit weekly summary failed period=2026-12-07T09:00:00.000Z: SlackApiError:channel_not_found" \
        in caplog.text
    del emu.errors["chat.postMessage"]
    assert await jobs.summary_once(NOW + timedelta(seconds=60)) == "taken"  # not yet: retried after a while
    assert await jobs.summary_once(NOW + timedelta(seconds=audit_jobs.RETRY_AFTER_S + 1)) == "posted"
    assert len(posts(emu, SUMMARY)) == 1
    assert jobs.runs.get("summary", "2026-12-07T09:00:00.000Z")["attempts"] == 2  # type: ignore[index]


def witness_file(emu: SlackEmulator, tmp_path: Path) -> Path:
    """What an outside witness keeps: each posted checkpoint's JSON line, one per line."""
    lines = []
    for p in posts(emu, WITNESS):
        code = p["blocks"][1]["text"]["text"]
        assert code.startswith("```\n") and code.endswith("\n```")
        lines.append(code[4:-4].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    path = tmp_path / "witness.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def verify(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str]:
    code = cli.main(["audit", "verify", "--checkpoints", str(path)])
    out, err = capsys.readouterr()
    return code, out + err


def sql(rt: Runtime, statement: str) -> None:
    engine = create_engine(rt.settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


async def test_checkpoint_job_posts_a_witness_that_audit_verify_accepts_and_only_when_the_log_grew(
        rt: Runtime, emu: SlackEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    a = jobs_for(rt, emu, owner="a", checkpoint_every_s=3600, witness_channel=WITNESS)
    b = jobs_for(rt, emu, owner="b", checkpoint_every_s=3600, witness_channel=WITNESS)
    t0 = NOW + timedelta(minutes=5)
    assert await a.checkpoint_once(t0) == "empty"  # nothing to pin yet
    for i in range(3):
        rt.audit.append(note("answered", NOW + timedelta(minutes=10 + i), outputs=[check("bias", 0.1)]))
    t1 = t0 + timedelta(hours=1)
    assert sorted(await asyncio.gather(a.checkpoint_once(t1), b.checkpoint_once(t1))) == ["posted", "taken"]
    [post] = posts(emu, WITNESS)
    assert block_error(post["blocks"]) is None
    assert post["text"].startswith("Audit checkpoint: seq 3, 3 records, head ")
    cp = json.loads(witness_file(emu, tmp_path).read_text())
    assert cp["payload"]["seq"] == 3 and cp["payload"]["at"] == iso(t1)
    code, said = verify(capsys, witness_file(emu, tmp_path))
    assert code == 0 and "signed checkpoints hold" in said, said

    # nothing changed: nothing signed, nothing posted, period after period
    for hours in (2, 3):
        assert await b.checkpoint_once(t0 + timedelta(hours=hours)) == "unchanged"
    assert len(posts(emu, WITNESS)) == 1
    with rt.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM audit_checkpoint")).scalar_one() == 1

    # the log grew: a new checkpoint; a post that fails is made good at the next period, without a new signature
    rt.audit.append(note("blocked_input", NOW + timedelta(hours=3), inputs=[check("toxicity", 0.97)]))
    emu.errors["chat.postMessage"] = "not_in_channel"
    assert await a.checkpoint_once(t0 + timedelta(hours=4)) == "failed"
    assert "not posted to the witness channel: SlackApiError:not_in_channel" in caplog.text
    del emu.errors["chat.postMessage"]
    assert await b.checkpoint_once(t0 + timedelta(hours=5)) == "posted"
    assert await a.checkpoint_once(t0 + timedelta(hours=6)) == "unchanged"
    assert [json.loads(line)["payload"]["seq"] for line in witness_file(emu, tmp_path).read_text().splitlines()] \
        == [3, 4]
    code, said = verify(capsys, witness_file(emu, tmp_path))
    assert code == 0 and "signed checkpoints hold" in said

    # records removed from the end: the job will not sign over it, and the witness convicts the log
    sql(rt, "DELETE FROM audit_score WHERE seq = 4")
    sql(rt, "DELETE FROM audit_record WHERE seq = 4")
    assert await a.checkpoint_once(t0 + timedelta(hours=7)) == "refused"
    assert "audit log fails its last signed checkpoint (seq 4)" in caplog.text
    assert len(posts(emu, WITNESS)) == 2
    sql(rt, "DELETE FROM audit_checkpoint")  # the stored checkpoints go too: the witness still convicts
    code, said = verify(capsys, witness_file(emu, tmp_path))
    assert code == 1 and "shorter than the signed 4 records" in said


async def test_a_job_error_is_logged_and_the_loop_goes_on(rt: Runtime, emu: SlackEmulator,
                                                         caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rt.audit.append(note("answered", NOW, outputs=[check("bias", 0.1)]))
    jobs = jobs_for(rt, emu, owner="a", checkpoint_every_s=1, witness_channel=WITNESS, summary_channel=SUMMARY)
    clock = [NOW + timedelta(minutes=1)]
    jobs.clock = lambda: clock[0]
    calls = []

    def broken(db: Any, now: datetime) -> Any:
        calls.append(now)
        raise RuntimeError("the question was: secret words")  # a message that must never reach the log

    monkeypatch.setattr(audit_jobs, "weekly_summary", broken)
    jobs.start()
    try:
        await emu.wait_for(lambda e: posts(e, WITNESS))
        await emu.wait_for(lambda e: calls)
        clock[0] += timedelta(seconds=audit_jobs.RETRY_AFTER_S + 1)
        await emu.wait_for(lambda e: len(calls) >= 2)  # still running, and retrying the failed summary
    finally:
        await jobs.stop()
    assert jobs._task is None
    assert "audit weekly summary failed period=2026-12-07T09:00:00.000Z: RuntimeError" in caplog.text
    assert "secret words" not in caplog.text
    assert len(posts(emu, WITNESS)) == 1 and posts(emu, SUMMARY) == []
