"""Signed checkpoints: `audit verify` no longer passes a log that lost its newest records or was recomputed.

The probes of issue 12 against the bare chain (`verify` passed after the newest record, the last three or all
records were deleted, and after a verdict was edited and the chain recomputed) are repeated here: the chain
alone still holds in each case, and with a checkpoint signed before the tampering `audit verify` fails.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from decorum import cli
from decorum.audit.records import GENESIS, canonical_json, record_hash
from decorum.settings import Settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def logged(db_url: str, capsys: pytest.CaptureFixture[str]) -> Settings:
    """Six records (template changes: no model needed) and a signed checkpoint over them."""
    from decorum.bot.note import new_id, utc_now
    from decorum.bot.runtime import Runtime

    rt = Runtime.open()
    for i in range(6):
        rt.audit.append({"id": new_id(), "created_at": utc_now(), "surface": "cli", "verdict": "change",
                         "change": {"kind": "template.test", "template": "general", "version": 1, "actor": "local:test",
                                    "n": i}})
    code, out, err = run(capsys, "audit", "checkpoint")
    assert code == 0 and "checkpoint signed: seq 6, 6 records" in out, err
    return rt.settings


def sql(settings: Settings, statement: str, **params: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def recompute_chain(settings: Settings, key: bytes | None = None) -> None:
    """What an attacker with the database can do: rewrite every hash after an edit (with the chain key: what an
    insider who also holds the key could do)."""
    from sqlalchemy import create_engine

    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        prev = GENESIS
        for seq, note in conn.execute(text("SELECT seq, note FROM audit_record ORDER BY seq")).all():
            body = {**json.loads(note), "prev_hash": prev}
            note_json = canonical_json(body)
            digest = record_hash(seq, note_json, key)
            conn.execute(text("UPDATE audit_record SET note = :n, prev_hash = :p, hash = :h, verdict = :v "
                              "WHERE seq = :s"), {"n": note_json, "p": prev, "h": digest, "s": seq,
                                                  "v": body["verdict"]})
            prev = digest
    engine.dispose()


def test_a_checkpoint_holds_on_an_untouched_log_and_its_key_stays_outside_the_database(logged, capsys) -> None:
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "6 records verified, 1 signed checkpoints hold" in out, err
    key = logged.audit_signing_key_path
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.with_name(key.name + ".pub").exists()
    code, out, _ = run(capsys, "audit", "checkpoint", "--json")
    cp = json.loads(out)
    assert cp["payload"]["seq"] == 6 and len(cp["payload"]["key_id"]) == 16 and cp["signature"]


@pytest.mark.parametrize("tamper,chain_alone", [
    ("DELETE FROM audit_record WHERE seq = 6", True),  # the newest record
    ("DELETE FROM audit_record WHERE seq >= 4", True),  # the last three
    ("DELETE FROM audit_record", True),  # every record
])
def test_deleting_records_after_a_checkpoint_fails_verify(logged, capsys, tamper: str, chain_alone: bool) -> None:
    sql(logged, tamper)
    from decorum.bot.runtime import Runtime

    assert Runtime.open().audit.verify().ok is chain_alone  # what the bare chain says
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "shorter than the signed 6 records" in err


def test_an_edited_and_recomputed_chain_fails_verify(logged, capsys) -> None:
    """Without the chain key (kept outside the database) a recomputed chain fails at the edited record."""
    sql(logged, "UPDATE audit_record SET note = REPLACE(note, :a, :b) WHERE seq = 3",
        a='"verdict":"change"', b='"verdict":"answered"')
    recompute_chain(logged)
    from decorum.bot.runtime import Runtime

    result = Runtime.open().audit.verify()
    assert not result.ok and result.first_bad_seq == 1 and "keyed with the chain key" in result.reason
    sql(logged, "DELETE FROM audit_checkpoint")
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "audit chain broken at record" in err and "(seq 1)" in err


def test_a_chain_recomputed_with_the_key_still_fails_its_signed_checkpoint(logged, capsys) -> None:
    """An insider holding the chain key (but not the signing key) recomputes a valid chain: the checkpoint convicts."""
    from decorum.audit.chain_key import ChainKey
    from decorum.bot.runtime import Runtime

    sql(logged, "UPDATE audit_record SET note = REPLACE(note, :a, :b) WHERE seq = 3",
        a='"verdict":"change"', b='"verdict":"answered"')
    recompute_chain(logged, ChainKey.open(logged.audit_chain_key_path).key)
    assert Runtime.open().audit.verify().ok  # the recomputed chain holds by itself
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "record 6 differs from the signed head hash" in err


def test_a_forged_or_foreign_checkpoint_fails_verify(logged, capsys, tmp_path: Path, monkeypatch) -> None:
    sql(logged, "UPDATE audit_checkpoint SET payload = REPLACE(payload, :a, :b)", a='"seq":6', b='"seq":3')
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "the signature does not verify" in err
    sql(logged, "DELETE FROM audit_checkpoint")
    assert run(capsys, "audit", "verify")[0] == 0
    # a checkpoint signed with another key: what someone without the key could make
    monkeypatch.setenv("DECORUM_AUDIT_SIGNING_KEY", str(tmp_path / "other.key"))
    assert run(capsys, "audit", "checkpoint", "--out", str(tmp_path / "foreign.jsonl"))[0] == 0
    monkeypatch.delenv("DECORUM_AUDIT_SIGNING_KEY")
    code, _, err = run(capsys, "audit", "verify", "--checkpoints", str(tmp_path / "foreign.jsonl"))
    assert code == 1 and "the signature does not verify with this key" in err


def test_an_outside_witness_still_convicts_when_stored_checkpoints_go_too(logged, capsys, tmp_path: Path) -> None:
    witness = tmp_path / "witness.jsonl"
    assert run(capsys, "audit", "checkpoint", "--out", str(witness))[0] == 0
    assert len(witness.read_text().splitlines()) == 1
    sql(logged, "DELETE FROM audit_record WHERE seq >= 5")
    sql(logged, "DELETE FROM audit_checkpoint")
    assert run(capsys, "audit", "verify")[0] == 0  # nothing inside the database says otherwise any more
    code, _, err = run(capsys, "audit", "verify", "--checkpoints", str(witness))
    assert code == 1 and "the log ends at seq 4, shorter than the signed 6 records" in err


@pytest.mark.parametrize("content,match", [
    ("not json\n", "line 1 is not JSON"),
    ('{"payload": 1}\n', "line 1 is not a checkpoint"),
])
def test_a_bad_checkpoint_file_is_a_one_line_error(logged, capsys, tmp_path: Path, content: str, match: str) -> None:
    f = tmp_path / "cp.jsonl"
    f.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "audit", "verify", "--checkpoints", str(f))
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "audit", "verify", "--checkpoints", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such checkpoint file" in err
