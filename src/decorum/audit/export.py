"""Exports of the audit log (any filter, CSV or JSONL), streamed, with a signed manifest that checks offline.

An export is pinned to a signed checkpoint made when it starts: it holds the matching records up to that
checkpoint's seq (records appended meanwhile are not in it), so the same request gives the same bytes. Its
manifest says what it holds: the filter, the count, the first and last record (seq and hash), the SHA-256
of the exported bytes, the chain key's id and the covering checkpoint with its signature; the manifest itself
is signed with the audit signing key (Ed25519). ``decorum audit verify --export FILE`` then checks, with
the public key only: both signatures, the bytes' digest, count and ends, each record against its own
columns, and for an export of the whole log every link of the chain and its head against the checkpoint.
With the chain key as well (on the server, or handed to the auditor), each record's keyed hash is recomputed.

Example::

    manifest = export_to_file(db, AuditFilter(verdict="blocked_input"), "csv", Path("blocked.csv"),
                              signer=signer, chain_key=chain_key)       # writes blocked.csv.manifest.json too
    problems = verify_export(Path("blocked.csv"), public_key=signer.public_key, chain_key=chain_key)
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from decorum.audit.chain_key import ChainKey
from decorum.audit.checkpoints import Signer, create_checkpoint, key_id
from decorum.audit.query import AuditFilter
from decorum.audit.records import CSV_FIELDS, GENESIS, canonical_json, csv_row, record_hash
from decorum.errors import UsageError
from decorum.ids import utc_now
from decorum.store import Database
from decorum.store.tables import AuditRecordRow

FORMAT = "decorum-audit-export/1"
FORMATS = ("csv", "jsonl")
_CSV_MAX_FIELD = 16 * 1024 * 1024


def manifest_path(data: Path) -> Path:
    return data.with_name(data.name + ".manifest.json")


def head_seq(db: Database) -> int:
    with db.session() as s:
        return int(s.execute(select(func.max(AuditRecordRow.seq))).scalar() or 0)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; available: {', '.join(FORMATS)}")


_EXPORT_COLUMNS = (AuditRecordRow.seq, AuditRecordRow.id, AuditRecordRow.created_at, AuditRecordRow.surface,
                   AuditRecordRow.verdict, AuditRecordRow.strategy, AuditRecordRow.template, AuditRecordRow.model,
                   AuditRecordRow.adapter, AuditRecordRow.engine, AuditRecordRow.channel, AuditRecordRow.user,
                   AuditRecordRow.action, AuditRecordRow.prev_hash, AuditRecordRow.hash, AuditRecordRow.note)


def _rows(db: Database, flt: AuditFilter, upto: int, batch: int = 2000) -> Iterator[Any]:
    """The matching records up to ``upto`` as plain rows (no ORM objects: an export reads 100,000s)."""
    after, clauses = 0, flt.where()
    while True:
        with db.session() as s:
            rows = s.execute(select(*_EXPORT_COLUMNS).where(AuditRecordRow.seq > after, AuditRecordRow.seq <= upto,
                                                            *clauses)
                             .order_by(AuditRecordRow.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _jsonl_line(seq: int, note_json: str, digest: str) -> str:
    """The stored note (canonical JSON, never empty) with its ``hash`` and ``seq`` added: no parse, no re-dump."""
    return f'{note_json[:-1]},"hash":"{digest}","seq":{seq}}}\n'


def _passed(results: Any) -> str:
    return "" if not results else str(all(r.get("passed") for r in results)).lower()


def _csv_values(row: Any) -> list[Any]:
    """``audit.csv_row`` from the record's columns (the indexed copies ``audit verify`` checks) and its stored
    note, parsed once for the two pass/fail columns and the latency."""
    (seq, note_id, created_at, surface, verdict, strategy, template, model, adapter, engine, channel, user, action,
     prev_hash, digest, note_json) = row
    note = json.loads(note_json)
    guard = note.get("guardrails") or {}
    return [seq, note_id, created_at, surface, verdict, strategy, template, model, adapter, engine, channel, user,
            _passed(guard.get("input")), _passed(guard.get("output")), action,
            (note.get("latency_ms") or {}).get("total", ""), prev_hash, digest, note_json]


def stream_export(db: Database, flt: AuditFilter, fmt: str, *, upto: int,
                  on_record: Callable[[int], None] | None = None) -> Iterator[str]:
    """The export's text, a chunk at a time (the CSV header first): matching records with seq <= ``upto``."""
    _check_format(fmt)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n") if fmt == "csv" else None
    if writer:
        writer.writerow(CSV_FIELDS)
    n = 0
    for row in _rows(db, flt, upto):
        if writer:
            writer.writerow(_csv_values(row))
        else:
            buf.write(_jsonl_line(row[0], row[-1], row[-2]))
        n += 1
        if on_record and n % 500 == 0:
            on_record(n)
        if buf.tell() >= 256 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if on_record:
        on_record(n)
    if buf.tell():
        yield buf.getvalue()


@dataclass
class _Digest:
    """What a manifest states about the exported bytes and records, accumulated while streaming."""

    sha: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    def feed(self, chunk: str) -> bytes:
        data = chunk.encode("utf-8")
        self.sha.update(data)
        self.size += len(data)
        return data


def _ends(db: Database, flt: AuditFilter, upto: int) -> tuple[int, dict[str, Any] | None, dict[str, Any] | None]:
    r = AuditRecordRow
    clauses = [*flt.where(), r.seq <= upto]
    with db.session() as s:
        count = int(s.execute(select(func.count()).select_from(r).where(*clauses)).scalar_one())
        first = s.execute(select(r.seq, r.hash).where(*clauses).order_by(r.seq).limit(1)).first()
        last = s.execute(select(r.seq, r.hash).where(*clauses).order_by(r.seq.desc()).limit(1)).first()
    return (count, {"seq": int(first[0]), "hash": first[1]} if first else None,
            {"seq": int(last[0]), "hash": last[1]} if last else None)


def start_export(db: Database, signer: Signer) -> dict[str, Any]:
    """Sign a checkpoint of the log's head now: the export will hold records up to its seq."""
    return create_checkpoint(db, signer)


def build_manifest(db: Database, flt: AuditFilter, fmt: str, *, checkpoint: dict[str, Any], signer: Signer,
                   chain_key: ChainKey | None, digest: _Digest | None = None) -> dict[str, Any]:
    """The signed manifest of the export of ``flt`` up to ``checkpoint``'s seq (streams it again to hash it
    unless the digest of the bytes just written is given)."""
    _check_format(fmt)
    upto = int(checkpoint["payload"]["seq"])
    if digest is None:
        digest = _Digest()
        for chunk in stream_export(db, flt, fmt, upto=upto):
            digest.feed(chunk)
    count, first, last = _ends(db, flt, upto)
    manifest = {
        "format": FORMAT, "data_format": fmt, "filter": flt.active(), "whole_log": not flt.active(),
        "upto_seq": upto, "count": count, "first": first, "last": last,
        "sha256": digest.sha.hexdigest(), "bytes": digest.size, "created_at": utc_now(),
        "chain_key_id": chain_key.key_id if chain_key else None,
        "keyed_from_seq": chain_key.keyed_from_seq if chain_key else None,
        "checkpoint": checkpoint, "signing_key_id": key_id(signer.public_key),
    }
    return {"manifest": manifest, "signature": signer.sign(manifest)}


def export_to_file(db: Database, flt: AuditFilter, fmt: str, path: Path, *, signer: Signer,
                   chain_key: ChainKey | None, manifest_to: Path | None = None,
                   on_record: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the export to ``path`` (and its signed manifest beside it, or to ``manifest_to``); memory stays flat."""
    _check_format(fmt)
    checkpoint = start_export(db, signer)
    upto = int(checkpoint["payload"]["seq"])
    total = _ends(db, flt, upto)[0]
    digest = _Digest()
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("wb") as fh:
        for chunk in stream_export(db, flt, fmt, upto=upto,
                                   on_record=(lambda n: on_record(n, total)) if on_record else None):
            fh.write(digest.feed(chunk))
    tmp.replace(path)
    signed = build_manifest(db, flt, fmt, checkpoint=checkpoint, signer=signer, chain_key=chain_key, digest=digest)
    (manifest_to or manifest_path(path)).write_text(json.dumps(signed, indent=2, sort_keys=True) + "\n",
                                                    encoding="utf-8")
    return signed


def _as_csv(values: list[Any]) -> list[str]:
    """What the csv module writes for each value (None as empty)."""
    return ["" if v is None else str(v) for v in values]


def _verify_signature(public_key: Any, payload: Any, signature: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(str(signature), validate=True), canonical_json(payload).encode())
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _records(path: Path, fmt: str) -> Iterator[tuple[int, int, str, dict[str, Any], list[str] | None]]:
    """(line, seq, hash, note without hash, csv row or None) for each exported record; raises ValueError."""
    with path.open("r", encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            for n, line in enumerate(fh, 1):
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError(f"line {n} is not a record")
                seq, digest = obj.pop("seq"), obj.pop("hash")
                yield n, int(seq), str(digest), obj, None
            return
        csv.field_size_limit(_CSV_MAX_FIELD)
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != list(CSV_FIELDS):
            raise ValueError("the CSV header is not Decorum's export header")
        for n, row in enumerate(reader, 2):
            if len(row) != len(CSV_FIELDS):
                raise ValueError(f"line {n} has {len(row)} fields, not {len(CSV_FIELDS)}")
            values = dict(zip(CSV_FIELDS, row, strict=True))
            note = json.loads(values["note"])
            if not isinstance(note, dict):
                raise ValueError(f"line {n}: the note column is not an object")
            yield n, int(values["seq"]), values["hash"], note, row


def verify_export(path: Path, *, public_key: Any, manifest: Path | None = None,
                  chain_key: ChainKey | None = None) -> tuple[list[str], dict[str, Any]]:
    """Check an export offline. Returns (problems, facts); no problems means it holds."""
    mpath = manifest or manifest_path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such export file")
    if not mpath.is_file():
        raise UsageError(f"{mpath}: no manifest (an export writes FILE.manifest.json; or pass --manifest)")
    try:
        signed = json.loads(mpath.read_text(encoding="utf-8"))
        m, signature = signed["manifest"], signed["signature"]
        fmt, cp = m["data_format"], m["checkpoint"]
        upto = int(m["upto_seq"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{mpath.name}: not a Decorum export manifest") from exc
    if m.get("format") != FORMAT or fmt not in FORMATS:
        raise UsageError(f"{mpath.name}: not a {FORMAT} manifest")
    problems: list[str] = []
    if not _verify_signature(public_key, m, signature):
        problems.append("the manifest's signature does not verify with this key (changed, or another key)")
    if not isinstance(cp, dict) or not _verify_signature(public_key, cp.get("payload"), cp.get("signature")):
        problems.append("the covering checkpoint's signature does not verify with this key")
    elif int(cp["payload"]["seq"]) != upto:
        problems.append(f"the manifest's upto_seq {upto} is not its checkpoint's seq {cp['payload']['seq']}")
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
            size += len(block)
    if sha.hexdigest() != m.get("sha256") or size != m.get("bytes"):
        problems.append("the file's bytes differ from the manifest's SHA-256 (the export was changed)")
    use_key = chain_key is not None and chain_key.key_id == m.get("chain_key_id")
    if chain_key is not None and not use_key:
        problems.append("the chain key given is not the one the manifest names; record hashes not recomputed")
    count, first, last, prev = 0, None, None, None
    recomputed = 0
    try:
        for line, seq, digest, note, row in _records(path, fmt):
            where = f"line {line} (seq {seq})"
            note_json = canonical_json(note)
            if seq > upto:
                problems.append(f"{where}: past the covering checkpoint's seq {upto}")
            if prev is not None and seq <= prev[0]:
                problems.append(f"{where}: out of order after seq {prev[0]} (records were reordered)")
            if m.get("whole_log"):
                expected = 1 if prev is None else prev[0] + 1
                if seq != expected:
                    problems.append(f"{where}: expected seq {expected} (a record is missing)")
                if note.get("prev_hash") != (GENESIS if prev is None else prev[1]):
                    problems.append(f"{where}: prev_hash does not link to the record before it")
            if row is not None and _as_csv(csv_row(seq, {**note, "hash": digest})) != row:
                problems.append(f"{where}: the columns differ from the record's note")
            if use_key and chain_key is not None:
                keyed = chain_key.for_seq(seq)
                if not hmac.compare_digest(record_hash(seq, note_json, keyed), digest):
                    problems.append(f"{where}: the hash does not match the record's content")
                recomputed += 1
            first = first or {"seq": seq, "hash": digest}
            last, prev, count = {"seq": seq, "hash": digest}, (seq, digest), count + 1
            if len(problems) > 50:
                problems.append("(more problems not listed)")
                break
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name} is not a readable {fmt} export: {exc}"[:300])
    if count != m.get("count"):
        problems.append(f"the file holds {count} records, the manifest says {m.get('count')}")
    if first != m.get("first") or last != m.get("last"):
        problems.append("the first or last record differs from the manifest's")
    if m.get("whole_log") and last and isinstance(cp, dict) and last["seq"] == upto \
            and last["hash"] != cp["payload"].get("head_hash"):
        problems.append("the last record differs from the signed checkpoint's head hash")
    facts = {"count": count, "format": fmt, "filter": m.get("filter"), "upto_seq": upto,
             "hashes_recomputed": recomputed, "whole_log": bool(m.get("whole_log"))}
    return problems, facts
