"""The audit log of transparency notes: append-only and hash-chained, with a keyed chain.

Each record's ``hash`` is HMAC-SHA256, with the chain key, over its sequence number and its note's
canonical JSON, and the note holds ``prev_hash``, the previous record's hash (the first record's is 64
zeros). Changing any stored field of any record, removing a record from the middle or reordering records
breaks the chain, and ``verify`` (``verify.py``, pure functions over the rows) names the first record that does
not hold. The chain key lives outside the database (``ChainKey``, ``chain_key.py``): whoever can write the
database but not read the key cannot recompute a valid chain after an edit. Only the first write of an empty log
makes a key; a log that holds records without its key is refused (``ChainKeyMissing``), and ``audit verify``
never makes one (``chain_key_problems``), so a deleted key cannot be passed off as a clean start. A log written
before chain keys existed keeps its plain SHA-256 hashes and adopts a key explicitly (``adopt_chain_key``, an
``audit.chain_key`` record); the key file records from which sequence number on the chain is keyed, so nobody
can downgrade later records to plain hashes.
Signed checkpoints (``checkpoints.py``) add what a chain cannot show: that records at the end were removed.

The note's filterable fields are copied into indexed columns and ``audit_score`` rows on append
(``derived_fields``, ``score_rows``); ``verify`` checks that every copy agrees with its hashed note.

Example::

    log = SqlAuditLog(db)
    stored = log.append({"id": "01J...", "created_at": "...", "surface": "cli", "verdict": "answered"})
    assert log.verify().ok
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from decorum.audit.records import (
    COLUMNS,
    GENESIS,
    TEXT_FIELDS,
    canonical_json,
    derived_fields,
    record_hash,
    row_note,
    score_rows,
)
from decorum.audit.verify import Verification, check_row, check_scores, verify_chain
from decorum.errors import StoreError, UsageError
from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION, validate_note
from decorum.ids import new_id, utc_now
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, AuditScoreRow, AuditTextRow

if TYPE_CHECKING:
    from decorum.audit.chain_key import ChainKey

logger = logging.getLogger(__name__)


class AuditLog(Protocol):
    """Where transparency notes are kept. ``append`` returns the note with ``prev_hash`` and ``hash``."""

    def append(self, note: Mapping[str, Any], *, texts: Mapping[str, str] | None = None) -> dict[str, Any]: ...

    def get(self, note_id: str) -> dict[str, Any]: ...

    def verify(self) -> Verification: ...


class SqlAuditLog:
    """The audit log in the project's database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, *, chain_key: ChainKey | None = None, retries: int = 20) -> None:
        self.db = db
        self.chain_key = chain_key
        self.retries = retries

    def _key(self, seq: int) -> bytes | None:
        return self.chain_key.for_seq(seq) if self.chain_key else None

    def append(self, note: Mapping[str, Any], *, texts: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Chain ``note`` after the last record. Safe across threads and processes.

        ``texts`` (``question``/``answer``), when an admin keeps them, go to ``audit_text`` in the same
        transaction, outside the hashed note (whose fingerprints commit to them), until purged.
        """
        bad = [k for k in (texts or {}) if k not in TEXT_FIELDS]
        if bad:
            raise UsageError(f"unknown audit text field {bad[0]!r}; known: {', '.join(TEXT_FIELDS)}")
        missing = [c for c in COLUMNS if not note.get(c)]
        if missing:
            raise UsageError(f"audit note lacks {', '.join(missing)}")
        validate_note(note)  # the note schema (NoteSchemaError naming the field); a refused note stores nothing
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
                    digest = record_hash(seq, note_json, self._key(seq))
                    s.add(AuditRecordRow(
                        seq=seq, id=str(note["id"]), created_at=str(note["created_at"]),
                        surface=str(note["surface"]), verdict=str(note["verdict"]),
                        note=note_json, prev_hash=prev, hash=digest, **derived_fields(chained),
                    ))
                    s.flush()
                    for r in score_rows(chained):
                        s.add(AuditScoreRow(seq=seq, **r))
                    for name, value in (texts or {}).items():
                        s.add(AuditTextRow(note_id=str(note["id"]), field=name, text=value,
                                           stored_at=str(note["created_at"])))
                return {**chained, "hash": digest}
            except IntegrityError as exc:
                # Another writer took this place in the chain (or the id exists): read again.
                if self._exists(str(note["id"])):
                    raise UsageError(f"audit record {note['id']} exists already") from exc
                continue
            except SQLAlchemyError as exc:
                raise StoreError(f"audit append failed: {exc.__class__.__name__}") from exc
        raise StoreError(f"audit append lost the race {self.retries} times; database under heavy contention")

    def append_change(self, kind: str, *, actor: str, surface: str, **facts: Any) -> dict[str, Any]:
        """Record an admin or auditor action (``verdict: change``): ``kind`` like ``audit.purge``, who, and facts."""
        return self.append({"id": new_id(), "created_at": utc_now(), "surface": surface, "verdict": "change",
                            "schema_version": NOTE_SCHEMA_VERSION,
                            "change": {"kind": kind, "actor": actor, **facts}})

    def _exists(self, note_id: str) -> bool:
        with self.db.session() as s:
            return s.execute(select(AuditRecordRow.seq).where(AuditRecordRow.id == note_id)).first() is not None

    def get(self, note_id: str) -> dict[str, Any]:
        """The stored note with its hash. Unknown ids raise ``UsageError``."""
        with self.db.session() as s:
            row = s.execute(select(AuditRecordRow).where(AuditRecordRow.id == note_id)).scalar_one_or_none()
        if row is None:
            raise UsageError(f"no audit record with id {note_id!r}")
        return row_note(row)

    def list(self, *, limit: int = 20, verdict: str | None = None, offset: int = 0,
             newest_first: bool = True) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(AuditRecordRow)
            if verdict:
                q = q.where(AuditRecordRow.verdict == verdict)
            order = AuditRecordRow.seq.desc() if newest_first else AuditRecordRow.seq.asc()
            rows = s.execute(q.order_by(order).offset(offset).limit(limit)).scalars().all()
        return [row_note(r) for r in rows]

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
        """Walk the whole chain; the first record that does not hold is named.

        Each record's hash (keyed where the chain key covers it), its link to the previous record, its
        columns and its score rows must all agree with its note.
        """
        return verify_chain(self.iter_all(), self._iter_scores(), self._key)

    def verify_record(self, note_id: str) -> dict[str, Any]:
        """One record's own check (what the console shows beside it): its hash (keyed where the chain key
        covers it), its link to the record before it, its columns and score rows. ``verify`` walks them all."""
        with self.db.session() as s:
            row = s.execute(select(AuditRecordRow).where(AuditRecordRow.id == note_id)).scalar_one_or_none()
            if row is None:
                raise UsageError(f"no audit record with id {note_id!r}")
            prev = s.execute(select(AuditRecordRow.seq, AuditRecordRow.hash).where(AuditRecordRow.seq < row.seq)
                             .order_by(AuditRecordRow.seq.desc()).limit(1)).first()
            scores = [{"stage": r.stage, "check": r.check, "score": r.score, "passed": r.passed}
                      for r in s.execute(select(AuditScoreRow).where(AuditScoreRow.seq == row.seq)).scalars()]
            s.expunge(row)
        expected_seq, prev_hash = (prev[0] + 1, prev[1]) if prev else (1, GENESIS)
        reason = check_row(row, prev_hash, expected_seq, self._key(row.seq)) or check_scores(row, scores)
        return {"ok": not reason, "reason": reason, "seq": row.seq, "hash": row.hash, "prev_hash": row.prev_hash,
                "keyed": self._key(row.seq) is not None}

    def _iter_scores(self, batch: int = 2000) -> Iterator[dict[str, Any]]:
        after: tuple[int, str, str] = (0, "", "")
        while True:
            with self.db.session() as s:
                q = select(AuditScoreRow).order_by(AuditScoreRow.seq, AuditScoreRow.stage, AuditScoreRow.check)
                q = q.where(
                    (AuditScoreRow.seq > after[0])
                    | ((AuditScoreRow.seq == after[0]) & (AuditScoreRow.stage > after[1]))
                    | ((AuditScoreRow.seq == after[0]) & (AuditScoreRow.stage == after[1])
                       & (AuditScoreRow.check > after[2])))
                rows = s.execute(q.limit(batch)).scalars().all()
            if not rows:
                return
            for r in rows:
                yield {"seq": r.seq, "stage": r.stage, "check": r.check, "score": r.score, "passed": r.passed}
            last = rows[-1]
            after = (last.seq, last.stage, last.check)

