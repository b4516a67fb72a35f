"""The knowledge base in Slack: App Home shows the drafts waiting to be published and the entries changed lately;
a publisher publishes a draft from there.

Writing entries stays in the console (Knowledge page) and ``decorum knowledge``: an entry's body is an article,
and its refusal by the guardrails is read beside the form. Slack is where a publisher sees what waits and
publishes it, through the registry acting for Slack (``Runtime.knowledge_registry("slack")``), which checks the
person's role (``access.slack_roles``, workspace admins), refuses failed checks without an admin's override and
a reason, applies four eyes, and records the publish as a knowledge event and an audit record with verdict
``change``. As in ``prompts_admin`` (whose Block Kit and submission helpers this module uses): the button opens a
modal, or one that explains a refusal; the submission is answered within Slack's 3 seconds with a field error or
the modal updated to the outcome.

Ids: the App Home button ``decorum_knowledge_publish`` (value ``ID@VERSION``, in the block
``decorum_knowledge:ID``); the modal (callback id) ``decorum_knowledge_publish`` with JSON ``private_metadata``;
read-only ones are ``decorum_prompts_info``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.access import Principal
from decorum.bot.note import new_id
from decorum.bot.slack.blocks import escape
from decorum.bot.slack.commands import refresh_home, user_principal
from decorum.bot.slack.forms import (
    B_OVERRIDE,
    B_REASON,
    INPUT,
    button,
    check_allowed,
    checks_state,
    context_block,
    cut,
    form_meta,
    form_principal,
    form_values,
    info_modal,
    modal,
    plain,
    reason_errors,
    refused_text,
    section_block,
    submit_change,
    text_input,
    who_text,
)
from decorum.errors import DecorumError
from decorum.knowledge.base import ID_RE, Entry
from decorum.knowledge.registry import MAX_REASON, KnowledgeRegistry

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

ACTION_PUBLISH = "decorum_knowledge_publish"
VIEW_PUBLISH = "decorum_knowledge_publish"
HOME_BLOCK = "decorum_knowledge:"  # + entry id: a draft's row
HOME_DRAFTS = 6  # drafts listed, one block each (App Home holds 100 blocks in all)
HOME_RECENT = 5  # entries changed lately, in one block
BODY_CHARS = 1500  # the draft's body shown in the publish modal
_REF = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]{0,63})@(?P<version>[0-9]{1,9})$")


def _no_role_home() -> str:
    return ("The knowledge base (the articles helpdesk answers cite) is managed by people with a Decorum role: "
            "editors write entries in the console, publishers publish them here or there.")


# --- App Home ------------------------------------------------------------------------------------------


def _home_data(reg: KnowledgeRegistry) -> dict[str, Any]:
    """The drafts waiting (newest first, with their latest version's record) and the last changes (blocking)."""
    store = reg.store
    rows = sorted(store.overview(), key=lambda r: r["updated_at"], reverse=True)
    drafts = [r for r in rows if r["published"] is None or r["latest"] > r["published"]]
    for r in drafts[:HOME_DRAFTS]:
        info = store.version_info(r["id"])[-1]
        r.update(author=info["author"], created_at=info["created_at"], checks=info["checks"])
    recent = []
    for r in rows:
        if len(recent) == HOME_RECENT:
            break
        event = store.events(r["id"])[-1]
        if event["actor"] == "seed":  # entries change after the seed: every older one is seeded too
            break
        recent.append({**r, "event": event})
    return {"total": len(rows), "drafts": drafts, "recent": recent}


def home_section(data: dict[str, Any], who: Principal | None) -> list[dict[str, Any]]:
    """App Home's knowledge base: the drafts waiting (a Publish button each, for publishers) and the last changes."""
    out: list[dict[str, Any]] = [{"type": "divider"}, {"type": "header", "text": plain("Knowledge base", 150)}]
    if who is None or not who.can("knowledge.read"):
        return [*out, context_block(_no_role_home())]
    drafts = data["drafts"]
    publisher = who.can("knowledge.publish")
    out.append(section_block(
        f"Helpdesk answers cite each entry's *published* version. {data['total']} entries, "
        f"{len(drafts)} with a draft waiting to be published. Your role: *{who.role}*. Entries are written in the "
        "console (Knowledge) or with `decorum knowledge`; every change is recorded in the audit log."))
    for r in drafts[:HOME_DRAFTS]:
        served = f"published v{r['published']}" if r["published"] else "never published"
        head = " · ".join([f"*{escape(r['title'])}* (`{r['id']}`)",
                           f"draft v{r['latest']} ({checks_state(r['checks'])})", served])
        text = f"{head}\nby {escape(who_text(r['author'], who))} at {r['created_at'][:16].replace('T', ' ')}"
        publish = button(f"Publish v{r['latest']}", ACTION_PUBLISH, f"{r['id']}@{r['latest']}", "primary")
        out.append(section_block(text, block_id=HOME_BLOCK + r["id"], accessory=publish if publisher else None))
    if len(drafts) > HOME_DRAFTS:
        out.append(context_block(f"{len(drafts) - HOME_DRAFTS} more drafts: the console's Knowledge page, or "
                            "`decorum knowledge list`"))
    if data["recent"]:
        lines = []
        for r in data["recent"]:
            e = r["event"]
            move = f"v{e['from_version']} → v{e['version']}" if e["from_version"] else f"v{e['version']}"
            lines.append(f"• *{escape(r['title'])}* (`{r['id']}`): {e['action']} {move} by "
                         f"{escape(who_text(e['actor'], who))}, {e['at'][:16].replace('T', ' ')}")
        out.append(section_block("*Changed lately*\n" + "\n".join(lines)))
    elif not drafts:
        out.append(context_block("No change since the knowledge base was seeded."))
    return out


async def home_blocks(surface: SlackSurface, client: AsyncWebClient, user: str,
                      team: str | None) -> list[dict[str, Any]]:
    """The knowledge part of ``user``'s App Home (a line for people without a role)."""
    try:
        who = await user_principal(surface, client, user, team)
        data = await asyncio.to_thread(_home_data, _registry(surface)) if who is not None else {}
        return home_section(data, who)
    except Exception as exc:  # the rest of Home is shown whatever happens here
        ref = new_id()
        logger.error("slack home knowledge failed team=%s ref=%s error=%s", team, ref, exc.__class__.__name__)
        return [{"type": "divider"},
                context_block(f"The knowledge base could not be listed just now; reference {ref}.")]


# --- publishing ----------------------------------------------------------------------------------------


def _registry(surface: SlackSurface) -> KnowledgeRegistry:
    return surface.runtime.knowledge_registry("slack")


def publish_modal(entry: Entry, info: dict[str, Any], published: int | None, who: Principal, *,
                  four_eyes: bool) -> dict[str, Any]:
    """The draft's title, body and checks; a reason and (for admins) the override of failed checks."""
    now = f"v{published} is served now" if published else "nothing is served yet"
    body = cut(entry.body, BODY_CHARS)
    lines = [f"*{escape(entry.title)}* (`{entry.ref}`, {checks_state(info['checks'])}; {now})",
             f"by {escape(who_text(info['author'], who))}"
             + (f": _{escape(info['message'])}_" if info["message"] else ""),
             "\n".join(f"> {escape(line)}" for line in body.splitlines() if line.strip())]
    failed = [r for r in (info["checks"] or {}).get("results") or [] if not r.get("passed")]
    if failed:
        lines.append(":warning: *Checks FAILED* when it was saved: " + ", ".join(
            f"{r['check']} {r['score']:.2f} on {r['field']}" for r in failed[:5])
            + ". Publishing it needs an admin's override and a reason.")
    blocks = [section_block("\n".join(lines)),
              text_input(B_REASON, "Reason (recorded)", multiline=True, max_length=MAX_REASON, optional=True)]
    if who.can("override"):
        blocks.append({"type": "input", "block_id": B_OVERRIDE, "optional": True,
                       "label": plain("Override (admin)", 2000), "element": {
                           "type": "checkboxes", "action_id": INPUT, "options": [{
                               "text": plain("Publish even if its checks failed"), "value": "override",
                               "description": plain("Needs a reason; recorded with the change", 75)}]}})
    notes = ["Answers cite the published version in every process within a few seconds."]
    if four_eyes:
        notes.append("*Four eyes* is on: nobody publishes a version they wrote.")
    blocks.append(context_block("\n".join(notes)))
    return modal("Publish an entry", blocks, callback_id=VIEW_PUBLISH, submit="Publish",
                  meta={"id": entry.id, "version": entry.version})


def _build(surface: SlackSurface, value: str, who: Principal) -> dict[str, Any]:
    """The publish modal for the button's ``ID@VERSION`` (blocking: database reads)."""
    m = _REF.match(value)
    if m is None:
        return info_modal("No such entry", f"{escape(value[:80])!r} is not an entry version.")
    reg = _registry(surface)
    entry_id, version = m["id"], int(m["version"])
    entry = reg.store.get(entry_id, version)  # EntryNotFound: "Not possible"
    published = reg.store.published_version(entry_id)
    latest = reg.store.versions(entry_id)[-1]
    if published == version:
        return info_modal("Already published", f"*{entry.ref}* is published already.")
    if latest != version:
        return info_modal("Out of date", f"*{entry_id}* has a newer version (v{latest}) than this button "
                                         f"(v{version}): open App Home again.")
    info = next(v for v in reg.store.version_info(entry_id) if v["version"] == version)
    return publish_modal(entry, info, published, who, four_eyes=reg.four_eyes)


async def open_publish(surface: SlackSurface, client: AsyncWebClient, value: str, user: str,
                       team: str | None) -> dict[str, Any]:
    """The modal the Publish button opens; a refusal explained when the role lacks the right."""
    who = await user_principal(surface, client, user, team)
    refusal = await check_allowed(surface, who, user, "knowledge.publish", value[:80])
    if refusal is not None or who is None:
        return info_modal("Not allowed", refusal or refused_text("knowledge.publish", None))
    try:
        return await asyncio.to_thread(_build, surface, value, who)
    except DecorumError as exc:
        return info_modal("Not possible", escape(str(exc)))


async def submit_publish(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                         client: AsyncWebClient, team: str | None) -> None:
    started = time.monotonic()
    meta, values = form_meta(view), form_values(view)
    entry_id, version = str(meta.get("id") or ""), meta.get("version")
    if not ID_RE.match(entry_id) or not isinstance(version, int):
        await ack(response_action="update", view=info_modal("Not done", "This form is out of date; open it again."))
        return
    reason, override = (values.get(B_REASON) or "").strip(), "override" in (values.get(B_OVERRIDE) or [])
    errors = reason_errors(reason, override)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    allowed = await form_principal(surface, ack, client, body, team, "knowledge.publish", entry_id, B_REASON)
    if allowed is None:
        return
    who, user = allowed
    reg = _registry(surface)

    def publish() -> Entry:
        return reg.publish(entry_id, version, by=who, reason=reason, override=override)

    def done(entry: Entry) -> dict[str, Any]:
        return info_modal("Published", f":white_check_mark: *{escape(entry.title)}* (`{entry.ref}`) is published"
                                       f"{' (checks overridden)' if override else ''}. Answers cite it from now on.")

    entry = await submit_change(ack, client, view, started, who, publish, block_for=lambda exc: B_REASON, done=done)
    if entry is not None:
        logger.info("slack knowledge published %s team=%s", entry.ref, team)
        await refresh_home(surface, client, user, team)




# --- wiring --------------------------------------------------------------------------------------------


def register(bolt: AsyncApp, surface: SlackSurface) -> None:
    """App Home's Publish button and its modal's submission."""
    surface.features.add_home(home_blocks)

    @bolt.action(ACTION_PUBLISH)
    async def on_publish_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                                client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await ack()
        value = str(action.get("value") or "")[:100]
        user = str((body.get("user") or {}).get("id") or "")
        view = await open_publish(surface, client, value, user, context.team_id)
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except SlackApiError as exc:
            logger.warning("slack views.open failed team=%s error=%s", context.team_id, exc.response.get("error"))
        logger.info("slack knowledge publish opened team=%s", context.team_id)

    @bolt.view(VIEW_PUBLISH)
    async def on_publish_submission(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                    client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await submit_publish(surface, ack, body, view, client, context.team_id)
