""""This was wrong" under a refusal: its asker's report into the auditors' review queue (``decorum.audit.review``).

The button is acked at once; the note is read (must be this workspace's refusal, and the presser its asker:
their Slack id under the note's pseudonym key is the note's ``slack.user``), then a modal opens within the
trigger's 3 s. It says what a report does and offers one opt-in checkbox: keep my message text for the
reviewers, deleted after ``audit.text_retention_days``. Its ``private_metadata`` is the note id only.

Submitting files the report (``decorum.audit.review.file_report``). The text is the refused question this process
held in memory (``Answerer.refused_texts``, for ``REFUSED_TEXT_TTL_S``): used only when the box is ticked,
only while still held (a restart, or a press that reaches another replica, finds nothing: the report is filed
without text and the person is told), and only when it matches the note's keyed hash. Slack is never asked
for the text again (a message may have been edited since; a slash command's question is not in any channel).

Anyone else who presses the button is told privately that only the asker can report; a second report of the
same refusal changes nothing. Logs hold ids, never text.

Example::

    reports.register(bolt, surface)   # by SlackSurface, before listeners.register_fallbacks
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.audit.review import (
    REFUSED,
    ReportRefused,
    ReviewNotFound,
    file_report,
    find_report,
    is_asker,
)
from decorum.bot import messages
from decorum.bot.slack.blocks import (
    ACTION_REPORT,
    REPORT_KEEP_ACTION,
    REPORT_KEEP_BLOCK,
    REPORT_KEEP_VALUE,
    VIEW_REPORT,
    report_done_modal,
    report_modal,
)
from decorum.bot.slack.listeners import find_note
from decorum.errors import UsageError

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)


def failed_checks(note: dict[str, Any]) -> list[str]:
    """The checks that failed at the stage that refused the note (what the modal names)."""
    stage = "input" if note.get("verdict") == "blocked_input" else "output"
    guard = note.get("guardrails") if isinstance(note.get("guardrails"), dict) else {}
    return [str(r.get("check")) for r in guard.get(stage) or [] if isinstance(r, dict) and r.get("passed") is False]


def submitted_note(view: dict[str, Any]) -> str | None:
    """The note id in the modal's ``private_metadata`` (``{"note": ID}``), or None when it is not one."""
    try:
        meta = json.loads(view.get("private_metadata") or "")
    except (TypeError, ValueError):
        return None
    note_id = meta.get("note") if isinstance(meta, dict) else None
    return note_id if isinstance(note_id, str) and 0 < len(note_id) <= 32 else None


def keep_ticked(view: dict[str, Any]) -> bool:
    """Whether the person ticked "Keep my message text" (absent, unticked or malformed: no)."""
    state = ((view.get("state") or {}).get("values") or {}).get(REPORT_KEEP_BLOCK) or {}
    chosen = (state.get(REPORT_KEEP_ACTION) or {}).get("selected_options") or []
    return any(isinstance(o, dict) and o.get("value") == REPORT_KEEP_VALUE for o in chosen)


async def _tell(respond: AsyncRespond | None, text: str) -> None:
    """Privately, under the message whose button was pressed."""
    if respond is None:
        return
    try:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the response_url expired: nothing else to tell them through
        logger.info("slack report reply failed error=%s", exc.__class__.__name__)


def register(bolt: AsyncApp, surface: SlackSurface) -> None:
    """Attach the "This was wrong" button and its modal's submission to ``bolt``."""
    rt = surface.runtime

    @bolt.action(ACTION_REPORT)
    async def on_report(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient,
                        context: AsyncBoltContext, respond: AsyncRespond | None = None) -> None:
        await ack()
        note_id = str(action.get("value") or "")[:40]
        user = str((body.get("user") or {}).get("id") or "")
        note = await find_note(surface, note_id, context.team_id)
        refusal = None
        if note is None:
            refusal = messages.slack_note_missing(note_id)
        elif note.get("verdict") not in REFUSED:
            refusal = messages.report_not_refusal(note_id)
        elif not is_asker(rt.pseudonymiser, note, user):
            refusal = messages.report_not_yours()
        elif await asyncio.to_thread(find_report, rt.db, note_id) is not None:
            refusal = messages.report_filed(note_id, text_kept=False, text_wanted=False, again=True)
        if refusal is not None or note is None:
            logger.info("slack report button refused note=%s team=%s", note_id, context.team_id)
            await _tell(respond, refusal or "")
            return
        view = report_modal(note_id, messages.refusal_kind(failed_checks(note)),
                            rt.config.audit.text_retention_days)
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except SlackApiError as exc:
            logger.warning("slack report modal failed note=%s team=%s error=%s", note_id, context.team_id,
                           exc.response.get("error"))
            return
        logger.info("slack report modal opened note=%s team=%s", note_id, context.team_id)

    @bolt.view(VIEW_REPORT)
    async def on_report_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                  context: AsyncBoltContext) -> None:
        note_id = submitted_note(view)
        user = str((body.get("user") or {}).get("id") or "")
        if note_id is None:
            await ack(response_action="update", view=report_done_modal(messages.report_stale()))
            return
        keep = keep_ticked(view)
        text = surface.answerer.refused_texts.get(note_id) if keep else None
        if await find_note(surface, note_id, context.team_id) is None:  # another workspace's, or none
            await ack(response_action="update", view=report_done_modal(messages.slack_note_missing(note_id)))
            return
        try:
            report = await asyncio.to_thread(file_report, rt.db, rt.audit, rt.pseudonymiser, note_id, asker=user,
                                             surface="slack", keep_text=keep, text=text)
        except ReviewNotFound:
            outcome = messages.slack_note_missing(note_id)
        except ReportRefused:
            outcome = messages.report_not_yours()
        except UsageError:
            outcome = messages.report_not_refusal(note_id)
        except Exception as exc:  # the database or the audit log failed: nothing was filed
            logger.error("slack report failed note=%s team=%s error=%s", note_id, context.team_id,
                         exc.__class__.__name__)
            outcome = messages.report_failed(note_id)
        else:
            surface.answerer.refused_texts.forget(note_id)  # kept in the database now, or not wanted
            outcome = messages.report_filed(note_id, text_kept=report.text_kept, text_wanted=keep,
                                            again=not report.created)
            logger.info("slack report filed note=%s team=%s check=%s text_kept=%s new=%s", note_id,
                        context.team_id, report.check, report.text_kept, report.created)
        await ack(response_action="update", view=report_done_modal(outcome))


__all__ = ["failed_checks", "keep_ticked", "register", "submitted_note"]
