"""Kept texts under retention, and one person's records (access and erasure requests).

When an admin turns on keeping texts (``audit.store_question``/``store_answer``), the question and answer
are stored in ``audit_text``, outside the hashed note. The note keeps what it always kept: the text's keyed
hash and length (``request``/``response``), which commit to the text. So the purge (``decorum audit purge``)
deletes texts past ``audit.text_retention_days`` and ``audit verify`` stays green, and while a text is kept
``check_texts`` proves it is the one that was answered (a swapped text no longer matches its commitment).

``subject`` finds one person's records from their Slack or web user id, under the current pseudonym key and
every retired one, with their kept texts and feedback; ``erase_texts`` deletes those texts (the notes stay:
they hold only pseudonyms and keyed hashes). Every purge, lookup and erasure is itself an audit record.

Example::

    report = purge_texts(db, audit, older_than_days=30, actor="cli:alice")
    found = subject(db, pseudonymiser, "U024BE7LH")   # {"pseudonyms": [...], "records": [...], "texts": n}
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from decorum.audit.log import SqlAuditLog
from decorum.audit.pseudonyms import Pseudonymiser
from decorum.audit.query import iso
from decorum.errors import UsageError
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, AuditTextRow, FeedbackRow

_NOTE_FIELD = {"question": "request", "answer": "response"}


def purge_texts(db: Database, audit: SqlAuditLog, *, older_than_days: int, actor: str, surface: str = "cli",
                now: datetime | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Delete kept texts stored more than ``older_than_days`` ago; returns {cutoff, purged, kept}."""
    if older_than_days < 0:
        raise UsageError("--older-than must be 0 days or more")
    cutoff = iso((now or datetime.now(UTC)) - timedelta(days=older_than_days))
    with db.session() as s:
        old = AuditTextRow.stored_at < cutoff
        n = int(s.execute(select(func.count()).select_from(AuditTextRow).where(old)).scalar_one())
        if not dry_run and n:
            s.execute(delete(AuditTextRow).where(old))
        kept = int(s.execute(select(func.count()).select_from(AuditTextRow)).scalar_one())
    report = {"cutoff": cutoff, "purged": 0 if dry_run else n, "would_purge": n if dry_run else None,
              "kept": kept, "older_than_days": older_than_days}
    if not dry_run:
        record = audit.append_change("audit.purge", actor=actor, surface=surface,
                                     message=f"{n} kept texts stored before {cutoff} purged "
                                             f"({older_than_days} days retention)")
        report["record"] = record["id"]
    return report


def check_texts(db: Database, pseudonymiser: Pseudonymiser, *, batch: int = 500) -> tuple[int, list[str]]:
    """Each kept text against its note's commitment (the keyed hash made when it was answered)."""
    problems: list[str] = []
    checked, after = 0, ("", "")
    while True:
        with db.session() as s:
            rows = s.execute(
                select(AuditTextRow.note_id, AuditTextRow.field, AuditTextRow.text, AuditRecordRow.note)
                .join(AuditRecordRow, AuditRecordRow.id == AuditTextRow.note_id, isouter=True)
                .where((AuditTextRow.note_id > after[0])
                       | ((AuditTextRow.note_id == after[0]) & (AuditTextRow.field > after[1])))
                .order_by(AuditTextRow.note_id, AuditTextRow.field).limit(batch)).all()
        if not rows:
            return checked, problems
        for note_id, field, text, note_json in rows:
            checked += 1
            if note_json is None:
                problems.append(f"kept {field} of {note_id}: no such audit record")
                continue
            note = json.loads(note_json)
            fp = note.get(_NOTE_FIELD.get(field, "")) or {}
            keys = [k for k in [pseudonymiser.for_key(note.get("pseudonym_key"))] if k] or list(pseudonymiser.keys())
            want = str(fp.get("hmac_sha256", ""))
            if not any(hmac.compare_digest(k.fingerprint(text)["hmac_sha256"], want) for k in keys):
                problems.append(f"kept {field} of {note_id} does not match its note's keyed hash (the text was "
                                "changed, or its key is gone)")
        after = (rows[-1][0], rows[-1][1])


def subject(db: Database, pseudonymiser: Pseudonymiser, user_id: str, *, with_texts: bool = False,
            limit: int = 10_000) -> dict[str, Any]:
    """One person's records (as asker), under every pseudonym key; texts only when asked for."""
    user_id = user_id.strip()
    if not user_id or len(user_id) > 200 or not user_id.isprintable():
        raise UsageError("give the person's Slack user id (U…) or web user name")
    candidates = {user_id, f"web:{user_id}"} if not user_id.startswith("web:") else {user_id}
    pseudonyms = sorted({k.user(c) for k in pseudonymiser.keys() for c in candidates})
    with db.session() as s:
        rows = s.execute(select(AuditRecordRow.seq, AuditRecordRow.id, AuditRecordRow.created_at,
                                AuditRecordRow.verdict, AuditRecordRow.surface, AuditRecordRow.user)
                         .where(AuditRecordRow.user.in_(pseudonyms)).order_by(AuditRecordRow.seq).limit(limit)).all()
        ids = [r.id for r in rows]
        texts: dict[str, dict[str, str]] = {}
        for chunk in _chunks(ids, 500):
            for t in s.execute(select(AuditTextRow).where(AuditTextRow.note_id.in_(chunk))).scalars():
                texts.setdefault(t.note_id, {})[t.field] = t.text
        feedback = s.execute(select(FeedbackRow.note_id, FeedbackRow.value, FeedbackRow.created_at)
                             .where(FeedbackRow.user.in_(pseudonyms)).order_by(FeedbackRow.id)).all()
    records = []
    for r in rows:
        item: dict[str, Any] = {"seq": r.seq, "id": r.id, "created_at": r.created_at, "verdict": r.verdict,
                                "surface": r.surface, "pseudonym": r.user,
                                "texts_kept": sorted(texts.get(r.id, {}))}
        if with_texts and r.id in texts:
            item["texts"] = texts[r.id]
        records.append(item)
    return {"pseudonyms": pseudonyms, "keys": [k.key_id for k in pseudonymiser.keys()], "records": records,
            "feedback": [{"note_id": f.note_id, "value": f.value, "created_at": f.created_at} for f in feedback],
            "texts_kept": sum(len(v) for v in texts.values())}


def record_subject_request(audit: SqlAuditLog, pseudonyms: list[str], *, action: str, actor: str,
                           surface: str = "cli", count: int = 0) -> dict[str, Any]:
    """The lookup or erasure itself, as an audit record: the person named by a digest of their pseudonyms."""
    who = hashlib.sha256("\n".join(pseudonyms).encode()).hexdigest()
    return audit.append_change(f"audit.subject_{action}", actor=actor, surface=surface, sha256=who,
                   message=f"subject {action}: {count} records")


def erase_texts(db: Database, note_ids: list[str]) -> int:
    """Delete the kept texts of these records (the notes stay: pseudonyms and keyed hashes only)."""
    n = 0
    with db.session() as s:
        for chunk in _chunks(note_ids, 500):
            n += s.execute(delete(AuditTextRow).where(AuditTextRow.note_id.in_(chunk))).rowcount or 0
    return n


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
