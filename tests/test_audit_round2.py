"""Issue 25, the audit log's rows: a verify that never writes, a deleted or different chain key, checkpoints by
default with a witness outside the database, and a read-only copy of the data dir.

Each test makes the probe's failure and shows the new behaviour, on SQLite and (``DECORUM_TEST_DATABASE_URL``)
PostgreSQL:

* the chain key deleted and the chain recomputed as plain SHA-256: ``audit verify`` used to make a new key and
  say "N records verified"; now it fails naming the first keyed seq and the key to restore, and writes nothing;
* a different chain key: a failure naming the key the log was written with;
* the newest records (and their score rows) deleted with no checkpoint left in the database: the witness file
  ``DECORUM_AUDIT_WITNESS`` convicts the log without ``--checkpoints``;
* a read-only copy of the data dir: verify works, and opens the database read-only;
* ``decorum serve``'s audit jobs: a checkpoint every 600 s by default, and one when they stop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from decorum import cli
from decorum.audit.chain_key import ChainKey
from decorum.audit.records import GENESIS, canonical_json, record_hash
from decorum.settings import Settings

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def note(i: int) -> dict:
    """An answer's note with one input and one output check (so each record has score rows)."""
    from decorum.bot.note import new_id

    return {"id": new_id(), "created_at": f"2026-12-07T10:00:{i:02d}.000Z", "surface": "cli", "verdict": "answered",
            "latency_ms": {"total": 10 + i}, "tokens": {"prompt": 3, "completion": 5},
            "request": {"hmac_sha256": "a" * 64, "chars": 5}, "response": {"hmac_sha256": "b" * 64, "chars": 9},
            "guardrails": {"policy": "default@1", "action": "allow",
                           "input": [{"check": "toxicity", "score": 0.01 * i, "threshold": 0.5, "passed": True,
                                      "scorer": "fake@0"}],
                           "output": [{"check": "bias", "score": 0.02, "threshold": 0.5, "passed": True,
                                       "scorer": "fake@0"}]},
            "route": {"strategy": "prompt_engineering", "reason": "default"},
            "template": {"name": "general", "version": 1, "sha256": "c" * 64},
            "model": {"backend": "fake", "name": "fake-llm", "revision": "f" * 64}}


def runtime():
    from decorum.bot.runtime import Runtime

    return Runtime.open()


def append(n: int, start: int = 1) -> None:
    rt = runtime()
    for i in range(start, start + n):
        rt.audit.append(note(i))
    rt.close()


def sql(settings: Settings, statement: str, **params: object) -> list[tuple]:
    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        rows = [tuple(r) for r in result.all()] if result.returns_rows else []
    engine.dispose()
    return rows


def recompute_chain(settings: Settings, key: bytes | None = None) -> None:
    """What an attacker with the database does after deleting the chain key: every hash recomputed (plain
    SHA-256 without a key, or HMAC with a key of their own)."""
    prev = GENESIS
    for seq, body in sql(settings, "SELECT seq, note FROM audit_record ORDER BY seq"):
        note_json = canonical_json({**json.loads(body), "prev_hash": prev})
        digest = record_hash(seq, note_json, key)
        sql(settings, "UPDATE audit_record SET note = :n, prev_hash = :p, hash = :h WHERE seq = :s",
            n=note_json, p=prev, h=digest, s=seq)
        prev = digest


def forge_key(path: Path, keyed_from_seq: int) -> ChainKey:
    """A chain key file of the attacker's own, in Decorum's format."""
    path.write_text(json.dumps({"format": "decorum-audit-chain-key/1", "key": os.urandom(32).hex(),
                                "keyed_from_seq": keyed_from_seq}))
    key = ChainKey.load(path)
    assert key is not None
    return key


def snapshot(settings: Settings) -> dict:
    """What a verify must leave as it was: the data dir's files (names, sizes, mtimes; the SQLite file's bytes)
    and the rows of the tables a write would touch. SQLite's own -wal/-shm beside the file are left out (a
    reader of a WAL database maps them; a read-only one leaves them behind), provided the -wal holds nothing."""
    from decorum.store import db as store_db

    store_db.dispose_all()  # nobody else holds the SQLite file open (a close would checkpoint its WAL)
    files = {}
    for p in sorted(settings.data_dir.rglob("*")):
        if p.name.endswith("-shm") or (p.name.endswith("-wal") and p.stat().st_size == 0):
            continue
        if p.is_file():
            st = p.stat()
            files[str(p.relative_to(settings.data_dir))] = (st.st_size, st.st_mtime_ns)
    db_file = settings.data_dir / "decorum.db"
    data = db_file.read_bytes() if settings.resolved_database_url.startswith("sqlite") else b""
    db = store_db.Database.open_readonly(settings.resolved_database_url)
    with db.session() as s:
        tables = {t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("audit_record", "audit_score", "audit_checkpoint", "audit_job_run", "template",
                            "model_version")}
    db.dispose()
    return {"files": files, "db": data, "tables": tables}


@pytest.fixture
def logged(db_url: str, capsys: pytest.CaptureFixture[str]) -> Settings:
    """Six keyed records, each with score rows; the chain holds."""
    append(6)
    settings = Settings()
    assert ChainKey.load(settings.audit_chain_key_path).keyed_from_seq == 1  # type: ignore[union-attr]
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "6 records verified" in out, err
    return settings


@pytest.fixture
def witness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The witness file (on other storage in a deployment: here outside the data dir)."""
    path = tmp_path / "elsewhere" / "audit-witness.jsonl"
    path.parent.mkdir()
    monkeypatch.setenv("DECORUM_AUDIT_WITNESS", str(path))
    return path


# --- row 1: the chain key deleted and the chain recomputed as plain SHA-256 ----------------------------------


def test_a_deleted_chain_key_and_a_plain_recomputed_chain_fail_verify_which_writes_nothing(logged, capsys) -> None:
    key_path = logged.audit_chain_key_path
    key_path.unlink()
    sql(logged, "DELETE FROM audit_checkpoint")
    recompute_chain(logged)  # a valid chain of plain SHA-256 hashes, as before chain keys existed
    before = snapshot(logged)
    code, out, err = run(capsys, "audit", "verify")
    assert code == 1, out + err
    assert "records verified" not in out
    assert f"the audit chain key {key_path} is missing" in err and "the first keyed record is seq 1" in err, err
    assert f"Restore {key_path}" in err and "never makes a key" in err
    assert not key_path.exists()  # verify made no key ...
    assert snapshot(logged) == before  # ... and wrote nothing: no file, no byte of the database, no row

    # the write path does not make one either: a new key for a log that holds records would launder it
    from decorum.audit.chain_key import ChainKeyMissing

    rt = runtime()
    with pytest.raises(ChainKeyMissing, match="restore the key file"):
        _ = rt.audit
    rt.close()
    assert not key_path.exists()
    code, _, err = run(capsys, "audit", "checkpoint")  # nor is a checkpoint signed over such a log
    assert code == 1 and "is missing, but the audit log holds 6 records" in err
    assert sql(logged, "SELECT count(*) FROM audit_checkpoint") == [(0,)]


def test_a_deleted_chain_key_is_named_with_the_first_keyed_seq_and_the_key_id_a_witness_saw(
        logged, witness: Path, capsys) -> None:
    original = ChainKey.load(logged.audit_chain_key_path)
    assert original is not None
    code, out, err = run(capsys, "audit", "checkpoint")
    assert code == 0 and f"(witness {witness})" in out, err
    assert json.loads(witness.read_text())["payload"]["chain_key_id"] == original.key_id
    logged.audit_chain_key_path.unlink()

    # the records untouched: the first one whose hash is not plain SHA-256 is the first keyed one
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "the first keyed record is seq 1" in err
    assert f"key id {original.key_id}, named by the checkpoint of seq 6 in witness {witness}" in err, err
    # a checkpoint names it even after the chain was recomputed and the stored checkpoints deleted
    sql(logged, "DELETE FROM audit_checkpoint")
    recompute_chain(logged)
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and f"key id {original.key_id}" in err and "the first keyed record is seq 1" in err, err
    assert not logged.audit_chain_key_path.exists()


# --- row 1b: a different chain key -----------------------------------------------------------------------


def test_a_different_chain_key_fails_verify(logged, witness: Path, capsys) -> None:
    key_path = logged.audit_chain_key_path
    original = ChainKey.load(key_path)
    assert original is not None

    # another key in the file, the records as they were: the first keyed record fails, and the key is named
    forge_key(key_path, 1)
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "(seq 1)" in err and "keyed with the chain key" in err, err
    assert f"{key_path} holds chain key id" in err and "restore the original" in err

    # the chain recomputed with that key: it holds by itself, but a witnessed checkpoint names the real key
    key_path.write_text(json.dumps({"format": "decorum-audit-chain-key/1", "key": original.key.hex(),
                                    "keyed_from_seq": 1}))
    assert run(capsys, "audit", "checkpoint")[0] == 0
    forged = forge_key(key_path, 1)
    recompute_chain(logged, forged.key)
    sql(logged, "DELETE FROM audit_checkpoint")
    rt = runtime()
    assert rt.audit.verify().ok  # the bare chain holds under the forged key
    rt.close()
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1, err
    assert f"(key id {forged.key_id}, keyed from seq 1) is not the one the log was written with" in err
    assert f"the checkpoint of seq 6 in witness {witness} names key id {original.key_id}" in err, err
    assert f"Restore that key file to {key_path}" in err


def test_a_replacement_key_that_starts_after_the_records_fails_verify(logged, capsys) -> None:
    """What the old verify did for an attacker (and what an attacker can do by hand): a new key from the log's
    end on, over a chain recomputed as plain SHA-256. No checkpoint is left; the missing adoption record
    convicts."""
    key_path = logged.audit_chain_key_path
    key_path.unlink()
    sql(logged, "DELETE FROM audit_checkpoint")
    recompute_chain(logged)
    forged = forge_key(key_path, 7)
    rt = runtime()
    assert rt.audit.verify().ok  # the bare chain holds: records 1..6 plain, none keyed yet
    rt.close()
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and f"(key id {forged.key_id}) keys the log from seq 7" in err, err
    assert "no audit.chain_key record adopts it" in err
    # what an older Decorum's key for a log that predates chain keys needs, and what an attacker must do too:
    # adopt it, which leaves a record in the log for every reader to see
    code, out, err = run(capsys, "audit", "adopt-chain-key", "--as", "someone")
    assert code == 0 and f"chain key {forged.key_id} adopted" in out, err
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "7 records verified" in out, err
    change = json.loads(sql(logged, "SELECT note FROM audit_record WHERE seq = 7")[0][0])["change"]
    assert change == {"kind": "audit.chain_key", "actor": "someone", "key_id": forged.key_id, "keyed_from_seq": 7,
                      "message": change["message"]}


def test_a_log_written_before_chain_keys_adopts_one_explicitly(db_url: str, capsys) -> None:
    """The only way a key is made for a log that holds records: `audit adopt-chain-key`, recorded in the log,
    refused where any record is keyed (that log lost its key: restore it)."""
    from decorum.audit.log import SqlAuditLog
    from decorum.store import Database

    settings = Settings()
    db = Database.open(settings.resolved_database_url)
    plain = SqlAuditLog(db)  # no key: plain SHA-256, as before chain keys existed
    for i in range(1, 4):
        plain.append(note(i))
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "the first keyed record is seq 1" in err and "adopt-chain-key" in err
    code, out, err = run(capsys, "audit", "adopt-chain-key", "--as", "auditor")
    assert code == 0 and "records from seq 4 on are keyed" in out, err
    key = ChainKey.load(settings.audit_chain_key_path)
    assert key is not None and key.keyed_from_seq == 4
    append(2, start=4)
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "6 records verified" in out, err
    change = json.loads(sql(settings, "SELECT note FROM audit_record WHERE seq = 4")[0][0])["change"]
    assert change["kind"] == "audit.chain_key" and change["key_id"] == key.key_id and change["actor"] == "auditor"
    assert run(capsys, "audit", "adopt-chain-key")[0] == 2  # adopted already

    # a keyed log whose key was deleted cannot adopt a new one
    settings.audit_chain_key_path.unlink()
    code, _, err = run(capsys, "audit", "adopt-chain-key")
    assert code == 2 and "record seq 4 of the audit log has a keyed hash" in err and "Restore" in err
    assert not settings.audit_chain_key_path.exists()
    db.dispose()


# --- row 2: the newest records deleted, no checkpoint left in the database -----------------------------------


async def test_deleted_newest_records_fail_verify_through_the_configured_witness(logged, witness: Path,
                                                                               capsys) -> None:
    from decorum.web.app import audit_jobs_for_server

    rt = runtime()
    jobs = audit_jobs_for_server(rt, None)  # what `decorum serve` runs, with its default configuration
    assert jobs is not None and jobs.witness == witness
    assert await jobs.checkpoint_once() == "signed"
    [line] = await asyncio.to_thread(lambda: witness.read_text().splitlines())
    assert json.loads(line)["payload"]["seq"] == 6

    sql(logged, "DELETE FROM audit_score WHERE seq >= 5")
    sql(logged, "DELETE FROM audit_record WHERE seq >= 5")
    sql(logged, "DELETE FROM audit_checkpoint")  # nothing inside the database says otherwise
    assert rt.audit.verify().ok  # the bare chain holds
    rt.close()
    code, out, err = run(capsys, "audit", "verify")  # no --checkpoints: the configured witness is read
    assert code == 1 and "records verified" not in out
    assert f"witness {witness}: checkpoint seq 6, head " in err, err
    assert "the log ends at seq 4, shorter than the signed 6 records" in err

    # the deleted records replaced by others: as long, but not the record the witness signed
    append(2, start=20)
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "record 6 differs from the signed head hash" in err, err


def test_checkpoints_by_hand_go_to_the_witness_and_a_missing_witness_is_said(logged, witness: Path, capsys) -> None:
    code, _, err = run(capsys, "audit", "verify")
    assert code == 0 and f"the witness file {witness} (DECORUM_AUDIT_WITNESS) does not exist" in err
    assert run(capsys, "audit", "checkpoint")[0] == 0
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "2 signed checkpoints hold (1 from outside witnesses)" in out, out + err
    if IS_ROOT:  # root writes through chmod
        return
    witness.unlink()
    witness.parent.chmod(0o500)  # the witness's storage refuses the append: said, exit 1
    try:
        code, _, err = run(capsys, "audit", "checkpoint")
        assert code == 1 and f"not appended to the witness file {witness}" in err
    finally:
        witness.parent.chmod(0o700)


# --- row 3: a read-only data dir --------------------------------------------------------------------------


@pytest.fixture
def read_only_copy(logged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The data dir copied, then chmod -R a-w, and the settings pointed at the copy."""
    from decorum.store import db as store_db

    assert run_checkpoint() == 0
    store_db.dispose_all()
    copy = tmp_path / "ro-copy"
    shutil.copytree(logged.data_dir, copy)
    monkeypatch.setenv("DECORUM_DATA_DIR", str(copy))
    if logged.resolved_database_url.startswith("sqlite"):
        monkeypatch.setenv("DECORUM_DATABASE_URL", f"sqlite:///{copy / 'decorum.db'}")
    subprocess.run(["chmod", "-R", "a-w", str(copy)], check=True)
    try:
        yield Settings()
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)


def run_checkpoint() -> int:
    return cli.main(["audit", "checkpoint"])


def test_verify_works_on_a_read_only_copy_of_the_data_dir(read_only_copy: Settings, capsys) -> None:
    capsys.readouterr()
    before = snapshot(read_only_copy)
    assert not os.access(read_only_copy.data_dir, os.W_OK) or IS_ROOT
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "6 records verified, 1 signed checkpoints hold" in out, err
    assert "unable to open database file" not in err
    assert snapshot(read_only_copy) == before  # nothing written: no -wal, no -shm, no key, no byte


def test_verify_opens_the_database_read_only(logged, capsys) -> None:
    """The connection verify uses refuses writes (what shows read-only mode where chmod cannot, as root)."""
    from sqlalchemy.exc import DBAPIError

    from decorum.store import Database

    db = Database.open_readonly(logged.resolved_database_url)
    try:
        assert db.read_only
        with db.session() as s:
            assert s.execute(text("SELECT count(*) FROM audit_record")).scalar_one() == 6
        with pytest.raises(DBAPIError, match=r"(?i)read-?only"), db.session() as s:
            s.execute(text("DELETE FROM audit_record WHERE seq = 6"))
    finally:
        db.dispose()
    assert sql(logged, "SELECT count(*) FROM audit_record")[0][0] == 6


def test_a_database_that_cannot_be_opened_is_named(tmp_path: Path, db_url: str) -> None:
    from decorum.errors import StoreError
    from decorum.store import Database

    missing = tmp_path / "nowhere" / "decorum.db"
    with pytest.raises(StoreError, match=f"no SQLite database at {re.escape(str(missing))}"):
        Database.open_readonly(f"sqlite:///{missing}")
    assert not missing.parent.exists()  # a read-only open makes no folder
    folder = tmp_path / "a-folder.db"  # "unable to open database file", even for root
    folder.mkdir()
    with pytest.raises(StoreError, match=f"SQLite file {re.escape(str(folder))}.*unable to open database file"):
        Database.open(f"sqlite:///{folder}")
    with pytest.raises(StoreError, match=f"no SQLite database at {re.escape(str(folder))}"):
        Database.open_readonly(f"sqlite:///{folder}")


@pytest.mark.skipif(IS_ROOT, reason="root writes through chmod: the read-only copy cannot refuse a writer")
def test_the_writable_open_of_a_read_only_copy_names_the_file(read_only_copy: Settings) -> None:
    from decorum.errors import StoreError
    from decorum.store import Database

    if not read_only_copy.resolved_database_url.startswith("sqlite"):
        pytest.skip("the database is not in the data dir on PostgreSQL")
    with pytest.raises(StoreError, match=re.escape(str(read_only_copy.data_dir / "decorum.db"))):
        Database.open(read_only_copy.resolved_database_url)


# --- checkpoints by default, and one at shutdown -------------------------------------------------------


async def test_serve_checkpoints_every_600_s_by_default_and_once_more_when_it_stops(logged, witness: Path) -> None:
    from decorum.audit.config import AuditConfig
    from decorum.audit.jobs import AuditJobs
    from decorum.web.app import audit_jobs_for_server

    assert AuditConfig().checkpoint_every_s == 600
    rt = runtime()
    jobs = audit_jobs_for_server(rt, None)  # nothing configured: checkpoints all the same
    assert jobs is not None and jobs.enabled and jobs.config.checkpoint_every_s == 600
    jobs.start()
    try:
        for _ in range(500):  # the loop's first tick signs the six records
            if sql(logged, "SELECT count(*) FROM audit_checkpoint")[0][0]:
                break
            await asyncio.sleep(0.02)
        assert sql(logged, "SELECT seq FROM audit_checkpoint") == [(6,)]
        for i in range(7, 9):
            await asyncio.to_thread(rt.audit.append, note(i))
    finally:
        status = await jobs.stop()
    assert status == "signed"  # two records arrived since: the shutdown checkpoint pins them
    assert sql(logged, "SELECT seq FROM audit_checkpoint ORDER BY id") == [(6,), (8,)]
    lines = [json.loads(x) for x in await asyncio.to_thread(lambda: witness.read_text().splitlines())]
    assert [cp["payload"]["seq"] for cp in lines] == [6, 8]
    assert lines[-1]["payload"]["chain_key_id"] == rt.audit.chain_key.key_id
    assert lines[-1]["payload"]["keyed_from_seq"] == 1

    # a server started and stopped with no record in between signs nothing new
    jobs = audit_jobs_for_server(rt, None)
    assert jobs is not None
    jobs.start()
    assert await jobs.stop() == "unchanged"
    assert sql(logged, "SELECT count(*) FROM audit_checkpoint")[0][0] == 2
    assert len(await asyncio.to_thread(lambda: witness.read_text().splitlines())) == 2
    # checkpoint_every_s: 0 turns the shutdown checkpoint off too
    off = AuditJobs(rt.db, AuditConfig(checkpoint_every_s=0), rt.settings.audit_signing_key_path,
                    audit=rt.audit, witness=witness)
    assert not off.enabled and await off.final_checkpoint() == "off"
    rt.close()


def test_witness_file_mode(logged, witness: Path, capsys) -> None:
    assert run(capsys, "audit", "checkpoint")[0] == 0
    assert stat.S_IMODE(witness.stat().st_mode) == 0o600


def test_verify_before_anything_was_recorded_is_a_clean_empty_log(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DECORUM_DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'decorum.db'}")
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "0 records" in out
    assert not (tmp_path / "data" / "decorum.db").exists()  # verify made nothing


def test_verify_fails_when_the_database_is_gone_but_its_chain_key_is_not(capsys, tmp_path, monkeypatch) -> None:
    db = tmp_path / "data" / "decorum.db"
    monkeypatch.setenv("DECORUM_DATABASE_URL", f"sqlite:///{db}")
    from decorum.bot.runtime import Runtime

    rt = Runtime.open(Settings())
    rt.audit.append(note(1))
    rt.close()
    db.unlink()
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "audit log missing" in err and "audit-chain.key" in err
    assert not db.exists()
