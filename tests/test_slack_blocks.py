"""Block Kit building and thread history: pure functions, checked against Slack's limits (the emulator's)."""

from __future__ import annotations

import json
import logging

import pytest

from decorum.bot.pipeline import Answer
from decorum.bot.slack.app import IdsOnly
from decorum.bot.slack.blocks import (
    ACTION_WHY,
    MAX_BLOCKS,
    SECTION_CHARS,
    answer_messages,
    escape,
    footer,
    home_view,
    note_modal,
    refusal_message,
    split_text,
    to_mrkdwn,
)
from decorum.bot.slack.history import question_text, thread_history
from tests.slack_emulator import block_error


def note(**extra: object) -> dict:
    base = {
        "id": "01JABCDEFGHJKMNPQRSTVWXYZ0", "created_at": "2026-11-22T10:00:00.000Z", "surface": "slack",
        "slack": {"team": "T1", "channel": "C1", "thread_ts": "1.2", "user": "hmac:ab"},
        "request": {"hmac_sha256": "a" * 64, "chars": 57, "truncated": False},
        "route": {"strategy": "fine_tuned", "reason": "semantic", "score": 0.81, "threshold": 0.62},
        "template": {"name": "helpdesk", "version": 4, "sha256": "b" * 64, "variant": "standard"},
        "model": {"backend": "local", "name": "smollm2-135m-instruct", "revision": "c" * 64, "engine": "onnx",
                  "precision": "int8", "artifact_revision": "9" * 64,
                  "adapter": {"name": "helpdesk-lora", "version": 2, "sha256": "d" * 64}},
        "guardrails": {"policy": "default@5", "action": "allow",
                       "input": [{"check": "toxicity", "scorer": "minilm@1", "score": 0.01, "threshold": 0.5,
                                  "passed": True}],
                       "output": [{"check": "bias", "scorer": "minilm@1", "score": 0.03, "threshold": 0.5,
                                   "passed": True}]},
        "verdict": "answered", "latency_ms": {"input_checks": 18, "total": 2950},
        "tokens": {"prompt": 212, "completion": 61}, "prev_hash": "e" * 64, "hash": "f" * 64,
    }
    return {**base, **extra}


@pytest.mark.parametrize("text", [
    "short",
    "word " * 2000,
    "x" * 7000,  # no place to break
    ("para one. " * 100 + "\n\n") * 10,
    "&amp;" * 1500,  # entities must not be cut
    "intro\n```\n" + "code line\n" * 900 + "```\nafter",
    "```" + "y" * 8000 + "```",
])
def test_split_text_keeps_every_piece_within_a_section(text: str) -> None:
    pieces = split_text(text)
    assert pieces and all(0 < len(p) <= SECTION_CHARS for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces) or text.count("```") % 2
    assert all("&am" != p[-3:] and not p.endswith("&") for p in pieces)
    joined = "".join(p.replace("```", "") for p in pieces)
    assert joined.replace("\n", "").replace(" ", "") == text.replace("```", "").replace("\n", "").replace(" ", "")


def test_model_text_cannot_ping_or_link() -> None:
    out = to_mrkdwn("Hey <!channel> see <https://evil.example|bank> & **bold**\n# Title")
    assert "<!channel>" not in out and "&lt;!channel&gt;" in out and "&amp;" in out
    assert "*bold*" in out and "*Title*" in out
    assert escape("<@U123>") == "&lt;@U123&gt;"


@pytest.mark.parametrize("chars", [10, 2999, 3001, 20_000, 150_000])
def test_answer_messages_fit_slack(chars: int) -> None:
    answer = Answer(text=("Sentence number one is here. " * (chars // 29 + 1))[:chars], note=note())
    msgs = answer_messages(answer)
    for i, m in enumerate(msgs, 1):
        assert block_error(m.blocks) is None and len(m.blocks) <= MAX_BLOCKS and len(m.text) <= 3000
        assert m.metadata and m.metadata["event_payload"]["part"] == i
        assert m.metadata["event_payload"]["parts"] == len(msgs)
    last = msgs[-1].blocks
    assert [e["action_id"] for b in last if b["type"] == "actions" for e in b["elements"]][-1] == ACTION_WHY
    assert all(b["type"] != "actions" for m in msgs[:-1] for b in m.blocks)
    shown = sum(len(b["text"]["text"]) for m in msgs for b in m.blocks
                if b["type"] == "section" and "Sentence" in b["text"]["text"])
    assert shown >= chars * 0.99


def test_footer_names_strategy_template_model_guardrails_and_ref() -> None:
    text = json.dumps(footer(note()))
    for needle in ("AI-generated", "fine_tuned", "helpdesk@4", "smollm2-135m-instruct + helpdesk-lora@2",
                   "input passed", "output passed", "policy default@5", "01JABCDEFGHJKMNPQRSTVWXYZ0"):
        assert needle in text
    assert "0.01" not in text  # scores are for the modal, not the footer


def test_refusal_names_no_scores() -> None:
    n = note(verdict="blocked_input", route=None, template=None, model=None, guardrails={
        "policy": "default@5", "action": "refused", "output": [],
        "input": [{"check": "toxicity", "score": 0.97, "threshold": 0.5, "passed": False, "scorer": "m"}]})
    msg = refusal_message(Answer(text="I can't help with this request because ... reference 01J.", note=n))
    text = json.dumps(msg.blocks)
    assert "input flagged (toxicity)" in text and "0.97" not in text and block_error(msg.blocks) is None


def test_note_modal_is_readable_and_complete_within_limits() -> None:
    big = note(guardrails={**note()["guardrails"], "first_output": [
        {"check": "toxicity", "score": 0.9, "threshold": 0.5, "passed": False, "scorer": "m",
         "explanation": "x" * 4000}] * 6})
    view = note_modal(big)
    assert block_error(view["blocks"], max_blocks=100) in (None, "msg_blocks_too_long")
    assert len(view["title"]["text"]) <= 24 and len(view["blocks"]) <= 100
    text = json.dumps(view)
    for needle in ("fine_tuned", "semantic", "0.81", "helpdesk@4", "helpdesk-lora@2", "default@5",
                   "First draft", "input_checks 18", "prompt 212", "(local, onnx int8), revision `cccccccccccc",
                   "built `999999999999"):
        assert needle in text
    raw = "".join(b["text"]["text"].removeprefix("```\n").removesuffix("\n```") for b in view["blocks"]
                  if "```" in b.get("text", {}).get("text", ""))
    assert json.loads(raw.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")) == big


def test_home_view_fits() -> None:
    view = home_view()
    assert view["type"] == "home" and block_error(view["blocks"], max_blocks=100) is None


def test_question_text_strips_only_the_bots_mention() -> None:
    assert question_text("<@UBOT> what about <@U123|bob> &amp; &lt;x&gt;?", "UBOT") == "what about <@U123|bob> & <x>?"
    assert question_text("<@UBOT|decorum>", "UBOT") == ""


def _bot(text: str, ts: str, verdict: str = "answered", thread: str = "1.0") -> dict:
    return {"user": "UBOT", "bot_id": "BBOT", "text": text, "ts": ts, "thread_ts": thread,
            "metadata": {"event_type": "decorum_answer", "event_payload": {"verdict": verdict}}}


def test_thread_history_keeps_answered_turns_only() -> None:
    msgs = [
        {"user": "UA", "text": "<@UBOT> first question", "ts": "1.0"},
        {"user": "UBOT", "bot_id": "BBOT", "text": "Hi! I'm Decorum (notice)", "ts": "1.05", "thread_ts": "1.0"},
        _bot("first answer part 1", "1.1"), _bot("part 2", "1.15"),
        {"user": "UB", "text": "someone else chatting", "ts": "1.2", "thread_ts": "1.0"},
        {"user": "UA", "text": "toxic one", "ts": "1.3", "thread_ts": "1.0"},
        _bot("refusal", "1.35", verdict="blocked_input"),
        {"user": "UA", "text": "second &amp; question", "ts": "1.4", "thread_ts": "1.0"},
        _bot("second answer", "1.5"),
        {"user": "UA", "text": "the current one", "ts": "1.6", "thread_ts": "1.0"},
    ]
    hist = thread_history(msgs, asker="UA", bot_user_id="UBOT", bot_id="BBOT", answered_ts={"1.0", "1.4"},
                          before_ts="1.6")
    assert hist == [{"role": "user", "content": "first question"},
                    {"role": "assistant", "content": "first answer part 1\n\npart 2"},
                    {"role": "user", "content": "second & question"},
                    {"role": "assistant", "content": "second answer"}]
    short = thread_history(msgs, asker="UA", bot_user_id="UBOT", bot_id="BBOT", answered_ts={"1.0", "1.4"},
                           before_ts="1.6", turns=1, chars=5)
    assert short == [{"role": "user", "content": "secon"}, {"role": "assistant", "content": "secon"}]


def test_ids_only_filter_rewrites_bolts_body_dump_and_drops_debug() -> None:
    f = IdsOnly()
    rec = logging.LogRecord("slack_bolt.RequestVerification", logging.INFO, "", 0,
                            "Invalid request signature detected (signature: v0=1, timestamp: 1, body: secret text)",
                            None, None)
    assert f.filter(rec) and "secret" not in rec.getMessage() and rec.levelno == logging.WARNING
    debug = logging.LogRecord("slack_sdk", logging.DEBUG, "", 0, "Sending a request - body: text", None, None)
    assert not f.filter(debug)
