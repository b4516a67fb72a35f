"""A thread's earlier turns for the model, from ``conversations.replies``: text for the model only, never logged.

Only questions that were answered (their claim says so) and the bot's shown answers (their metadata says
``answered``) are kept, so a refused question never reaches the model as context.

Example::

    history = thread_history(replies["messages"], asker="U1", bot_user_id="UBOT", bot_id="BBOT",
                             answered_ts={"1700000000.000100"}, before_ts="1700000050.000200")
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from decorum.bot.slack.blocks import METADATA_EVENT, unescape

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def question_text(text: str, bot_user_id: str | None) -> str:
    """What a person asked: the bot's own mention removed, Slack's escaping undone."""
    if bot_user_id:
        text = _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text)
    return unescape(text).strip()


def _ts(message: dict[str, Any]) -> float:
    try:
        return float(message.get("ts") or 0)
    except ValueError:
        return 0.0


def thread_history(messages: Iterable[dict[str, Any]], *, asker: str, bot_user_id: str | None,
                   bot_id: str | None, answered_ts: set[str], before_ts: str, turns: int = 6,
                   chars: int = 2000) -> list[dict[str, str]]:
    """Earlier ``user``/``assistant`` turns of the thread before ``before_ts``, at most ``turns`` pairs."""
    out: list[dict[str, str]] = []
    limit = float(before_ts)
    for m in sorted(messages, key=_ts):
        if _ts(m) >= limit:
            break
        is_bot = bool((bot_id and m.get("bot_id") == bot_id) or (bot_user_id and m.get("user") == bot_user_id))
        if is_bot:
            meta = m.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") != METADATA_EVENT or payload.get("verdict") != "answered":
                continue  # notices, help, refusals and apologies are not part of the conversation
            role, text = "assistant", unescape(str(m.get("text") or "")).strip()
        elif m.get("user") == asker and not m.get("bot_id") and m.get("ts") in answered_ts:
            role, text = "user", question_text(str(m.get("text") or ""), bot_user_id)
        else:
            continue
        if not text:
            continue
        if out and out[-1]["role"] == role:  # an answer in several parts, or two questions in a row
            out[-1]["content"] = (out[-1]["content"] + "\n\n" + text)[:chars]
        else:
            out.append({"role": role, "content": text[:chars]})
    while out and out[0]["role"] != "user":
        out.pop(0)
    out = out[-2 * turns:] if turns else []
    while out and out[0]["role"] != "user":
        out.pop(0)
    return out
