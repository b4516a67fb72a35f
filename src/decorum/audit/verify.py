"""Verification of the audit chain as pure functions over stored records: each record's hash (keyed where the
chain key covers it), its link to the record before it, its columns and its score rows must agree with its note.
``SqlAuditLog.verify`` feeds the rows from the database; nothing here reads or writes one.

Example::

    result = verify_chain(log.iter_all(), scores, key.for_seq)
    if not result.ok:
        print(result.first_bad_seq, result.reason)
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decorum.audit.records import COLUMNS, GENESIS, canonical_json, derived_fields, record_hash, score_rows

if TYPE_CHECKING:
    from decorum.store.tables import AuditRecordRow


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of walking the chain."""

    ok: bool
    checked: int
    first_bad_id: str | None = None
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(rows: Iterable[AuditRecordRow], scores: Iterator[dict[str, Any]],
                 key_for: Callable[[int], bytes | None]) -> Verification:
    """Walk the chain: ``rows`` in seq order, ``scores`` the score rows (``seq``, ``stage``, ``check``, ``score``,
    ``passed``) in (seq, stage, check) order, ``key_for(seq)`` the chain key of a seq (None: a plain hash). The
    first record that does not hold is named."""
    prev, expected_seq, checked = GENESIS, 1, 0
    pending = next(scores, None)
    for row in rows:
        reason = check_row(row, prev, expected_seq, key_for(row.seq))
        stored: list[dict[str, Any]] = []
        while pending is not None and pending["seq"] <= row.seq:
            if pending["seq"] < row.seq:  # score rows of a record that is not there
                return Verification(False, checked, row.id, row.seq,
                                    f"score rows of seq {pending['seq']} have no record (a record was removed)")
            stored.append({k: v for k, v in pending.items() if k != "seq"})
            pending = next(scores, None)
        if not reason:
            reason = check_scores(row, stored)
        if reason:
            return Verification(False, checked, row.id, row.seq, reason)
        prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
    if pending is not None:
        return Verification(False, checked, None, pending["seq"],
                            f"score rows of seq {pending['seq']} have no record (a record was removed)")
    return Verification(True, checked)


def check_row(row: AuditRecordRow, prev: str, expected_seq: int, key: bytes | None = None) -> str:
    """Why one record does not hold after ``prev`` (the previous record's hash) at ``expected_seq``; "" when it does."""
    if row.seq != expected_seq:
        return f"sequence gap: expected {expected_seq}, found {row.seq} (a record was removed)"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous record's hash"
    if not hmac.compare_digest(record_hash(row.seq, row.note, key), row.hash):
        return "hash does not match the record's content" + (" (keyed with the chain key)" if key else "")
    try:
        note = json.loads(row.note)
    except ValueError:
        return "note is not valid JSON"
    if canonical_json(note) != row.note:
        return "note is not in canonical form"
    if note.get("prev_hash") != row.prev_hash:
        return "note's prev_hash differs from the column"
    for col in COLUMNS:
        if str(note.get(col)) != str(getattr(row, col)):
            return f"column {col!r} differs from the note"
    for col, value in derived_fields(note).items():
        if getattr(row, col) != value:
            return f"column {col!r} differs from the note"
    return ""


def check_scores(row: AuditRecordRow, stored: list[dict[str, Any]]) -> str:
    """Why the stored score rows of a record differ from its note's guardrail results; "" when they agree."""
    note = json.loads(row.note)
    want = sorted(score_rows(note), key=lambda r: (r["stage"], r["check"]))
    stored = sorted(stored, key=lambda r: (r["stage"], r["check"]))
    if len(want) != len(stored) or any(
            w["stage"] != g["stage"] or w["check"] != g["check"] or bool(w["passed"]) != bool(g["passed"])
            or abs(w["score"] - g["score"]) > 1e-9 for w, g in zip(want, stored, strict=False)):
        return "score rows differ from the note's guardrail results"
    return ""
