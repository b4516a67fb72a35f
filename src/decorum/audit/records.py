"""The record format of the audit log: the one hashed serialisation, the chain's hash, the note's fields copied
into indexed columns and ``audit_score`` rows, and the export row. Pure functions over notes and rows.

Example::

    note_json = canonical_json({**note, "prev_hash": GENESIS})
    digest = record_hash(1, note_json, key)         # keyed (HMAC-SHA256) when a chain key covers seq 1
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decorum.store.tables import AuditRecordRow

GENESIS = "0" * 64
TEXT_FIELDS = ("question", "answer")  # kept (when an admin turns it on) outside the note, under retention
COLUMNS = ("id", "created_at", "surface", "verdict")


def canonical_json(obj: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(seq: int, note_json: str, key: bytes | None = None) -> str:
    """SHA-256 of ``seq`` and the note; keyed (HMAC-SHA256) when ``key`` is given."""
    data = f"{seq}\n{note_json}".encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()


DERIVED = ("strategy", "template", "model", "adapter", "engine", "action", "channel", "user")


def derived_fields(note: Mapping[str, Any]) -> dict[str, str | None]:
    """The note's filterable fields, as stored in the record's indexed columns."""
    def obj(name: str) -> Mapping[str, Any]:
        value = note.get(name)
        return value if isinstance(value, Mapping) else {}

    route, tpl, model, guard, slack, change = (obj(n) for n in ("route", "template", "model", "guardrails",
                                                                 "slack", "change"))
    adapter = model.get("adapter") if isinstance(model.get("adapter"), Mapping) else {}
    template = None
    if tpl.get("name"):
        template = f"{tpl['name']}@{tpl.get('version')}"
    elif change.get("template"):
        template = f"{change['template']}@{change.get('version')}"
    user = note.get("user") or slack.get("user")

    def cut(value: Any, size: int) -> str | None:
        return None if value in (None, "") else str(value)[:size]

    return {
        "strategy": cut(route.get("strategy"), 32), "template": cut(template, 120),
        "model": cut(model.get("name"), 160),
        "adapter": cut(f"{adapter['name']}@{adapter.get('version')}" if adapter.get("name") else None, 120),
        "engine": cut(model.get("engine"), 32), "action": cut(guard.get("action"), 16),
        "channel": cut(slack.get("channel"), 64), "user": cut(user, 48),
    }


def score_rows(note: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The note's guardrail results (input and output stages), one row per check."""
    guard = note.get("guardrails")
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if isinstance(guard, Mapping):
        for stage in ("input", "output"):
            for r in guard.get(stage) or []:
                if isinstance(r, Mapping) and isinstance(r.get("score"), int | float) and r.get("check"):
                    rows[(stage, str(r["check"])[:40])] = {"stage": stage, "check": str(r["check"])[:40],
                                                           "score": float(r["score"]),
                                                           "passed": bool(r.get("passed"))}
    return list(rows.values())


CSV_FIELDS = ("seq", "id", "created_at", "surface", "verdict", "strategy", "template", "model", "adapter", "engine",
              "channel", "user", "input_passed", "output_passed", "action", "total_ms", "prev_hash", "hash", "note")


def csv_row(seq: int, note: Mapping[str, Any]) -> list[Any]:
    """One export row: the filterable fields as columns, then the whole note (canonical JSON, without hash)."""
    derived = derived_fields(note)
    guard = note.get("guardrails") or {}

    def passed(stage: str) -> str:
        results = guard.get(stage) or []
        return "" if not results else str(all(r.get("passed") for r in results)).lower()

    return [
        seq, note.get("id"), note.get("created_at"), note.get("surface"), note.get("verdict"),
        derived["strategy"], derived["template"], derived["model"], derived["adapter"], derived["engine"],
        derived["channel"], derived["user"], passed("input"), passed("output"), derived["action"],
        (note.get("latency_ms") or {}).get("total", ""), note.get("prev_hash"), note.get("hash"),
        canonical_json({k: v for k, v in note.items() if k != "hash"}),
    ]


def row_note(row: AuditRecordRow) -> dict[str, Any]:
    """The stored note with its hash (a note that is not JSON is marked ``corrupt``)."""
    try:
        note = json.loads(row.note)
    except ValueError:
        note = {"id": row.id, "corrupt": True}
    return {**note, "hash": row.hash}

