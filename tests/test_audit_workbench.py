"""Issue 12: the keyed chain, filters, exports that verify offline, kept texts under retention, subjects.

The issue's probes are repeated: `audit verify` fails for a changed field (of the note, of a filter column or
of a score row), a deleted middle record, a reordered record, a chain recomputed without the key; an export
checks offline and fails when edited, cut, reordered or its manifest forged; purging kept texts keeps
`audit verify` green.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from decorum import cli
from decorum.audit.records import GENESIS, canonical_json, record_hash

VPN = "How do I reset my VPN password?"
TOXIC = "You are a worthless idiot and people like you should be exterminated."


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def sql(statement: str, **params: object) -> list:
    from decorum.settings import Settings

    engine = create_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        rows = result.all() if result.returns_rows else []
    engine.dispose()
    return rows


def change_note(i: int, template: str = "general", day: int = 1) -> dict:
    from decorum.bot.note import new_id

    return {"id": new_id(), "created_at": f"2026-11-{day:02d}T10:00:{i % 60:02d}.000Z", "surface": "cli",
            "verdict": "change", "change": {"kind": "template.test", "actor": "tester", "template": template,
                                            "version": 1 + i % 2, "passed": bool(i % 3)}}


def answer_like(base: dict, **changes: object) -> dict:
    """A real note from the pipeline, with a new id and the given fields changed (a realistic record)."""
    from decorum.bot.note import new_id

    note = {k: v for k, v in base.items() if k not in ("hash", "prev_hash", "answer", "seq")}
    note = json.loads(json.dumps(note))
    note["id"] = new_id()
    for path, value in changes.items():
        target = note
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    return note


@pytest.fixture
def rt(db_url: str):
    from decorum.bot.runtime import Runtime

    return Runtime.open()


# --- the keyed chain and its copies -----------------------------------------------------------------


def test_records_before_the_chain_key_keep_plain_hashes_and_later_ones_cannot_be_downgraded(db_url, capsys) -> None:
    from decorum.audit.chain_key import ChainKey
    from decorum.audit.log import SqlAuditLog
    from decorum.bot.runtime import Runtime
    from decorum.store import Database

    db = Database.open(Runtime.open().settings.resolved_database_url)
    plain = SqlAuditLog(db)  # a log written before the key existed
    for i in range(3):
        plain.append(change_note(i))
    # such a log adopts a key explicitly (recorded as seq 4); a key is never made silently for a log with records
    code, out, err = run(capsys, "audit", "adopt-chain-key")
    assert code == 0 and "records from seq 4 on are keyed" in out, err
    rt = Runtime.open()
    for i in range(4, 6):
        rt.audit.append(change_note(i))
    key = ChainKey.open(rt.settings.audit_chain_key_path)
    assert key.keyed_from_seq == 4
    rows = sql("SELECT seq, note, hash FROM audit_record ORDER BY seq")
    assert all(record_hash(s, n) == h for s, n, h in rows[:3])  # plain SHA-256
    assert all(record_hash(s, n, key.key) == h for s, n, h in rows[3:])  # keyed
    assert run(capsys, "audit", "verify")[0] == 0
    # whoever holds the database but not the key rewrites the keyed records as plain ones: caught
    prev = rows[2][2]
    for seq, note, _ in rows[3:]:
        body = canonical_json({**json.loads(note), "prev_hash": prev})
        prev = record_hash(seq, body)
        sql("UPDATE audit_record SET note = :n, prev_hash = :p, hash = :h WHERE seq = :s", n=body,
            p=json.loads(body)["prev_hash"], h=prev, s=seq)
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "(seq 4)" in err and "keyed with the chain key" in err
    db.dispose()


@pytest.mark.models
@pytest.mark.parametrize("tamper,reason", [
    ("UPDATE audit_record SET template = 'general@9' WHERE seq = 2", "column 'template' differs"),
    ("UPDATE audit_record SET strategy = NULL WHERE seq = 2", "column 'strategy' differs"),
    ("UPDATE audit_record SET user_pseudonym = 'hmac:00000000000000000000000000000000' WHERE seq = 2",
     "column 'user' differs"),
    ("UPDATE audit_score SET score = 0.01 WHERE seq = 2 AND \"check\" = 'toxicity' AND stage = 'input'",
     "score rows differ"),
    ("DELETE FROM audit_score WHERE seq = 2 AND \"check\" = 'toxicity' AND stage = 'input'", "score rows differ"),
    ("INSERT INTO audit_score (seq, stage, \"check\", score, passed) VALUES (2, 'output', 'extra', 0.5, true)",
     "score rows differ"),
])
def test_a_changed_filter_column_or_score_row_fails_verify(rt, capsys, tamper: str, reason: str) -> None:
    """Filters run on copies of the note: a copy that no longer agrees (a record hidden from a filter) is caught."""
    code, out, err = run(capsys, "ask", "--json", "--max-new-tokens", "8", VPN)
    assert code == 0, err
    rt.audit.append(answer_like(json.loads(out), user=rt.pseudonymiser.user("U0ASKER")))
    rt.audit.append(change_note(3))
    assert sql("SELECT count(*) FROM audit_score WHERE seq = 2")[0][0] >= 1
    assert run(capsys, "audit", "verify")[0] == 0
    sql(tamper)
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and reason in err and "(seq 2)" in err, err


def test_a_reordered_record_fails_verify(rt, capsys) -> None:
    for i in range(5):
        rt.audit.append(change_note(i))
    sql("UPDATE audit_record SET seq = 1000 WHERE seq = 2")
    sql("UPDATE audit_record SET seq = 2 WHERE seq = 3")
    sql("UPDATE audit_record SET seq = 3 WHERE seq = 1000")
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "(seq 2)" in err and "prev_hash does not match" in err


# --- filters on the CLI -----------------------------------------------------------------------------


@pytest.mark.models
def test_cli_filters_find_records_by_verdict_check_score_strategy_and_time(rt, capsys) -> None:
    code, out, err = run(capsys, "ask", "--json", "--max-new-tokens", "16", VPN)
    assert code == 0, err
    vpn = json.loads(out)
    code, out, err = run(capsys, "ask", "--json", TOXIC)
    toxic = json.loads(out)
    assert toxic["verdict"] == "blocked_input"

    def ids(*argv: str) -> list[str]:
        code, out, err = run(capsys, "audit", "list", "--json", *argv)
        assert code == 0, err
        return [n["id"] for n in json.loads(out)]

    assert ids("--verdict", "blocked_input") == [toxic["id"]]
    assert ids("--verdict", "answered,blocked_input") == [toxic["id"], vpn["id"]]
    tox_in = next(r["score"] for r in toxic["guardrails"]["input"] if r["check"] == "toxicity")
    assert ids("--check", "toxicity", "--min-score", str(round(tox_in - 0.01, 4))) == [toxic["id"]]
    assert ids("--check", "toxicity", "--max-score", str(round(tox_in - 0.01, 4))) == [vpn["id"]]
    assert ids("--strategy", vpn["route"]["strategy"], "--verdict", "answered") == [vpn["id"]]
    assert ids("--template", vpn["template"]["name"]) == [vpn["id"]]
    assert ids("--template", f"{vpn['template']['name']}@{vpn['template']['version'] + 1}") == []
    assert ids("--since", "1h") == [toxic["id"], vpn["id"]]
    assert ids("--until", "2020-01-01") == []
    assert ids("--surface", "slack") == []
    assert ids("--limit", "1") == [toxic["id"]]
    code, _, err = run(capsys, "audit", "list", "--limit", "1")
    assert "--before" in err  # the cursor to the next page
    cursor = int(err.split("--before ")[1].split(")")[0])
    assert ids("--limit", "1", "--before", str(cursor)) == [vpn["id"]]
    code, out, _ = run(capsys, "audit", "stats", "--json")
    figures = json.loads(out)
    assert figures["total"] == 2 and figures["verdicts"] == {"answered": 1, "blocked_input": 1}
    assert any(s["check"] == "toxicity" and s["failed"] >= 1 for s in figures["scores"])
    code, out, _ = run(capsys, "audit", "stats")
    assert code == 0 and "2 records" in out and "blocked_input 1 (50%)" in out


@pytest.mark.parametrize("argv,match", [
    (["--verdict", "nope"], "audit filter verdict: unknown verdict 'nope'"),
    (["--since", "yesterday"], "audit filter since: 'yesterday' is not a date"),
    (["--check", "toxicity", "--min-score", "1.5"], "audit filter min_score: a score bound is between 0 and 1"),
    (["--since", "2026-11-30", "--until", "2026-11-01"], "since must be before until"),
    (["--min-score", "0.9", "--max-score", "0.1"], "min_score is above max_score"),
    (["--channel", "C1\x00"], "audit filter channel: at most 200 printable characters"),
])
def test_bad_filters_exit_2_with_one_line_naming_the_field(db_url, capsys, argv: list[str], match: str) -> None:
    for cmd in ("list", "stats"):
        code, _, err = run(capsys, "audit", cmd, *argv)
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err


# --- exports ----------------------------------------------------------------------------------------


def _export(capsys, out: Path, fmt: str, *filters: str) -> dict:
    code, _, err = run(capsys, "audit", "export", "--format", fmt, "--out", str(out), *filters)
    assert code == 0, err
    return json.loads(out.with_name(out.name + ".manifest.json").read_text())


def _verify_export(capsys, path: Path, *extra: str) -> tuple[int, str]:
    code, out, err = run(capsys, "audit", "verify", "--export", str(path), *extra)
    return code, out + err


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_checks_offline_and_fails_when_changed(rt, capsys, tmp_path: Path, fmt: str) -> None:
    for i in range(12):
        rt.audit.append(change_note(i, template="general" if i % 3 else "helpdesk"))
    out = tmp_path / f"all.{fmt}"
    signed = _export(capsys, out, fmt)
    m = signed["manifest"]
    assert m["count"] == 12 and m["whole_log"] and m["first"]["seq"] == 1 and m["last"]["seq"] == 12
    assert m["checkpoint"]["payload"]["seq"] == 12 and m["checkpoint"]["payload"]["head_hash"] == m["last"]["hash"]
    code, said = _verify_export(capsys, out)
    assert code == 0 and "12 records (the whole log" in said and "12 record hashes recomputed" in said
    rt.audit.append(change_note(99))  # appended after the export: not in it, and it still holds
    assert _verify_export(capsys, out)[0] == 0
    # offline, with the public key only (no data dir, no chain key): still checks signatures and links
    pub = tmp_path / "signing.pub"
    pub.write_bytes(Path(str(rt.settings.audit_signing_key_path) + ".pub").read_bytes())
    code, said = _verify_export(capsys, out, "--public-key", str(pub))
    assert code == 0
    original = out.read_bytes()
    lines = original.decode().splitlines(keepends=True)
    head = 1 if fmt == "csv" else 0

    def fails(content: str | bytes, match: str) -> None:
        out.write_bytes(content if isinstance(content, bytes) else content.encode())
        code, said = _verify_export(capsys, out)
        assert code == 1 and match in said, said
        out.write_bytes(original)

    edited = original.decode().replace("tester", "hacker", 1)
    fails(edited, "differ from the manifest's SHA-256")
    fails("".join(lines[:head + 5] + lines[head + 6:]), "expected seq 6 (a record is missing)")
    fails("".join([*lines[:head + 3], lines[head + 4], lines[head + 3], *lines[head + 5:]]), "reordered")
    fails("".join(lines[:-2]), "the file holds 10 records, the manifest says 12")
    fails(b"", "the file holds 0 records")
    # a forged manifest (the count and digest made to fit a cut file) fails its signature
    cut = "".join(lines[:-2]).encode()
    import hashlib

    forged = json.loads(json.dumps(signed))
    forged["manifest"].update(count=10, sha256=hashlib.sha256(cut).hexdigest(), bytes=len(cut),
                              last={"seq": 10, "hash": sql("SELECT hash FROM audit_record WHERE seq = 10")[0][0]})
    mpath = out.with_name(out.name + ".manifest.json")
    saved = mpath.read_text()
    mpath.write_text(json.dumps(forged))
    out.write_bytes(cut)
    code, said = _verify_export(capsys, out)
    assert code == 1 and "the manifest's signature does not verify" in said
    mpath.write_text(saved)
    out.write_bytes(original)
    # a key that is not Decorum's: nothing verifies
    from decorum.audit.checkpoints import Signer

    other = Signer.open(tmp_path / "other.key", create=True)
    assert other.public_key is not None
    code, said = _verify_export(capsys, out, "--public-key", str(tmp_path / "other.key.pub"))
    assert code == 1 and "signature does not verify" in said


def test_a_filtered_export_holds_only_its_records_and_verifies(rt, capsys, tmp_path: Path) -> None:
    for i in range(10):
        rt.audit.append(change_note(i, template="helpdesk" if i % 2 else "general"))
    out = tmp_path / "helpdesk.csv"
    m = _export(capsys, out, "csv", "--template", "helpdesk")["manifest"]
    assert m["count"] == 5 and m["filter"] == {"template": "helpdesk"} and not m["whole_log"]
    recorded = rt.audit.list(limit=1, verdict="change")[0]["change"]  # who exported what is on the record
    assert recorded["kind"] == "audit.export" and recorded["filter"] == {"template": "helpdesk"}
    assert recorded["sha256"] == m["sha256"] and recorded["upto"] == m["upto_seq"]
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [int(r["seq"]) for r in rows] == [2, 4, 6, 8, 10] and {r["template"] for r in rows} == {"helpdesk@2"}
    code, said = _verify_export(capsys, out)
    assert code == 0 and "5 records (filter" in said
    # the CSV's visible columns are checked against the note they came from
    changed = out.read_text().replace("helpdesk@2", "helpdesk@1", 1)
    out.write_text(changed)
    assert _verify_export(capsys, out)[0] == 1


def test_export_to_stdout_streams_the_same_bytes(rt, capsys, tmp_path: Path) -> None:
    for i in range(4):
        rt.audit.append(change_note(i))
    manifest = tmp_path / "m.json"
    code, out, err = run(capsys, "audit", "export", "--format", "jsonl", "--manifest", str(manifest))
    assert code == 0, err
    data = tmp_path / "stdout.jsonl"
    data.write_text(out)
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [1, 2, 3, 4]
    assert _verify_export(capsys, data, "--manifest", str(manifest))[0] == 0


def test_bad_export_files_exit_2_with_one_line(rt, capsys, tmp_path: Path) -> None:
    assert run(capsys, "audit", "checkpoint")[0] == 0  # the signing key exists
    code, _, err = run(capsys, "audit", "verify", "--export", str(tmp_path / "nope.csv"))
    assert code == 2 and "no such export file" in err
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n")
    code, _, err = run(capsys, "audit", "verify", "--export", str(bad))
    assert code == 2 and "no manifest" in err
    (tmp_path / "x.csv.manifest.json").write_bytes(b"\xff\x00 not json")
    code, _, err = run(capsys, "audit", "verify", "--export", str(bad))
    assert code == 2 and "not a Decorum export manifest" in err and len(err.strip().splitlines()) == 1


# --- kept texts, purge, subjects, key rotation -------------------------------------------------------


@pytest.mark.models
def test_kept_texts_match_their_notes_and_purging_them_keeps_verify_green(db_url, capsys, tmp_path, monkeypatch
                                                                          ) -> None:
    config = tmp_path / "decorum.yaml"
    config.write_text("audit:\n  store_question: true\n  store_answer: true\n  text_retention_days: 30\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(config))
    code, out, err = run(capsys, "ask", "--json", "--max-new-tokens", "16", VPN)
    assert code == 0, err
    note = json.loads(out)
    assert note["request"]["stored"] is True and note["response"]["stored"] is True
    texts = dict(sql("SELECT field, text FROM audit_text WHERE note_id = :i", i=note["id"]))
    assert texts == {"question": VPN, "answer": note["answer"]}
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "2 kept texts match their notes" in out, err
    sql("UPDATE audit_text SET text = 'something else' WHERE field = 'question'")  # a swapped text: caught
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and f"kept question of {note['id']} does not match its note's keyed hash" in err
    sql("UPDATE audit_text SET text = :t WHERE field = 'question'", t=VPN)
    code, out, _ = run(capsys, "audit", "purge", "--dry-run")
    assert code == 0 and "would purge 0 kept texts" in out  # within 30 days
    code, out, _ = run(capsys, "audit", "purge", "--older-than", "0", "--as", "dpo")
    assert code == 0 and "purged 2 kept texts" in out
    assert sql("SELECT count(*) FROM audit_text")[0][0] == 0
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "kept texts" not in out, err  # green: the note's keyed hashes stay
    code, out, _ = run(capsys, "audit", "list", "--json", "--verdict", "change")
    purge = json.loads(out)[0]["change"]
    assert purge["kind"] == "audit.purge" and purge["actor"] == "dpo"


@pytest.mark.models
def test_subject_finds_one_persons_records_across_a_key_rotation_and_erases_their_texts(db_url, capsys, tmp_path,
                                                                                        monkeypatch) -> None:
    from decorum.bot.runtime import Runtime

    config = tmp_path / "decorum.yaml"
    config.write_text("audit:\n  store_question: true\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(config))
    code, out, err = run(capsys, "ask", "--json", "--max-new-tokens", "8", VPN)
    assert code == 0, err
    base = json.loads(out)
    rt = Runtime.open()
    alice, bob = rt.pseudonymiser.user("U0ALICE"), rt.pseudonymiser.user("U0BOB")
    rt.audit.append(answer_like(base, user=alice), texts={"question": VPN})
    rt.audit.append(answer_like(base, user=bob))
    code, out, err = run(capsys, "audit", "rotate-pseudonym-key", "--as", "dpo")
    assert code == 0 and "retired" in out, err
    rt2 = Runtime.open()
    assert rt2.pseudonymiser.key_id != rt.pseudonymiser.key_id and len(rt2.pseudonymiser.retired) == 1
    later = answer_like(base, user=rt2.pseudonymiser.user("U0ALICE"), pseudonym_key=rt2.pseudonymiser.key_id)
    rt2.audit.append(later)
    code, out, err = run(capsys, "audit", "subject", "U0ALICE", "--json", "--texts")
    assert code == 0, err
    found = json.loads(out)
    assert len(found["pseudonyms"]) >= 2 and alice in found["pseudonyms"]
    assert [r["pseudonym"] for r in found["records"]] == [alice, later["user"]]
    assert found["records"][0]["texts"] == {"question": VPN} and found["texts_kept"] == 1
    assert "U0ALICE" not in json.dumps([r for r in found["records"]])  # pseudonyms only
    code, out, err = run(capsys, "audit", "subject", "U0ALICE", "--erase")
    assert code == 0 and "erased 1 kept texts" in out
    assert sql("SELECT count(*) FROM audit_text WHERE note_id = :i", i=found["records"][0]["id"])[0][0] == 0
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0, err
    kinds = [n["change"]["kind"] for n in json.loads(run(capsys, "audit", "list", "--json", "--verdict", "change")[1])]
    assert kinds[:3] == ["audit.subject_erase", "audit.subject_lookup", "audit.key_rotation"]
    assert "U0ALICE" not in json.dumps(kinds) and "U0ALICE" not in "".join(
        n for (n,) in sql("SELECT note FROM audit_record"))


def test_rotation_refuses_a_key_from_the_environment(db_url, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DECORUM_AUDIT_KEY", "an-audit-key-from-a-secret-store-0123")
    code, _, err = run(capsys, "audit", "rotate-pseudonym-key")
    assert code == 2 and "rotate it there" in err


def test_schema_prints_the_versioned_json_schema(capsys) -> None:
    code, out, _ = run(capsys, "audit", "schema")
    schema = json.loads(out)
    assert code == 0 and schema["$id"] and "verdict" in schema["properties"]


def test_genesis_is_64_zeros() -> None:
    assert GENESIS == "0" * 64


async def test_serve_purges_kept_texts_once_a_day_and_verify_stays_green(rt, capsys) -> None:
    from datetime import UTC, datetime

    from decorum.audit.config import AuditConfig
    from decorum.audit.jobs import AuditJobs

    old, recent = change_note(1, day=1), change_note(2, day=28)  # November 1st and 28th
    fp = rt.pseudonymiser.fingerprint
    old["request"] = fp("an old question")
    recent.update(request=fp("a recent one"), response=fp("its answer"))
    rt.audit.append(old, texts={"question": "an old question"})
    rt.audit.append(recent, texts={"question": "a recent one", "answer": "its answer"})
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    off = AuditJobs(rt.db, AuditConfig(checkpoint_every_s=0), rt.settings.audit_signing_key_path, audit=rt.audit)
    assert not off.enabled and await off.purge_once(now) == "off"  # texts not kept: no job
    cfg = AuditConfig(store_question=True, text_retention_days=14)
    jobs = AuditJobs(rt.db, cfg, rt.settings.audit_signing_key_path, audit=rt.audit, owner="a")
    other = AuditJobs(rt.db, cfg, rt.settings.audit_signing_key_path, audit=rt.audit, owner="b")
    assert jobs.enabled and await jobs.purge_once(now) == "signed"
    assert await other.purge_once(now) == "taken"  # one replica per day
    assert sql("SELECT note_id, field FROM audit_text ORDER BY field") == [(recent["id"], "answer"),
                                                                           (recent["id"], "question")]
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0 and "2 kept texts match their notes" in out, err
    purge = json.loads(run(capsys, "audit", "list", "--json", "--verdict", "change", "--limit", "1")[1])[0]
    assert purge["change"]["kind"] == "audit.purge" and purge["change"]["actor"] == "decorum:retention"
