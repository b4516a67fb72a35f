"""The form kit of the Slack admin features: Block Kit pieces, modals and their submissions, command words,
replies, and the permission check a form or button makes. prompts_admin, knowledge_admin and policy_admin build
their modals and commands from these; nothing here knows templates, entries or the live configuration.

A change a form submits runs in a thread: answered in the ack when it finishes within ``SUBMIT_BUDGET_S`` (Slack
waits 3 s), else the modal says "working" and gets the outcome by ``views.update`` (``submit_change``); a command's
change likewise (``run_change``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.access import Principal
from decorum.bot import messages
from decorum.bot.note import new_id
from decorum.bot.slack.blocks import MODAL_BLOCKS, SECTION_CHARS, escape, split_text, unescape
from decorum.bot.slack.commands import SlashCommand, user_principal
from decorum.errors import DecorumError, Forbidden, Unauthenticated, UsageError
from decorum.prompts.registry import MAX_REASON

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

VIEW_INFO = "decorum_prompts_info"


# input block ids; the element inside each has action_id INPUT
B_NAME, B_YAML, B_SYSTEM, B_MESSAGE = "name", "yaml", "system", "message"
B_VERSION, B_LABEL, B_REASON, B_OVERRIDE = "version", "label", "reason", "override"
B_FROM, B_TO = "from", "to"
INPUT = "input"
TEXT_INPUT_CHARS = 3000  # Slack's plain_text_input max_length
MESSAGE_CHARS = 1000  # a version's message (the CLI's --message)
LABEL_CHARS = 64
OPTION_CHARS = 75  # an option's text
MAX_OPTIONS = 100  # a static_select's options
DIFF_CHARS = 10_000  # diff text shown in a modal or a message
SHOW_CHARS = 10_000
ERROR_CHARS = 1000  # a field error in a modal
SUBMIT_BUDGET_S = 2.0  # registry work done before the ack (Slack waits 3 s)
FREE_TEXT_OPTIONS = ("--reason", "--message")  # options whose value is every word up to the next option
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


def refused_text(permission: str, who: Principal | None, reason: str = "") -> str:
    text = messages.slack_refused(permission, who.role if who else None, reason)
    return text + " Roles come from the team's Decorum admin (`access.slack_roles`)."


def checks_state(checks: dict[str, Any] | None) -> str:
    """The CLI's words for a version's template checks."""
    return "unchecked" if checks is None else ("checks ok" if checks.get("passed", True) else "checks FAILED")


def modal_words(text: str) -> str:
    """The registry's refusals name CLI flags; in a modal they are a box and a field."""
    return (text.replace("--override --reason TEXT", "an admin's override with a reason")
            .replace("--reason TEXT", "a reason").replace("--override", "the override box"))


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def who_text(name: str, me: Principal | None) -> str:
    if me is not None and name == me.name:
        return "you"
    return name[:13] + "…" if name.startswith("hmac:") and len(name) > 14 else name


def plain(text: str, limit: int = OPTION_CHARS) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": True}


def section_block(text: str, *, block_id: str | None = None, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_CHARS]}}
    if block_id:
        out["block_id"] = block_id
    if accessory:
        out["accessory"] = accessory
    return out


def section_blocks(text: str, room: int, cut_note: str) -> list[dict[str, Any]]:
    """``text`` as sections, at most ``room`` of them; when it does not fit, the last one says so."""
    pieces = split_text(text)
    if len(pieces) > room:
        pieces = [*pieces[:room - 1], cut_note]
    return [section_block(p) for p in pieces]


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:2000]}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "text": plain(text), "action_id": action_id, "value": value}
    if style:
        out["style"] = style
    return out


def text_input(block_id: str, label: str, *, initial: str | None = None, multiline: bool = False,
                max_length: int = TEXT_INPUT_CHARS, optional: bool = False, hint: str | None = None,
                placeholder: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": INPUT, "multiline": multiline,
                               "max_length": max_length}
    if initial is not None:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    out: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element,
                           "optional": optional}
    if hint:
        out["hint"] = plain(hint, 2000)
    return out


def option(value: str, text: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def select_block(block_id: str, label: str, options: Sequence[tuple[str, str]], initial: str | None,
            hint: str | None = None) -> dict[str, Any]:
    opts = [option(v, t) for v, t in options[:MAX_OPTIONS]]
    element: dict[str, Any] = {"type": "static_select", "action_id": INPUT, "options": opts}
    chosen = next((o for o in opts if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    out: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(label, 2000), "element": element}
    if hint:
        out["hint"] = plain(hint, 2000)
    return out


def modal(title: str, blocks: list[dict[str, Any]], *, callback_id: str = VIEW_INFO, submit: str | None = None,
           meta: dict[str, Any] | None = None, close: str = "Close") -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "callback_id": callback_id, "title": plain(title, 24),
                            "close": plain(close, 24), "blocks": blocks[:MODAL_BLOCKS]}
    if submit:
        view["submit"] = plain(submit, 24)
    if meta is not None:
        view["private_metadata"] = json.dumps(meta, separators=(",", ":"))
    return view


def info_modal(title: str, text: str) -> dict[str, Any]:
    """A read-only modal: a refusal explained, a result, something that cannot be done here."""
    return modal(title, section_blocks(text, MODAL_BLOCKS, "_(cut)_"))


def code_text(text: str, limit: int, cut_note: str) -> str:
    """``text`` as a mrkdwn code block of at most about ``limit`` characters, cut at a line and saying so."""
    too_long = len(text) > limit
    if too_long:
        text = text[:limit]
        text = text[:text.rfind("\n") + 1] or text
    body = escape(text.rstrip("\n").replace("```", "`\u200b`\u200b`"))  # a fence inside would end the block
    return f"```\n{body}\n```" + (f"\n{cut_note}" if too_long else "")


async def check_allowed(surface: SlackSurface, who: Principal | None, user: str, permission: str,
                   target: str) -> str | None:
    """None when ``who`` holds ``permission``; otherwise why not, the refusal recorded (as ``commands.require``)."""
    if who is not None and who.can(permission):
        return None
    access = surface.runtime.access
    if who is None:  # Slack vouches for the person; they hold no role: a 403
        actor = surface.runtime.pseudonymiser.user(user)
        await asyncio.to_thread(access.record, actor=actor, via="slack", action=permission, outcome="denied_403",
                                surface="slack", target=target)
        return refused_text(permission, None)
    try:
        await asyncio.to_thread(access.require, who, permission, surface="slack", target=target)
    except (Unauthenticated, Forbidden) as exc:
        return refused_text(permission, who, str(exc))
    return None


async def form_principal(surface: SlackSurface, ack: AsyncAck, client: AsyncWebClient, body: dict[str, Any],
                          team: str | None, permission: str, target: str, block: str) -> tuple[Principal, str] | None:
    """The submitter of a form and their Slack user id when they hold ``permission``; otherwise the refusal is
    acked as an error under ``block`` (and recorded) and None."""
    user = str((body.get("user") or {}).get("id") or "")
    who = await user_principal(surface, client, user, team)
    refusal = await check_allowed(surface, who, user, permission, target)
    if refusal is not None or who is None:
        await ack(response_action="errors", errors={block: cut(refusal or "", ERROR_CHARS)})
        return None
    return who, user


class FieldError(UsageError):
    """A refusal that belongs to one field of the submitted form."""

    def __init__(self, block: str, message: str) -> None:
        super().__init__(message)
        self.block = block


def reason_errors(reason: str, override: bool) -> dict[str, str]:
    """The reason field's error, if any: too long, or missing where an override needs one."""
    if len(reason) > MAX_REASON:
        return {B_REASON: f"{len(reason)} characters; the limit is {MAX_REASON}"}
    if override and not reason:
        return {B_REASON: "an override needs a reason (recorded with the change)"}
    return {}


def field_for(block: str) -> Callable[[Exception], str]:
    """Where a form's refusal is shown: a ``FieldError``'s own field, a role refusal under the message, else
    ``block``."""
    def where(exc: Exception) -> str:
        if isinstance(exc, FieldError):
            return exc.block
        return B_MESSAGE if isinstance(exc, (Forbidden, Unauthenticated)) else block

    return where


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """``{block_id: value}`` of a submitted view: text, a select's value, checkboxes' values."""
    out: dict[str, Any] = {}
    for block_id, elements in ((view.get("state") or {}).get("values") or {}).items():
        el = elements.get(INPUT) or {}
        kind = el.get("type")
        if kind == "plain_text_input":
            out[block_id] = el.get("value") or ""
        elif kind == "static_select":
            out[block_id] = (el.get("selected_option") or {}).get("value")
        elif kind == "checkboxes":
            out[block_id] = [o.get("value") for o in el.get("selected_options") or []]
    return out


def form_meta(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def error_text(exc: Exception, who: Principal | None) -> str:
    if isinstance(exc, (Forbidden, Unauthenticated)):
        return refused_text("", who, str(exc))
    return cut(modal_words(str(exc)), ERROR_CHARS)


async def submit_change(ack: AsyncAck, client: AsyncWebClient, view: dict[str, Any], started: float, who: Principal,
                  call: Callable[[], Any], *, block_for: Callable[[Exception], str],
                  done: Callable[[Any], dict[str, Any]]) -> Any:
    """Run ``call`` (blocking) and answer the submission: field errors, or the modal updated to ``done(result)``.

    Past ``SUBMIT_BUDGET_S`` the modal shows "working" and gets the outcome by ``views.update``. Returns the
    result, or None when refused.
    """
    task = asyncio.ensure_future(asyncio.to_thread(call))
    finished, _ = await asyncio.wait({task}, timeout=max(0.0, SUBMIT_BUDGET_S - (time.monotonic() - started)))
    if finished:
        exc = task.exception()
        if exc is None:
            await ack(response_action="update", view=done(task.result()))
            return task.result()
        if isinstance(exc, DecorumError):
            await ack(response_action="errors", errors={block_for(exc): error_text(exc, who)})
            return None
        await ack(response_action="update", view=failed_modal(exc))
        return None
    await ack(response_action="update", view=info_modal("Working…", ":hourglass_flowing_sand: Working on it: "
                                                                    "the outcome appears here in a moment."))
    result = None
    try:
        result = await task
        final = done(result)
    except DecorumError as exc:
        final = info_modal("Not done", f":no_entry_sign: {escape(error_text(exc, who))}\nNothing was changed.")
    except Exception as exc:
        final = failed_modal(exc)
    try:
        await client.views_update(view_id=str(view.get("id")), view=final)
    except SlackApiError as exc:
        logger.warning("slack views.update failed error=%s", exc.response.get("error"))
    return result


def failed_modal(exc: BaseException) -> dict[str, Any]:
    ref = new_id()
    logger.error("slack prompts change failed ref=%s error=%s", ref, exc.__class__.__name__)
    return info_modal("Not done", messages.apology(ref))


def command_words(args: str) -> list[str]:
    """The command's words: Slack's escapes undone, curly quotes made straight."""
    return unescape(args).translate(_QUOTES).split()


def command_options(words: list[str], *, flags: Sequence[str] = (), switches: Sequence[str] = ()
             ) -> tuple[list[str], dict[str, str]]:
    """Positional words and ``--flag VALUE`` options; ``--reason`` and ``--message`` take every word up to the
    next option."""
    positional: list[str] = []
    opts: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in switches:
            opts[word] = "yes"
            i += 1
        elif word in flags:
            j = i + 1
            while j < len(words) and not words[j].startswith("--") and (word in FREE_TEXT_OPTIONS or j == i + 1):
                j += 1
            value = " ".join(words[i + 1:j]).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1].strip()
            if not value:
                raise UsageError(f"{word} needs a value")
            opts[word] = value
            i = j
        elif word.startswith("--"):
            known = ", ".join([*flags, *switches]) or "none"
            raise UsageError(f"unknown option {word!r}; here: {known}")
        else:
            positional.append(word)
            i += 1
    return positional, opts


def refusal_text(exc: DecorumError, who: Principal | None, permission: str) -> str:
    if isinstance(exc, (Forbidden, Unauthenticated)):
        return refused_text(permission, who, str(exc))
    return f":no_entry_sign: {escape(str(exc))}"


async def reply(cmd: SlashCommand, text: str) -> None:
    await cmd.ack(**ephemeral_message(text))


async def reply_later(cmd: SlashCommand, text: str) -> None:
    await cmd.respond(**ephemeral_message(text), replace_original=False)


def ephemeral_message(text: str) -> dict[str, Any]:
    pieces = split_text(text)[:45]
    return {"text": cut(text, 3000), "blocks": [section_block(p) for p in pieces], "response_type": "ephemeral"}


async def run_change(cmd: SlashCommand, who: Principal, permission: str, call: Callable[[], Any],
                      ok: Callable[[Any], str], working: str) -> Any:
    """A registry change from the command: answered in the ack when quick, else acked and answered by response_url."""
    started = time.monotonic()
    task = asyncio.ensure_future(asyncio.to_thread(call))
    finished, _ = await asyncio.wait({task}, timeout=max(0.0, SUBMIT_BUDGET_S - (time.monotonic() - started)))
    send = reply
    if not finished:
        await cmd.ack(text=f":hourglass_flowing_sand: {working}")
        send = reply_later
    try:
        result = await task
    except DecorumError as exc:
        await send(cmd, refusal_text(exc, who, permission))
        return None
    await send(cmd, ok(result))
    return result
