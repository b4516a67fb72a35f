"""The chain key of the audit log: the HMAC key of its hashes, kept in a file outside the database, and the first
seq it covers. Only the first write of an empty log makes a key; a log that holds records without its key is
refused (``ChainKeyMissing``), and ``audit verify`` never makes one (``chain_key_problems``), so a deleted key
cannot be passed off as a clean start. A log written before chain keys existed keeps its plain SHA-256 hashes
and adopts a key explicitly (``adopt_chain_key``, an ``audit.chain_key`` record).

Example::

    key = ChainKey.open(settings.audit_chain_key_path, db)   # made only for an empty log
    log = SqlAuditLog(db, chain_key=key)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from decorum.audit.log import SqlAuditLog
from decorum.audit.records import record_hash
from decorum.errors import AuditIntegrityError, UsageError
from decorum.secrets_files import read_or_create_secret
from decorum.store import Database
from decorum.store.tables import AuditRecordRow

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
            return cls.new_file(1)

        return cls._parse(path, read_or_create_secret(path, make))  # an existing file's mode is narrowed to 0600

    @staticmethod
    def new_file(keyed_from_seq: int) -> str:
        """The text of a new key file, keyed from ``keyed_from_seq``."""
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
        read_or_create_secret(path, lambda: ChainKey.new_file(last + 1))
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

