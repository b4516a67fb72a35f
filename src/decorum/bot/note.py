"""Transparency-note helpers: the one-line summary, the ids-only unanswered note.

Texts are fingerprinted with the audit key (``Pseudonymiser.fingerprint``): a plain hash would let anyone
confirm a guessed question.

A message that gets no answer outside the answer path (Slack's queue full, the asker's rate limit, a failure
around the answer, a message lost to a crash) still gets a record: ``unanswered_note``, verdict ``error``
with ``error.where`` saying where it ended, ids only (never the text, which may not even be readable). Its
id is the reference the person is shown.

Example::

    note = unanswered_note(new_id(), error_type="Busy", reason="capacity", where="slack",
                           slack={"team": "T1", "channel": "C1", "thread_ts": "1.2", "ts": "1.2", "user": "hmac:..."})
    audit.append(note)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION, OUTSIDE_ANSWER_PATH
from decorum.ids import new_id, utc_now  # the ids every layer shares (decorum.ids); re-used here

logger = logging.getLogger(__name__)

__all__ = ["append_unanswered", "new_id", "summary", "unanswered_note", "utc_now"]


def unanswered_note(ref: str, *, error_type: str, where: str, reason: str | None = None, surface: str = "slack",
                    slack: Mapping[str, Any] | None = None, pseudonym_key: str | None = None,
                    attempts: int | None = None) -> dict[str, Any]:
    """The record of a request that ended outside the answer path (``where``: ``slack``, ``slack_recovery``,
    ``api``).

    Ids only: the Slack workspace, channel, thread and message, the asker's pseudonym when known; the error's
    kind (``error_type``: the exception class, or ``LostMessage``) and ``reason``; never a text.
    """
    if where not in OUTSIDE_ANSWER_PATH:
        raise ValueError(f"where must be one of {', '.join(OUTSIDE_ANSWER_PATH)}")
    error: dict[str, Any] = {"type": error_type, "where": where}
    if reason:
        error["reason"] = reason
    if attempts is not None:
        error["attempts"] = attempts
    note: dict[str, Any] = {"id": ref, "created_at": utc_now(), "surface": surface, "verdict": "error",
                            "schema_version": NOTE_SCHEMA_VERSION, "error": error}
    if slack is not None:
        note["slack"] = {k: v for k, v in slack.items() if v is not None}
        if pseudonym_key and note["slack"].get("user"):
            note["pseudonym_key"] = pseudonym_key
    return note


async def append_unanswered(audit: Any, note: dict[str, Any], ids: str) -> bool:
    """Append an :func:`unanswered_note` to ``audit`` off the event loop; False (an ERROR naming the reference and
    ``ids``) when it cannot be written: the person is told anyway, and the log says their reference has no record."""
    try:
        await asyncio.to_thread(audit.append, note)
    except Exception as exc:  # the database is down (or the note is wrong)
        logger.error("audit record failed %s ref=%s error=%s: the reference shown has no record", ids, note["id"],
                     exc.__class__.__name__)
        return False
    return True


def summary(note: dict[str, object]) -> str:
    """The one-line note summary printed by ``decorum ask``, ``chat`` and ``audit list``.

    A ``change`` record (a template created, edited, published ...) has no route, model or checks: its
    summary names the change instead, e.g. ``[change · template.publish general@2 production by alice · id ...]``.
    """
    change = note.get("change")
    if isinstance(change, dict):
        if "template" in change:
            subject = f"{change.get('template')}@{change.get('version')}"
        elif "entry" in change:
            subject = f"{change.get('entry')} v{change.get('version')}"
        else:
            subject = f"live@{change.get('live_config') or 'file'}"
        what = f"{change.get('kind')} {subject}"
        if change.get("label"):
            what += f" {change['label']}"
        what += f" by {change.get('actor')}" + (" (override)" if change.get("override") else "")
        return f"[{note.get('verdict')} · {what} · id {note.get('id')}]"
    error = note.get("error")
    if isinstance(error, dict) and error.get("where") in OUTSIDE_ANSWER_PATH:  # ids only: what ended it, where
        what = str(error.get("type")) + (f" ({error['reason']})" if error.get("reason") else "")
        if error.get("attempts"):
            what += f" after {error['attempts']} owners"
        return f"[{note.get('verdict')} · {what} · {error.get('where')} · id {note.get('id')}]"
    route = note.get("route") or {}
    tpl = note.get("template") or {}
    model = note.get("model") or {}
    guard = note.get("guardrails") or {}
    assert isinstance(route, dict) and isinstance(tpl, dict) and isinstance(model, dict) and isinstance(guard, dict)

    def stage(name: str) -> str:
        results = guard.get(name) or []
        if not results:
            return f"{name} -"
        scores = " ".join(f"{r['check']} {r['score']:.2f}{'' if r['passed'] else '!'}" for r in results)
        return f"{name} {'ok' if all(r['passed'] for r in results) else 'FAIL'} ({scores})"

    parts = [str(note.get("verdict"))]
    if route:
        parts.append(str(route.get("strategy")))
    if tpl:
        parts.append(f"{tpl.get('name')}@{tpl.get('version')}")
    if model:
        adapter = model.get("adapter")
        parts.append(str(model.get("name")) + (f"+{adapter['name']}@{adapter['version']}" if adapter else ""))
    parts += [stage("input"), stage("output")]
    knowledge = note.get("knowledge")
    if isinstance(knowledge, list) and knowledge:
        parts.append("sources " + ", ".join(f"{k['id']} v{k['version']}" for k in knowledge))
    grounding = note.get("grounding")
    if isinstance(grounding, dict):
        parts.append(f"grounding {grounding.get('action')}")
    parts += [f"policy {guard.get('policy')}", f"id {note.get('id')}"]
    return "[" + " · ".join(parts) + "]"
