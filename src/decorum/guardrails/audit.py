"""The audit log of transparency notes: append-only and hash-chained.

Each record's ``hash`` is SHA-256 over its sequence number and its note's canonical JSON, and the note
holds ``prev_hash``, the previous record's hash (the first record's is 64 zeros). Changing any stored
field of any record, removing a record from the middle or reordering records breaks the chain, and
``verify`` names the first record that does not hold.

Example::

    log = SqlAuditLog(db)
    stored = log.append({"id": "01J...", "created_at": "...", "surface": "cli", "verdict": "answered"})
    assert log.verify().ok
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from decorum.errors import StoreError, UsageError
from decorum.secrets_files import read_or_create_secret
from decorum.store import Database
from decorum.store.tables import AuditRecordRow

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
COLUMNS = ("id", "created_at", "surface", "verdict")


def canonical_json(obj: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(seq: int, note_json: str) -> str:
    return hashlib.sha256(f"{seq}\n{note_json}".encode()).hexdigest()


class Pseudonymiser:
    """Keyed hashes (HMAC-SHA256 with the audit key) of user ids and texts: stable per key, not reversible.

    Without the key nobody can confirm a guessed question against a note; with it, an auditor can::

        hmac.new(key, question.encode(), hashlib.sha256).hexdigest() == note["request"]["hmac_sha256"]
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise UsageError("the audit key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_settings(cls, secret: str | None, data_dir: Path) -> Pseudonymiser:
        """Use ``DECORUM_AUDIT_KEY`` or a key generated once into ``<data_dir>/audit.key`` (0600 from the start)."""
        if secret:
            return cls(secret.encode())
        key = read_or_create_secret(data_dir / "audit.key", lambda: secrets.token_hex(32))
        return cls(key.encode())

    def user(self, user_id: str) -> str:
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:32]}"

    def fingerprint(self, text: str) -> dict[str, Any]:
        """What a note keeps of a question or answer: its keyed hash and length, never the text."""
        digest = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return {"hmac_sha256": digest, "chars": len(text)}


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of walking the chain."""

    ok: bool
    checked: int
    first_bad_id: str | None = None
    first_bad_seq: int | None = None
    reason: str = ""


class AuditLog(Protocol):
    """Where transparency notes are kept. ``append`` returns the note with ``prev_hash`` and ``hash``."""

    def append(self, note: Mapping[str, Any]) -> dict[str, Any]: ...

    def get(self, note_id: str) -> dict[str, Any]: ...

    def verify(self) -> Verification: ...


class SqlAuditLog:
    """The audit log in the project's database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, *, retries: int = 20) -> None:
        self.db = db
        self.retries = retries

    def append(self, note: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``note`` after the last record. Safe across threads and processes."""
        missing = [c for c in COLUMNS if not note.get(c)]
        if missing:
            raise UsageError(f"audit note lacks {', '.join(missing)}")
        body = {k: v for k, v in note.items() if k not in ("hash", "prev_hash")}
        for _attempt in range(self.retries):
            try:
                with self.db.session() as s:
                    if self.db.dialect == "postgresql":
                        s.execute(text("SELECT pg_advisory_xact_lock(731501)"))
                    last = s.execute(
                        select(AuditRecordRow.seq, AuditRecordRow.hash)
                        .order_by(AuditRecordRow.seq.desc())
                        .limit(1)
                    ).first()
                    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                    chained = {**body, "prev_hash": prev}
                    note_json = canonical_json(chained)
                    digest = record_hash(seq, note_json)
                    s.add(AuditRecordRow(
                        seq=seq, id=str(note["id"]), created_at=str(note["created_at"]),
                        surface=str(note["surface"]), verdict=str(note["verdict"]),
                        note=note_json, prev_hash=prev, hash=digest,
                    ))
                return {**chained, "hash": digest}
            except IntegrityError as exc:
                # Another writer took this place in the chain (or the id exists): read again.
                if self._exists(str(note["id"])):
                    raise UsageError(f"audit record {note['id']} exists already") from exc
                continue
            except SQLAlchemyError as exc:
                raise StoreError(f"audit append failed: {exc.__class__.__name__}") from exc
        raise StoreError(f"audit append lost the race {self.retries} times; database under heavy contention")

    def _exists(self, note_id: str) -> bool:
        with self.db.session() as s:
            return s.execute(select(AuditRecordRow.seq).where(AuditRecordRow.id == note_id)).first() is not None

    def get(self, note_id: str) -> dict[str, Any]:
        """The stored note with its hash. Unknown ids raise ``UsageError``."""
        with self.db.session() as s:
            row = s.execute(select(AuditRecordRow).where(AuditRecordRow.id == note_id)).scalar_one_or_none()
        if row is None:
            raise UsageError(f"no audit record with id {note_id!r}")
        return _row_note(row)

    def list(self, *, limit: int = 20, verdict: str | None = None, offset: int = 0,
             newest_first: bool = True) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(AuditRecordRow)
            if verdict:
                q = q.where(AuditRecordRow.verdict == verdict)
            order = AuditRecordRow.seq.desc() if newest_first else AuditRecordRow.seq.asc()
            rows = s.execute(q.order_by(order).offset(offset).limit(limit)).scalars().all()
        return [_row_note(r) for r in rows]

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.execute(select(func.count()).select_from(AuditRecordRow)).scalar_one())

    def iter_all(self, batch: int = 500) -> Iterator[AuditRecordRow]:
        """Every record in chain order, a page at a time."""
        after = 0
        while True:
            with self.db.session() as s:
                rows = s.execute(
                    select(AuditRecordRow).where(AuditRecordRow.seq > after)
                    .order_by(AuditRecordRow.seq).limit(batch)
                ).scalars().all()
            if not rows:
                return
            yield from rows
            after = rows[-1].seq

    def verify(self) -> Verification:
        """Walk the whole chain; the first record that does not hold is named."""
        prev, expected_seq, checked = GENESIS, 1, 0
        for row in self.iter_all():
            reason = _check_row(row, prev, expected_seq)
            if reason:
                return Verification(False, checked, row.id, row.seq, reason)
            prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
        return Verification(True, checked)

    def export(self, fmt: str, out: io.TextIOBase | Any) -> int:
        """Write every record (chain order) as ``jsonl`` or ``csv``; returns the count."""
        if fmt not in ("jsonl", "csv"):
            raise UsageError(f"unknown export format {fmt!r}; available: csv, jsonl")
        writer = csv.writer(out) if fmt == "csv" else None
        if writer:
            writer.writerow(CSV_FIELDS)
        n = 0
        for row in self.iter_all():
            note = _row_note(row)
            if writer:
                writer.writerow(csv_row(row.seq, note))
            else:
                out.write(canonical_json({"seq": row.seq, **note}) + "\n")
            n += 1
        return n


CSV_FIELDS = ("seq", "id", "created_at", "surface", "verdict", "strategy", "template", "model",
              "adapter", "input_passed", "output_passed", "action", "total_ms", "prev_hash", "hash", "note")


def csv_row(seq: int, note: Mapping[str, Any]) -> list[Any]:
    route = note.get("route") or {}
    tpl = note.get("template") or {}
    model = note.get("model") or {}
    adapter = model.get("adapter") or {}
    guard = note.get("guardrails") or {}

    def passed(stage: str) -> str:
        results = guard.get(stage) or []
        return "" if not results else str(all(r.get("passed") for r in results)).lower()

    return [
        seq, note.get("id"), note.get("created_at"), note.get("surface"), note.get("verdict"),
        route.get("strategy", ""), f"{tpl['name']}@{tpl['version']}" if tpl else "", model.get("name", ""),
        f"{adapter['name']}@{adapter.get('version', '')}" if adapter else "",
        passed("input"), passed("output"), guard.get("action", ""),
        (note.get("latency_ms") or {}).get("total", ""), note.get("prev_hash"), note.get("hash"),
        canonical_json({k: v for k, v in note.items() if k != "hash"}),
    ]


def _row_note(row: AuditRecordRow) -> dict[str, Any]:
    try:
        note = json.loads(row.note)
    except ValueError:
        note = {"id": row.id, "corrupt": True}
    return {**note, "hash": row.hash}


def _check_row(row: AuditRecordRow, prev: str, expected_seq: int) -> str:
    if row.seq != expected_seq:
        return f"sequence gap: expected {expected_seq}, found {row.seq} (a record was removed)"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous record's hash"
    if record_hash(row.seq, row.note) != row.hash:
        return "hash does not match the record's content"
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
    return ""
