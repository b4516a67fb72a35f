"""Routing rules and guardrail thresholds in Slack: App Home shows what applies; admins change it as new versions.

The live overlay (``decorum.bot.live_config``) acting for Slack (``Runtime.live_config("slack")``) does the work,
as it does for ``decorum policy``: a change is a new version (guarded: it must validate over the configuration
file, route only to published templates and servable domains), not active until published; ``publish`` runs the
test gate (every production template's test cases under the candidate) when the version was never tested and
refuses a failing run unless an admin overrides it with a reason; ``rollback`` returns to the version active
before the latest publish. Each step is a ``live_config`` event and an audit record with verdict ``change``; each
process applies the active version within ``prompts.cache_check_s``, without a restart.

Everyone with a Decorum role reads it (``routing.read``); changing it is ``policy.edit`` (admins), overriding the
gate ``override``. As in ``prompts_admin`` (whose Block Kit and submission helpers this module uses): a button
opens a modal, or one that explains the refusal; a submission is answered within Slack's 3 seconds with field
errors (``response_action: errors``) or the modal updated to the outcome, past ``SUBMIT_BUDGET_S`` (a publish
whose test gate runs long) with a "working" view and then ``views.update``.

Ids: App Home buttons ``decorum_policy_{threshold,yaml,publish,rollback,history}`` (value ``live``) in the
block ``decorum_policy:actions``; modals (callback ids) ``decorum_policy_{threshold,yaml,publish,rollback}`` with
JSON ``private_metadata``; read-only ones are ``decorum_prompts_info``.

Example::

    /decorum policy set policy.checks.toxicity.threshold=0.3 --message stricter after the incident
    /decorum policy publish 4 --reason reviewed with legal
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from decorum.access import Principal
from decorum.bot.live_config import (
    LIVE_CHECK_KEYS,
    LIVE_POLICY_KEYS,
    LIVE_ROUTING_KEYS,
    MAX_REASON,
    LiveConfig,
    rollback_target,
    set_value,
)
from decorum.bot.note import new_id
from decorum.bot.slack.blocks import MODAL_BLOCKS, escape
from decorum.bot.slack.commands import COMMAND, SlashCommand, refresh_home, require, user_principal
from decorum.bot.slack.forms import (
    B_MESSAGE,
    B_OVERRIDE,
    B_REASON,
    B_VERSION,
    DIFF_CHARS,
    INPUT,
    MESSAGE_CHARS,
    SHOW_CHARS,
    TEXT_INPUT_CHARS,
    FieldError,
    button,
    check_allowed,
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
from decorum.prompts.yaml_format import dump_yaml, parse_yaml

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

ACTION_THRESHOLD = "decorum_policy_threshold"
ACTION_YAML = "decorum_policy_yaml"
ACTION_PUBLISH = "decorum_policy_publish"
ACTION_ROLLBACK = "decorum_policy_rollback"
ACTION_HISTORY = "decorum_policy_history"
# button -> what it opens
ACTIONS = {ACTION_THRESHOLD: "threshold", ACTION_YAML: "yaml", ACTION_PUBLISH: "publish",
           ACTION_ROLLBACK: "rollback", ACTION_HISTORY: "history"}
# what a modal does -> the permission it needs (the live overlay checks them again)
PERMISSIONS = {"threshold": "policy.edit", "yaml": "policy.edit", "publish": "policy.edit", "rollback": "policy.edit",
               "history": "routing.read"}

VIEW_THRESHOLD = "decorum_policy_threshold"
VIEW_YAML = "decorum_policy_yaml"
VIEW_PUBLISH = "decorum_policy_publish"
VIEW_ROLLBACK = "decorum_policy_rollback"

B_CHECK, B_THRESHOLD, B_YAML = "check", "threshold", "yaml"  # input block ids besides prompts_admin's
HOME_BLOCK = "decorum_policy:"  # + "intro", "checks", "routing", "actions"
HOME_BLOCKS = 12  # the most this part of App Home takes of Home's 100 blocks
TARGET = "live-config"  # what access events name
YAML_SOURCE = "live-config.yaml"
EMPTY_OVERLAY = {"policy": {}, "routing": {}}


def _live(surface: SlackSurface) -> LiveConfig:
    return surface.runtime.live_config("slack")


# --- what people read ----------------------------------------------------------------------------------


def _version_name(version: int | None) -> str:
    return f"live@{version}" if version is not None else "the configuration file alone"


def _tests_state(v: dict[str, Any]) -> str:
    """The CLI's words for a version's latest test-gate run."""
    if not v["tests"]:
        return "untested"
    run = v["tests"][-1]
    return run["summary"] + (" ok" if run["passed"] else " FAILED")


def _gate_failures(v: dict[str, Any]) -> list[str]:
    run = v["tests"][-1] if v["tests"] else {"results": []}
    return [f"{r['template']} case {r['case']}: {', '.join(r['failures'])}" for r in run["results"]
            if not r["passed"]]


def _inline(text: str) -> str:
    """``text`` for inline code: escaped, without the backquote that would end it."""
    return escape(text.replace("`", "\u02cb"))


def _checks_text(policy: dict[str, Any]) -> str:
    lines = ["*Guardrail checks* (a score at or above the threshold fails the check)"]
    for name, c in policy["checks"].items():
        lines.append(f"• *{escape(name)}*: threshold *{c['threshold']}* · stages {', '.join(c['stages']) or 'none'} · "
                     + ("on" if c["enabled"] else "*off*"))
    lines.append(f"A failed question: *{policy['on_input_fail']}* · a failed answer: *{policy['on_output_fail']}* · "
                 f"questions up to {policy['max_question_chars']:,} characters")
    return "\n".join(lines)


def _rule_text(rule: dict[str, Any]) -> str:
    match = rule.get("match") or {}
    when = [f"pattern `{_inline(match['pattern'])}`"] if match.get("pattern") is not None else []
    when += [f"{key} {escape(', '.join(match[key]))}" for key in ("surface", "team", "channel") if match.get(key)]
    if match.get("command"):
        when.append(f"command {escape(match['command'])}")
    if rule.get("strategy") == "fine_tuned":
        target = f"fine_tuned, domain `{_inline(str(rule.get('domain')))}`"
    else:
        target = f"template `{_inline(str(rule.get('template')))}`"
    return f"• *{escape(rule['name'])}*: {' and '.join(when) or 'every question'} → {target}"


def _routing_text(routing: dict[str, Any]) -> str:
    domain = f" · domain `{_inline(routing['default_domain'])}`" if routing.get("default_domain") else ""
    lines = [f"*Routing*: by default template `{_inline(routing['default_template'])}` · strategy "
             f"{routing['default_strategy']}{domain} · semantic routing {'on' if routing['semantic'] else 'off'}"]
    if routing["rules"]:
        lines.append("Rules, in order (the first that matches routes the question):")
        lines += [_rule_text(r) for r in routing["rules"]]
    else:
        lines.append("_No rules._")
    return "\n".join(lines)


def _policy_help() -> str:
    c = f"{COMMAND} policy"
    return (f"*`{c}`*: guardrail thresholds and routing rules, as `decorum policy` on the server (App Home has "
            "buttons for the same).\n"
            f"• `{c} show` · `history` · `diff A B`: read them (any role)\n"
            f"• `{c} set KEY=VALUE ... --message TEXT`: a new version, the active one with the changes, e.g. "
            "`policy.checks.toxicity.threshold=0.3` (admin)\n"
            f"• `{c} test [V]`: the test gate: every production template's test cases under version V (admin)\n"
            f"• `{c} publish V [--reason TEXT] [--override]`: make V active everywhere (admin; `--override` "
            "publishes over a failed test gate, with a reason)\n"
            f"• `{c} rollback [--reason TEXT]`: back to the version active before the latest publish (admin)")


# --- App Home ------------------------------------------------------------------------------------------


def home_section(eff: dict[str, Any], versions: list[dict[str, Any]], who: Principal) -> list[dict[str, Any]]:
    """App Home's policy and routing: what applies (active version, checks, rules, defaults) and the buttons."""
    active = eff["version"]
    if active is None:
        now = "Active: *configuration file only* (no live version published)"
    else:
        v = next((v for v in versions if v["version"] == active), None)
        said = f": _{escape(cut(v['message'], 200))}_" if v and v.get("message") else ""
        now = f"Active: *live@{active}* over the configuration file{said}"
    intro = (f"{now}. Policy `{_inline(str(eff['policy_ref']))}`. Your role: *{who.role}*.\n"
             "Admins change a threshold or a rule as a new version; it applies once published (after the test "
             f"gate), in every process, without a restart. Each change is in the audit log. `{COMMAND} policy help` "
             "lists the same actions as commands.")
    out: list[dict[str, Any]] = [{"type": "divider"}, {"type": "header", "text": plain("Policy & routing", 150)},
                                 section_block(intro, block_id=HOME_BLOCK + "intro")]
    cut_note = f"_(cut: `{COMMAND} policy show` shows it all)_"
    out += section_blocks(_checks_text(eff["policy"]), 2, cut_note)
    out += section_blocks(_routing_text(eff["routing"]), HOME_BLOCKS - len(out) - 2, cut_note)
    latest = versions[-1] if versions else None
    if latest is not None and latest["version"] != active:
        out.append(context_block(f"Latest saved: live@{latest['version']} ({_tests_state(latest)}), not active: "
                                 f"publish it here or with `{COMMAND} policy publish {latest['version']}`."))
    out.append({"type": "actions", "block_id": HOME_BLOCK + "actions", "elements": [
        button("Change threshold", ACTION_THRESHOLD, "live"), button("Edit as YAML", ACTION_YAML, "live"),
        button("Publish", ACTION_PUBLISH, "live", "primary"), button("Roll back", ACTION_ROLLBACK, "live", "danger"),
        button("History", ACTION_HISTORY, "live")]})
    return out


def _home_data(live: LiveConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return live.effective(), live.versions()


async def home_blocks(surface: SlackSurface, client: AsyncWebClient, user: str,
                      team: str | None) -> list[dict[str, Any]]:
    """The policy part of ``user``'s App Home (nothing for people without a role)."""
    try:
        who = await user_principal(surface, client, user, team)
        if who is None or not who.can("routing.read"):
            return []
        eff, versions = await asyncio.to_thread(_home_data, _live(surface))
        return home_section(eff, versions, who)
    except Exception as exc:  # the rest of Home is shown whatever happens here
        ref = new_id()
        logger.error("slack home policy failed team=%s ref=%s error=%s", team, ref, exc.__class__.__name__)
        return [{"type": "divider"},
                context_block(f"The policy and routing could not be shown just now; reference {ref}.")]


# --- the modals, as opened -----------------------------------------------------------------------------


def threshold_modal(eff: dict[str, Any]) -> dict[str, Any]:
    """One check's threshold: a new version, the active one with that change."""
    checks = eff["policy"]["checks"]
    options = [(name, f"{name} · now {c['threshold']}" + ("" if c["enabled"] else " · off"))
               for name, c in checks.items()]
    if not options:
        return info_modal("Change threshold", "The policy has no checks.")
    blocks = [
        section_block(f"A new version: {_version_name(eff['version'])} with one check's threshold changed. A score "
                 "(0: no risk, 1: high risk) at or above the threshold fails the check, so a lower threshold is "
                 "stricter. It is not active until published, after the test gate."),
        select_block(B_CHECK, "Check", options, options[0][0]),
        text_input(B_THRESHOLD, "New threshold", max_length=20, placeholder="from 0 to 1, e.g. 0.3"),
        text_input(B_MESSAGE, "What changed and why (recorded)", max_length=MESSAGE_CHARS,
                    placeholder="e.g. stricter after the incident of 3 May")]
    return modal("Change threshold", blocks, callback_id=VIEW_THRESHOLD, submit="Save",
                  meta={"base": eff["version"]})


def yaml_modal(eff: dict[str, Any]) -> dict[str, Any]:
    """The active overlay as YAML, for a new version with any live setting changed (a rule, a default, ...)."""
    text = dump_yaml(eff["overlay"] or EMPTY_OVERLAY)
    if len(text) > TEXT_INPUT_CHARS:
        return info_modal("Edit as YAML", f"The active configuration ({_version_name(eff['version'])}) has "
                          f"{len(text):,} characters of YAML, more than Slack's {TEXT_INPUT_CHARS:,}-character text "
                          "box: edit it with `decorum policy edit` on the server, or change one setting with "
                          f"*Change threshold* or `{COMMAND} policy set KEY=VALUE --message TEXT`.")
    intro = (f"A new version: what you write here over the configuration file (now {_version_name(eff['version'])}). "
             "It holds only what may change live:\n"
             f"• `policy`: {', '.join(LIVE_POLICY_KEYS)} (a check takes {', '.join(LIVE_CHECK_KEYS)})\n"
             f"• `routing`: {', '.join(LIVE_ROUTING_KEYS)} (a `rules` list replaces the file's rules)\n"
             f"The rest stays in the file (`{COMMAND} policy show` shows everything that applies). It is not active "
             "until published, after the test gate.")
    blocks = [section_block(intro), text_input(B_YAML, "Live configuration (YAML)", initial=text, multiline=True),
              text_input(B_MESSAGE, "What changed and why (recorded)", max_length=MESSAGE_CHARS,
                          placeholder="e.g. printers go to the helpdesk template")]
    return modal("Edit as YAML", blocks, callback_id=VIEW_YAML, submit="Save", meta={"base": eff["version"]})


def publish_modal(hist: dict[str, Any], who: Principal, cache_check_s: float) -> dict[str, Any]:
    """Version, reason and (for admins who may) the override of a failed test gate."""
    if not hist["versions"]:
        return info_modal("Publish a version", "There is no live configuration version yet: *Change threshold* or "
                          "*Edit as YAML* saves one.")
    active = hist["active"]
    options = [(str(v["version"]), " · ".join([f"v{v['version']}", _tests_state(v)]
                                               + (["active"] if v["version"] == active else [])))
               for v in reversed(hist["versions"])]
    blocks = [section_block(f"Make a version active: answers use its policy and routing in every process within "
                       f"{cache_check_s:g} s. Now: *{_version_name(active)}*."),
              select_block(B_VERSION, "Version", options, options[0][0]),
              text_input(B_REASON, "Reason (recorded)", multiline=True, max_length=MAX_REASON, optional=True)]
    if who.can("override"):
        blocks.append({"type": "input", "block_id": B_OVERRIDE, "optional": True,
                       "label": plain("Override (admin)", 2000), "element": {
                           "type": "checkboxes", "action_id": INPUT, "options": [{
                               "text": plain("Publish even if the test gate failed"), "value": "override",
                               "description": plain("Needs a reason; recorded with the change", 75)}]}})
    blocks.append(context_block("The test gate runs first when the version was never tested: every production "
                           "template's test cases under its policy and routing. A failed run refuses the publish "
                           "unless an admin overrides it with a reason."))
    return modal("Publish a version", blocks, callback_id=VIEW_PUBLISH, submit="Publish")


def rollback_modal(hist: dict[str, Any]) -> dict[str, Any]:
    """The move a rollback makes, and its reason."""
    possible, target = rollback_target(hist["events"])
    if not possible:
        return info_modal("Roll back", "There is no earlier live configuration to roll back to.")
    blocks = [section_block(f"Return to the version active before the latest publish: "
                            f"*{_version_name(hist['active'])}* → *{_version_name(target)}*. It applies in every "
                            "process without a restart."),
              text_input(B_REASON, "Reason (recorded)", multiline=True, max_length=MAX_REASON, optional=True)]
    return modal("Roll back", blocks, callback_id=VIEW_ROLLBACK, submit="Roll back",
                  meta={"from": hist["active"], "to": target})


def history_modal(hist: dict[str, Any], me: Principal | None) -> dict[str, Any]:
    """Versions (newest first: time, author, message, test gate), then every publish, rollback and test run."""
    lines = []
    for v in reversed(hist["versions"]):
        head = " · ".join([f"*v{v['version']}*", escape(str(v["created_at"])), escape(who_text(v["author"], me)),
                           f"tests: {_tests_state(v)}", f"sha256 `{v['sha256'][:12]}`"]
                          + (["`active`"] if v["version"] == hist["active"] else []))
        lines.append(head + (f"\n      _{escape(v['message'])}_" if v.get("message") else ""))
        lines += [f"      :warning: {escape(f)}" for f in _gate_failures(v)[:3]]
    moves = []
    for e in hist["events"]:
        if e["action"] in ("publish", "rollback"):
            frm = f"v{e['from_version']}" if e["from_version"] else "file"
            to = f"v{e['version']}" if e["version"] else "file"
            what = f"{e['action']} {frm} → {to}"
        elif e["action"] == "test":
            what = f"test v{e['version']} ({e['message']})"
        else:
            continue
        why = f": {e['reason']}" if e.get("reason") else ""
        moves.append(escape(f"{e['at']} · {what} by {who_text(e['actor'], me)}{' (override)' if e['override'] else ''}"
                            f"{why}"))
    text = (f"Active: *{_version_name(hist['active'])}*\n\n*Versions*\n" + ("\n".join(lines) or "_none yet_")
            + "\n\n*Publishes, rollbacks and test runs*\n" + ("\n".join(moves) or "_none yet_"))
    cut_note = "_(cut: the whole history is `decorum policy history` on the server)_"
    return modal("Policy history", section_blocks(text, MODAL_BLOCKS, cut_note))


def _build(surface: SlackSurface, kind: str, who: Principal) -> dict[str, Any]:
    """The modal ``kind`` (blocking: database reads)."""
    live = _live(surface)
    if kind == "threshold":
        return threshold_modal(live.effective())
    if kind == "yaml":
        return yaml_modal(live.effective())
    if kind == "publish":
        return publish_modal(live.history(), who, live.cache_check_s)
    if kind == "rollback":
        return rollback_modal(live.history())
    if kind == "history":
        return history_modal(live.history(), who)
    raise AssertionError(kind)


async def open_view(surface: SlackSurface, client: AsyncWebClient, kind: str, user: str,
                    team: str | None) -> dict[str, Any]:
    """The modal a button opens; a refusal explained when the role lacks the right."""
    who = await user_principal(surface, client, user, team)
    refusal = await check_allowed(surface, who, user, PERMISSIONS[kind], TARGET)
    if refusal is not None or who is None:
        return info_modal("Not allowed", refusal or refused_text(PERMISSIONS[kind], None))
    try:
        return await asyncio.to_thread(_build, surface, kind, who)
    except DecorumError as exc:  # e.g. the file changed under the active version
        return info_modal("Not possible", escape(str(exc)))


# --- the modals, as submitted ---------------------------------------------------------------------------


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _saved_view(v: dict[str, Any], active: int | None) -> dict[str, Any]:
    return info_modal("Version saved", f":white_check_mark: Saved *live@{v['version']}* (sha256 "
                      f"`{v['sha256'][:12]}`). It is not active: answers still use {_version_name(active)}. Publish "
                      f"it (the test gate runs first) from App Home, or `{COMMAND} policy publish {v['version']}`.")


async def _save(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                client: AsyncWebClient, team: str | None, *, block: str,
                overlay_from: Callable[[LiveConfig], dict[str, Any]]) -> None:
    """A new version from a submitted form: ``overlay_from(live)`` (blocking) gives its overlay."""
    started = time.monotonic()
    message = (form_values(view).get(B_MESSAGE) or "").strip()
    if not message or len(message) > MESSAGE_CHARS:
        await ack(response_action="errors",
                  errors={B_MESSAGE: f"say what changed and why (1 to {MESSAGE_CHARS} characters; recorded)"})
        return
    allowed = await form_principal(surface, ack, client, body, team, "policy.edit", TARGET, B_MESSAGE)
    if allowed is None:
        return
    who, user = allowed
    live, principal = _live(surface), who

    def save() -> tuple[dict[str, Any], int | None]:
        v = live.save(overlay_from(live), by=principal, message=message)
        return v, live.active_version()

    result = await submit_change(ack, client, view, started, who, save, block_for=field_for(block),
                           done=lambda r: _saved_view(*r))
    if result is not None:
        logger.info("slack policy saved live@%s team=%s", result[0]["version"], team)
        await refresh_home(surface, client, user, team)


def _unchanged_since_opened(live: LiveConfig, opened_on: int | None, block: str, what_then: str) -> None:
    """Refuse a form opened on another active version than the one active now (someone published meanwhile)."""
    now = live.active_version()
    if now != opened_on:
        raise FieldError(block, f"{_version_name(now)} became active after you opened this form (on "
                                f"{_version_name(opened_on)}); {what_then}")


async def submit_threshold(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                           client: AsyncWebClient, team: str | None) -> None:
    values = form_values(view)
    check, raw = str(values.get(B_CHECK) or ""), (values.get(B_THRESHOLD) or "").strip()
    if not check:
        await ack(response_action="errors", errors={B_CHECK: "pick a check"})
        return

    def overlay(live: LiveConfig) -> dict[str, Any]:
        active = live.active()
        return set_value(active["overlay"] if active else {}, f"policy.checks.{check}.threshold", raw)

    await _save(surface, ack, body, view, client, team, block=B_THRESHOLD, overlay_from=overlay)


async def submit_yaml(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                      client: AsyncWebClient, team: str | None) -> None:
    meta, text = form_meta(view), form_values(view).get(B_YAML) or ""
    if not text.strip():
        await ack(response_action="errors", errors={B_YAML: "empty: write {policy: ..., routing: ...}, or {} for "
                                                            "the file alone"})
        return

    def overlay(live: LiveConfig) -> dict[str, Any]:
        _unchanged_since_opened(live, meta.get("base"), B_YAML, "copy your text, close the form and open Edit as "
                                                                "YAML again so that no change is lost")
        data = parse_yaml(text, YAML_SOURCE)
        return data if data is not None else {}

    await _save(surface, ack, body, view, client, team, block=B_YAML, overlay_from=overlay)


def _published_view(v: dict[str, Any], override: bool, cache_check_s: float) -> dict[str, Any]:
    gate = f" Test gate: {_tests_state(v)}." if v["tests"] else ""
    return info_modal("Published", f":white_check_mark: *live@{v['version']}* is active"
                      f"{' (test gate overridden)' if override else ''}. Answers here use it now; other processes "
                      f"within {cache_check_s:g} s.{gate}")


async def submit_publish(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                         client: AsyncWebClient, team: str | None) -> None:
    started = time.monotonic()
    values = form_values(view)
    version = str(values.get(B_VERSION) or "")
    reason, override = (values.get(B_REASON) or "").strip(), "override" in (values.get(B_OVERRIDE) or [])
    errors = {}
    if not version.isdigit():
        errors[B_VERSION] = "pick a version"
    errors.update(reason_errors(reason, override))
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    allowed = await form_principal(surface, ack, client, body, team, "policy.edit", TARGET, B_VERSION)
    if allowed is None:
        return
    who, user = allowed
    live, principal = _live(surface), who

    def publish() -> dict[str, Any]:
        return live.publish(int(version), by=principal, reason=reason, override=override)

    v = await submit_change(ack, client, view, started, who, publish, block_for=lambda exc: B_VERSION,
                      done=lambda v: _published_view(v, override, live.cache_check_s))
    if v is not None:
        logger.info("slack policy published live@%s override=%s team=%s", v["version"], override, team)
        await refresh_home(surface, client, user, team)


async def submit_rollback(surface: SlackSurface, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                          client: AsyncWebClient, team: str | None) -> None:
    started = time.monotonic()
    meta, reason = form_meta(view), (form_values(view).get(B_REASON) or "").strip()
    if len(reason) > MAX_REASON:
        await ack(response_action="errors", errors=reason_errors(reason, False))
        return
    allowed = await form_principal(surface, ack, client, body, team, "policy.edit", TARGET, B_REASON)
    if allowed is None:
        return
    who, user = allowed
    live, principal = _live(surface), who

    def rollback() -> tuple[dict[str, Any] | None]:
        _unchanged_since_opened(live, meta.get("from"), B_REASON, "close the form and open Roll back again to "
                                                                  "see the move it makes now")
        return (live.rollback(by=principal, reason=reason),)

    def done(result: tuple[dict[str, Any] | None]) -> dict[str, Any]:
        return info_modal("Rolled back", f":leftwards_arrow_with_hook: *{_version_name(_version_of(result[0]))}* "
                                         "applies (rolled back).")

    result = await submit_change(ack, client, view, started, who, rollback, block_for=lambda exc: B_REASON, done=done)
    if result is not None:
        logger.info("slack policy rolled back to %s team=%s", _version_name(_version_of(result[0])), team)
        await refresh_home(surface, client, user, team)


def _version_of(v: dict[str, Any] | None) -> int | None:
    return v["version"] if v else None


# --- /decorum policy ------------------------------------------------------------------------------------


def _show_text(live: LiveConfig) -> str:
    eff = live.effective()
    head = (f"live configuration: {'v' + str(eff['version']) if eff['version'] else 'none (the file alone)'}; "
            f"policy {eff['policy_ref']}")
    text = dump_yaml({"policy": eff["policy"], "routing": eff["routing"]})
    return escape(head) + "\n" + code_text(text, SHOW_CHARS, "_Cut: the whole of it is `decorum policy show` on the "
                                                         "server._")


def _history_text(live: LiveConfig) -> str:
    hist = live.history()
    lines = []
    for v in hist["versions"]:
        active = " [active]" if v["version"] == hist["active"] else ""
        lines.append(f"v{v['version']:<3} {v['created_at']}  {who_text(v['author'], None):<20} {_tests_state(v):<26} "
                     f"sha256 {v['sha256'][:12]}{active}  {v['message']}")
    for e in hist["events"]:
        if e["action"] in ("publish", "rollback"):
            frm = f"v{e['from_version']}" if e["from_version"] else "file"
            to = f"v{e['version']}" if e["version"] else "file"
            why = f": {e['reason']}" if e["reason"] else ""
            lines.append(f"{e['at']}  {e['action']:<8} {frm} -> {to} by {who_text(e['actor'], None)}"
                         f"{' (override)' if e['override'] else ''}{why}")
    if not lines:
        return f"No live configuration version yet: the configuration file alone applies. `{COMMAND} policy show`"
    return "*Live configuration* history\n" + code_text("\n".join(lines) + "\n", SHOW_CHARS, "_Cut: the whole history "
                                                    "is `decorum policy history` on the server._")


def _diff_text(live: LiveConfig, a: int, b: int) -> str:
    diff = live.diff(a, b)
    if not diff:
        return f"live@{a} and live@{b} have the same content"
    return code_text(diff, DIFF_CHARS, f"_Diff cut: `decorum policy diff {a} {b}` on the server shows it all._")


def _tests_text(run: dict[str, Any], version: int) -> str:
    lines = [f"*live@{version}*: {run['summary']}" + (" (no production template has test cases)"
                                                     if not run["results"] else "")]
    for r in run["results"]:
        state = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failures"])
        lines.append(escape(f"• {r['template']} case {r['case']} [{r['verdict']}, {r['strategy']}] {state}"))
    return "\n".join(lines)


_VERSION = re.compile(r"(?:live@|v)?(\d{1,9})")
_ASSIGNMENT = re.compile(r"\s+(?=[A-Za-z_][\w.]*=)")  # where the next KEY= starts


def _version(word: str) -> int:
    m = _VERSION.fullmatch(word)
    if m is None:
        raise UsageError(f"{word!r}: expected a version number (e.g. 3 or live@3)")
    return int(m.group(1))


def _at_most(positional: list[str], form: str, most: int, least: int = 0) -> list[str]:
    if not least <= len(positional) <= most:
        raise UsageError(f"usage: {COMMAND} policy {form}")
    return positional


def _assignments(positional: Sequence[str]) -> list[tuple[str, str]]:
    """``KEY=VALUE ...`` as typed: a value may hold spaces (``routing.rules=[{name: x, ...}]``)."""
    items = _ASSIGNMENT.split(" ".join(positional).strip()) if positional else []
    if not items:
        raise UsageError(f"usage: {COMMAND} policy set KEY=VALUE ... --message TEXT")
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"{item!r}: expected KEY=VALUE")
        out.append((key.strip(), value))
    return out


async def _policy(cmd: SlashCommand) -> None:
    """``/decorum policy ...``: the CLI's forms, answered privately; a refusal is one line."""
    words = command_words(cmd.args)
    sub = words[0].lower() if words else "help"
    permission = {"show": "routing.read", "history": "routing.read", "diff": "routing.read", "set": "policy.edit",
                  "test": "policy.edit", "publish": "policy.edit", "rollback": "policy.edit"}.get(sub)
    if permission is None:
        unknown = f"`{escape(sub[:40])}` is not a `{COMMAND} policy` subcommand.\n" if sub != "help" else ""
        await reply(cmd, unknown + _policy_help())
        return
    try:  # usage errors first: they need no role
        flags = {"set": ("--message",), "publish": ("--reason",), "rollback": ("--reason",)}.get(sub, ())
        positional, opts = command_options(words[1:], flags=flags, switches=("--override",) if sub == "publish" else ())
        args = _parse(sub, positional)
    except UsageError as exc:
        await reply(cmd, f":no_entry_sign: {escape(str(exc))}")
        return
    who = await require(cmd, permission)
    if who is None:
        return
    live = _live(cmd.surface)
    try:
        if sub == "show":
            await reply(cmd, await asyncio.to_thread(_show_text, live))
        elif sub == "history":
            await reply(cmd, await asyncio.to_thread(_history_text, live))
        elif sub == "diff":
            await reply(cmd, await asyncio.to_thread(_diff_text, live, *args))
        elif sub == "set":
            await _set(cmd, live, who, args, opts.get("--message", ""))
        elif sub == "test":
            await _test(cmd, live, who, args[0] if args else None)
        elif sub == "publish":
            await _publish(cmd, live, who, args[0], opts.get("--reason", ""), "--override" in opts)
        else:
            await _rollback(cmd, live, who, opts.get("--reason", ""))
    except DecorumError as exc:
        await reply(cmd, refusal_text(exc, who, permission))


def _parse(sub: str, positional: list[str]) -> list[Any]:
    """A subcommand's positional words, checked and typed (``set``: its assignments)."""
    if sub in ("show", "history", "rollback"):
        return _at_most(positional, f"{sub}" + (" [--reason TEXT]" if sub == "rollback" else ""), 0)
    if sub == "diff":
        return [_version(w) for w in _at_most(positional, "diff A B", 2, 2)]
    if sub == "test":
        return [_version(w) for w in _at_most(positional, "test [V]", 1)]
    if sub == "publish":
        return [_version(w) for w in _at_most(positional, "publish V [--reason TEXT] [--override]", 1, 1)]
    return _assignments(positional)


async def _set(cmd: SlashCommand, live: LiveConfig, who: Principal, assignments: list[tuple[str, str]],
               message: str) -> None:
    def save() -> dict[str, Any]:
        active = live.active()
        overlay = active["overlay"] if active else {}
        for key, value in assignments:
            overlay = set_value(overlay, key, value)
        return live.save(overlay, by=who, message=message)

    v = await asyncio.to_thread(save)
    await reply(cmd, f"saved live@{v['version']} (sha256 {v['sha256'][:12]}); not active: "
                      f"`{COMMAND} policy publish {v['version']}`")
    logger.info("slack policy saved live@%s team=%s", v["version"], cmd.context.team_id)
    await refresh_home(cmd.surface, cmd.client, str(cmd.body.get("user_id") or ""), cmd.context.team_id)


async def _test(cmd: SlashCommand, live: LiveConfig, who: Principal, version: int | None) -> None:
    """The test gate runs the models: acked at once, the results follow."""
    if version is None:
        versions = await asyncio.to_thread(live.versions)
        if not versions:
            raise UsageError(f"no live configuration version yet: {COMMAND} policy set KEY=VALUE --message TEXT")
        version = versions[-1]["version"]
    await asyncio.to_thread(live.get, version)  # an unknown version is refused before the ack
    await cmd.ack(text=f":hourglass_flowing_sand: Running the test gate of live@{version}…")
    try:
        run = await asyncio.to_thread(live.run_tests, version, by=who)
    except DecorumError as exc:
        await cmd.respond(**ephemeral_message(refusal_text(exc, who, "policy.edit")), replace_original=False)
        return
    logger.info("slack policy tested live@%s passed=%s team=%s", version, run["passed"], cmd.context.team_id)
    await cmd.respond(**ephemeral_message(_tests_text(run, version)), replace_original=False)


async def _publish(cmd: SlashCommand, live: LiveConfig, who: Principal, version: int, reason: str,
                   override: bool) -> None:
    done = await run_change(cmd, who, "policy.edit", lambda: live.publish(
        version, by=who, reason=reason, override=override),
        lambda v: f"live@{v['version']} active" + (" (test gate overridden)" if override else ""),
        f"Publishing live@{version}: the test gate runs first when it was never tested…")
    if done is not None:
        logger.info("slack policy published live@%s override=%s team=%s", version, override, cmd.context.team_id)
        await refresh_home(cmd.surface, cmd.client, str(cmd.body.get("user_id") or ""), cmd.context.team_id)


async def _rollback(cmd: SlashCommand, live: LiveConfig, who: Principal, reason: str) -> None:
    # a tuple: rolling back to the file alone returns None, which run_change reads as refused
    done = await run_change(cmd, who, "policy.edit", lambda: (live.rollback(by=who, reason=reason),),
                             lambda r: (f"live@{r[0]['version']} active (rolled back)" if r[0]
                                        else "the configuration file alone (rolled back)"), "Rolling back…")
    if done is not None:
        logger.info("slack policy rolled back to %s team=%s", _version_name(_version_of(done[0])),
                    cmd.context.team_id)
        await refresh_home(cmd.surface, cmd.client, str(cmd.body.get("user_id") or ""), cmd.context.team_id)




# --- wiring --------------------------------------------------------------------------------------------


def register(bolt: AsyncApp, surface: SlackSurface) -> None:
    """App Home's policy buttons and the modals' submissions."""
    surface.features.add_command("policy", _policy)
    surface.features.add_home(home_blocks)

    @bolt.action(re.compile(f"^({'|'.join(ACTIONS)})$"))
    async def on_policy_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                               client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await ack()
        kind = ACTIONS[str(action.get("action_id"))]
        view = await open_view(surface, client, kind, _user(body), context.team_id)
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except SlackApiError as exc:
            logger.warning("slack views.open failed team=%s error=%s", context.team_id, exc.response.get("error"))
        logger.info("slack policy %s opened team=%s", kind, context.team_id)

    submissions: dict[str, Callable[..., Awaitable[None]]] = {
        VIEW_THRESHOLD: submit_threshold, VIEW_YAML: submit_yaml, VIEW_PUBLISH: submit_publish,
        VIEW_ROLLBACK: submit_rollback}

    @bolt.view(re.compile(f"^({'|'.join(submissions)})$"))
    async def on_policy_submission(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                   client: AsyncWebClient, context: AsyncBoltContext) -> None:
        await submissions[str(view.get("callback_id"))](surface, ack, body, view, client, context.team_id)
