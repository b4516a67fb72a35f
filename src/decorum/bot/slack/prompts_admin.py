"""Prompt templates in Slack: App Home lists them; its buttons open modals that edit, compare, publish and roll back.

``/decorum prompts ...`` mirrors ``decorum prompts`` for quick actions. Every change goes through the registry
acting for Slack (``Runtime.template_registry("slack")``): it checks the person's role (``access.slack_roles``,
workspace admins) and writes each change as a new version or label move, a template event and an audit record
with verdict ``change``, which ``decorum audit verify`` covers. Authors and actors are Slack pseudonyms.

A modal's submission is answered within Slack's 3 seconds, with the registry's answer: a refusal (bad YAML,
template injection, failed checks or tests, four eyes, a role that lacks the right) comes back as a field error
in the modal (``response_action: errors``), a success as the modal updated to say what happened. A registry call
that outlasts ``SUBMIT_BUDGET_S`` (a publish that runs the version's test cases first) gets a "working" view and
then ``views.update`` with the outcome. Opening a modal the person's role does not allow opens one that says so.

Ids: App Home buttons ``decorum_prompts_{create,edit,history,diff,publish,rollback}`` (value: the template name);
modals (callback ids) ``decorum_prompts_{edit,diff,publish,rollback}`` with JSON ``private_metadata``, and
``decorum_prompts_info`` for the read-only ones (history, results, refusals).

Example::

    /decorum prompts publish faq@3 --reason reviewed with legal
    /decorum prompts edit faq        # opens the edit modal
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.access import Principal
from decorum.bot.note import new_id
from decorum.bot.slack.blocks import MODAL_BLOCKS, escape
from decorum.bot.slack.commands import COMMAND, SlashCommand, home_for, require, user_principal
from decorum.bot.slack.forms import (
    B_FROM,
    B_LABEL,
    B_MESSAGE,
    B_NAME,
    B_OVERRIDE,
    B_REASON,
    B_SYSTEM,
    B_TO,
    B_VERSION,
    B_YAML,
    DIFF_CHARS,
    ERROR_CHARS,
    INPUT,
    LABEL_CHARS,
    MESSAGE_CHARS,
    SHOW_CHARS,
    TEXT_INPUT_CHARS,
    FieldError,
    button,
    check_allowed,
    checks_state,
    code_text,
    command_options,
    command_words,
    context_block,
    cut,
    ephemeral_message,
    field_for,
    form_meta,
    form_principal,
    form_values,
    info_modal,
    modal,
    plain,
    reason_errors,
    refusal_text,
    refused_text,
    reply,
    run_change,
    section_block,
    section_blocks,
    select_block,
    submit_change,
    text_input,
    who_text,
)
from decorum.errors import DecorumError, UsageError
from decorum.prompts.base import NAME_RE, PRODUCTION, Template, TemplateRef
from decorum.prompts.registry import LABEL_RE, MAX_REASON, Registry
from decorum.prompts.yaml_format import dump_template, parse_yaml, template_from_data

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

ACTION_CREATE = "decorum_prompts_create"
ACTION_EDIT = "decorum_prompts_edit"
ACTION_HISTORY = "decorum_prompts_history"
ACTION_DIFF = "decorum_prompts_diff"
ACTION_PUBLISH = "decorum_prompts_publish"
ACTION_ROLLBACK = "decorum_prompts_rollback"
# button -> what it opens
ACTIONS = {ACTION_CREATE: "create", ACTION_EDIT: "edit", ACTION_HISTORY: "history", ACTION_DIFF: "diff",
           ACTION_PUBLISH: "publish", ACTION_ROLLBACK: "rollback"}
# what a modal does -> the permission it needs
PERMISSIONS = {"create": "templates.edit", "edit": "templates.edit", "history": "templates.read",
               "diff": "templates.read", "publish": "templates.publish", "rollback": "templates.rollback"}

VIEW_EDIT = "decorum_prompts_edit"
VIEW_DIFF = "decorum_prompts_diff"
VIEW_PUBLISH = "decorum_prompts_publish"
VIEW_ROLLBACK = "decorum_prompts_rollback"

HOME_BLOCK = "decorum_prompts:"  # + template name: the row's section and (with "actions:") its buttons

HOME_TEMPLATES = 30  # App Home rows (two blocks each, within Home's 100)
NEW_TEMPLATE = ("description: ''\nsystem: |\n  You are a helpful assistant. Answer briefly and clearly.\n"
                "user: '{{ question }}'\n")


# --- what people read ----------------------------------------------------------------------------------


def _no_role_home() -> str:
    return ("Prompt templates are managed here by people with a Decorum role (viewers read them, editors write "
            f"new versions, publishers publish). `{COMMAND} role` shows yours.")


def _failed_checks(checks: dict[str, Any] | None) -> list[str]:
    return [f"{r['check']} on {r['field']}: {r['explanation']}" for r in (checks or {}).get("results") or []
            if not r.get("passed")]


def _labels_text(labels: dict[str, int]) -> str:
    return ", ".join(f"{k} v{v}" for k, v in sorted(labels.items(), key=lambda kv: kv[0] != PRODUCTION)) or "none"


def _prompts_help() -> str:
    c = f"{COMMAND} prompts"
    return (f"*`{c}`*: prompt templates, as `decorum prompts` on the server (App Home has buttons for the same).\n"
            f"• `{c} list` · `show NAME[@V]` · `history NAME` · `diff NAME@A NAME@B`: read them (viewer)\n"
            f"• `{c} create [NAME]` · `edit NAME`: a form for a new version (editor)\n"
            f"• `{c} test NAME[@V]`: run its test cases through the real path (editor)\n"
            f"• `{c} publish NAME@V [LABEL] [--reason TEXT] [--override]`: point a label (default production) at "
            "a version (publisher; `--override` publishes over failed checks: admin, with a reason)\n"
            f"• `{c} rollback NAME [LABEL] [--reason TEXT]`: move the label back to its previous version (publisher)")


# --- Block Kit -----------------------------------------------------------------------------------------


def _diff_note(a: str, b: str, text: str, limit: int) -> str:
    shown = text[:limit].count("\n")
    return (f"_Diff cut: {shown} of {text.count(chr(10))} lines shown. The whole diff: "
            f"`decorum prompts diff {a} {b}` on the server._")


# --- App Home ------------------------------------------------------------------------------------------


def _home_rows(reg: Registry) -> list[dict[str, Any]]:
    rows = reg.store.overview()
    for r in rows[:HOME_TEMPLATES]:
        infos = reg.store.version_info(r["name"])
        r["latest_state"] = checks_state(infos[-1]["checks"]) if infos else "unchecked"
    return rows


def home_section(rows: list[dict[str, Any]], who: Principal | None) -> list[dict[str, Any]]:
    """App Home's templates: one row each (labels, latest version, description) with its buttons."""
    out: list[dict[str, Any]] = [{"type": "divider"}, {"type": "header", "text": plain("Prompt templates", 150)}]
    if who is None or not who.can("templates.read"):
        return [*out, context_block(_no_role_home())]
    out.append(section_block(
        f"Answers use each template's *production* version. Your role: *{who.role}*. Editing makes a new version "
        f"(a draft until published); each change is recorded in the audit log. `{COMMAND} prompts help` lists "
        "the same actions as commands.",
        accessory=button("New template", ACTION_CREATE, "new")))
    for r in rows[:HOME_TEMPLATES]:
        name = r["name"]
        prod = f"production v{r['production']}" if r["production"] else "unpublished"
        others = [f"{k} v{v}" for k, v in r["labels"].items() if k != PRODUCTION]
        state = r.get("latest_state", "")
        head = " · ".join([f"*{name}*", prod, f"latest v{r['latest']}" + (f" ({state})" if state else ""), *others])
        desc = escape(r["description"]) if r["description"] else "_no description_"
        out.append(section_block(f"{head}\n{desc}", block_id=HOME_BLOCK + name))
        out.append({"type": "actions", "block_id": f"{HOME_BLOCK}actions:{name}", "elements": [
            button("Edit", ACTION_EDIT, name), button("History", ACTION_HISTORY, name),
            button("Diff", ACTION_DIFF, name), button("Publish", ACTION_PUBLISH, name, "primary"),
            button("Roll back", ACTION_ROLLBACK, name, "danger")]})
    if len(rows) > HOME_TEMPLATES:
        out.append(context_block(f"{len(rows) - HOME_TEMPLATES} more: `{COMMAND} prompts list`"))
    if not rows:
        out.append(context_block("No templates yet."))
    return out


async def home_blocks(surface: SlackSurface, client: AsyncWebClient, user: str,
                      team: str | None) -> list[dict[str, Any]]:
    """The templates part of ``user``'s App Home (nothing but a line for people without a role)."""
    try:
        who = await user_principal(surface, client, user, team)
        rows = await asyncio.to_thread(_home_rows, _registry(surface)) if who is not None else []
        return home_section(rows, who)
    except Exception as exc:  # the policy part of Home is shown whatever happens here
        ref = new_id()
        logger.error("slack home templates failed team=%s ref=%s error=%s", team, ref, exc.__class__.__name__)
        return [{"type": "divider"}, context_block(f"The templates could not be listed just now; reference {ref}.")]


async def refresh_home(surface: SlackSurface, client: AsyncWebClient, user: str, team: str | None) -> None:
    """Publish ``user``'s App Home again (after a change they made)."""
    try:
        await client.views_publish(user_id=user, view=await home_for(surface, client, user, team))
    except SlackApiError as exc:
        logger.warning("slack views.publish failed team=%s error=%s", team, exc.response.get("error"))


# --- the modals, as opened -----------------------------------------------------------------------------


def _registry(surface: SlackSurface) -> Registry:
    return surface.runtime.template_registry("slack")


def _version_options(infos: list[dict[str, Any]], labels: dict[str, int], me: Principal | None = None, *,
                     four_eyes: bool = False, archived: bool = False) -> list[tuple[str, str]]:
    """``(value, text)`` per version, newest first; archived ones only when ``archived``."""
    out = []
    for v in reversed(infos):
        if v.get("archived_at") and not archived:
            continue
        at = [k for k, n in labels.items() if n == v["version"]]
        parts = [f"v{v['version']}", checks_state(v["checks"]), *at] + (["archived"] if v.get("archived_at") else [])
        if four_eyes and me is not None and v["author"] == me.name:
            parts.append("you wrote it")
        out.append((str(v["version"]), " · ".join(parts)))
    return out


def edit_modal(name: str | None, latest: Template | None, *, message: str = "") -> dict[str, Any]:
    """The form for a new template (``latest`` None) or a new version of ``name``.

    The whole template is edited as YAML when it fits Slack's 3,000-character text box; otherwise only its
    ``system`` text, and a template whose ``system`` alone is longer is edited with the CLI.
    """
    msg_input = text_input(B_MESSAGE, "What changed and why (recorded)", initial=message or None,
                            max_length=MESSAGE_CHARS, placeholder="e.g. shorter steps, names the ticket portal")
    if latest is None:
        blocks = [
            section_block("A new template: version 1 is a draft until someone with the publisher role publishes it. "
                     "The YAML takes the fields of a template file (`system`, `user`, `variables`, `defaults`, "
                     "`generation`, `test_cases`, ...); the guardrail checks run on its text when you save."),
            text_input(B_NAME, "Name", initial=name or None, max_length=LABEL_CHARS,
                        hint="lower-case letters, digits, '-' and '_', starting with a letter"),
            text_input(B_YAML, "Template (YAML)", initial=NEW_TEMPLATE, multiline=True),
            text_input(B_MESSAGE, "Why (recorded)", initial=message or "created", max_length=MESSAGE_CHARS)]
        return modal("New template", blocks, callback_id=VIEW_EDIT, submit="Save", meta={"mode": "create"})
    assert name is not None
    text = dump_template(replace(latest, legacy=False))
    meta = {"mode": "yaml", "name": name, "base": latest.version}
    intro = (f"A new version of *{name}* (now v{latest.version}). It is a draft until published; the guardrail "
             "checks run on its text when you save.")
    if len(text) <= TEXT_INPUT_CHARS:
        field = text_input(B_YAML, f"{name} (YAML)", initial=text, multiline=True)
    elif len(latest.system) <= TEXT_INPUT_CHARS:
        meta["mode"] = "system"
        intro += (f"\n:information_source: Its YAML has {len(text):,} characters, more than Slack's "
                  f"{TEXT_INPUT_CHARS:,}-character text box, so here you edit only its *system* text. For the other "
                  f"fields: `decorum prompts edit {name}` on the server.")
        field = text_input(B_SYSTEM, "System text", initial=latest.system, multiline=True)
    else:
        return info_modal("Edit template", f"*{name}*'s system text has {len(latest.system):,} characters, more "
                          f"than Slack's {TEXT_INPUT_CHARS:,}-character text box: edit it with `decorum prompts "
                          f"edit {name}` on the server.")
    return modal("Edit template", [section_block(intro), field, msg_input], callback_id=VIEW_EDIT, submit="Save",
                  meta=meta)


def history_modal(hist: dict[str, Any], me: Principal | None) -> dict[str, Any]:
    """Versions (newest first: author, time, message, checks, labels), then every label move and test run."""
    labels = hist["labels"]
    lines = []
    for v in reversed(hist["versions"]):
        at = [k for k, n in labels.items() if n == v["version"]]
        head = " · ".join([f"*v{v['version']}*", escape(str(v["created_at"])), escape(who_text(v["author"], me)),
                           checks_state(v["checks"]), *[f"`{k}`" for k in at]]
                          + (["archived"] if v.get("archived_at") else []))
        lines.append(head + (f"\n      _{escape(v['message'])}_" if v.get("message") else ""))
        lines += [f"      :warning: {escape(f)}" for f in _failed_checks(v["checks"])[:3]]
    moves = []
    for e in hist["events"]:
        if e["label"] is not None:
            move = (f"{e['label']} v{e['from_version']} → v{e['version']}" if e["from_version"]
                    else f"{e['label']} → v{e['version']}")
        elif e["action"] in ("test", "archive"):
            move = f"v{e['version']}" + (f" ({e['message']})" if e.get("message") else "")
        else:
            continue
        why = f": {e['reason']}" if e.get("reason") else ""
        moves.append(escape(f"{e['at']} · {e['action']} {move} by {who_text(e['actor'], me)}"
                            f"{' (override)' if e.get('override') else ''}{why}"))
    text = (f"*{hist['name']}* · labels: {_labels_text(labels)}\n\n*Versions*\n" + "\n".join(lines)
            + "\n\n*Label moves and test runs*\n" + ("\n".join(moves) or "_none yet_"))
    cut_note = f"_(cut: the whole history is `decorum prompts history {hist['name']}` on the server)_"
    return modal("Template history", section_blocks(text, MODAL_BLOCKS, cut_note))


def diff_modal(name: str, infos: list[dict[str, Any]], labels: dict[str, int], a: int | None, b: int | None,
               diff: str | None) -> dict[str, Any]:
    """Two version pickers and, below them, the unified diff of the two template files."""
    options = _version_options(infos, labels, archived=True)
    if len(infos) < 2:
        return info_modal("Compare versions", f"*{name}* has one version: there is nothing to compare yet.")
    blocks = [section_block(f"*{name}*: what changed between two versions (their template files, line by line)."),
              select_block(B_FROM, "From", options, str(a) if a else None),
              select_block(B_TO, "To", options, str(b) if b else None),
              {"type": "divider"}]
    if diff is not None and a and b:
        ra, rb = f"{name}@{a}", f"{name}@{b}"
        if diff:
            whole = f"_Diff cut: `decorum prompts diff {ra} {rb}` shows it all._"
            blocks += section_blocks(code_text(diff, DIFF_CHARS, _diff_note(ra, rb, diff, DIFF_CHARS)),
                                MODAL_BLOCKS - len(blocks), whole)
        else:
            blocks.append(section_block(f"{ra} and {rb} have the same content."))
    return modal("Compare versions", blocks, callback_id=VIEW_DIFF, submit="Compare", meta={"name": name})


def publish_modal(name: str, infos: list[dict[str, Any]], labels: dict[str, int], who: Principal, *,
                  four_eyes: bool) -> dict[str, Any]:
    """Version, label, reason and (for admins) the override of failed checks or tests."""
    options = _version_options(infos, labels, who, four_eyes=four_eyes)
    if not options:
        return info_modal("Publish a version", f"*{name}* has no version that can be published (all archived).")
    notes = ["Versions whose checks failed are drafts: publishing one needs an admin's override and a reason.",
             "A version with test cases has them run first (unless this content has a run already)."]
    if four_eyes:
        notes.append("*Four eyes* is on: nobody publishes a version they wrote.")
    blocks = [section_block(f"*{name}*: point a label at a version; answers use the version labelled *production*. "
                       f"Now: {_labels_text(labels)}."),
              select_block(B_VERSION, "Version", options, options[0][0]),
              text_input(B_LABEL, "Label", initial=PRODUCTION, max_length=LABEL_CHARS,
                          hint="production is what answers use; other labels (e.g. staging) serve on request"),
              text_input(B_REASON, "Reason (recorded)", multiline=True, max_length=MAX_REASON, optional=True)]
    if who.can("override"):
        blocks.append({"type": "input", "block_id": B_OVERRIDE, "optional": True,
                       "label": plain("Override (admin)", 2000), "element": {
                           "type": "checkboxes", "action_id": INPUT, "options": [{
                               "text": plain("Publish even if its checks or tests failed"), "value": "override",
                               "description": plain("Needs a reason; recorded with the change", 75)}]}})
    blocks.append(context_block("\n".join(notes)))
    return modal("Publish a version", blocks, callback_id=VIEW_PUBLISH, submit="Publish", meta={"name": name})


def rollback_modal(name: str, stacks: dict[str, list[int]]) -> dict[str, Any]:
    """The labels that have an earlier version, each shown as the move a rollback makes."""
    options = [(label, f"{label}: v{stack[-1]} → v{stack[-2]}") for label, stack in stacks.items() if len(stack) >= 2]
    if not options:
        return info_modal("Roll back a label", f"No label of *{name}* has an earlier version to roll back to.")
    initial = PRODUCTION if PRODUCTION in dict(options) else options[0][0]
    blocks = [section_block(f"*{name}*: move a label back to the version it pointed at before its latest publish."),
              select_block(B_LABEL, "Label", options, initial),
              text_input(B_REASON, "Reason (recorded)", multiline=True, max_length=MAX_REASON, optional=True)]
    return modal("Roll back a label", blocks, callback_id=VIEW_ROLLBACK, submit="Roll back", meta={"name": name})


def _default_pair(infos: list[dict[str, Any]], labels: dict[str, int]) -> tuple[int | None, int | None]:
    """What the diff modal compares first: production (or the one before) against the latest version."""
    if len(infos) < 2:
        return None, None
    latest = infos[-1]["version"]
    prod = labels.get(PRODUCTION)
    return (prod if prod and prod != latest else infos[-2]["version"]), latest


def _build(surface: SlackSurface, kind: str, name: str, who: Principal) -> dict[str, Any]:
    """The modal ``kind`` for template ``name`` (blocking: database reads)."""
    reg = _registry(surface)
    store = reg.store
    if kind == "create":
        return edit_modal(name or None, None)
    if not NAME_RE.match(name):
        return info_modal("No such template", f"{escape(name[:80])!r} is not a template name.")
    if name not in store.names():
        return info_modal("No such template", f"There is no template *{name}* (any more).")
    if kind == "edit":
        return edit_modal(name, store.latest(name))
    if kind == "history":
        return history_modal(reg.history(name), who)
    infos, labels = store.version_info(name), store.labels(name)
    if kind == "diff":
        a, b = _default_pair(infos, labels)
        diff = reg.diff(store.get(name, a), store.get(name, b)) if a and b else None
        return diff_modal(name, infos, labels, a, b, diff)
    if kind == "publish":
        return publish_modal(name, infos, labels, who, four_eyes=reg.config.four_eyes)
    if kind == "rollback":
        return rollback_modal(name, {label: reg.label_stack(name, label) for label in labels})
    raise AssertionError(kind)


async def open_view(surface: SlackSurface, client: AsyncWebClient, kind: str, name: str, user: str,
                    team: str | None) -> dict[str, Any]:
    """The modal a button (or ``/decorum prompts edit``) opens; a refusal explained when the role lacks the right."""
    who = await user_principal(surface, client, user, team)
    refusal = await check_allowed(surface, who, user, PERMISSIONS[kind], name or "(new)")
    if refusal is not None or who is None:
        return info_modal("Not allowed", refusal or refused_text(PERMISSIONS[kind], None))
    try:
        return await asyncio.to_thread(_build, surface, kind, name, who)
    except DecorumError as exc:
        return info_modal("Not possible", escape(str(exc)))


# --- the modals, as submitted ---------------------------------------------------------------------------


def _template_from_form(reg: Registry, mode: str, name: str, text: str, base: Any) -> Template:
    """The version a submitted edit form describes (blocking); a stale form or bad YAML is a ``FieldError``."""
    block = B_SYSTEM if mode == "system" else B_YAML
    if mode == "create":
        if name in reg.store.names():
            raise FieldError(B_NAME, f"{name} exists already: use Edit in App Home, or {COMMAND} prompts edit {name}")
        latest = None
    else:
        latest = reg.store.latest(name)
        if latest.version != base:
            raise FieldError(block, f"{name}@{latest.version} was saved after you opened this form (on v{base}); "
                                    "copy your text, close the form and open Edit again so that no change is lost")
    if mode == "system":
        assert latest is not None
        return replace(latest, version=0, system=text, legacy=False)
    try:
        tpl, _ = template_from_data(parse_yaml(text, f"{name}.yaml"), f"{name}.yaml", name=name)
    except DecorumError as exc:
        raise FieldError(block, str(exc)) from exc
    return tpl


def _saved_view(stored: Template, checks: dict[str, Any] | None, production: int | None) -> dict[str, Any]:
    now = f"answers still use {stored.name}@{production}" if production else "the template is not published yet"
    text = (f":white_check_mark: Saved *{stored.ref}* (sha256 `{stored.sha256[:12]}`). It is not published: {now}. "
            f"Publish it from App Home, or `{COMMAND} prompts publish {stored.ref}`.")
    failed = _failed_checks(checks)
    if failed:
        text += ("\n\n:warning: *Checks FAILED*\n" + "\n".join(f"• {escape(f)}" for f in failed[:5])
                 + "\nThis version is a draft: publishing it needs an admin's override with a reason.")
    elif checks is None:
        text += "\nThe template checks did not run on it (unchecked)."
    return info_modal("Template saved", text)


async def submit_edit(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                      client: AsyncWebClient, team: str | None) -> None:
    started = time.monotonic()
    meta, values = form_meta(view), form_values(view)
    mode = str(meta.get("mode") or "")
    if mode not in ("create", "yaml", "system"):
        await ack(response_action="update", view=info_modal("Not done", "This form is out of date; open it again."))
        return
    block = B_SYSTEM if mode == "system" else B_YAML
    name = (values.get(B_NAME) or "").strip() if mode == "create" else str(meta.get("name") or "")
    text, message = values.get(block) or "", (values.get(B_MESSAGE) or "").strip()
    errors = {}
    if not NAME_RE.match(name):
        errors[B_NAME if mode == "create" else block] = ("a template name is lower-case letters, digits, '-' and "
                                                         "'_', starting with a letter (at most 64)")
    if not text.strip():
        errors[block] = "empty: a template needs its text"
    if not message or len(message) > MESSAGE_CHARS:
        errors[B_MESSAGE] = f"say what changed and why (1 to {MESSAGE_CHARS} characters; recorded)"
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    allowed = await form_principal(surface, ack, client, body, team, "templates.edit", name, B_MESSAGE)
    if allowed is None:
        return
    who, user = allowed
    reg = _registry(surface)
    principal = who

    def save() -> tuple[Template, dict[str, Any] | None, int | None]:
        tpl = _template_from_form(reg, mode, name, text, meta.get("base"))
        stored = reg.save(tpl, action="create" if mode == "create" else "edit", by=principal, message=message)
        info = next(v for v in reg.store.version_info(name) if v["version"] == stored.version)
        return stored, info["checks"], reg.store.labels(name).get(PRODUCTION)

    result = await submit_change(ack, client, view, started, who, save, block_for=field_for(block),
                           done=lambda r: _saved_view(*r))
    if result is not None:
        logger.info("slack prompts saved %s team=%s", result[0].ref, team)
        await refresh_home(surface, client, user, team)


async def submit_publish(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                         client: AsyncWebClient, team: str | None) -> None:
    started = time.monotonic()
    name, values = str(form_meta(view).get("name") or ""), form_values(view)
    version, label = str(values.get(B_VERSION) or ""), (values.get(B_LABEL) or "").strip()
    reason, override = (values.get(B_REASON) or "").strip(), "override" in (values.get(B_OVERRIDE) or [])
    errors = {}
    if not version.isdigit():
        errors[B_VERSION] = "pick a version"
    if not LABEL_RE.match(label):
        errors[B_LABEL] = "a label is lower-case letters, digits, '-' and '_', starting with a letter"
    errors.update(reason_errors(reason, override))
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    allowed = await form_principal(surface, ack, client, body, team, "templates.publish", name, B_VERSION)
    if allowed is None:
        return
    who, user = allowed
    reg, principal = _registry(surface), who

    def publish() -> Template:
        return reg.publish(name, int(version), by=principal, label=label, reason=reason, override=override)

    def done(tpl: Template) -> dict[str, Any]:
        what = "Answers now use it." if label == PRODUCTION else f"Requests for the {label} label now get it."
        return info_modal("Published", f":white_check_mark: *{label}* → *{tpl.ref}*"
                                       f"{' (checks overridden)' if override else ''}. {what}")

    tpl = await submit_change(ack, client, view, started, who, publish, block_for=lambda exc: B_VERSION, done=done)
    if tpl is not None:
        logger.info("slack prompts published %s label=%s team=%s", tpl.ref, label, team)
        await refresh_home(surface, client, user, team)


async def submit_rollback(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                          client: AsyncWebClient, team: str | None) -> None:
    started = time.monotonic()
    name, values = str(form_meta(view).get("name") or ""), form_values(view)
    label, reason = str(values.get(B_LABEL) or ""), (values.get(B_REASON) or "").strip()
    if len(reason) > MAX_REASON:
        await ack(response_action="errors", errors=reason_errors(reason, False))
        return
    allowed = await form_principal(surface, ack, client, body, team, "templates.rollback", name, B_LABEL)
    if allowed is None:
        return
    who, user = allowed
    reg, principal = _registry(surface), who

    def rollback() -> Template:
        return reg.rollback(name, by=principal, label=label, reason=reason)

    def done(tpl: Template) -> dict[str, Any]:
        return info_modal("Rolled back", f":leftwards_arrow_with_hook: *{label}* → *{tpl.ref}* (rolled back).")

    tpl = await submit_change(ack, client, view, started, who, rollback, block_for=lambda exc: B_LABEL, done=done)
    if tpl is not None:
        logger.info("slack prompts rolled back %s label=%s team=%s", tpl.ref, label, team)
        await refresh_home(surface, client, user, team)


async def submit_diff(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                      client: AsyncWebClient, team: str | None) -> None:
    name, values = str(form_meta(view).get("name") or ""), form_values(view)
    a, b = str(values.get(B_FROM) or ""), str(values.get(B_TO) or "")
    if not (a.isdigit() and b.isdigit()) or a == b:
        await ack(response_action="errors", errors={B_TO: "pick two different versions"})
        return
    if await form_principal(surface, ack, client, body, team, "templates.read", name, B_FROM) is None:
        return
    reg = _registry(surface)

    def compare() -> dict[str, Any]:
        store = reg.store
        diff = reg.diff(store.get(name, int(a)), store.get(name, int(b)))
        return diff_modal(name, store.version_info(name), store.labels(name), int(a), int(b), diff)

    try:
        compared = await asyncio.to_thread(compare)
    except DecorumError as exc:
        await ack(response_action="errors", errors={B_FROM: cut(str(exc), ERROR_CHARS)})
        return
    await ack(response_action="update", view=compared)


# --- /decorum prompts -----------------------------------------------------------------------------------


def _one(positional: list[str], form: str, at_most: int = 1) -> list[str]:
    if not 1 <= len(positional) <= at_most:
        raise UsageError(f"usage: {COMMAND} prompts {form}")
    return positional


def _list_text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        prod = f"production v{r['production']}" if r["production"] else "unpublished"
        others = [f"{k} v{v}" for k, v in r["labels"].items() if k != PRODUCTION]
        desc = f" — {escape(r['description'])}" if r["description"] else ""
        lines.append("• " + " · ".join([f"*{r['name']}*", prod, f"latest v{r['latest']}", *others]) + desc)
    return "*Prompt templates*\n" + ("\n".join(lines) or "_none yet_")


def _show_text(reg: Registry, spec: str) -> str:
    ref = TemplateRef.parse(spec)
    store = reg.store
    version = ref.version or store.labels(ref.name).get(PRODUCTION)
    tpl = store.get(ref.name, version) if version else store.latest(ref.name)
    info = next(v for v in store.version_info(tpl.name) if v["version"] == tpl.version)
    labels = [k for k, v in store.labels(tpl.name).items() if v == tpl.version]
    head = " · ".join([f"*{tpl.ref}*", *[f"`{k}`" for k in labels], f"by {escape(who_text(info['author'], None))}",
                       escape(str(info["created_at"])), checks_state(info["checks"]), f"sha256 `{tpl.sha256[:12]}`"])
    text = dump_template(replace(tpl, legacy=False))
    note = f"_Cut: the whole version is `decorum prompts show {tpl.ref}` on the server._"
    return head + (f"\n_{escape(info['message'])}_" if info.get("message") else "") + "\n" + code_text(
        text, SHOW_CHARS, note)


def _history_text(reg: Registry, name: str) -> str:
    hist = reg.history(name)
    labels, lines = hist["labels"], []
    for v in hist["versions"]:
        at = [k for k, n in labels.items() if n == v["version"]]
        lines.append(f"v{v['version']:<3} {v['created_at']}  {who_text(v['author'], None):<20} "
                     f"{checks_state(v['checks']):<13} sha256 {v['sha256'][:12]}  "
                     f"{'[' + ', '.join(at) + '] ' if at else ''}{v['message']}")
    for e in hist["events"]:
        if e["label"] is None:
            continue
        move = (f"{e['label']} v{e['from_version']} -> v{e['version']}" if e["from_version"]
                else f"{e['label']} -> v{e['version']}")
        why = f": {e['reason']}" if e["reason"] else ""
        lines.append(f"{e['at']}  {e['action']:<8} {move} by {who_text(e['actor'], None)}"
                     f"{' (override)' if e['override'] else ''}{why}")
    note = f"_Cut: the whole history is `decorum prompts history {name}` on the server._"
    return f"*{name}* history\n" + code_text("\n".join(lines) + "\n", SHOW_CHARS, note)


def _diff_text(reg: Registry, spec_a: str, spec_b: str) -> str:
    a, b = TemplateRef.parse(spec_a), TemplateRef.parse(spec_b)
    if a.version is None or b.version is None:
        raise UsageError("diff takes two versions: NAME@A NAME@B")
    ta, tb = reg.store.get(a.name, a.version), reg.store.get(b.name, b.version)
    diff = reg.diff(ta, tb)
    if not diff:
        return f"{ta.ref} and {tb.ref} have the same content"
    return code_text(diff, DIFF_CHARS, _diff_note(ta.ref, tb.ref, diff, DIFF_CHARS))


def _tests_text(run: dict[str, Any], ref: str) -> str:
    results = run["results"]
    lines = [f"*{ref}*: {sum(r['passed'] for r in results)}/{len(results)} test cases passed"
             + ("" if results else " (it has none)")]
    for r in results:
        mark = "passed" if r["passed"] else "FAILED: " + "; ".join(r["failures"])
        lines.append(f"• case {r['case']} ({r['verdict']}): {escape(mark)}")
    return "\n".join(lines)


def _plain_name(spec: str) -> str:
    ref = TemplateRef.parse(spec)
    if ref.version is not None:
        raise UsageError(f"{spec!r}: expected a template NAME without @VERSION here")
    return ref.name


async def _prompts(cmd: SlashCommand) -> None:
    """``/decorum prompts ...``: the CLI's forms, answered privately; a refusal is one line."""
    words = command_words(cmd.args)
    sub = words[0].lower() if words else "help"
    rest = words[1:]
    permission = {"list": "templates.read", "show": "templates.read", "history": "templates.read",
                  "diff": "templates.read", "create": "templates.edit", "edit": "templates.edit",
                  "test": "templates.edit", "publish": "templates.publish",
                  "rollback": "templates.rollback"}.get(sub)
    if permission is None:
        unknown = f"`{escape(sub[:40])}` is not a `{COMMAND} prompts` subcommand.\n" if sub != "help" else ""
        await reply(cmd, unknown + _prompts_help())
        return
    try:  # usage errors first: they need no role
        flags = {"publish": ("--label", "--reason"), "rollback": ("--label", "--reason")}.get(sub, ())
        positional, opts = command_options(rest, flags=flags, switches=("--override",) if sub == "publish" else ())
    except UsageError as exc:
        await reply(cmd, f":no_entry_sign: {escape(str(exc))}")
        return
    who = await require(cmd, permission)
    if who is None:
        return
    reg = _registry(cmd.surface)
    try:
        if sub in ("create", "edit"):
            await _open_from_command(cmd, sub, positional, who)
            return
        if sub == "list":
            await reply(cmd, _list_text(await asyncio.to_thread(reg.store.overview)))
        elif sub == "show":
            await reply(cmd, await asyncio.to_thread(_show_text, reg, _one(positional, "show NAME[@V]")[0]))
        elif sub == "history":
            name = _plain_name(_one(positional, "history NAME")[0])
            await reply(cmd, await asyncio.to_thread(_history_text, reg, name))
        elif sub == "diff":
            if len(positional) != 2:
                raise UsageError(f"usage: {COMMAND} prompts diff NAME@A NAME@B")
            await reply(cmd, await asyncio.to_thread(_diff_text, reg, *positional))
        elif sub == "test":
            await _test(cmd, reg, who, _one(positional, "test NAME[@V]")[0])
        elif sub == "publish":
            await _publish(cmd, reg, who, positional, opts)
        else:
            await _rollback(cmd, reg, who, positional, opts)
    except DecorumError as exc:
        await reply(cmd, refusal_text(exc, who, permission))


def _label(positional: list[str], opts: dict[str, str], form: str) -> str:
    _one(positional, form, 2)
    if len(positional) == 2 and "--label" in opts and opts["--label"] != positional[1]:
        raise UsageError(f"two labels given: {positional[1]!r} and --label {opts['--label']!r}")
    return positional[1] if len(positional) == 2 else opts.get("--label", PRODUCTION)


async def _publish(cmd: SlashCommand, reg: Registry, who: Principal, positional: list[str],
                   opts: dict[str, str]) -> None:
    form = "publish NAME@V [LABEL] [--reason TEXT] [--override]"
    label = _label(positional, opts, form)
    ref = TemplateRef.parse(positional[0])
    if ref.version is None:
        raise UsageError("publish takes NAME@VERSION")
    override, reason = "--override" in opts, opts.get("--reason", "")
    version = ref.version

    def ok(tpl: Template) -> str:
        return f"{label} → {tpl.ref}" + (" (checks overridden)" if override else "")

    done = await run_change(cmd, who, "templates.publish", lambda: reg.publish(
        ref.name, version, by=who, label=label, reason=reason, override=override), ok,
        f"Publishing {ref}: its test cases run first…")
    if done is not None:
        logger.info("slack prompts published %s label=%s team=%s", done.ref, label, cmd.context.team_id)
        await refresh_home(cmd.surface, cmd.client, str(cmd.body.get("user_id") or ""), cmd.context.team_id)


async def _rollback(cmd: SlashCommand, reg: Registry, who: Principal, positional: list[str],
                    opts: dict[str, str]) -> None:
    label = _label(positional, opts, "rollback NAME [LABEL] [--reason TEXT]")
    name, reason = _plain_name(positional[0]), opts.get("--reason", "")
    done = await run_change(cmd, who, "templates.rollback",
                             lambda: reg.rollback(name, by=who, label=label, reason=reason),
                             lambda tpl: f"{label} → {tpl.ref} (rolled back)", f"Rolling back {name}…")
    if done is not None:
        logger.info("slack prompts rolled back %s label=%s team=%s", done.ref, label, cmd.context.team_id)
        await refresh_home(cmd.surface, cmd.client, str(cmd.body.get("user_id") or ""), cmd.context.team_id)


async def _test(cmd: SlashCommand, reg: Registry, who: Principal, spec: str) -> None:
    """Test cases run through the real path (models): acked at once, the results follow."""
    ref = TemplateRef.parse(spec)
    await asyncio.to_thread(reg.store.get, ref.name, ref.version or 1)  # TemplateNotFound before the ack
    await cmd.ack(text=f":hourglass_flowing_sand: Running the test cases of {ref}…")
    try:
        run = await asyncio.to_thread(reg.run_tests, ref.name, ref.version, by=who)
    except DecorumError as exc:
        await cmd.respond(**ephemeral_message(refusal_text(exc, who, "templates.edit")), replace_original=False)
        return
    shown = f"{ref.name}@{run['version']}"
    logger.info("slack prompts tested %s passed=%s team=%s", shown, run["passed"], cmd.context.team_id)
    await cmd.respond(**ephemeral_message(_tests_text(run, shown)), replace_original=False)


async def _open_from_command(cmd: SlashCommand, sub: str, positional: list[str], who: Principal) -> None:
    """``create [NAME]`` / ``edit NAME``: the edit modal, opened with the command's trigger."""
    form = "edit NAME" if sub == "edit" else "create [NAME]"
    name = _plain_name(_one(positional, form)[0]) if sub == "edit" or positional else ""
    names = await asyncio.to_thread(_registry(cmd.surface).store.names)
    if sub == "edit" and name not in names:
        raise UsageError(f"unknown template {name!r}; available: {', '.join(names) or 'none'}")
    if sub == "create" and name in names:
        raise UsageError(f"template {name!r} exists; use {COMMAND} prompts edit {name}")
    view = await asyncio.to_thread(_build, cmd.surface, sub, name, who)
    await cmd.ack()
    try:
        await cmd.client.views_open(trigger_id=str(cmd.body.get("trigger_id") or ""), view=view)
    except SlackApiError as exc:
        logger.warning("slack views.open failed team=%s error=%s", cmd.context.team_id, exc.response.get("error"))
        await cmd.respond(text="The form could not be opened; try again.", response_type="ephemeral",
                          replace_original=False)




# --- wiring --------------------------------------------------------------------------------------------


def register(bolt: AsyncApp, surface: SlackSurface) -> None:
    """App Home's template buttons and the modals' submissions."""
    surface.features.add_command("prompts", _prompts)
    surface.features.add_home(home_blocks)

    @bolt.action(re.compile(f"^({'|'.join(ACTIONS)})$"))
    async def on_template_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                                 client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await ack()
        kind = ACTIONS[str(action.get("action_id"))]
        name = "" if kind == "create" else str(action.get("value") or "")[:100]
        user = str((body.get("user") or {}).get("id") or "")
        view = await open_view(surface, client, kind, name, user, context.team_id)
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except SlackApiError as exc:
            logger.warning("slack views.open failed team=%s error=%s", context.team_id, exc.response.get("error"))
        logger.info("slack prompts %s opened template=%s team=%s", kind, name, context.team_id)

    submissions: dict[str, Callable[..., Awaitable[None]]] = {
        VIEW_EDIT: submit_edit, VIEW_PUBLISH: submit_publish, VIEW_ROLLBACK: submit_rollback,
        VIEW_DIFF: submit_diff}

    @bolt.view(re.compile(f"^({'|'.join(submissions)})$"))
    async def on_template_submission(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                     client: AsyncWebClient, context: AsyncBoltContext) -> None:
        handler = submissions[str(view.get("callback_id"))]
        await handler(surface, ack, body, view, client, context.team_id)
