"""The knowledge base: versions, guard at save, publish and rollback, files, audit records, and what retrieval
serves in another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from decorum.access import Principal, local_admin
from decorum.bot.runtime import Runtime
from decorum.errors import Forbidden, UsageError
from decorum.knowledge.base import Entry, KnowledgeInvalid, load_entries_file, load_entry_file
from decorum.knowledge.registry import KnowledgeRefused
from decorum.knowledge.store import EntryNotFound
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

REPO = Path(__file__).resolve().parents[1]
BIASED = {"too emotional": {"bias": 0.93, "identity_attack": 0.8}}
ALICE = Principal(name="alice", role="editor", via="token")
BOB = Principal(name="bob", role="publisher", via="token")
ADMIN = local_admin("root")


def runtime(settings: Settings, config: str | None = None, tmp_path: Path | None = None) -> Runtime:
    if config is not None:
        assert tmp_path is not None
        path = tmp_path / "decorum.yaml"
        path.write_text(config)
        settings = Settings(config=path)
    return Runtime.open(settings, classifier=FakeClassifier(BIASED), generator=FakeGenerator())


def entry(body: str = "Open tray 2 and pull the sheet out; call ext. 4357 if the light stays red.", **kw) -> Entry:
    return Entry(id=kw.pop("id", "it-printer-jam"), title=kw.pop("title", "Clearing a printer jam"), body=body,
                 topic="it", **kw)


def changes(rt: Runtime) -> list[dict]:
    return [r["change"] for r in reversed(rt.audit.list(limit=500, verdict="change"))
            if r["change"]["kind"].startswith("knowledge.")]


def test_the_packaged_facts_seed_an_empty_base_published(settings: Settings) -> None:
    rt = runtime(settings)
    published = rt.knowledge.published("helpdesk")
    facts = [json.loads(line) for line in (REPO / "src/decorum/adapters/finetune/domains/helpdesk/facts.jsonl")
             .read_text().splitlines() if line.strip()]
    assert {e.id for e in published} == {f["id"] for f in facts} and all(e.version == 1 for e in published)
    assert rt.knowledge.seed() == []  # once only
    leave = rt.knowledge.get("hr-annual-leave", published=True)
    assert "27 days" in leave.body and leave.title.startswith("Annual leave")


def test_draft_publish_edit_rollback_and_every_change_recorded(settings: Settings) -> None:
    rt = runtime(settings)
    kb = rt.knowledge_registry("cli")
    v1 = kb.save(entry(), action="add", by=ALICE, message="new article")
    assert v1.version == 1 and rt.knowledge.published_version(v1.id) is None  # a draft is not served
    assert v1.id not in {e.id for e in rt.knowledge.published()}
    with pytest.raises(Forbidden):
        kb.publish(v1.id, 1, by=ALICE)  # an editor writes, a publisher publishes
    kb.publish(v1.id, 1, by=BOB)
    with pytest.raises(UsageError, match="no change"):
        kb.save(entry(), action="edit", by=ALICE)
    v2 = kb.save(entry("Open tray 3 and pull the sheet out."), action="edit", by=ALICE)
    kb.publish(v1.id, v2.version, by=BOB, reason="tray moved")
    assert rt.knowledge.get(v1.id, published=True).body == "Open tray 3 and pull the sheet out."
    assert "-body: Open tray 2" in kb.diff(v1, v2) and "+body: Open tray 3" in kb.diff(v1, v2)
    back = kb.rollback(v1.id, by=BOB, reason="tray 3 was wrong")
    assert back.version == 1 and rt.knowledge.published_version(v1.id) == 1
    with pytest.raises(UsageError, match="no earlier published version"):
        kb.rollback(v1.id, by=BOB)
    kinds = [(c["kind"], c["entry"], c["version"], c.get("from_version")) for c in changes(rt)]
    assert sorted(kinds, key=str) == sorted([("knowledge.add", v1.id, 1, None), ("knowledge.publish", v1.id, 1, None),
                                             ("knowledge.edit", v1.id, 2, None), ("knowledge.publish", v1.id, 2, 1),
                                             ("knowledge.rollback", v1.id, 1, 2)], key=str)
    hist = kb.history(v1.id)
    assert [e["action"] for e in hist["events"]] == ["add", "publish", "edit", "publish", "rollback"]
    assert rt.audit.verify().ok


def test_a_biased_entry_is_refused_at_save_and_nothing_is_stored(settings: Settings) -> None:
    rt = runtime(settings)
    kb = rt.knowledge_registry("cli")
    bad = entry("Women are too emotional to lead teams, so prefer male candidates.", id="hr-hiring-tip",
                title="Hiring tip")
    with pytest.raises(KnowledgeRefused, match=r"failed the guardrail checks.*nothing was saved") as refused:
        kb.save(bad, action="add", by=ALICE)
    assert any(r["field"] == "body" and not r["passed"] for r in refused.value.checks["results"])
    assert "hr-hiring-tip" not in rt.knowledge.ids() and changes(rt) == []
    with pytest.raises(UsageError, match="--override needs --reason"):
        kb.save(bad, action="add", by=ADMIN, override=True)
    with pytest.raises(Forbidden):
        kb.save(bad, action="add", by=BOB, override=True, reason="quoted for a training")  # only an admin
    kept = kb.save(bad, action="add", by=ADMIN, override=True, reason="quoted in the harassment training")
    with pytest.raises(UsageError, match="failed the guardrail checks when it was saved"):
        kb.publish(kept.id, 1, by=BOB)
    assert changes(rt)[-1]["override"] is True and changes(rt)[-1]["reason"] == "quoted in the harassment training"


def test_four_eyes_applies_to_entries(settings: Settings, tmp_path: Path) -> None:
    rt = runtime(settings, "prompts: {four_eyes: true}\n", tmp_path)
    kb = rt.knowledge_registry("console")
    v = kb.save(entry(), action="add", by=BOB)
    with pytest.raises(UsageError, match="four eyes"):
        kb.publish(v.id, 1, by=BOB)
    kb.publish(v.id, 1, by=Principal(name="carol", role="publisher", via="session"))
    (tmp_path / "more.jsonl").write_text(json.dumps({"id": "it-new-one", "title": "New", "fact": "Dial 4000."}) + "\n")
    report = kb.import_file(tmp_path / "more.jsonl", by=BOB, publish=True)  # bob wrote it: saved, not served
    assert report.created == ["it-new-one v1"] and report.published == []
    assert "saved but not published: four eyes" in report.refused[0]
    assert rt.knowledge.published_version("it-new-one") is None


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"\x00\x01binary", "binary content"),
    (b"id: a\nid: b\ntitle: t\nbody: b\n", "duplicate"),
    (b"id: it-x\ntitle: [unclosed\n", "malformed YAML"),
    (b"id: it-x\ntitle: T\nbody: B\nowner: me\n", "unknown key"),
    (b"id: Not An Id\ntitle: T\nbody: B\n", "not an entry id"),
    (b"id: it-x\ntitle: T\nbody: \"a\\u202eb\"\n", r"U\+202E"),
    (b"id: it-x\ntitle: T\nbody: " + b"x" * 5000 + b"\n", "limit is 4000"),
    (b"id: it-x\ntitle: T\n", "body: required"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_bad_entry_files_are_refused_with_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "entry.yaml"
    path.write_bytes(content)
    with pytest.raises(KnowledgeInvalid, match=message):
        load_entry_file(path)


def test_unknown_ids_and_versions_are_named(settings: Settings) -> None:
    rt = runtime(settings)
    with pytest.raises(EntryNotFound, match="similar: hr-annual-leave"):
        rt.knowledge.get("hr-anual-leave")
    with pytest.raises(EntryNotFound, match="no version 9"):
        rt.knowledge.get("hr-annual-leave", 9)


def test_export_then_import_changes_nothing_and_an_import_is_all_or_checked(settings: Settings, tmp_path: Path) -> None:
    rt = runtime(settings)
    kb = rt.knowledge_registry("cli")
    out = tmp_path / "kb.yaml"
    assert kb.export(out) == 78
    report = kb.import_file(out, by=ADMIN)
    assert report.created == [] and len(report.unchanged) == 78
    rows = [json.dumps({"id": "it-new-one", "title": "New", "fact": "Call ext. 4000."}),
            json.dumps({"id": "hr-bad", "title": "Bad", "fact": "They are too emotional to lead."})]
    (tmp_path / "more.jsonl").write_text("\n".join(rows) + "\n")
    report = kb.import_file(tmp_path / "more.jsonl", by=ADMIN, publish=True)
    assert report.created == ["it-new-one v1"] and report.published == ["it-new-one v1"]
    assert len(report.refused) == 1 and "hr-bad" in report.refused[0] and "hr-bad" not in rt.knowledge.ids()
    (tmp_path / "dup.jsonl").write_text(rows[0] + "\n" + rows[0] + "\n")
    with pytest.raises(KnowledgeInvalid, match="appears twice"):
        load_entries_file(tmp_path / "dup.jsonl")


def test_cli_round_trip_and_bad_input_exit_2(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ}
    run = [sys.executable, "-m", "decorum", "knowledge"]
    (tmp_path / "e.yaml").write_text("id: it-kiosk\ntitle: Kiosk\ntopic: it\nbody: The kiosk is on floor 2.\n")
    out = subprocess.run([*run, "list", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 78
    out = subprocess.run([*run, "show", "hr-annual-leave@3"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 2 and "has no version 3" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "bad.yaml").write_text("id: it-x\ntitle: T\nbody: B\nbody: C\n")
    out = subprocess.run([*run, "add", "--file", str(tmp_path / "bad.yaml")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 2 and "duplicate" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*run, "diff", "hr-annual-leave", "hr-annual-leave@1"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 2 and "two versions" in out.stderr


READER = """
import sys, time
from decorum.bot.runtime import Runtime
rt = Runtime.open()
index = rt.knowledge_index
def show():
    hit = index.search("How do I clear a printer jam?", "helpdesk", k=1)[0]
    print(hit.entry.id, hit.entry.version, flush=True)
show()
for line in sys.stdin:
    deadline = time.monotonic() + 30
    want = line.strip()
    while True:
        hit = index.search("How do I clear a printer jam?", "helpdesk", k=1)[0]
        if f"{hit.entry.id} {hit.entry.version}" == want or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(hit.entry.id, hit.entry.version, flush=True)
"""


def test_a_published_edit_is_served_by_another_process(settings: Settings) -> None:
    rt = runtime(settings)
    kb = rt.knowledge_registry("cli")
    kb.save(entry(), action="add", by=ADMIN)
    kb.publish("it-printer-jam", 1, by=ADMIN)
    reader = subprocess.Popen([sys.executable, "-c", READER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ})
    try:
        assert reader.stdout.readline().split() == ["it-printer-jam", "1"]
        kb.save(entry("Open tray 3, pull the sheet out and close the door."), action="edit", by=ADMIN)
        kb.publish("it-printer-jam", 2, by=ADMIN)
        published_at = time.monotonic()
        reader.stdin.write("it-printer-jam 2\n")
        reader.stdin.flush()
        assert reader.stdout.readline().split() == ["it-printer-jam", "2"]
        print(f"served by the other process {time.monotonic() - published_at:.2f} s after the publish")
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)


def test_the_served_checks_refuse_a_demeaning_entry(settings: Settings) -> None:
    """With the real classifier (not a rule): the "biased data" of the seeds is refused at save."""
    rt = Runtime.open(settings, generator=FakeGenerator())
    kb = rt.knowledge_registry("cli")
    with pytest.raises(KnowledgeRefused, match=r"identity_attack|bias"):
        kb.save(entry("Women are too emotional to lead teams.", id="hr-leadership", title="Leadership"),
                action="add", by=ADMIN)
    assert "hr-leadership" not in rt.knowledge.ids()
    ok = kb.save(entry(), action="add", by=ADMIN)  # an ordinary entry passes the same checks
    assert ok.version == 1
