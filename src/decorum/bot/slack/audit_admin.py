"""``/decorum audit REF``: one audit record in Slack, for auditors and above, answered privately (ephemeral).

REF is the reference people get under an answer (``Ref `01J…```) or in a refusal or apology ("reference 01J…."):
taken with or without backticks, quotes, brackets or a trailing full stop, and with a leading ``ref``/
``reference``. The record is shown as Block Kit: verdict, time, surface, the asker's pseudonym (never a Slack
user id), route, template, model and adapter, every guardrail check per stage with its score and outcome, the
policy's action, latencies, its place in the hash chain and the 👍 / 👎 it got. Never the question or the answer:
the record holds only their keyed fingerprints, and no text of any other table is read.

Reading the log is ``audit.read`` (auditor and above); a refusal names the role needed and is recorded in
``access_event`` like every Slack refusal. A record of another workspace is not shown (as for "Why this answer?").

Example::

    /decorum audit 01JD3Q4V7X2M8K9P0R5S6T7V8W
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from decorum.access import PERMISSIONS, Principal
from decorum.bot.slack.blocks import FALLBACK_CHARS, FIELD_CHARS, MAX_BLOCKS, SECTION_CHARS, escape, unescape
from decorum.bot.slack.commands import COMMAND, SlashCommand, slack_principal
from decorum.errors import Forbidden, Unauthenticated
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, FeedbackRow

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from decorum.audit.pseudonyms import Pseudonymiser
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

PERMISSION = "audit.read"
TARGET = f"{COMMAND} audit"
_REF = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,31}")  # the note schema's id
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_WRAP = "`'\"“”‘’<>()[]{}*_~,;:.!?"
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,30}")
STAGES = (("input", "Question checks (input)"), ("first_output", "First answer's checks (not shown)"),
          ("output", "Answer checks (output)"))
FEEDBACK_SHOWN = 10


class BadReference(ValueError):
    """What was typed is not a record reference."""


def usage() -> str:
    return (f"*`{COMMAND} audit REF`*: one audit record, as `decorum audit show REF` on the server (auditors and "
            "above; only you see it).\n"
            "REF is the reference under an answer (`Ref 01J…`) or in a refusal or apology, e.g. "
            f"`{COMMAND} audit 01JD3Q4V7X2M8K9P0R5S6T7V8W`. The record never holds the question or the answer.")


def parse_ref(args: str) -> str:
    """The record id in what was typed; ``BadReference`` says what was expected."""
    words = unescape(args).replace("`", " ").split()
    if words and words[0].lower().rstrip(":") in ("ref", "reference", "id"):
        words = words[1:]
    if len(words) == 1 and ":" in words[0] and words[0].split(":", 1)[0].lower() in ("ref", "reference", "id"):
        words = [words[0].split(":", 1)[1]]
    if len(words) != 1:
        raise BadReference("expected one reference")
    ref = words[0].strip(_WRAP)
    if not _REF.fullmatch(ref):
        raise BadReference("a reference is letters and digits, like the 26-character id under an answer")
    return ref.upper() if _ULID.fullmatch(ref.upper()) else ref


# --- reading ---------------------------------------------------------------------------------------------


def load_record(db: Database, ref: str) -> dict[str, Any] | None:
    """The record ``ref`` (its note, ``hash``, ``seq``, the log's last seq and its feedback), or None."""
    with db.session() as s:
        row = s.execute(select(AuditRecordRow).where(AuditRecordRow.id == ref)).scalar_one_or_none()
        if row is None and ref != ref.upper():
            row = s.execute(select(AuditRecordRow).where(AuditRecordRow.id == ref.upper())).scalar_one_or_none()
        if row is None:
            return None
        last = s.execute(select(func.max(AuditRecordRow.seq))).scalar()
        votes = s.execute(select(FeedbackRow.user, FeedbackRow.value, FeedbackRow.created_at)
                          .where(FeedbackRow.note_id == row.id).order_by(FeedbackRow.created_at)).all()
    try:
        note = json.loads(row.note)
    except ValueError:
        note = {"id": row.id, "created_at": row.created_at, "surface": row.surface, "verdict": row.verdict,
                "corrupt": True}
    return {"note": note, "hash": row.hash, "seq": int(row.seq), "last_seq": int(last or row.seq),
            "feedback": [{"user": u, "value": int(v), "at": at} for u, v, at in votes]}


# --- Block Kit -------------------------------------------------------------------------------------------


def _obj(note: dict[str, Any], key: str) -> dict[str, Any]:
    value = note.get(key)
    return value if isinstance(value, dict) else {}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fields(*pairs: tuple[str, str | None]) -> dict[str, Any]:
    fields = [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", FIELD_CHARS)} for k, v in pairs if v]
    return {"type": "section", "fields": fields[:10]}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_CHARS)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, 2000)}]}


def _code(value: Any) -> str:
    return "`" + escape(str(value)).replace("`", "ˋ") + "`"


def _pseudonym(value: Any, pseudonymiser: Pseudonymiser) -> str | None:
    """How a person is shown: the pseudonym as stored; a raw Slack user id (never expected) pseudonymised."""
    if not value:
        return None
    text = str(value)
    return pseudonymiser.user(text) if _SLACK_USER.fullmatch(text) else text


def _route(route: dict[str, Any]) -> str | None:
    if not route:
        return None
    text = f"{route.get('strategy')} ({route.get('reason')}"
    for key, label in (("rule", "rule"), ("domain", "domain")):
        if route.get(key):
            text += f"; {label} {route[key]}"
    if route.get("score") is not None:
        text += f"; score {route.get('score')} vs threshold {route.get('threshold')}"
        if route.get("router"):
            text += f", router {route.get('router')}"
    return escape(text + ")")


def _model(model: dict[str, Any]) -> str | None:
    if not model:
        return None
    engine = " ".join(str(x) for x in (model.get("engine"), model.get("precision")) if x)
    text = f"{model.get('name')} ({model.get('backend')}{', ' + engine if engine else ''})"
    adapter = model.get("adapter")
    if isinstance(adapter, dict) and adapter.get("name"):
        text += f" + adapter {adapter['name']}@{adapter.get('version')}"
    return escape(text)


def _checks(results: list[Any]) -> str:
    lines = []
    for r in results:
        if not isinstance(r, dict):
            continue
        score, threshold = r.get("score"), r.get("threshold")
        shown = f"{float(score):.4f}" if isinstance(score, int | float) else "-"
        against = f" (threshold {threshold})" if threshold is not None else ""
        outcome = "✅ passed" if r.get("passed") else "❌ *failed*"
        line = f"• *{escape(str(r.get('check')))}*: score {shown}{against} · {outcome}"
        if r.get("label"):
            line += f" · label {escape(str(r['label']))}"
        lines.append(line)
    return "\n".join(lines) or "_not run_"


def _feedback(votes: list[dict[str, Any]]) -> str:
    if not votes:
        return "*Feedback*: none"
    up = sum(1 for v in votes if v["value"] > 0)
    lines = [f"*Feedback*: 👍 {up} · 👎 {len(votes) - up}"]
    for v in votes[-FEEDBACK_SHOWN:]:
        lines.append(f"• {'👍' if v['value'] > 0 else '👎'} {_code(v['user'])} at {escape(str(v['at']))}")
    if len(votes) > FEEDBACK_SHOWN:
        lines.append(f"_… and {len(votes) - FEEDBACK_SHOWN} earlier_")
    return "\n".join(lines)


def record_blocks(record: dict[str, Any], pseudonymiser: Pseudonymiser) -> list[dict[str, Any]]:
    """One record as Block Kit (a message's limits: at most 50 blocks, sections of 3,000, fields of 2,000)."""
    note = record["note"]
    route, tpl, model, guard = (_obj(note, k) for k in ("route", "template", "model", "guardrails"))
    slack, change, latency = _obj(note, "slack"), _obj(note, "change"), _obj(note, "latency_ms")
    user = _pseudonym(note.get("user") or slack.get("user"), pseudonymiser)
    where = escape(str(note.get("surface")))
    if slack.get("channel"):
        where += f" · channel {escape(str(slack['channel']))}"
    template = f"{tpl.get('name')}@{tpl.get('version')}" + (f" ({tpl['variant']})" if tpl.get("variant") else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(f"Audit record {note.get('id')}", 150)}},
        _fields(("Verdict", f"*{escape(str(note.get('verdict')))}*"), ("Time", escape(str(note.get("created_at")))),
                ("Surface", where), ("User (pseudonym)", _code(user) if user else "-")),
    ]
    if change:  # an administrative change: what and by whom (no reasons or messages: free text)
        what = None
        if change.get("template"):
            what = f"{change['template']}@{change.get('version')}"
        elif "live_config" in change:
            what = f"live@{change['live_config']}" if change["live_config"] else "the configuration file alone"
        blocks.append(_fields(("Change", escape(str(change.get("kind")))), ("Of", escape(what) if what else None),
                              ("By", _code(_pseudonym(change.get("actor"), pseudonymiser))
                               if change.get("actor") else None),
                              ("Override", "yes" if change.get("override") else None)))
    if route or tpl or model:
        blocks.append(_fields(("Route", _route(route)), ("Template", escape(template) if tpl else None),
                              ("Model", _model(model)),
                              ("Policy", escape(str(guard.get("policy"))) if guard.get("policy") else None)))
    if guard:
        blocks.append({"type": "divider"})
        live = f" · live config v{guard['live_config']}" if guard.get("live_config") else ""
        blocks.append(_section(f"*Guardrails* · action *{escape(str(guard.get('action')))}*{live}"))
        for stage, title in STAGES:
            if stage in guard or stage != "first_output":
                blocks.append(_section(f"*{title}*\n{_checks(guard.get(stage) or [])}"))
    error = _obj(note, "error")
    if error:
        blocks.append(_section(f"*Failure*: {escape(str(error.get('type')))}"
                               + (f" ({escape(str(error['reason']))})" if error.get("reason") else "")))
    blocks.append({"type": "divider"})
    timing = ", ".join(f"{escape(str(k))} {v}" for k, v in latency.items() if k != "total")
    blocks.append(_fields(
        ("Latency", f"total {latency['total']} ms" + (f" ({timing})" if timing else "")
         if latency.get("total") is not None else None),
        ("Audit chain", f"seq {record['seq']} of {record['last_seq']} · hash `{str(record['hash'])[:16]}…`"),
    ))
    blocks.append(_section(_feedback(record["feedback"])))
    blocks.append(_context("The record keeps keyed fingerprints of the question and the answer, never their text. "
                           f"All of it: `decorum audit show {escape(str(note.get('id')))}` on the server."))
    return blocks[:MAX_BLOCKS]


# --- the command -----------------------------------------------------------------------------------------


def _refusal(role: str | None) -> str:
    needed = PERMISSIONS[PERMISSION]
    return (f":no_entry_sign: Reading the audit log needs the *{needed}* role or above (`{PERMISSION}`); yours: "
            f"*{role or 'none'}*. Roles come from the team's Decorum admin (`access.slack_roles`).")


async def _reply(cmd: SlashCommand, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    await cmd.ack(text=_cut(text, FALLBACK_CHARS), blocks=blocks or [_section(text)], response_type="ephemeral")


async def require_auditor(cmd: SlashCommand) -> Principal | None:
    """The person, when they may read the log; else they are told which role it needs, and it is recorded."""
    who = await slack_principal(cmd)
    access = cmd.surface.runtime.access
    if who is None:  # Slack vouches for the person; they hold no role: a 403, as ``commands.require`` records it
        user = cmd.surface.runtime.pseudonymiser.user(str(cmd.body.get("user_id") or ""))
        await asyncio.to_thread(access.record, actor=user, via="slack", action=PERMISSION, outcome="denied_403",
                                surface="slack", target=TARGET)
        await _reply(cmd, _refusal(None))
        return None
    try:
        return await asyncio.to_thread(access.require, who, PERMISSION, surface="slack", target=TARGET)
    except (Unauthenticated, Forbidden):
        await _reply(cmd, _refusal(who.role))
        return None


async def _audit(cmd: SlashCommand) -> None:
    """``/decorum audit REF``: usage and malformed references need no role; looking one up does."""
    if not cmd.args.strip() or cmd.args.strip().lower() in ("help", "-h", "--help"):
        await _reply(cmd, usage())
        return
    try:
        ref = parse_ref(cmd.args)
    except BadReference as exc:
        shown = _code(_cut(unescape(cmd.args).strip(), 60))
        await _reply(cmd, f":no_entry_sign: {shown} is not an audit reference: {exc}.\n{usage()}")
        return
    who = await require_auditor(cmd)
    if who is None:
        return
    surface, team = cmd.surface, cmd.context.team_id
    record = await asyncio.to_thread(load_record, surface.runtime.db, ref)
    home = _obj(record["note"], "slack").get("team") if record else None
    if record is None or (team and home and home != team):  # another workspace's record is not shown here
        await _reply(cmd, f":mag: No audit record with the reference {_code(ref)}. Expected the id under an answer "
                          "(`Ref 01J…`) or in a refusal or apology; `decorum audit list` on the server lists them.")
        logger.info("slack audit lookup team=%s found=False", team)
        return
    note = record["note"]
    logger.info("slack audit lookup note=%s team=%s found=True", note.get("id"), team)
    await _reply(cmd, f"Audit record {note.get('id')}: {note.get('verdict')}, {note.get('created_at')}",
                 record_blocks(record, surface.runtime.pseudonymiser))


def register(bolt: AsyncApp, surface: SlackSurface) -> None:
    """``/decorum audit``: a subcommand only, no listener of its own."""
    surface.features.add_command("audit", _audit)
