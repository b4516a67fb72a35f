"""The audit log: hash chain, tamper detection, concurrency, pseudonyms, export."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from decorum.audit.log import SqlAuditLog
from decorum.audit.pseudonyms import Pseudonymiser
from decorum.audit.records import GENESIS
from decorum.errors import UsageError


def _note(i: int, verdict: str = "answered") -> dict:
    """A small note that matches the schema (``note_schema``): an answer, or a refused question."""
    blocked = verdict == "blocked_input"
    check = {"check": "toxicity", "score": 0.9 if blocked else 0.01, "threshold": 0.5, "passed": not blocked,
             "scorer": "fake@0"}
    note = {"id": f"N{i:05d}", "created_at": f"2026-11-23T10:00:{i % 60:02d}.000Z", "surface": "cli",
            "verdict": verdict, "latency_ms": {"total": 10 + i}, "tokens": {"prompt": 0, "completion": 0},
            "request": {"hmac_sha256": "a" * 64, "chars": 5}, "response": {"hmac_sha256": "b" * 64, "chars": 9},
            "guardrails": {"policy": "default@1", "input": [check], "output": [],
                           "action": "refused" if blocked else "allow"}}
    if not blocked:
        note.update(route={"strategy": "prompt_engineering", "reason": "default"},
                    template={"name": "general", "version": 1, "sha256": "c" * 64},
                    model={"backend": "fake", "name": "fake-llm", "revision": "f" * 64})
    return note


@pytest.fixture
def log(database) -> SqlAuditLog:
    return SqlAuditLog(database)


def test_chain_links_each_record_to_the_previous(log: SqlAuditLog) -> None:
    first = log.append(_note(1))
    second = log.append(_note(2))
    assert first["prev_hash"] == GENESIS
    assert second["prev_hash"] == first["hash"]
    assert log.get("N00002") == second
    v = log.verify()
    assert v.ok and v.checked == 2


@pytest.mark.parametrize("column,value", [
    ("note", None),  # filled below with a subtly changed note
    ("verdict", "blocked_input"),
    ("created_at", "2020-01-01T00:00:00.000Z"),
    ("surface", "slack"),
    ("id", "FORGED"),
    ("prev_hash", "1" * 64),
    ("hash", "2" * 64),
    ("seq", 99),
])
def test_changing_any_stored_field_breaks_verify(log: SqlAuditLog, database, column: str, value) -> None:
    for i in range(1, 5):
        log.append(_note(i))
    target = log.get("N00003")
    if column == "note":
        changed = {k: v for k, v in target.items() if k != "hash"}
        changed["latency_ms"] = {"total": 1}
        value = json.dumps(changed, sort_keys=True, separators=(",", ":"))
    with database.engine.begin() as conn:
        conn.execute(text(f'UPDATE audit_record SET "{column}" = :v WHERE seq = 3'), {"v": value})
    v = log.verify()
    assert not v.ok
    assert v.first_bad_seq in (3, 4, 99)  # seq 99 moves the record; the break shows where the chain is cut
    assert v.checked == 2 or column == "seq"


def test_removing_a_middle_record_breaks_verify(log: SqlAuditLog, database) -> None:
    for i in range(1, 5):
        log.append(_note(i))
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_record WHERE seq = 2"))
    v = log.verify()
    assert not v.ok and v.first_bad_id == "N00003"


def test_concurrent_appends_keep_one_chain(log: SqlAuditLog, database) -> None:
    errors: list[BaseException] = []

    def worker(start: int) -> None:
        other = SqlAuditLog(database)
        try:
            for i in range(start, start + 10):
                other.append(_note(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    v = log.verify()
    assert v.ok and v.checked == 40


def test_duplicate_id_and_incomplete_notes_are_refused(log: SqlAuditLog) -> None:
    log.append(_note(1))
    with pytest.raises(UsageError, match="exists already"):
        log.append(_note(1))
    with pytest.raises(UsageError, match="lacks verdict"):
        log.append({"id": "X", "created_at": "t", "surface": "cli"})
    assert log.verify().ok


def test_unknown_id_is_a_clear_error(log: SqlAuditLog) -> None:
    with pytest.raises(UsageError, match="no audit record with id 'nope'"):
        log.get("nope")


def test_export_jsonl_and_csv(log: SqlAuditLog, database) -> None:
    from decorum.audit.export import stream_export
    from decorum.audit.query import AuditFilter

    for i in range(1, 4):
        log.append(_note(i, verdict="blocked_input" if i == 2 else "answered"))
    text = "".join(stream_export(database, AuditFilter(), "jsonl", upto=3))
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["id"] for r in rows] == ["N00001", "N00002", "N00003"]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    text = "".join(stream_export(database, AuditFilter(), "csv", upto=2))  # pinned: seq 3 is past the export
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["verdict"] for r in table] == ["answered", "blocked_input"]
    assert json.loads(table[0]["note"])["id"] == "N00001"
    with pytest.raises(UsageError, match="unknown export format"):
        list(stream_export(database, AuditFilter(), "xml", upto=3))


def test_list_filters_by_verdict(log: SqlAuditLog) -> None:
    for i in range(1, 6):
        log.append(_note(i, verdict="blocked_input" if i % 2 else "answered"))
    assert [n["id"] for n in log.list(verdict="answered")] == ["N00004", "N00002"]
    assert len(log.list(limit=2)) == 2


def test_pseudonyms_are_keyed_and_stable(tmp_path: Path) -> None:
    a = Pseudonymiser.from_settings(None, tmp_path / "d")
    b = Pseudonymiser.from_settings(None, tmp_path / "d")  # the generated key is reused
    assert a.user("U123") == b.user("U123") != a.user("U124")
    assert a.user("U123").startswith("hmac:") and "U123" not in a.user("U123")
    assert (tmp_path / "d" / "audit.key").stat().st_mode & 0o777 == 0o600
    other = Pseudonymiser.from_settings("another-secret-key-0123456789", tmp_path / "d")
    assert other.user("U123") != a.user("U123")
    with pytest.raises(UsageError):
        Pseudonymiser(b"short")
