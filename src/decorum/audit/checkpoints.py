"""Signed checkpoints of the audit log: an Ed25519 signature over (last seq, record count, head hash, time).

The hash chain alone proves order and content, not length: delete the newest records (or all of them, or
recompute the chain after an edit) and the chain still holds. A checkpoint signed with a key kept outside the
database pins the log as it was: ``decorum audit verify`` then fails when the log is shorter than a
checkpoint, or differs from it at the checkpoint's record, and when a checkpoint's signature does not verify
(forged, or signed by another key). Checkpoints are kept in the database (``audit_checkpoint``) and appended
to outside witnesses: the witness file ``DECORUM_AUDIT_WITNESS`` (``append_witness``; ``decorum serve`` and
``decorum audit checkpoint`` append every checkpoint they sign, ``audit verify`` reads it without being
told), a file given with ``--out``, the Slack witness channel. A witness copy still convicts a log whose stored
checkpoints were deleted too. A checkpoint also names the chain key it saw (``chain_key_id``,
``keyed_from_seq``), so a replaced or deleted chain key is named by whatever witnessed the log.

The key: ``DECORUM_AUDIT_SIGNING_KEY`` (a PEM file), default ``$DECORUM_DATA_DIR/audit-signing.key``, made
(mode 0600) by the first ``audit checkpoint``; its public half sits beside it (``.pub``) for verifiers.

Example::

    signer = Signer.open(settings.audit_signing_key_path)
    cp = create_checkpoint(db, signer)          # {"payload": {...}, "signature": "...", "key_id": "..."}
    problems = check_checkpoints(db, signer.public_key, [cp])
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from decorum.audit.chain_key import ChainKey
from decorum.audit.records import GENESIS, canonical_json
from decorum.errors import UsageError
from decorum.ids import utc_now
from decorum.store import Database
from decorum.store.tables import AuditCheckpointRow, AuditRecordRow

FORMAT = 1


@dataclass(frozen=True)
class Signer:
    """The Ed25519 key pair that signs checkpoints (private key in a file outside the database)."""

    private_key: Any
    public_key: Any

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Signer:
        """Load the key at ``path``; with ``create``, make one (0600, public half in ``path.pub``) if missing."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if not path.exists():
            if not create:
                raise UsageError(f"no audit signing key at {path} (decorum audit checkpoint makes one)")
            key = Ed25519PrivateKey.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            public_path(path).write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{path}: not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise UsageError(f"{path}: not an Ed25519 key")
        return cls(key, key.public_key())

    def sign(self, payload: dict[str, Any]) -> str:
        return base64.b64encode(self.private_key.sign(canonical_json(payload).encode())).decode()


def public_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def load_public_key(path: Path) -> Any:
    """A verifier's key: the ``.pub`` file beside the signing key (or a PEM public key given directly)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    pub = path if path.suffix == ".pub" else public_path(path)
    if not pub.exists():
        raise UsageError(f"no audit signing public key at {pub}")
    key = serialization.load_pem_public_key(pub.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{pub}: not an Ed25519 public key")
    return key


def key_id(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def create_checkpoint(db: Database, signer: Signer, *, at: str | None = None,
                      chain_key: ChainKey | None = None) -> dict[str, Any]:
    """Sign the log's head now and store the checkpoint; returns it. With ``chain_key``, the payload names
    it (``chain_key_id``, ``keyed_from_seq``: public facts, not the key)."""
    with db.session() as s:
        head = s.execute(select(AuditRecordRow.seq, AuditRecordRow.hash)
                         .order_by(AuditRecordRow.seq.desc()).limit(1)).first()
        count = int(s.execute(select(func.count()).select_from(AuditRecordRow)).scalar_one())
        seq, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        payload = {"format": FORMAT, "seq": seq, "count": count, "head_hash": head_hash, "at": at or utc_now(),
                   "key_id": key_id(signer.public_key)}
        if chain_key is not None:
            payload.update(chain_key_id=chain_key.key_id, keyed_from_seq=chain_key.keyed_from_seq)
        signature = signer.sign(payload)
        s.add(AuditCheckpointRow(seq=seq, head_hash=head_hash, at=payload["at"], key_id=payload["key_id"],
                                 payload=canonical_json(payload), signature=signature))
    return {"payload": payload, "signature": signature}


def stored_checkpoints(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.execute(select(AuditCheckpointRow).order_by(AuditCheckpointRow.id)).scalars().all()
    return [{"payload": json.loads(r.payload), "signature": r.signature} for r in rows]


def read_checkpoint_file(path: Path, *, torn_tail_ok: bool = False) -> list[dict[str, Any]]:
    """Checkpoints written by ``audit checkpoint --out FILE`` or to the witness file (one JSON object per line).

    ``torn_tail_ok``: a last line without its newline that is not JSON (an append cut short by a crash) is
    left out rather than refused."""
    if not path.is_file():
        raise UsageError(f"{path}: no such checkpoint file")
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc
    lines = content.splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            cp = json.loads(line)
        except ValueError as exc:
            if torn_tail_ok and n == len(lines) and not content.endswith("\n"):
                continue
            raise UsageError(f"{path.name}: line {n} is not JSON") from exc
        if not isinstance(cp, dict) or not isinstance(cp.get("payload"), dict) or not isinstance(
                cp.get("signature"), str):
            raise UsageError(f"{path.name}: line {n} is not a checkpoint ({{payload, signature}})")
        out.append(cp)
    return out


def checkpoint_line(cp: dict[str, Any]) -> str:
    """The checkpoint as one JSON line (what ``--out``, the witness file and the witness channel hold)."""
    return json.dumps(cp, sort_keys=True)


def witness_holds(path: Path, cp: dict[str, Any], *, tail_bytes: int = 65536) -> bool:
    """Whether the witness file's last lines hold ``cp`` already (so a retry does not append it twice)."""
    line = checkpoint_line(cp).encode()
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - tail_bytes))
            tail = fh.read()
    except FileNotFoundError:
        return False
    return line in tail.splitlines()


def append_witness(path: Path, cp: dict[str, Any]) -> bool:
    """Append ``cp`` to the witness file at ``path`` (made 0600 if absent; its folder is not made: a missing
    mount must fail, not fill the local disk). Returns False when the file held it already. ``OSError``
    (the storage is away, full, read-only) is the caller's to report."""
    if witness_holds(path, cp):
        return False
    data = (checkpoint_line(cp) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def signed_payloads(public_key: Any, checkpoints: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payloads of the checkpoints whose signatures verify with ``public_key`` (the ones to believe)."""
    from cryptography.exceptions import InvalidSignature

    out = []
    for cp in checkpoints:
        p = cp["payload"]
        try:
            public_key.verify(base64.b64decode(cp["signature"], validate=True), canonical_json(p).encode())
        except (InvalidSignature, ValueError, TypeError):
            continue
        out.append(p)
    return out


def check_checkpoints(db: Database, public_key: Any, checkpoints: Iterable[dict[str, Any]], *,
                      source: str = "") -> list[str]:
    """What is wrong, checkpoint by checkpoint: a bad signature, a log shorter than it, or a different record.
    ``source`` (``stored``, ``witness FILE``, a file) leads each line: where the checkpoint came from."""
    from cryptography.exceptions import InvalidSignature

    problems = []
    for cp in checkpoints:
        p = cp["payload"]
        head = str(p.get("head_hash") or "")
        where = (f"{source + ': ' if source else ''}checkpoint seq {p.get('seq')}"
                 + (f", head {head[:16]}…" if head else "") + f", signed {p.get('at')}")
        try:
            public_key.verify(base64.b64decode(cp["signature"], validate=True), canonical_json(p).encode())
        except (InvalidSignature, ValueError, TypeError):
            problems.append(f"{where}: the signature does not verify with this key (forged, or another key)")
            continue
        seq, head_hash = int(p["seq"]), str(p["head_hash"])
        if seq == 0:
            continue
        with db.session() as s:
            row = s.execute(select(AuditRecordRow.hash).where(AuditRecordRow.seq == seq)).first()
            last = s.execute(select(func.max(AuditRecordRow.seq))).scalar()
        if row is None:
            problems.append(f"{where}: the log ends at seq {last or 0}, shorter than the signed {seq} records "
                            f"(records were removed)")
        elif row[0] != head_hash:
            problems.append(f"{where}: record {seq} differs from the signed head hash (the log was rewritten)")
    return problems


__all__ = ["Signer", "append_witness", "check_checkpoints", "checkpoint_line", "create_checkpoint", "key_id",
           "load_public_key", "read_checkpoint_file", "signed_payloads", "stored_checkpoints", "witness_holds"]
