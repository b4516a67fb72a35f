"""The Slack surface, driven the way Slack drives it: signed HTTP into the served app, Web API calls into
a local emulator that records them (and can answer 429 / 500). Fake models keep it fast."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from decorum.bot.runtime import Runtime
from decorum.bot.slack.blocks import (
    ACTION_FEEDBACK_DOWN,
    ACTION_FEEDBACK_UP,
    ACTION_REPORT,
    ACTION_WHY,
    METADATA_EVENT,
)
from decorum.settings import Settings
from decorum.web.app import create_apps
from tests.fakes import FakeClassifier, FakeGenerator
from tests.slack_emulator import (
    BOT_USER,
    SlackEmulator,
    app_mention,
    assistant_thread_started,
    block_action,
    envelope,
    message,
    new_ts,
    slash_command,
)
from tests.slack_harness import (
    ENCRYPTION_KEY,
    SECRET,
    TOKEN,
    Harness,
    action_ids,
    blocks_text,
    button_value,
    running,
)

# --- the "must show" ---------------------------------------------------------------------------


async def test_mention_is_acked_fast_and_answered_in_its_thread(slack: Harness) -> None:
    with slack.answers_held():  # acked while no answer can be made: the ack never waits for one
        event, r, _ = await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        assert r.status_code == 200 and not slack.posts()
    await slack.idle()
    [post] = slack.posts()
    assert post["channel"] == event["channel"] and post["thread_ts"] == event["ts"]
    text = blocks_text(post["blocks"])
    assert "Open Settings and choose Reset." in text
    assert "AI-generated" in text and "Strategy *fine_tuned* (semantic)" in text  # the shipped helpdesk adapter
    note_id = post["metadata"]["event_payload"]["note_id"]
    assert f"Ref `{note_id}`" in text and "helpdesk-tuned@1" in text and "fake-llm + helpdesk-lora@1" in text
    assert action_ids(post["blocks"]) == [ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN, ACTION_WHY]
    assert post["metadata"]["event_type"] == METADATA_EVENT
    assert post["metadata"]["event_payload"]["verdict"] == "answered"
    note = slack.runtime.audit.get(note_id)
    assert note["slack"]["thread_ts"] == event["ts"] and note["slack"]["user"].startswith("hmac:")
    assert "U0ALICE" not in json.dumps(note)  # pseudonymised
    # progress: a reaction while working, removed afterwards
    assert [c.args["name"] for c in slack.emu.calls_to("reactions.add")] == ["hourglass_flowing_sand"]
    assert len(slack.emu.calls_to("reactions.remove")) == 1
    # the question went to the model without the bot's mention
    assert slack.generator.requests[0].messages[-1]["content"].endswith("How do I reset my VPN password?")


@pytest.mark.parametrize("case", ["forged", "stale", "future", "unsigned", "tampered"])
async def test_forged_or_stale_requests_are_refused(slack: Harness, case: str) -> None:
    body = json.dumps(envelope(app_mention(f"<@{BOT_USER}> hi"))).encode()
    kw: dict[str, Any] = {}
    if case == "forged":
        kw["sign_with"] = "not-the-signing-secret"
    elif case == "stale":
        kw["timestamp"] = int(time.time()) - 600  # 10 minutes old
    elif case == "future":
        kw["timestamp"] = int(time.time()) + 600
    if case == "unsigned":
        r = await slack.sender.client.post(slack.sender.url, content=body, headers={"content-type": "application/json"})
    elif case == "tampered":
        good = await slack.sender.raw(body, "application/json")  # a valid one, to prove the check is on the body
        assert good[0].status_code == 200
        from tests.slack_emulator import signature

        ts = int(time.time())
        r = await slack.sender.client.post(slack.sender.url, content=body.replace(b"hi", b"ho"), headers={
            "content-type": "application/json", "x-slack-request-timestamp": str(ts),
            "x-slack-signature": signature(SECRET, body, ts)})
    else:
        r, _ = await slack.sender.raw(body, "application/json", **kw)
    assert r.status_code in (401, 403)
    await slack.idle()
    expected = 1 if case == "tampered" else 0
    assert len(slack.posts()) == expected


async def test_retries_and_duplicates_never_answer_twice(slack: Harness) -> None:
    event = app_mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    body = envelope(event)
    r1, _ = await slack.sender.event(event, body=body)
    r2, _ = await slack.sender.event(event, body=body, retry_num=1)  # Slack's retry: same event_id
    r3, _ = await slack.sender.event(event, body=body, retry_num=2)
    assert r1.status_code == r2.status_code == r3.status_code == 200
    await slack.idle()
    await slack.sender.event(event, body=body)  # a replay of the event_id, long after
    # a mention inside the bot's thread comes twice, as `app_mention` and as `message` (new event ids)
    inner = app_mention(f"<@{BOT_USER}> And on my phone?", channel=event["channel"], thread_ts=event["ts"])
    twin = message(inner["text"], channel=inner["channel"], channel_type="channel", ts=inner["ts"],
                   thread_ts=event["ts"])
    await asyncio.gather(slack.sender.event(inner), slack.sender.event(twin))
    await slack.idle()
    assert [p["thread_ts"] for p in slack.posts()] == [event["ts"], event["ts"]]
    assert len(slack.generator.requests) == 2
    assert slack.surface.answerer.outcomes["duplicate"] == 4


async def test_toxic_mention_is_refused_privately_without_generation(slack: Harness) -> None:
    event, r, _ = await slack.mention(f"<@{BOT_USER}> you are a worthless idiot")
    assert r.status_code == 200
    await slack.idle()
    assert slack.generator.requests == [] and slack.posts() == []  # nothing public, nothing generated
    ephemerals = slack.posts("chat.postEphemeral")
    refusal = ephemerals[-1]
    assert refusal["user"] == "U0ALICE" and refusal["thread_ts"] == event["ts"]
    text = blocks_text(refusal["blocks"])
    assert "toxic or insulting" in text and "To rephrase" in text and "This was wrong" in text
    note_id = json.loads(text.split("Ref `")[1].split("`")[0].join('""'))
    assert slack.runtime.audit.get(note_id)["verdict"] == "blocked_input"
    assert "0.97" not in refusal["text"] and "score" not in refusal["text"]  # no score internals
    assert action_ids(refusal["blocks"]) == [ACTION_WHY, ACTION_REPORT]


async def test_biased_mention_names_its_category(slack: Harness) -> None:
    await slack.mention(f"<@{BOT_USER}> why are lazy people from Poland like that")
    await slack.idle()
    assert "a stereotype about a group of people" in slack.posts("chat.postEphemeral")[-1]["text"]


async def test_twenty_concurrent_mentions_all_acked_fast_and_answered_once(slack: Harness) -> None:
    events = [app_mention(f"<@{BOT_USER}> question number {i}?", channel=f"C{i % 3}", user=f"U0PERSON{i}")
              for i in range(20)]  # 20 people: one person's asks are rate-limited (tests/test_bounds.py)
    with slack.answers_held():
        results = await asyncio.gather(*(slack.sender.event(e) for e in events))
        assert all(r.status_code == 200 for r, _ in results) and not slack.posts()
    await slack.idle()
    posts = slack.posts()
    assert sorted(p["thread_ts"] for p in posts) == sorted(e["ts"] for e in events)  # each once, none lost
    assert slack.surface.answerer.outcomes["answered"] == 20


async def test_web_api_429_and_500_are_retried(slack: Harness) -> None:
    slack.emu.fail_next(1, status=429, retry_after=1, method="chat.postMessage")
    slack.emu.fail_next(2, status=500, method="reactions.remove")
    event, _, _ = await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    await slack.idle()
    tries = [c for c in slack.emu.calls if c.method == "chat.postMessage"]
    assert [c.status for c in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 1.0  # Retry-After honoured
    assert [c.status for c in slack.emu.calls if c.method == "reactions.remove"] == [500, 500, 200]
    assert slack.posts()[0]["thread_ts"] == event["ts"]


async def test_feedback_buttons_store_one_vote_per_person(slack: Harness) -> None:
    await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    await slack.idle()
    note_id = slack.posts()[0]["metadata"]["event_payload"]["note_id"]
    r, _ = await slack.sender.action(block_action(ACTION_FEEDBACK_UP, note_id,
                                                        response_url=slack.emu.response_url("fb")))
    assert r.status_code == 200
    await slack.sender.action(block_action(ACTION_FEEDBACK_DOWN, note_id, response_url=slack.emu.response_url()))
    await slack.sender.action(block_action(ACTION_FEEDBACK_UP, note_id, user="U0BOB",
                                           response_url=slack.emu.response_url()))
    await slack.idle()
    votes = slack.surface.feedback.votes(note_id)
    pseudo = slack.runtime.pseudonymiser.user
    assert votes == {pseudo("U0ALICE"): -1, pseudo("U0BOB"): 1}
    thanks = [c.args for c in slack.emu.calls_to("response_url")]
    assert len(thanks) == 3 and all(t["response_type"] == "ephemeral" for t in thanks)
    # a vote on a note that does not exist is refused, not stored
    await slack.sender.action(block_action(ACTION_FEEDBACK_UP, "01NOPE", response_url=slack.emu.response_url()))
    await slack.idle()
    assert slack.surface.feedback.votes("01NOPE") == {}
    assert "can't find" in slack.emu.calls_to("response_url")[-1].args["text"]


async def test_why_this_answer_opens_the_whole_note(slack: Harness) -> None:
    await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    await slack.idle()
    note_id = slack.posts()[0]["metadata"]["event_payload"]["note_id"]
    why = button_value(slack.posts()[0]["blocks"], ACTION_WHY)  # what Slack sends: the button's own value
    r, _ = await slack.sender.action(block_action(ACTION_WHY, why, response_url=slack.emu.response_url()))
    assert r.status_code == 200
    await slack.idle()
    [call] = slack.emu.calls_to("views.open")
    view = call.args["view"]
    assert call.args["trigger_id"] and view["type"] == "modal" and view["private_metadata"] == note_id
    text = blocks_text(view["blocks"])
    note = slack.runtime.audit.get(note_id)
    # an IT question: routed by similarity to the shipped helpdesk adapter, and the modal says how
    for needle in (note_id, "fine_tuned (semantic; score", "router helpdesk-lora@1", "helpdesk-tuned@1",
                   "helpdesk-lora@1, sha256", "fake-llm", "toxicity", "threshold", note["hash"][:12],
                   "policy default@1"):
        assert needle in text
    # the whole note is there verbatim (as JSON, in code blocks)
    raw = "".join(b["text"]["text"] for b in view["blocks"] if "```" in b.get("text", {}).get("text", ""))
    assert note["hash"] in raw and note["prev_hash"] in raw


async def test_why_for_another_workspaces_note_reveals_nothing(slack: Harness) -> None:
    await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    await slack.idle()
    why = button_value(slack.posts()[0]["blocks"], ACTION_WHY)
    await slack.sender.action(block_action(ACTION_WHY, why, team="T0OTHER", response_url=slack.emu.response_url()))
    await slack.idle()
    view = slack.emu.calls_to("views.open")[-1].args["view"]
    assert "can't find" in blocks_text(view["blocks"]) and "general@1" not in blocks_text(view["blocks"])


async def test_dm_is_answered_in_its_thread_and_refusals_stay_in_the_dm(slack: Harness) -> None:
    ok = message("How do I reset my VPN password?")
    bad = message("you worthless idiot")
    await slack.sender.event(ok)
    await slack.sender.event(bad)
    await slack.idle()
    posts = slack.posts()
    by_thread = {p["thread_ts"]: p for p in posts}
    assert "Open Settings" in blocks_text(by_thread[ok["ts"]]["blocks"])
    refusal = by_thread[bad["ts"]]  # in the thread of the DM, not ephemeral
    assert "toxic" in refusal["text"] and refusal["metadata"]["event_payload"]["verdict"] == "blocked_input"
    notice = [p for p in posts if "AI assistant" in p["text"]]
    assert len(notice) == 1  # first contact, once


async def test_thread_follow_up_needs_no_mention_and_carries_history(slack: Harness) -> None:
    root = app_mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    slack.emu.add_message(root["channel"], root["text"], ts=root["ts"])
    await slack.sender.event(root)
    await slack.idle()
    refused_ts = slack.emu.add_message(root["channel"], "you worthless idiot", thread_ts=root["ts"])
    await slack.sender.event(message("you worthless idiot", channel=root["channel"], channel_type="channel",
                                     ts=refused_ts, thread_ts=root["ts"]))
    await slack.idle()
    follow_ts = slack.emu.add_message(root["channel"], "And on my phone?", thread_ts=root["ts"])
    await slack.sender.event(message("And on my phone?", channel=root["channel"], channel_type="channel",
                                     ts=follow_ts, thread_ts=root["ts"]))
    # a reply in a thread the bot is not in, and a top-level channel message: not for the bot
    other = new_ts()
    await slack.sender.event(message("unrelated chat", channel=root["channel"], channel_type="channel",
                                     ts=new_ts(), thread_ts=other))
    await slack.sender.event(message("hello all", channel=root["channel"], channel_type="channel"))
    await slack.idle()
    answers = slack.posts()
    assert [p["thread_ts"] for p in answers] == [root["ts"], root["ts"]]
    sent = slack.generator.requests[-1].messages
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"]
    assert sent[1]["content"] == "How do I reset my VPN password?"  # the mention stripped
    assert sent[2]["content"] == "Open Settings and choose Reset."
    assert "worthless" not in json.dumps(sent)  # the refused question is not context
    assert len(slack.generator.requests) == 2
    assert {c.args["ts"] for c in slack.emu.calls_to("conversations.replies")} == {root["ts"]}


@pytest.mark.parametrize("event", [
    message("hi from a bot", bot_id="B0OTHER", channel_type="im"),
    message("hi", subtype="bot_message", bot_id="B0OTHER", channel_type="im"),
    message("edited", subtype="message_changed", channel_type="im"),
    message("", subtype="message_deleted", channel_type="im"),
    message("joined", subtype="channel_join", channel_type="channel", thread_ts="1.2"),
    {**message("own", channel_type="im"), "user": BOT_USER, "bot_id": "B0BOT"},
    {**app_mention(f"<@{BOT_USER}> from a bot"), "bot_id": "B0OTHER"},
], ids=["bot", "bot_message", "edit", "delete", "join", "self", "bot_mention"])
async def test_bots_edits_and_deletions_are_ignored(slack: Harness, event: dict[str, Any]) -> None:
    r, _ = await slack.sender.event(event)
    assert r.status_code == 200
    await slack.idle()
    assert slack.posts() == [] and slack.posts("chat.postEphemeral") == [] and slack.generator.requests == []


async def test_empty_mention_gets_help(slack: Harness) -> None:
    event, _, _ = await slack.mention(f"<@{BOT_USER}>   ")
    await slack.idle()
    [post] = slack.posts()
    assert post["thread_ts"] == event["ts"] and "/decorum ask" in post["text"]
    assert slack.generator.requests == []


async def test_oversized_slack_body_is_refused_even_when_signed(slack: Harness) -> None:
    """The public listener's cap (1 MiB, counted as it streams) stands before Bolt and its signature check."""
    body = json.dumps(envelope(app_mention("x" * (2 << 20)))).encode()
    r, _ = await slack.sender.raw(body, "application/json")
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert slack.generator.requests == [] and slack.posts() == []


async def test_huge_question_is_truncated_and_says_so(slack: Harness) -> None:
    await slack.mention(f"<@{BOT_USER}> " + "please explain " * 3000)
    await slack.idle()
    [post] = slack.posts()
    note = slack.runtime.audit.get(post["metadata"]["event_payload"]["note_id"])
    assert note["request"]["truncated"] is True and note["request"]["chars_used"] == 4000
    assert "only read the first 4,000" in blocks_text(post["blocks"])


async def test_model_failure_gets_an_apology_with_reference(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                            db_url: str) -> None:
    async with running(emu, monkeypatch, generator=FakeGenerator(fail=True)) as h:
        event, _, _ = await h.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        await h.idle()
        [post] = h.posts()
        assert post["thread_ts"] == event["ts"] and "Sorry" in post["text"]
        ref = post["text"].split("reference ")[1].rstrip(".")
        assert h.runtime.audit.get(ref)["verdict"] == "error"


async def test_slack_outage_while_answering_still_ends_in_an_apology(slack: Harness) -> None:
    slack.emu.fail_next(4, status=500, method="chat.postMessage")  # the answer's post fails after 3 retries
    event, _, _ = await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
    await slack.idle()
    [post] = slack.posts()
    assert "Sorry" in post["text"] and post["thread_ts"] == event["ts"]
    assert slack.surface.claims.status(f"msg:{event['channel']}:{event['ts']}") == "error"


async def test_long_answer_is_split_within_slack_limits(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                        db_url: str) -> None:
    # Long, but no loop (the pipeline cuts an answer that repeats a 3-word sequence 3 times: decorum.adapters.loops)
    paragraphs = [" ".join(f"Long answer {n}, careful sentence {n} about {n} <VPN> & resets {n}."
                           for n in range(p * 40, p * 40 + 40)) for p in range(12)]
    long_text = "\n\n".join(paragraphs) + "\n\n```\n" + "".join(f"code line {k}\n" for k in range(600)) + "```"
    async with running(emu, monkeypatch, generator=FakeGenerator(long_text)) as h:
        event, _, _ = await h.mention(f"<@{BOT_USER}> explain everything")
        await h.idle()
        posts = h.posts()
        assert len(posts) >= 3 and all(p["thread_ts"] == event["ts"] for p in posts)
        assert [c for c in emu.calls if c.method == "chat.postMessage" and not c.ok] == []  # emulator's limits
        for p in posts:
            sections = [b for b in p["blocks"] if b["type"] == "section"]
            assert all(len(b["text"]["text"]) <= 3000 for b in sections) and len(p["blocks"]) <= 50
            assert all(b["text"]["text"].count("```") % 2 == 0 for b in sections)  # code blocks closed per section
        assert action_ids(posts[-1]["blocks"]) == [ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN, ACTION_WHY]
        assert all(not action_ids(p["blocks"]) for p in posts[:-1])
        shown = "".join(b["text"]["text"] for p in posts for b in p["blocks"] if b["type"] == "section")
        assert "&lt;VPN&gt; &amp; resets" in shown and shown.count("code line") == 600


async def test_slash_command_ask_and_help(slack: Harness) -> None:
    url = slack.emu.response_url("cmd")
    with slack.answers_held():
        r, _ = await slack.sender.command(slash_command("ask How do I reset my VPN password?", response_url=url))
        assert r.status_code == 200 and "Working on your question" in r.text
    await slack.idle()
    responses = [c.args for c in slack.emu.calls_to("response_url")]
    answer = responses[-1]
    assert answer["response_type"] == "ephemeral" and "Open Settings" in blocks_text(answer["blocks"])
    assert action_ids(answer["blocks"]) == [ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN, ACTION_WHY]
    assert any("AI assistant" in c["text"] for c in responses[:-1])  # first contact, also for commands
    note = slack.runtime.audit.list(limit=1)[0]
    assert note["slack"]["channel"] == "C0GENERAL" and note["verdict"] == "answered"

    for text, expect in (("help", "/decorum ask"), ("", "/decorum ask"), ("ask", "question is empty")):
        r, _ = await slack.sender.command(slash_command(text, response_url=url))
        assert r.status_code == 200 and expect in r.text
    r, _ = await slack.sender.command(slash_command("how do I book a room?", response_url=url))  # no subcommand
    assert "Working on your question" in r.text
    await slack.idle()
    asked = {r.messages[-1]["content"] for r in slack.generator.requests}  # a regeneration asks the same again
    assert asked == {"How do I reset my VPN password?", "how do I book a room?"} and slack.posts() == []


async def test_slack_roles_by_user_id_and_workspace_admin(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                          db_url: str, tmp_path: Path) -> None:
    """``/decorum role`` and the one check every admin subcommand uses (``commands.require``)."""
    from decorum.bot.slack import commands

    config = tmp_path / "access.yaml"
    config.write_text("access:\n  slack_roles: {U0AUDIT: auditor}\n  slack_workspace_admins: editor\n")
    emu.workspace_admins.add("U0BOSS")
    seen: list[Any] = []

    async def probe(cmd: Any) -> None:  # what a later admin subcommand looks like
        who = await commands.require(cmd, "audit.read")
        if who is not None:
            seen.append(who)
            await cmd.ack(text="audit for you")

    async with running(emu, monkeypatch, env={"DECORUM_CONFIG": str(config)}) as h:
        h.surface.features.add_command("probe", probe)  # as an admin feature registers its subcommand
        url = emu.response_url("cmd")
        r, _ = await h.sender.command(slash_command("role", response_url=url, user="U0AUDIT"))
        assert "Your Decorum role here: *auditor*" in r.text and "`audit.read`" in r.text
        r, _ = await h.sender.command(slash_command("role", response_url=url, user="U0BOSS"))
        assert "*editor*" in r.text  # a workspace admin, by users.info
        r, _ = await h.sender.command(slash_command("role", response_url=url, user="U0ALICE"))
        assert "no Decorum role" in r.text
        r, _ = await h.sender.command(slash_command("probe", response_url=url, user="U0AUDIT"))
        assert r.text == "audit for you" and seen[0].role == "auditor" and seen[0].name.startswith("hmac:")
        r, _ = await h.sender.command(slash_command("probe", response_url=url, user="U0ALICE"))
        assert "Only people with a Decorum role" in r.text and len(seen) == 1
        denied = [e for e in h.runtime.access.events() if e["surface"] == "slack"]
        assert [e["outcome"] for e in denied] == ["denied_403"] and denied[0]["target"] == "/decorum probe"
        assert denied[0]["actor"].startswith("hmac:")
        assert "U0ALICE" not in json.dumps(denied)  # pseudonyms and "anonymous" only
        assert not h.generator.requests  # none of this reached the model


async def test_slash_command_refusal_is_private(slack: Harness) -> None:
    await slack.sender.command(slash_command("ask you worthless idiot", response_url=slack.emu.response_url()))
    await slack.idle()
    refusal = slack.emu.calls_to("response_url")[-1].args
    assert refusal["response_type"] == "ephemeral" and "toxic" in refusal["text"]
    assert slack.generator.requests == []


async def test_assistant_thread_sets_prompts_status_and_answers(slack: Harness) -> None:
    started = assistant_thread_started()
    thread = started["assistant_thread"]
    r, _ = await slack.sender.event(started)
    assert r.status_code == 200
    await slack.idle()
    [greeting] = slack.posts()
    assert greeting["thread_ts"] == thread["thread_ts"] and "AI assistant" in greeting["text"]
    [prompts] = slack.emu.calls_to("assistant.threads.setSuggestedPrompts")
    assert len(prompts.args["prompts"]) == 3 and prompts.args["thread_ts"] == thread["thread_ts"]

    ask = message("How do I reset my VPN password?", channel=thread["channel_id"], thread_ts=thread["thread_ts"])
    await slack.sender.event(ask)
    await slack.idle()
    [status] = slack.emu.calls_to("assistant.threads.setStatus")
    assert status.args["status"] == "is thinking…" and status.args["thread_ts"] == thread["thread_ts"]
    answer = slack.posts()[-1]
    assert answer["thread_ts"] == thread["thread_ts"] and "Open Settings" in blocks_text(answer["blocks"])
    assert len([p for p in slack.posts() if "AI assistant" in p["text"]]) == 1  # the greeting told them already


async def test_plain_dm_thread_falls_back_to_a_reaction(slack: Harness) -> None:
    slack.emu.errors["assistant.threads.setStatus"] = "invalid_thread"  # not an assistant thread
    root = message("How do I reset my VPN password?")
    await slack.sender.event(root)
    await slack.idle()
    reply = message("And on my phone?", channel=root["channel"], thread_ts=root["ts"])
    await slack.sender.event(reply)
    await slack.idle()
    assert [c.args["timestamp"] for c in slack.emu.calls_to("reactions.add")] == [root["ts"], reply["ts"]]
    assert [p["thread_ts"] for p in slack.posts() if "metadata" in p] == [root["ts"], root["ts"]]


async def test_first_contact_notice_once_per_person_and_workspace(slack: Harness) -> None:
    for user in ("U0ALICE", "U0ALICE", "U0BOB"):
        await slack.mention(f"<@{BOT_USER}> How do I reset my VPN password?", user=user)
        await slack.idle()
    notices = [c.args for c in slack.emu.calls_to("chat.postEphemeral")]
    assert sorted(n["user"] for n in notices) == ["U0ALICE", "U0BOB"]
    assert all("slack://app?team=T0EMU&id=A0EMU&tab=home" in n["text"] for n in notices)
    assert "logged" in notices[0]["text"]


async def test_app_home_shows_the_policy(slack: Harness) -> None:
    await slack.sender.event({"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home",
                              "event_ts": new_ts()})
    await slack.idle()
    [call] = slack.emu.calls_to("views.publish")
    assert call.args["user_id"] == "U0ALICE" and "You are talking to an AI system" in blocks_text(call.args["view"])


@pytest.mark.parametrize("body,ctype", [
    (b"{not json", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"payload=%7Bbroken", "application/x-www-form-urlencoded"),
    (b"payload=" + json.dumps({"type": "block_actions"}).encode(), "application/x-www-form-urlencoded"),
    (b"[]", "application/json"),
    (b"", "application/json"),
])
async def test_malformed_signed_bodies_are_rejected_without_harm(slack: Harness, body: bytes, ctype: str) -> None:
    r, _ = await slack.sender.raw(body, ctype)
    assert 400 <= r.status_code < 500
    await slack.idle()
    assert slack.posts() == []


async def test_unknown_action_is_acked_and_ignored(slack: Harness) -> None:
    r, _ = await slack.sender.action(block_action("some_old_button", "x", response_url=slack.emu.response_url()))
    assert r.status_code == 200
    await slack.idle()
    assert slack.emu.calls_to("response_url") == [] and slack.emu.calls_to("views.open") == []


async def test_url_verification_and_ssl_check(slack: Harness) -> None:
    r, _ = await slack.sender.event({}, body={"token": "t", "challenge": "3eZbrw1aB", "type": "url_verification"})
    assert r.status_code == 200 and r.json() == {"challenge": "3eZbrw1aB"}
    r, _ = await slack.sender.command({"ssl_check": "1", "token": "t"})
    assert r.status_code == 200


async def test_logs_hold_ids_never_text(slack: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_q = "Where is the secret-budget-xyzzy spreadsheet?"
    await slack.mention(f"<@{BOT_USER}> {secret_q}")
    await slack.sender.raw(json.dumps(envelope(app_mention(f"<@{BOT_USER}> {secret_q}"))).encode(),
                           "application/json", sign_with="forged")
    await slack.sender.command(slash_command(f"ask {secret_q}", response_url=slack.emu.response_url()))
    await slack.idle()
    assert len(slack.posts()) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "xyzzy" not in logged and "Open Settings" not in logged
    assert "slack answered" in logged and "bad signature" in logged


async def test_partial_slack_config_fails_at_start(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    from decorum.errors import ConfigError

    def app_for(**env: str) -> Any:
        for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID", "DECORUM_SLACK_MODE"):
            monkeypatch.delenv(key, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator())
        try:
            return create_apps(rt, load_models=False)
        finally:
            rt.close()

    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        app_for(SLACK_BOT_TOKEN=TOKEN)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        app_for(SLACK_SIGNING_SECRET=SECRET)
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET"):
        app_for(SLACK_SIGNING_SECRET=SECRET, SLACK_CLIENT_ID="123.456")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        app_for(SLACK_BOT_TOKEN=TOKEN, DECORUM_SLACK_MODE="socket")
    app = app_for()  # nothing set: no Slack, no route
    assert app.services.slack is None and not app.services.slack_routes
    app = app_for(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET)
    assert "/slack/events" in [getattr(r, "path", "") for r in app.services.slack_routes]


# --- replicas, restarts, modes -------------------------------------------------------------------------


async def test_two_replicas_sharing_a_database_answer_each_event_once(emu: SlackEmulator,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      db_url: str) -> None:
    async with running(emu, monkeypatch) as a, running(emu, monkeypatch) as b:
        assert a.runtime.db is not b.runtime.db
        events = [app_mention(f"<@{BOT_USER}> question {i}?", user=f"U0PERSON{i}") for i in range(10)]
        sends = []
        for e in events:  # every event reaches both replicas, and each replica also gets Slack's retry
            body = envelope(e)
            sends += [a.sender.event(e, body=body), b.sender.event(e, body=body),
                      a.sender.event(e, body=body, retry_num=1), b.sender.event(e, body=body, retry_num=1)]
        results = await asyncio.gather(*sends)
        assert all(r.status_code == 200 for r, _ in results)
        await a.idle()
        await b.idle()
        posts = a.posts()
        assert sorted(p["thread_ts"] for p in posts) == sorted(e["ts"] for e in events)
        answered = a.surface.answerer.outcomes["answered"] + b.surface.answerer.outcomes["answered"]
        duplicates = a.surface.answerer.outcomes["duplicate"] + b.surface.answerer.outcomes["duplicate"]
        assert (answered, duplicates) == (10, 30)


async def test_claims_left_by_a_dead_process_are_taken_over_and_answered(emu: SlackEmulator,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        db_url: str) -> None:
    """A replica that died leaves claims whose leases lapse: this one takes each over and answers the message
    (read back from Slack); a message gone from Slack, or one that already had three owners, gets an apology."""
    from sqlalchemy import update

    from decorum.bot.slack.dedupe import EventClaims, message_key
    from decorum.store.tables import SlackEventRow

    def key(ts: str) -> str:
        return message_key("C0GENERAL", ts)

    for ts in ("1700000000.000100", "1700000000.000500"):  # still in Slack; .000200 and .000400 are gone
        emu.add_message("C0GENERAL", f"<@{BOT_USER}> How do I reset my VPN password?", ts=ts)
    emu.add_message("C0GENERAL", f"<@{BOT_USER}> How do I book a room?", ts="1700000000.000400")

    def crashed_earlier(rt: Runtime) -> None:
        claims = EventClaims(rt.db, owner="dead-host:1")
        for ts, status in (("1700000000.000100", "claimed"), ("1700000000.000200", "answering"),
                           ("1700000000.000300", "answered"), ("1700000000.000400", "claimed"),
                           ("1700000000.000500", "claimed")):
            claims.claim(key(ts), kind="app_mention", team="T0EMU", channel="C0GENERAL", thread_ts=ts)
            claims.finish(key(ts), status)
        claims.claim(key("9999999999.000001"), kind="app_mention", team="T0EMU", channel="C0GENERAL",
                     thread_ts="9999999999.000001")  # its lease runs: another replica is on it
        with rt.db.session() as s:
            s.execute(update(SlackEventRow).where(SlackEventRow.key != key("9999999999.000001"))
                      .values(lease_until="2020-01-01T00:00:00.000Z"))
            s.execute(update(SlackEventRow).where(SlackEventRow.key == key("1700000000.000400"))
                      .values(attempts=3))  # three owners already: not a fourth
            s.execute(update(SlackEventRow).where(SlackEventRow.key == key("1700000000.000500"))
                      .values(lease_until=None, updated_at="2020-01-01T00:00:00.000Z"))  # made before leases

    async with running(emu, monkeypatch, before=crashed_earlier) as h:
        await emu.wait_for(lambda e: len(e.calls_to("chat.postMessage")) == 4)
        assert await h.surface.answerer.wait_idle(30)
        await emu.settle(0.2)
        by_thread = {p["thread_ts"]: p for p in h.posts()}
        assert sorted(by_thread) == ["1700000000.000100", "1700000000.000200", "1700000000.000400",
                                     "1700000000.000500"]
        for ts in ("1700000000.000100", "1700000000.000500"):
            assert by_thread[ts]["metadata"]["event_payload"]["verdict"] == "answered"
            assert h.surface.claims.status(key(ts)) == "answered"
        for ts in ("1700000000.000200", "1700000000.000400"):
            assert "restarted before I could answer" in by_thread[ts]["text"]
            assert h.surface.claims.status(key(ts)) == "abandoned"
        assert h.surface.claims.status(key("1700000000.000300")) == "answered"
        assert h.surface.claims.status(key("9999999999.000001")) == "claimed"
        assert len(h.generator.requests) == 2
        # Slack's retry of a message answered after a takeover is a duplicate
        r, _ = await h.sender.event(app_mention(f"<@{BOT_USER}> How do I reset my VPN password?",
                                                ts="1700000000.000100"), retry_num=1)
        assert r.status_code == 200
        assert await h.surface.answerer.wait_idle(30)
        assert len(h.posts()) == 4 and h.surface.answerer.outcomes["duplicate"] == 1


async def test_answers_beyond_the_concurrency_limit_wait_their_turn(emu: SlackEmulator,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    db_url: str) -> None:
    def slow(req: Any) -> str:
        time.sleep(0.05)
        return "Open Settings and choose Reset."

    gen = FakeGenerator(slow)
    async with running(emu, monkeypatch, generator=gen, env={"DECORUM_SLACK_CONCURRENCY": "2"}) as h:
        events = [app_mention(f"<@{BOT_USER}> q{i}?", user=f"U0PERSON{i}") for i in range(8)]
        results = await asyncio.gather(*(h.sender.event(e) for e in events))
        assert all(r.status_code == 200 for r, _ in results)
        await h.idle()
        assert len(h.posts()) == 8 and max(gen.batches) <= 2 and sum(gen.batches) == 8


async def test_socket_mode_receives_events_over_the_websocket(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                              db_url: str) -> None:
    env = {"DECORUM_SLACK_MODE": "socket", "SLACK_APP_TOKEN": "xapp-1-emulated", "SLACK_SIGNING_SECRET": ""}
    async with running(emu, monkeypatch, env=env) as h:
        await emu.wait_for(lambda e: e.socket_connected)
        assert [c.token for c in emu.calls_to("apps.connections.open")] == ["xapp-1-emulated"]
        event = app_mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        sent = time.monotonic()
        envelope_id = emu.socket_send(envelope(event))
        await emu.wait_for(lambda e: envelope_id in e.socket_acks)
        assert emu.socket_acks[envelope_id] - sent < 3.0
        await emu.wait_for(lambda e: e.calls_to("chat.postMessage"))
        await h.idle()
        [post] = h.posts()
        assert post["thread_ts"] == event["ts"] and post["metadata"]["event_payload"]["verdict"] == "answered"
        r, _ = await h.sender.event(event)  # no HTTP endpoint in Socket Mode
        assert r.status_code == 404


async def test_oauth_install_serves_a_second_workspace_until_uninstalled(emu: SlackEmulator,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         db_url: str) -> None:
    import html
    from urllib.parse import parse_qs, urlparse

    from sqlalchemy import select

    from decorum.store.tables import SlackInstallationRow

    env = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "1111.2222", "SLACK_CLIENT_SECRET": "oauth-secret",
           "DECORUM_ENCRYPTION_KEY": ENCRYPTION_KEY}
    emu.tokens["xoxb-second-workspace"] = {"team_id": "T0SECOND", "user_id": "U0BOT2", "bot_id": "B0BOT2"}
    emu.oauth_codes["code-123"] = {
        "access_token": "xoxb-second-workspace", "token_type": "bot", "scope": "app_mentions:read,chat:write",
        "bot_user_id": "U0BOT2", "app_id": "A0EMU", "team": {"name": "Second", "id": "T0SECOND"},
        "enterprise": None, "is_enterprise_install": False, "authed_user": {"id": "U0ADMIN"}}
    async with running(emu, monkeypatch, env=env) as h:
        base = h.sender.url.rsplit("/slack/", 1)[0]
        client = h.sender.client
        r = await client.get(f"{base}/slack/install")
        assert r.status_code == 200 and "slack.com/oauth/v2/authorize" in r.text
        link = html.unescape(r.text.split('<a href="')[1].split('"')[0])
        query = parse_qs(urlparse(link).query)
        assert query["client_id"] == ["1111.2222"] and "chat:write" in query["scope"][0]
        state = query["state"][0]
        assert f"slack-app-oauth-state={state}" in r.headers["set-cookie"] and "Secure" in r.headers["set-cookie"]
        cookie = {"cookie": f"slack-app-oauth-state={state}"}  # what the browser sends back (over https)
        r = await client.get(f"{base}/slack/oauth_redirect", params={"code": "code-123", "state": state},
                             headers=cookie)
        assert r.status_code == 200, r.text
        assert await h.surface.installations.async_find_bot(enterprise_id=None, team_id="T0SECOND") is not None
        with h.runtime.db.session() as s:  # at rest the token is encrypted (issue 10)
            [stored] = s.execute(select(SlackInstallationRow.data)).scalars().all()
        assert stored.startswith("fernet:") and "xoxb" not in stored
        r = await client.get(f"{base}/slack/oauth_redirect", params={"code": "code-123", "state": state},
                             headers=cookie)
        assert r.status_code != 200  # a state is good once

        event = app_mention("<@U0BOT2> How do I reset my VPN password?", team="T0SECOND")
        body = envelope(event, team="T0SECOND")
        await h.sender.event(event, body=body)
        await h.idle()
        [post] = h.posts()
        assert emu.calls_to("chat.postMessage")[0].token == "xoxb-second-workspace"
        assert post["thread_ts"] == event["ts"]

        await h.sender.event({"type": "app_uninstalled", "event_ts": new_ts()}, body=envelope(
            {"type": "app_uninstalled", "event_ts": new_ts()}, team="T0SECOND"))
        await h.idle()
        assert await h.surface.installations.async_find_bot(enterprise_id=None, team_id="T0SECOND") is None
        later = app_mention("<@U0BOT2> still there?", team="T0SECOND")
        await h.sender.event(later, body=envelope(later, team="T0SECOND"))
        await h.idle()
        assert len(h.posts()) == 1  # uninstalled: nothing more is posted


async def test_tokens_revoked_removes_the_installation(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                       db_url: str) -> None:
    from slack_sdk.oauth.installation_store.models.installation import Installation

    env = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "1111.2222", "SLACK_CLIENT_SECRET": "oauth-secret",
           "DECORUM_ENCRYPTION_KEY": ENCRYPTION_KEY}
    async with running(emu, monkeypatch, env=env) as h:
        store = h.surface.installations
        await store.async_save(Installation(app_id="A0EMU", team_id="T0EMU", bot_token="xoxb-emulated",
                                            bot_id="B0BOT", bot_user_id=BOT_USER, user_id="U0ADMIN",
                                            bot_scopes=["chat:write"]))
        await store.async_save(Installation(app_id="A0EMU", team_id="T0EMU", bot_token="xoxb-emulated-2",
                                            bot_id="B0BOT", bot_user_id=BOT_USER, user_id="U0ADMIN"))  # reinstall
        assert (await store.async_find_bot(enterprise_id=None, team_id="T0EMU")).bot_token == "xoxb-emulated-2"
        revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BOT_USER]}, "event_ts": new_ts()}
        r, _ = await h.sender.event(revoked)
        assert r.status_code == 200
        await h.idle()
        assert await store.async_find_bot(enterprise_id=None, team_id="T0EMU") is None


def test_manifest_lists_exactly_the_scopes_and_events_used() -> None:
    from pathlib import Path

    import yaml

    from decorum.bot.slack.app import BOT_EVENTS, BOT_SCOPES

    manifest = yaml.safe_load((Path(__file__).parents[1] / "deploy" / "slack" / "manifest.yaml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == sorted(BOT_EVENTS)
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/decorum"]
    urls = [manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"], manifest["features"]["slash_commands"][0]["url"]]
    assert all(u.endswith("/slack/events") for u in urls)
    assert manifest["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")
    assert manifest["features"]["app_home"]["home_tab_enabled"] and "assistant_view" in manifest["features"]


async def test_shutdown_lets_answers_in_flight_finish(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                      db_url: str) -> None:
    def slow(req: Any) -> str:
        time.sleep(0.5)
        return "Open Settings and choose Reset."

    async with running(emu, monkeypatch, generator=FakeGenerator(slow)) as h:
        event, r, _ = await h.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        assert r.status_code == 200
        await emu.wait_for(lambda e: e.calls_to("reactions.add"))  # working on it ... and the server stops
    assert [c.args["thread_ts"] for c in emu.calls_to("chat.postMessage")] == [event["ts"]]


# --- guarded streaming (the fast-generation issue) -------------------------------------------------------

STREAMED = ("Open the VPN portal from the intranet home page. Choose Reset password and follow the steps on "
            "the screen. The new password works within five minutes on every device. If it does not, call the "
            "helpdesk on extension 4357 and quote your badge number.")
STREAMED_BAD = ("Open the VPN portal from the intranet home page. Choose Reset password and follow the steps on "
                "the screen. Only worthless people forget their passwords anyway. Call the helpdesk on 4357.")


def ungrounded(tmp_path: Path) -> dict[str, str]:
    """The configuration of a deployment without the grounding check: domain answers stream too (with it on, a
    domain answer is shown once grounded; these tests are about streaming, on the helpdesk route)."""
    path = tmp_path / "ungrounded.yaml"
    path.write_text("knowledge: {grounding: false}\n")
    return {"DECORUM_CONFIG": str(path)}


def bot_messages(emu: SlackEmulator, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """The bot's messages in a thread as they stand now (after every chat.update)."""
    return [m for m in emu.messages(channel) if m.get("bot_id") and m.get("thread_ts") == thread_ts]


async def test_long_answer_streams_checked_sentences_into_one_message(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> None:
    gen = FakeGenerator(STREAMED, stream_delay_s=0.03)
    async with running(emu, monkeypatch, generator=gen, env={"DECORUM_SLACK_STREAM_INTERVAL_S": "0.2",
                                                            **ungrounded(tmp_path)}) as h:
        event = app_mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        emu.add_message(event["channel"], event["text"], ts=event["ts"])
        r, _ = await h.sender.event(event)
        assert r.status_code == 200
        await h.idle()
        [post] = h.posts()  # one message, posted with the first checked sentence ...
        assert post["thread_ts"] == event["ts"] and "Still writing" in blocks_text(post["blocks"])
        assert "Open the VPN portal from the intranet home page." in blocks_text(post["blocks"])
        assert "metadata" not in post  # not an answer yet: thread history skips it
        updates = h.posts("chat.update")  # ... then updated as sentences pass, then turned into the answer
        assert len(updates) >= 2 and {u["ts"] for u in updates} == {updates[-1]["ts"]}
        streamed = [u for u in updates if "Still writing" in blocks_text(u["blocks"])]
        assert streamed, "no intermediate update"
        calls = [c.at for c in emu.calls if c.method in ("chat.postMessage", "chat.update")
                 and "Still writing" in blocks_text(c.args.get("blocks") or [])]
        assert all(b - a >= 0.18 for a, b in pairwise(calls))  # at most one call per interval (0.2 s)
        [final] = bot_messages(emu, event["channel"], event["ts"])
        assert final["metadata"]["event_payload"]["verdict"] == "answered"
        assert "Still writing" not in blocks_text(final["blocks"]) and "quote your badge number" in final["text"]
        assert action_ids(final["blocks"]) == [ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN, ACTION_WHY]
        note = h.runtime.audit.get(final["metadata"]["event_payload"]["note_id"])
        assert note["streaming"]["chunks_shown"] >= 2 and note["streaming"]["first_visible_ms"] > 0
        # the streamed-then-updated answer is part of the thread's history for a follow-up
        follow_ts = emu.add_message(event["channel"], "And on my phone?", thread_ts=event["ts"])
        await h.sender.event(message("And on my phone?", channel=event["channel"], channel_type="channel",
                                     ts=follow_ts, thread_ts=event["ts"]))
        await h.idle()
        sent = gen.requests[-1].messages
        assert [m["role"] for m in sent[1:]] == ["user", "assistant", "user"] and sent[2]["content"] == STREAMED


async def test_a_streamed_sentence_that_fails_the_checks_never_reaches_slack(
        emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> None:
    gen = FakeGenerator(STREAMED_BAD, stream_delay_s=0.03)
    async with running(emu, monkeypatch, generator=gen, env={"DECORUM_SLACK_STREAM_INTERVAL_S": "0.2",
                                                            **ungrounded(tmp_path)}) as h:
        event, _, _ = await h.mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        await h.idle()
        assert "worthless" in "".join(gen.streamed)  # the model did write it ...
        assert all("worthless" not in json.dumps(c.args) for c in emu.calls)  # ... and Slack never saw it
        [post] = h.posts()
        assert "Open the VPN portal" in blocks_text(post["blocks"])  # the sentences before it were shown
        [final] = bot_messages(emu, event["channel"], event["ts"])  # then replaced by the refusal, in place
        assert final["metadata"]["event_payload"]["verdict"] == "blocked_output"
        assert "I drafted an answer, but the draft read as" in final["text"]
        assert "Open the VPN portal" not in final["text"]
        assert any("withdrew" in blocks_text(u["blocks"]) for u in h.posts("chat.update"))
        note = h.runtime.audit.get(final["metadata"]["event_payload"]["note_id"])
        assert note["streaming"]["retracted"] is True and note["streaming"]["withheld"][0]["chunk"] == 3


async def test_slash_command_answers_are_not_streamed(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                      db_url: str, tmp_path: Path) -> None:
    async with running(emu, monkeypatch, generator=FakeGenerator(STREAMED, stream_delay_s=0.01),
                       env=ungrounded(tmp_path)) as h:
        url = emu.response_url("cmd")
        await h.sender.command(slash_command("ask How do I reset my VPN password?", response_url=url))
        await h.idle()
        assert h.posts() == [] and h.posts("chat.update") == []
        [answer] = [c.args for c in emu.calls_to("response_url") if "quote your badge number" in c.args["text"]]
        assert answer["response_type"] == "ephemeral"


# --- issue 24: cited answers ---------------------------------------------------------------------------


LEAVE_ANSWER = "Full-time staff get 27 days of annual leave; book them in Tidewater under 'Time Off'."


async def test_a_domain_answer_names_its_source_in_a_context_line(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
                                                                  db_url: str, tmp_path: Path) -> None:
    (tmp_path / "decorum.yaml").write_text("knowledge: {source_url: 'https://wiki.example.com/kb/{id}'}\n")
    async with running(emu, monkeypatch, generator=FakeGenerator(LEAVE_ANSWER),
                       env={"DECORUM_CONFIG": str(tmp_path / "decorum.yaml")}) as h:
        await h.mention(f"<@{BOT_USER}> How many days of annual leave do full-time staff get?")
        await h.idle()
        [post] = h.posts()
        contexts = [e["text"] for b in post["blocks"] if b["type"] == "context" for e in b["elements"]]
        [line] = [t for t in contexts if t.startswith(("Source: ", "Sources: "))]
        assert ("<https://wiki.example.com/kb/hr-annual-leave|Annual leave entitlement and booking> "
                "(hr-annual-leave v1)") in line
        assert LEAVE_ANSWER.replace("'", "&#39;") in blocks_text(post["blocks"]) or LEAVE_ANSWER in blocks_text(
            post["blocks"])
        note = h.runtime.audit.get(post["metadata"]["event_payload"]["note_id"])
        assert note["knowledge"][0]["id"] == "hr-annual-leave" and note["grounding"]["action"] == "kept"


async def test_an_ungrounded_slack_answer_is_replaced_by_the_quote(slack: Harness) -> None:
    # the default fake answer names "Settings" and "Reset", which no entry about leave supports
    await slack.mention(f"<@{BOT_USER}> How many days of annual leave do full-time staff get?")
    await slack.idle()
    [post] = slack.posts()
    text = blocks_text(post["blocks"])
    assert "I&#39;m not sure. The closest article says" in text or "I'm not sure. The closest article says" in text
    assert "27 days of annual leave" in text and "Open Settings" not in text
    assert "Source: Annual leave entitlement and booking (hr-annual-leave v1)" in text
    # a domain answer is shown once grounded: no "Still writing" message was streamed first
    assert not any("Still writing" in blocks_text(c.args.get("blocks") or []) for c in slack.emu.calls)
    note = slack.runtime.audit.get(post["metadata"]["event_payload"]["note_id"])
    assert note["streaming"]["held"] is True and note["grounding"]["action"] == "not_sure"
