"""Bolt listeners: turn Slack's events, the slash command and button clicks into jobs, after an immediate ack.

Events are acked by Bolt before a listener runs; commands and actions call ``ack()`` first thing. A
listener never awaits the pipeline: it builds a ``Job`` and hands it to the answerer.

``/decorum <subcommand>`` dispatches through ``surface.features`` (``commands.SlackFeatures``): ``ask``, ``help``
and ``role`` are added here, the admin features add theirs when ``app.py`` registers them, between ``register``
(the core listeners) and ``register_fallbacks`` (the catch-all action listener and App Home), since Bolt runs the
first listener that matches.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncAssistant, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.access import permissions_of
from decorum.bot import messages
from decorum.bot.slack.answerer import Job
from decorum.bot.slack.blocks import (
    ACTION_FEEDBACK_DOWN,
    ACTION_FEEDBACK_UP,
    ACTION_WHY,
    FEEDBACK_VALUES,
    home_url,
    missing_note_modal,
    note_modal,
    text_message,
    why_note_id,
    why_signed,
)
from decorum.bot.slack.commands import COMMAND, SlashCommand, home_for, slack_principal
from decorum.bot.slack.dedupe import command_key, event_key, message_key
from decorum.errors import UsageError

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

# Message subtypes that are a person's new message; edits, deletions, joins and bot posts are not.
PERSON_SUBTYPES = (None, "thread_broadcast", "file_share")


async def _help(cmd: SlashCommand) -> None:
    await cmd.ack(**text_message(messages.slack_help(COMMAND)).kwargs())


async def _ask(cmd: SlashCommand) -> None:
    if not cmd.args.strip():
        await cmd.ack(text=messages.empty_question())
        return
    await cmd.ack(text=messages.slack_command_working())
    body = cmd.body
    cmd.surface.answerer.submit(Job(
        kind="command", key=command_key(str(body.get("trigger_id") or body.get("response_url") or "")),
        client=cmd.client, user=str(body.get("user_id")), channel=str(body.get("channel_id")), text=cmd.args,
        team=cmd.context.team_id, channel_type="command", app_id=body.get("api_app_id"),
        bot_user_id=cmd.context.bot_user_id, command=str(body.get("command") or COMMAND), respond=cmd.respond))


async def _role(cmd: SlashCommand) -> None:
    """``/decorum role``: the role Decorum gives you here and what it allows."""
    who = await slack_principal(cmd)
    await cmd.ack(text=messages.slack_role(who.role if who else None, permissions_of(who.role) if who else []))


def _is_person_message(event: dict[str, Any]) -> bool:
    """A person's new message: not a bot's (ours or another's), not an edit, deletion or join."""
    return (event.get("subtype") in PERSON_SUBTYPES and not event.get("bot_id") and not event.get("bot_profile")
            and bool(event.get("user")) and bool(event.get("ts")) and bool(event.get("channel")))


def _job(kind: str, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext,
         client: AsyncWebClient, **extra: Any) -> Job:
    ts = str(event["ts"])
    fields: dict[str, Any] = dict(
        kind=kind, key=message_key(str(event["channel"]), ts), client=client, user=str(event["user"]),
        channel=str(event["channel"]), text=str(event.get("text") or ""), team=context.team_id or body.get("team_id"),
        channel_type=str(event.get("channel_type") or "channel"), ts=ts,
        thread_ts=str(event.get("thread_ts") or ts), event_id=body.get("event_id"), app_id=body.get("api_app_id"),
        bot_user_id=context.bot_user_id, bot_id=context.bot_id)
    fields.update(extra)
    return Job(**fields)


def register(bolt: AsyncApp, surface: SlackSurface) -> None:
    """Attach the core listeners of the Slack surface to ``bolt`` (the admin features and then
    ``register_fallbacks`` come after, in ``SlackSurface``)."""
    answerer = surface.answerer
    for name, handler in (("ask", _ask), ("help", _help), ("role", _role)):
        surface.features.add_command(name, handler)

    @bolt.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext,
                         client: AsyncWebClient) -> None:
        if not _is_person_message(event):
            return
        answerer.submit(_job("app_mention", event, body, context, client))

    @bolt.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext,
                         client: AsyncWebClient) -> None:
        if not _is_person_message(event):
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if event.get("channel_type") == "im":
            answerer.submit(_job("message", event, body, context, client))
        elif thread_ts and thread_ts != ts:  # a reply in a thread: answered only in the bot's threads
            answerer.submit(_job("message", event, body, context, client, follow_up=True))

    assistant = AsyncAssistant(logger=surface.bolt_logger)

    @assistant.thread_started
    async def on_assistant_thread(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext,
                                  say: Any, set_suggested_prompts: Any) -> None:
        thread = event.get("assistant_thread") or {}
        key = event_key(str(body.get("event_id") or f"{thread.get('channel_id')}:{thread.get('thread_ts')}"))
        claimed = await asyncio.to_thread(surface.claims.claim, key, kind="assistant_thread_started",
                                          event_id=body.get("event_id"), team=context.team_id,
                                          channel=thread.get("channel_id"), thread_ts=thread.get("thread_ts"))
        if not claimed:
            return
        try:
            text = messages.slack_assistant_greeting()
            user = thread.get("user_id") or context.user_id
            if user and context.team_id and await asyncio.to_thread(
                    surface.notices.claim, context.team_id, surface.runtime.pseudonymiser.user(str(user))):
                text += "\n\n" + messages.slack_first_contact(home_url(context.team_id, body.get("api_app_id")))
            await say(**text_message(text).kwargs())
            await set_suggested_prompts(prompts=[{"title": t, "message": m}
                                                 for t, m in messages.SLACK_SUGGESTED_PROMPTS])
            status = "greeted"
        except SlackApiError as exc:
            logger.warning("slack assistant greeting failed team=%s error=%s", context.team_id,
                           exc.response.get("error"))
            status = "error"
        await asyncio.to_thread(surface.claims.finish, key, status)

    @assistant.user_message
    async def on_assistant_message(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext,
                                   client: AsyncWebClient, set_status: Any) -> None:
        if not _is_person_message(event):
            return
        answerer.submit(_job("assistant", event, body, context, client, set_status=set_status))

    @assistant.thread_context_changed
    async def on_assistant_context(context: AsyncBoltContext) -> None:
        return None  # the channel the person is viewing is not used for answers

    bolt.assistant(assistant)

    @bolt.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient,
                         context: AsyncBoltContext) -> None:
        text = str(body.get("text") or "").strip()
        name, _, rest = text.partition(" ")
        name = name.lower()
        if not name:
            name, rest = "help", ""
        elif name not in surface.features.subcommands:
            name, rest = "ask", text  # `/decorum how do I ...?` is a question
        handler = surface.features.subcommands[name]
        await handler(SlashCommand(name=name, args=rest.strip(), body=body, ack=ack, respond=respond, client=client,
                                   context=context, surface=surface))

    @bolt.action(re.compile(f"^({ACTION_FEEDBACK_UP}|{ACTION_FEEDBACK_DOWN})$"))
    async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond,
                          context: AsyncBoltContext) -> None:
        await ack()
        value = FEEDBACK_VALUES[str(action.get("action_id"))]
        note_id = str(action.get("value") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if not await find_note(surface, note_id, context.team_id):
            await respond(text=messages.slack_note_missing(note_id), response_type="ephemeral",
                          replace_original=False)
            return
        await asyncio.to_thread(surface.feedback.vote, note_id, surface.runtime.pseudonymiser.user(user), value)
        logger.info("slack feedback note=%s team=%s value=%s", note_id, context.team_id, value)
        await respond(text=messages.slack_feedback_thanks(value), response_type="ephemeral", replace_original=False)

    @bolt.action(ACTION_WHY)
    async def on_why(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient,
                     context: AsyncBoltContext, respond: AsyncRespond) -> None:
        """The note of the message the button is on, and no other: its value must carry our signature of the note
        id (``blocks.why_value``), the note must be an answer's (never an admin change record) and belong to the
        message's channel; otherwise the person is told so (ephemeral) and the refusal is an access event."""
        await ack()
        value = str(action.get("value") or "")[:200]
        note_id = why_note_id(value)
        note = await find_note(surface, note_id, context.team_id) if note_id else None
        if note is not None:
            signed = why_signed(value, surface.why_keys.get(str(note.get("pseudonym_key"))))
        else:  # gone, or another workspace's: "can't find" only for a value we made, else a refusal
            signed = any(why_signed(value, key) for key in surface.why_keys.values())
        if not signed or (note is not None and not _note_of_message(note, body)):
            await _refuse_why(surface, body, respond, context, note_id)
            return
        view = note_modal(note) if note else missing_note_modal(str(note_id))
        await client.views_open(trigger_id=body["trigger_id"], view=view)  # the trigger lasts 3 s: open first
        logger.info("slack note opened note=%s team=%s found=%s", note_id, context.team_id, note is not None)



def register_fallbacks(bolt: AsyncApp, surface: SlackSurface) -> None:
    """The listeners that come last: any other action (acked, ignored), App Home, uninstall and revocation."""

    @bolt.action(re.compile(".*"))
    async def on_other_action(ack: AsyncAck, action: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()  # a stale button from an older version, or a link button: nothing to do
        logger.info("slack action ignored action_id=%s team=%s", str(action.get("action_id"))[:80],
                    context.team_id)

    @bolt.event("app_home_opened")
    async def on_home(event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])
        await client.views_publish(user_id=user, view=await home_for(surface, client, user, context.team_id))

    if surface.installations is not None:
        bolt.enable_token_revocation_listeners()
    else:
        @bolt.event("app_uninstalled")
        async def on_uninstalled(context: AsyncBoltContext) -> None:
            logger.warning("slack app uninstalled team=%s (single-workspace token: nothing stored)",
                           context.team_id)

        @bolt.event("tokens_revoked")
        async def on_tokens_revoked(context: AsyncBoltContext) -> None:
            logger.warning("slack tokens revoked team=%s", context.team_id)


ANSWER_VERDICTS = frozenset({"answered", "blocked_input", "blocked_output", "error"})  # not "change"
WHY_TARGET = "Why this answer?"


def _note_of_message(note: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether ``note`` is a Slack answer's note posted in the channel of the message whose button was pressed."""
    slack = note.get("slack")
    if note.get("verdict") not in ANSWER_VERDICTS or note.get("surface") != "slack" or not isinstance(slack, dict):
        return False
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    return bool(channel) and channel == slack.get("channel")


async def _refuse_why(surface: SlackSurface, body: dict[str, Any], respond: AsyncRespond,
                      context: AsyncBoltContext, note_id: str | None) -> None:
    """A "Why this answer?" value that is not this message's note: said privately, recorded like every refusal."""
    user = surface.runtime.pseudonymiser.user(str((body.get("user") or {}).get("id") or ""))
    await asyncio.to_thread(surface.runtime.access.record, actor=user, via="slack", action="audit.read",
                            outcome="denied_403", surface="slack",
                            target=f"{WHY_TARGET} {note_id}" if note_id else WHY_TARGET)
    logger.warning("slack note refused: the button's value is not this message's note team=%s", context.team_id)
    if body.get("response_url"):
        try:
            await respond(text=":no_entry_sign: This button shows only the transparency note of the message it is "
                               "on, and this one does not match its message. The reference under an answer "
                               "(`Ref …`) is what an auditor looks up (`/decorum audit REF`).",
                          response_type="ephemeral", replace_original=False)
        except Exception as exc:  # the refusal stands even when it cannot be shown
            logger.warning("slack note refusal not shown: %s", exc.__class__.__name__)


async def find_note(surface: SlackSurface, note_id: str, team: str | None) -> dict[str, Any] | None:
    """The note ``note_id`` when it belongs to ``team`` (a button never reveals another workspace's note)."""
    if not note_id or len(note_id) > 40:
        return None
    try:
        note = await asyncio.to_thread(surface.runtime.audit.get, note_id)
    except UsageError:
        return None
    slack = note.get("slack") or {}
    if team and slack.get("team") and slack.get("team") != team:
        return None
    return note
