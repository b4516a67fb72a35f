"""The audit log of transparency notes: append-only and hash-chained, with a keyed chain.

Each record's ``hash`` is HMAC-SHA256, with the chain key, over its sequence number and its note's
canonical JSON, and the note holds ``prev_hash``, the previous record's hash (the first record's is 64
zeros). Changing any stored field of any record, removing a record from the middle or reordering records
breaks the chain, and ``verify`` names the first record that does not hold. The chain key lives outside the
database (``ChainKey``): whoever can write the database but not read the key cannot recompute a valid chain
after an edit. Only the first write of an empty log makes a key; a log that holds records without its key
is refused (``ChainKeyMissing``), and ``audit verify`` never makes one (``chain_key_problems``), so a deleted
key cannot be passed off as a clean start. A log written before chain keys existed keeps its plain SHA-256
hashes and adopts a key explicitly (``adopt_chain_key``, an ``audit.chain_key`` record); the key file records
from which sequence number on the chain is keyed, so nobody can downgrade later records to plain hashes.
Signed checkpoints (``checkpoints.py``) add what a chain cannot show: that records at the end were removed.

The note's filterable fields are copied into indexed columns and ``audit_score`` rows on append
(``derived_fields``, ``score_rows``); ``verify`` checks that every copy agrees with its hashed note.

Example::

    log = SqlAuditLog(db)
    stored = log.append({"id": "01J...", "created_at": "...", "surface": "cli", "verdict": "answered"})
    assert log.verify().ok
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from decorum.errors import AuditIntegrityError, StoreError, UsageError
from decorum.secrets_files import read_or_create_secret
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, AuditScoreRow, AuditTextRow

logger = logging.getLogger(__name__)

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


CHAIN_KEY_KIND = "audit.chain_key"  # the change record of a key adopted by a log that held records before it


class ChainKeyMissing(AuditIntegrityError):
    """The log holds records but the chain key is not there: restore it (a new key would hide the loss)."""


@dataclass(frozen=True)
class ChainKey:
    """The key of the chain's HMACs, kept in a file outside the database, and the first seq it covers.

    ``DECORUM_AUDIT_CHAIN_KEY`` names the file (default ``$DECORUM_DATA_DIR/audit-chain.key``, made 0600 by
    the first write of an empty log). A log that held records before it had a key keeps their plain hashes
    and adopts one (``adopt_chain_key``); records from ``keyed_from_seq`` on are keyed.
    """

    key: bytes
    keyed_from_seq: int

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"decorum-audit-chain-key:" + self.key).hexdigest()[:16]

    def for_seq(self, seq: int) -> bytes | None:
        return self.key if seq >= self.keyed_from_seq else None

    @classmethod
    def load(cls, path: Path) -> ChainKey | None:
        """The key at ``path``, or None where there is no file. Reads only: makes nothing, changes no mode."""
        try:
            raw = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the audit chain key {path}: "
                             f"{getattr(exc, 'strerror', None) or 'not ASCII'}") from exc
        return cls._parse(path, raw)

    @classmethod
    def open(cls, path: Path, db: Database | None = None) -> ChainKey:
        """Read the key at ``path``. Where there is none, ``db`` given and its log empty (a new deployment's
        first write), make one keyed from seq 1. A log that holds records without its key is refused
        (``ChainKeyMissing``, naming what to restore): a new key there would make a deleted key and a chain
        recomputed without it look like a clean start."""
        def make() -> str:  # called only where there is no file; raising leaves none
            if db is None:
                raise ChainKeyMissing(f"no audit chain key at {path}")
            count, last = log_extent(db)
            if count:
                raise ChainKeyMissing(
                    f"the audit chain key {path} is missing, but the audit log holds {count} records (up to seq "
                    f"{last}): restore the key file from its backup (`decorum audit verify` names the key id it "
                    "needs). Decorum makes a key only for an empty log; a log written before chain keys existed "
                    "adopts one with `decorum audit adopt-chain-key`")
            return cls._new(1)

        return cls._parse(path, read_or_create_secret(path, make))  # an existing file's mode is narrowed to 0600

    @staticmethod
    def _new(keyed_from_seq: int) -> str:
        return json.dumps({"format": "decorum-audit-chain-key/1", "key": secrets.token_hex(32),
                           "keyed_from_seq": keyed_from_seq})

    @classmethod
    def _parse(cls, path: Path, raw: str) -> ChainKey:
        try:
            data = json.loads(raw)
            key, start = bytes.fromhex(data["key"]), int(data["keyed_from_seq"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path} is not a Decorum audit chain key") from exc
        if len(key) < 16 or start < 1:
            raise UsageError(f"{path} is not a Decorum audit chain key")
        return cls(key, start)


def log_extent(db: Database) -> tuple[int, int]:
    """(number of records, last seq) of the audit log; (0, 0) when it is empty."""
    with db.session() as s:
        count = int(s.execute(select(func.count()).select_from(AuditRecordRow)).scalar_one())
        last = int(s.execute(select(func.max(AuditRecordRow.seq))).scalar() or 0)
    return count, last


def _adoptions(db: Database) -> list[dict[str, Any]]:
    """The ``audit.chain_key`` records (seq, key_id, keyed_from_seq), oldest first."""
    out = []
    with db.session() as s:
        rows = s.execute(select(AuditRecordRow.seq, AuditRecordRow.note)
                         .where(AuditRecordRow.verdict == "change",
                                AuditRecordRow.note.like(f'%"kind":"{CHAIN_KEY_KIND}"%'))
                         .order_by(AuditRecordRow.seq)).all()
    for seq, note_json in rows:
        try:
            body = json.loads(note_json)
        except ValueError:
            continue
        change = body.get("change") if isinstance(body, dict) else None
        if not isinstance(change, dict):
            continue
        start = change.get("keyed_from_seq")
        if change.get("kind") == CHAIN_KEY_KIND:
            out.append({"seq": int(seq), "key_id": change.get("key_id"),
                        "keyed_from_seq": start if isinstance(start, int) and start > 0 else None})
    return out


def _first_unplain(db: Database) -> int | None:
    """The first record whose hash is not the plain SHA-256 of its content: a keyed one (or a tampered one)."""
    for row in SqlAuditLog(db).iter_all():
        if not hmac.compare_digest(record_hash(row.seq, row.note), row.hash):
            return int(row.seq)
    return None


def adopt_chain_key(path: Path, db: Database, *, actor: str, surface: str = "cli") -> tuple[ChainKey, dict[str, Any]]:
    """Give a log written before chain keys existed a key from its next record on, recorded in the log.

    Refused for an empty log (its first write makes a key), for a log with a keyed record (its key was
    lost: restore it), and for a key that covers the log from its first record. A key an older Decorum made
    for such a log (keyed from a later seq, no ``audit.chain_key`` record) gets its record now.
    """
    key, created = ChainKey.load(path), False
    if key is not None:
        if key.keyed_from_seq == 1:
            raise UsageError(f"{path} (key id {key.key_id}) keys the log from its first record: nothing to adopt")
        if any(a["key_id"] == key.key_id for a in _adoptions(db)):
            raise UsageError(f"{path} (key id {key.key_id}) is adopted already")
    else:
        count, last = log_extent(db)
        if not count:
            raise UsageError("the audit log is empty: its first write makes a chain key; nothing to adopt")
        keyed = _first_unplain(db)
        if keyed is not None:
            raise UsageError(f"record seq {keyed} of the audit log has a keyed hash: the log was keyed, and its "
                             f"key is missing. Restore {path} from its backup; a new key would hide the lost one")
        read_or_create_secret(path, lambda: ChainKey._new(last + 1))
        key, created = ChainKey.load(path), True
        if key is None or key.keyed_from_seq != last + 1:
            raise UsageError(f"{path} appeared while adopting (another process?); run `decorum audit verify`")
    log = SqlAuditLog(db, chain_key=key)
    try:
        record = log.append_change(CHAIN_KEY_KIND, actor=actor, surface=surface, key_id=key.key_id,
                                   keyed_from_seq=key.keyed_from_seq,
                                   message=f"chain key {key.key_id} adopted: records from seq {key.keyed_from_seq} on "
                                           "are keyed, the ones before keep plain SHA-256 hashes")
    except Exception:
        if created and log_extent(db)[1] < key.keyed_from_seq:
            path.unlink(missing_ok=True)  # nothing was written with it: leave the log as it was
        raise
    return key, record


def chain_key_problems(db: Database, path: Path, key: ChainKey | None,
                       witnessed: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> list[str]:
    """What is wrong with the chain key ``verify`` is about to use (``key``: what ``path`` holds, None when
    nothing), given the checkpoints whose signatures verified (``(source, payload)``; a payload names the
    chain key it saw as ``chain_key_id`` and ``keyed_from_seq``). Reads only.

    * no key while the log holds records: the key was deleted (a log keyed since its first record cannot be
      verified without it): restore it. The first keyed seq comes from a checkpoint, else from the first
      record whose hash is not plain SHA-256, else from an ``audit.chain_key`` record, else seq 1.
    * a key other than the one a checkpoint names: restore the one named.
    * a key that starts after seq 1 without an ``audit.chain_key`` record naming it: a key made for a log
      that already held records, not by Decorum's first write (a replaced key).
    """
    named = [(src, p) for src, p in witnessed if p.get("chain_key_id")]
    # the newest checkpoint that names a key; of equals, an outside witness's copy
    expected = max(named, key=lambda sp: (int(sp[1].get("seq") or 0), sp[0] != "stored")) if named else None
    by = ""
    if expected is not None:
        where = "the database" if expected[0] == "stored" else expected[0]
        by = f"the checkpoint of seq {expected[1].get('seq')} in {where}"
    count, last = log_extent(db)
    restore = (f" (key id {expected[1]['chain_key_id']}, named by {by})" if expected else "")
    if key is None:
        if not count and expected is None:
            return []  # an empty log, never keyed: nothing to verify yet
        if expected is not None:
            first, why = int(expected[1].get("keyed_from_seq") or 1), f"named by {by}"
        elif (unplain := _first_unplain(db)) is not None:
            first, why = unplain, "its hash is not plain SHA-256"
        elif adopted := _adoptions(db):
            first, why = int(adopted[0]["keyed_from_seq"] or adopted[0]["seq"]), "its audit.chain_key record says so"
        else:
            first, why = 1, "Decorum keys a log from its first record"
        return [f"the audit chain key {path} is missing, but the log holds {count} records (up to seq {last}); "
                f"the first keyed record is seq {first} ({why}), and no record from there on can be verified "
                f"without the key. Restore {path}{restore} from its backup: `audit verify` never makes a key, and "
                "a new one would not vouch for the old records. (A log written wholly before Decorum kept chain "
                "keys, every hash plain SHA-256, adopts one with `decorum audit adopt-chain-key`.)"]
    problems = []
    if expected is not None and expected[1]["chain_key_id"] != key.key_id:
        problems.append(f"the audit chain key {path} (key id {key.key_id}, keyed from seq {key.keyed_from_seq}) is "
                        f"not the one the log was written with: {by} names key id "
                        f"{expected[1]['chain_key_id']}, keyed from seq {expected[1].get('keyed_from_seq')}. "
                        f"Restore that key file to {path}")
    elif key.keyed_from_seq > 1 and not any(a["key_id"] == key.key_id and a["keyed_from_seq"] == key.keyed_from_seq
                                            for a in _adoptions(db)):
        problems.append(f"the audit chain key {path} (key id {key.key_id}) keys the log from seq {key.keyed_from_seq}, "
                        f"but no {CHAIN_KEY_KIND} record adopts it: a key made after the log held records, not by "
                        "its first write (a replaced key; restore the original). A key an older Decorum made for a "
                        "log that predates chain keys is recorded with `decorum audit adopt-chain-key`")
    return problems


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


class Pseudonymiser:
    """Keyed hashes (HMAC-SHA256 with the audit key) of user ids and texts: stable per key, not reversible.

    Without the key nobody can confirm a guessed question against a note; with it, an auditor can::

        hmac.new(key, question.encode(), hashlib.sha256).hexdigest() == note["request"]["hmac_sha256"]

    Keys rotate (``decorum audit rotate-pseudonym-key``): the retired ones stay in ``<data_dir>/audit-keys/``
    so that a person's older records are still found (``audit subject``) and kept texts still match their
    notes; each note names the key that made its pseudonyms (``pseudonym_key``).
    """

    def __init__(self, key: bytes, *, retired: tuple[Pseudonymiser, ...] = ()) -> None:
        if len(key) < 16:
            raise UsageError("the audit key must be at least 16 bytes")
        self._key = key
        self.retired = retired

    @classmethod
    def load(cls, secret: str | None, data_dir: Path) -> Pseudonymiser | None:
        """Like ``from_settings`` but reading only: None when there is no key yet (nothing made)."""
        key_file = data_dir / "audit.key"
        if not secret and not key_file.is_file():
            return None
        retired_dir = data_dir / RETIRED_KEYS
        retired = tuple(cls(p.read_text(encoding="utf-8").strip().encode())
                        for p in sorted(retired_dir.glob("*.key"))) if retired_dir.is_dir() else ()
        key = secret or key_file.read_text(encoding="ascii").strip()
        return cls(key.encode(), retired=retired)

    @classmethod
    def from_settings(cls, secret: str | None, data_dir: Path) -> Pseudonymiser:
        """Use ``DECORUM_AUDIT_KEY`` or a key generated once into ``<data_dir>/audit.key`` (0600 from the start);
        the retired keys in ``<data_dir>/audit-keys/`` come along for lookups."""
        retired_dir = data_dir / RETIRED_KEYS
        retired = tuple(cls(p.read_text(encoding="utf-8").strip().encode())
                        for p in sorted(retired_dir.glob("*.key"))) if retired_dir.is_dir() else ()
        if secret:
            return cls(secret.encode(), retired=retired)
        key = read_or_create_secret(data_dir / "audit.key", lambda: secrets.token_hex(32))
        return cls(key.encode(), retired=retired)

    @property
    def key_id(self) -> str:
        """A short public name of the key (not a secret: a hash of it)."""
        return "k" + hashlib.sha256(b"decorum-pseudonym-key:" + self._key).hexdigest()[:11]

    def keys(self) -> tuple[Pseudonymiser, ...]:
        """This key first, then the retired ones."""
        return (self, *self.retired)

    def for_key(self, key_id: str | None) -> Pseudonymiser | None:
        """The key (current or retired) named ``key_id``; notes without one were made by the current or oldest."""
        return next((k for k in self.keys() if k.key_id == key_id), None)

    def user(self, user_id: str) -> str:
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:32]}"

    def fingerprint(self, text: str) -> dict[str, Any]:
        """What a note keeps of a question or answer: its keyed hash and length, never the text."""
        digest = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return {"hmac_sha256": digest, "chars": len(text)}

    @staticmethod
    def rotate(secret: str | None, data_dir: Path) -> tuple[str, str]:
        """Retire ``<data_dir>/audit.key`` into ``audit-keys/`` and make a new one; (old id, new id).

        Processes read the key at start: restart them to use the new one. A key given as ``DECORUM_AUDIT_KEY``
        is rotated by whoever set it (refused here).
        """
        if secret:
            raise UsageError("the pseudonym key comes from DECORUM_AUDIT_KEY: rotate it there, and keep the old "
                             f"value in {data_dir / RETIRED_KEYS}/<name>.key (0600) so older records stay findable")
        current = data_dir / "audit.key"
        old = Pseudonymiser.from_settings(None, data_dir)
        retired_dir = data_dir / RETIRED_KEYS
        retired_dir.mkdir(mode=0o700, exist_ok=True)
        target = retired_dir / f"{old.key_id}.key"
        read_or_create_secret(target, lambda: current.read_text(encoding="utf-8"))
        if target.read_text(encoding="utf-8").strip().encode() != old._key:
            raise UsageError(f"{target} exists with another key; nothing rotated")
        current.unlink()
        new = Pseudonymiser.from_settings(None, data_dir)
        return old.key_id, new.key_id


RETIRED_KEYS = "audit-keys"


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
        from decorum.guardrails.note_schema import validate_note

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
        from decorum.bot.note import new_id, utc_now
        from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION

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
        """Walk the whole chain; the first record that does not hold is named.

        Each record's hash (keyed where the chain key covers it), its link to the previous record, its
        columns and its score rows must all agree with its note.
        """
        prev, expected_seq, checked = GENESIS, 1, 0
        scores = self._iter_scores()
        pending = next(scores, None)
        for row in self.iter_all():
            reason = _check_row(row, prev, expected_seq, self._key(row.seq))
            stored: list[dict[str, Any]] = []
            while pending is not None and pending["seq"] <= row.seq:
                if pending["seq"] < row.seq:  # score rows of a record that is not there
                    return Verification(False, checked, row.id, row.seq,
                                        f"score rows of seq {pending['seq']} have no record (a record was removed)")
                stored.append({k: v for k, v in pending.items() if k != "seq"})
                pending = next(scores, None)
            if not reason:
                reason = _check_scores(row, stored)
            if reason:
                return Verification(False, checked, row.id, row.seq, reason)
            prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
        if pending is not None:
            return Verification(False, checked, None, pending["seq"],
                                f"score rows of seq {pending['seq']} have no record (a record was removed)")
        return Verification(True, checked)

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
        reason = _check_row(row, prev_hash, expected_seq, self._key(row.seq)) or _check_scores(row, scores)
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


def _row_note(row: AuditRecordRow) -> dict[str, Any]:
    try:
        note = json.loads(row.note)
    except ValueError:
        note = {"id": row.id, "corrupt": True}
    return {**note, "hash": row.hash}


def _check_row(row: AuditRecordRow, prev: str, expected_seq: int, key: bytes | None = None) -> str:
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


def _check_scores(row: AuditRecordRow, stored: list[dict[str, Any]]) -> str:
    note = json.loads(row.note)
    want = sorted(score_rows(note), key=lambda r: (r["stage"], r["check"]))
    stored = sorted(stored, key=lambda r: (r["stage"], r["check"]))
    if len(want) != len(stored) or any(
            w["stage"] != g["stage"] or w["check"] != g["check"] or bool(w["passed"]) != bool(g["passed"])
            or abs(w["score"] - g["score"]) > 1e-9 for w, g in zip(want, stored, strict=False)):
        return "score rows differ from the note's guardrail results"
    return ""
