"""Block Kit: answers, refusals, the transparency-note modal, App Home. Pure functions, no Slack calls.

Slack's limits are enforced here: 3,000 characters per section, 50 blocks per message, and about 13,000
characters of block text per message (``msg_blocks_too_long``, observed, not documented), so a long answer
becomes several messages, the last carrying the footer and buttons.

Example::

    for msg in answer_messages(answer):
        await client.chat_postMessage(channel=c, thread_ts=ts, **msg.kwargs())
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from decorum.bot import messages
from decorum.bot.note import summary
from decorum.bot.pipeline import Answer

SECTION_CHARS = 3000  # a section's text
MAX_BLOCKS = 50  # a message's blocks
MESSAGE_CHARS = 11_000  # answer text per message, under the ~13,000 msg_blocks_too_long limit with the footer
FALLBACK_CHARS = 3000  # the notification text (``text``) of a message
MODAL_BLOCKS = 100
FIELD_CHARS = 2000

ACTION_FEEDBACK_UP = "decorum_feedback_up"
ACTION_FEEDBACK_DOWN = "decorum_feedback_down"
ACTION_WHY = "decorum_why"
ACTION_REPORT = "decorum_report_wrong"  # "This was wrong" under a refusal
VIEW_REPORT = "decorum_report"  # its modal (callback id)
REPORT_KEEP_BLOCK = "decorum_report_keep"
REPORT_KEEP_ACTION = "keep"
REPORT_KEEP_VALUE = "keep_text"
METADATA_EVENT = "decorum_answer"
FEEDBACK_VALUES = {ACTION_FEEDBACK_UP: 1, ACTION_FEEDBACK_DOWN: -1}

_FENCE = "```"


@dataclass(slots=True)
class SlackMessage:
    """One message to post: fallback ``text``, ``blocks`` and optional ``metadata``."""

    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "blocks": self.blocks, **self.extra}
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


# --- text ------------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's three control characters. Model output can never ping ``<!channel>`` or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack sends ``&amp; &lt; &gt;`` escaped; the model reads plain text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


def to_mrkdwn(text: str) -> str:
    """The model's Markdown as Slack mrkdwn: escaped, ``**bold**`` and ``# headings`` as ``*bold*``."""
    out = escape(text.strip())
    out = _HEADING.sub(lambda m: f"*{m.group(1)}*", out)
    return _BOLD.sub(lambda m: f"*{m.group(1)}*", out)


def _cut_point(text: str, room: int) -> int:
    """Where to cut ``text`` to keep at most ``room`` characters: a paragraph, line, sentence or word end."""
    window = text[:room]
    for sep, keep in (("\n\n", 0), ("\n", 0), (". ", 1), (" ", 0)):
        pos = window.rfind(sep)
        if pos >= room // 3:
            return pos + keep
    cut = room
    amp = window.rfind("&", max(0, room - 5))
    if amp != -1 and ";" not in window[amp:]:  # never split an escaped entity such as &amp;
        cut = amp
    return max(cut, 1)


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Split mrkdwn into pieces of at most ``limit`` characters; a code block cut in two is closed and reopened."""
    rest = text.strip()
    out: list[str] = []
    fence_open = False
    while rest:
        head = _FENCE + "\n" if fence_open else ""
        if len(head) + len(rest) <= limit:
            out.append(head + rest)
            break
        room = limit - len(head) - len("\n" + _FENCE)
        cut = _cut_point(rest, room)
        piece, rest = rest[:cut].rstrip(), rest[cut:]
        rest = rest.lstrip("\n") if rest.startswith("\n") else rest[1:] if rest.startswith(" ") else rest
        if piece.count(_FENCE) % 2:
            fence_open = not fence_open
        out.append(head + piece + ("\n" + _FENCE if fence_open else ""))
    return [p for p in out if p.strip()]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_CHARS]}}


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t[:FIELD_CHARS]} for t in texts[:10]]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True},
                           "action_id": action_id, "value": value}
    if style:
        out["style"] = style
    return out


# --- the note, summarised -----------------------------------------------------------------------------


def _stage_result(note: dict[str, Any], stage: str) -> str:
    results = (note.get("guardrails") or {}).get(stage) or []
    if not results:
        return f"{stage} not run"
    failed = [r["check"] for r in results if not r.get("passed")]
    return f"{stage} passed" if not failed else f"{stage} flagged ({', '.join(failed)})"


def guardrail_result(note: dict[str, Any]) -> str:
    """``input passed, output passed · action allow · policy default@1``: no scores."""
    guard = note.get("guardrails") or {}
    return (f"Guardrails: {_stage_result(note, 'input')}, {_stage_result(note, 'output')} · "
            f"action {guard.get('action')} · policy {guard.get('policy')}")


def _model_name(note: dict[str, Any]) -> str | None:
    model = note.get("model") or {}
    if not model:
        return None
    adapter = model.get("adapter")
    return str(model.get("name")) + (f" + {adapter['name']}@{adapter['version']}" if adapter else "")


def _template_ref(note: dict[str, Any]) -> str | None:
    tpl = note.get("template") or {}
    return f"{tpl.get('name')}@{tpl.get('version')}" if tpl else None


def footer(note: dict[str, Any]) -> dict[str, Any]:
    """The context footer: AI notice, strategy, template@version, model, guardrail result, reference id."""
    route = note.get("route") or {}
    parts = []
    if route:
        parts.append(f"Strategy *{route.get('strategy')}* ({route.get('reason')})")
    if _template_ref(note):
        parts.append(f"Template *{_template_ref(note)}*")
    if _model_name(note):
        parts.append(f"Model *{escape(str(_model_name(note)))}*")
    texts = [messages.slack_ai_notice()]
    if parts:
        texts.append(" · ".join(parts))
    texts += [guardrail_result(note), f"Ref `{note.get('id')}`"]
    request = note.get("request") or {}
    if request.get("truncated"):
        texts.append(messages.slack_truncated(int(request.get("chars_used") or 0)))
    return _context(*texts)


def metadata(note: dict[str, Any], *, part: int = 1, parts: int = 1) -> dict[str, Any]:
    """Message metadata: the note's summary fields and id (flat values only)."""
    guard = note.get("guardrails") or {}
    payload: dict[str, Any] = {
        "note_id": str(note.get("id")),
        "verdict": str(note.get("verdict")),
        "strategy": str((note.get("route") or {}).get("strategy") or ""),
        "template": _template_ref(note) or "",
        "model": _model_name(note) or "",
        "policy": str(guard.get("policy") or ""),
        "action": str(guard.get("action") or ""),
        "input": _stage_result(note, "input"),
        "output": _stage_result(note, "output"),
        "summary": summary(note),
        "part": part,
        "parts": parts,
    }
    return {"event_type": METADATA_EVENT, "event_payload": payload}


# --- "Why this answer?": a button bound to its note -------------------------------------------------------
# The button's value is the note id and a MAC of it (``ID~TAG``), so the button opens only the note it was posted
# with: a value made up or taken from elsewhere (another note's id, an admin change record's) fails the check
# (``why_note_id``). The MAC key is derived from the pseudonym key that made the note's pseudonyms (shared by the
# replicas; it rotates, and the retired keys stay readable), under a label that no text or user id can produce
# (``\xff`` never occurs in UTF-8), so no keyed hash stored in a note is ever a valid tag.
WHY_SEP = "~"
_NOTE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,39}")
_WHY_KEYS: dict[str, bytes] = {}  # pseudonym key id -> its "Why this answer?" key (``use_why_keys``)


def why_key(pseudonym_secret: bytes) -> bytes:
    """The "Why this answer?" MAC key derived from a pseudonym key's secret."""
    return hmac.new(pseudonym_secret, b"\xffdecorum slack why-this-answer button v1", hashlib.sha256).digest()


def use_why_keys(keys: dict[str, bytes]) -> None:
    """Sign "Why this answer?" buttons of notes made under these pseudonym keys (key id -> ``why_key``)."""
    _WHY_KEYS.update(keys)


def _why_tag(key: bytes, note_id: str) -> str:
    return hmac.new(key, b"why:" + note_id.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def why_value(note: dict[str, Any]) -> str:
    """The button's value for ``note``: ``ID~TAG``; the bare id only where no key is known (never accepted)."""
    note_id = str(note.get("id"))
    key = _WHY_KEYS.get(str(note.get("pseudonym_key")))
    if key is None or not _NOTE_ID.fullmatch(note_id):
        return note_id
    return f"{note_id}{WHY_SEP}{_why_tag(key, note_id)}"


def why_note_id(value: str) -> str | None:
    """The note id a button value names (signed or not: check it with ``why_signed``); None for anything else."""
    note_id = value.partition(WHY_SEP)[0]
    return note_id if _NOTE_ID.fullmatch(note_id) else None


def why_signed(value: str, key: bytes | None) -> bool:
    """Whether ``value`` is ``ID~TAG`` with the tag ``key`` makes for that id (constant-time)."""
    note_id, sep, tag = value.partition(WHY_SEP)
    if key is None or not sep or not _NOTE_ID.fullmatch(note_id) or not tag.isascii():
        return False
    return hmac.compare_digest(tag, _why_tag(key, note_id))


def _why_button(note: dict[str, Any]) -> dict[str, Any]:
    return _button("Why this answer?", ACTION_WHY, why_value(note))


# --- messages ------------------------------------------------------------------------------------------


def answer_messages(answer: Answer, *, with_metadata: bool = True) -> list[SlackMessage]:
    """The answer as one or more messages; the last has the footer, 👍 / 👎 and "Why this answer?"."""
    note = answer.note
    sections = split_text(to_mrkdwn(answer.text)) or [escape("(no text)")]
    per_message = MAX_BLOCKS - 3  # room for the footer, the buttons and a "continues" line
    groups: list[list[str]] = [[]]
    size = 0
    for s in sections:
        if groups[-1] and (len(groups[-1]) >= per_message or size + len(s) > MESSAGE_CHARS):
            groups.append([])
            size = 0
        groups[-1].append(s)
        size += len(s)
    out = []
    for i, group in enumerate(groups, start=1):
        blocks = [_section(s) for s in group]
        if i < len(groups):
            blocks.append(_context(messages.slack_continued(i, len(groups))))
        else:
            if answer.sources:
                blocks.append(_context(sources_line(answer)))
            blocks += [footer(note), {"type": "actions", "block_id": "decorum_answer_actions", "elements": [
                _button("👍", ACTION_FEEDBACK_UP, answer.id),
                _button("👎", ACTION_FEEDBACK_DOWN, answer.id),
                _why_button(note),
            ]}]
        fallback = "\n\n".join(group)[:FALLBACK_CHARS]
        out.append(SlackMessage(text=fallback, blocks=blocks,
                                metadata=metadata(note, part=i, parts=len(groups)) if with_metadata else None))
    return out


def sources_line(answer: Answer) -> str:
    """``Source: Annual leave (hr-annual-leave v3)``, the title a link where the entry has an address."""
    cited = []
    for src in answer.sources:
        title = escape(src.title)
        label = f"<{src.url}|{title}>" if src.url else title
        cited.append((label, f"{src.id} v{src.version}"))
    return messages.slack_sources(cited)


def streaming_message(text: str) -> SlackMessage:
    """An answer while it is generated: the checked text so far (what fits one message) and a "writing" line."""
    sections: list[str] = []
    size = 0
    for s in split_text(to_mrkdwn(text)):
        if len(sections) >= MAX_BLOCKS - 2 or size + len(s) > MESSAGE_CHARS:
            break  # the rest appears with the final answer
        sections.append(s)
        size += len(s)
    blocks = [_section(s) for s in sections] + [_context(messages.slack_streaming())]
    return SlackMessage(text=("\n\n".join(sections) or messages.slack_streaming())[:FALLBACK_CHARS], blocks=blocks)


def withdrawn_message() -> SlackMessage:
    """What replaces a streamed answer when a later part failed the checks (until the final message)."""
    return SlackMessage(text=messages.slack_withdrawn(), blocks=[_context(messages.slack_withdrawn())])


def refusal_message(answer: Answer, *, with_metadata: bool = True) -> SlackMessage:
    """A refusal: the kind message (category, reference id, what to do), the guardrail result, "Why?" and
    "This was wrong" (a report to the reviewers: ``report_modal``)."""
    note = answer.note
    blocks = [_section(":shield: " + escape(answer.text)),
              _context(messages.slack_ai_notice(), guardrail_result(note), f"Ref `{answer.id}`"),
              {"type": "actions", "block_id": "decorum_refusal_actions", "elements": [
                  _why_button(note), _button("This was wrong", ACTION_REPORT, answer.id)]}]
    return SlackMessage(text=escape(answer.text)[:FALLBACK_CHARS], blocks=blocks,
                        metadata=metadata(note) if with_metadata else None)


def apology_message(text: str, ref: str | None = None) -> SlackMessage:
    """A failure: an apology with the reference id (already in ``text``)."""
    blocks: list[dict[str, Any]] = [_section(":warning: " + escape(text))]
    if ref:
        blocks.append(_context(f"Ref `{ref}`"))
    return SlackMessage(text=escape(text)[:FALLBACK_CHARS], blocks=blocks)


def busy_message(text: str, ref: str | None = None) -> SlackMessage:
    """At capacity, rate-limited or queued: a notice (reference id already in ``text``), not an error."""
    blocks: list[dict[str, Any]] = [_section(":hourglass_flowing_sand: " + escape(text))]
    if ref:
        blocks.append(_context(f"Ref `{ref}`"))
    return SlackMessage(text=escape(text)[:FALLBACK_CHARS], blocks=blocks)


def text_message(text: str) -> SlackMessage:
    """Plain help or notice text (already mrkdwn) as a message."""
    return SlackMessage(text=text[:FALLBACK_CHARS], blocks=[_section(p) for p in split_text(text)][:MAX_BLOCKS])


def home_url(team: str | None, app_id: str | None) -> str | None:
    """A deep link to the app's Home tab (where the policy text is)."""
    if not team or not app_id:
        return None
    return f"slack://app?team={team}&id={app_id}&tab=home"


def home_view(extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """App Home: the policy text the first-contact notice links to, the help, then ``extra`` (the templates)."""
    return {"type": "home", "callback_id": "decorum_home", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Decorum: how this assistant works"}},
        *[_section(p) for p in split_text(messages.slack_policy_text())],
        {"type": "divider"},
        *[_section(p) for p in split_text(messages.slack_help())],
        *extra,
    ]}


# --- the transparency-note modal -----------------------------------------------------------------------


def _fields(*pairs: tuple[str, str | None]) -> dict[str, Any]:
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:FIELD_CHARS]} for k, v in pairs if v]
    return {"type": "section", "fields": fields[:10]}


def _short(digest: Any) -> str:
    return f"`{str(digest)[:12]}…`" if digest else "-"


def _checks(results: list[dict[str, Any]]) -> str:
    if not results:
        return "_not run_"
    lines = []
    for r in results:
        mark = "passed" if r.get("passed") else "*flagged*"
        line = f"• {r.get('check')}: score {float(r.get('score', 0)):.2f}, threshold {r.get('threshold')}, {mark}"
        if r.get("scorer"):
            line += f" ({escape(str(r['scorer']))})"
        lines.append(line)
    return "\n".join(lines)


def _model_field(model: dict[str, Any]) -> str:
    """``smollm2 (local, onnx int8), revision `a67…`, built `b84…```: which engine ran which build."""
    engine = " ".join(str(x) for x in (model.get("engine"), model.get("precision")) if x)
    text = (f"{escape(str(model.get('name')))} ({model.get('backend')}{', ' + engine if engine else ''}), "
            f"revision {_short(model.get('revision'))}")
    artifact = model.get("artifact_revision")
    if artifact and artifact != model.get("revision"):
        text += f", built {_short(artifact)}"
    return text


def note_modal(note: dict[str, Any]) -> dict[str, Any]:
    """The whole transparency note, readable first, then verbatim as JSON."""
    route = note.get("route") or {}
    tpl = note.get("template") or {}
    model = note.get("model") or {}
    guard = note.get("guardrails") or {}
    request = note.get("request") or {}
    route_text = None
    if route:
        route_text = f"{route.get('strategy')} ({route.get('reason')}"
        if route.get("score") is not None:
            route_text += f"; score {route.get('score')} vs threshold {route.get('threshold')}"
            if route.get("router"):
                route_text += f", router {route.get('router')}"
        route_text += ")"
    adapter = model.get("adapter") or {}
    blocks: list[dict[str, Any]] = [
        _fields(("Reference", f"`{note.get('id')}`"), ("Created", str(note.get("created_at"))),
                ("Verdict", str(note.get("verdict"))), ("Surface", str(note.get("surface")))),
        _fields(("Strategy", route_text),
                ("Template", f"{tpl.get('name')}@{tpl.get('version')} ({tpl.get('variant', 'standard')}), "
                             f"sha256 {_short(tpl.get('sha256'))}" if tpl else None),
                ("Model", _model_field(model) if model else None),
                ("Adapter", f"{adapter.get('name')}@{adapter.get('version')}, sha256 {_short(adapter.get('sha256'))}"
                 if adapter else None)),
        {"type": "divider"},
        _section(f"*Guardrails* (policy {guard.get('policy')}, action *{guard.get('action')}*)"),
        _section(f"*Question checks*\n{_checks(guard.get('input') or [])}"),
        _section(f"*Answer checks*\n{_checks(guard.get('output') or [])}"),
    ]
    if guard.get("first_output"):
        blocks.append(_section(f"*First draft's checks (not shown)*\n{_checks(guard['first_output'])}"))
    if note.get("error"):
        blocks.append(_section(f"*Failure*: {escape(str(note['error'].get('type')))}"))
    latency = note.get("latency_ms") or {}
    tokens = note.get("tokens") or {}
    blocks += [
        {"type": "divider"},
        _fields(("Latency (ms)", ", ".join(f"{k} {v}" for k, v in latency.items()) or None),
                ("Tokens", f"prompt {tokens.get('prompt', 0)}, completion {tokens.get('completion', 0)}"),
                ("Question", f"{request.get('chars')} characters, keyed hash {_short(request.get('hmac_sha256'))}"
                             + (", truncated" if request.get("truncated") else "")),
                ("Audit chain", f"hash {_short(note.get('hash'))}, previous {_short(note.get('prev_hash'))}")),
        {"type": "divider"},
        _section("*The whole note* (as stored in the audit log)"),
    ]
    raw = escape(json.dumps(note, indent=1, ensure_ascii=False, sort_keys=True))
    room = MODAL_BLOCKS - len(blocks)
    pieces = split_text(f"{_FENCE}\n{raw}\n{_FENCE}")
    if len(pieces) > room:
        pieces = [*pieces[:room - 1], "_(cut: export the note with `decorum audit show`)_"]
    blocks += [_section(p) for p in pieces]
    return {"type": "modal", "callback_id": "decorum_note", "private_metadata": str(note.get("id")),
            "title": {"type": "plain_text", "text": "Why this answer?"},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": blocks}


def missing_note_modal(ref: str) -> dict[str, Any]:
    return {"type": "modal", "callback_id": "decorum_note", "title": {"type": "plain_text", "text": "Why this answer?"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [_section(escape(messages.slack_note_missing(ref)))]}


# --- "This was wrong": the report modal ---------------------------------------------------------------


def report_modal(note_id: str, kind: str, retention_days: int) -> dict[str, Any]:
    """What a report does, and the opt-in to keep the text; ``private_metadata`` is the note id only, never text."""
    option = {"text": {"type": "plain_text", "text": messages.report_keep_text(retention_days)[:75]},
              "value": REPORT_KEEP_VALUE}
    return {"type": "modal", "callback_id": VIEW_REPORT, "private_metadata": json.dumps({"note": note_id}),
            "title": {"type": "plain_text", "text": "This was wrong"},
            "submit": {"type": "plain_text", "text": "Send report"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [_section(escape(messages.report_explainer(kind, retention_days))),
                       _context(f"Ref `{note_id}`"),
                       {"type": "input", "block_id": REPORT_KEEP_BLOCK, "optional": True,
                        "label": {"type": "plain_text", "text": "Your message text"},
                        "element": {"type": "checkboxes", "action_id": REPORT_KEEP_ACTION, "options": [option]}}]}


def report_done_modal(text: str) -> dict[str, Any]:
    """The report modal once answered: what happened (filed, already filed, refused)."""
    return {"type": "modal", "callback_id": VIEW_REPORT, "title": {"type": "plain_text", "text": "This was wrong"},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": [_section(escape(text))]}
