"""The template registry through the ``decorum prompts`` CLI: versions, checks, labels, audit, files.

Fakes only: the classifier flags by rules (``FakeClassifier``), the database is the test's own SQLite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from decorum import cli
from decorum.bot.runtime import Runtime
from decorum.errors import TemplateInvalid
from decorum.guardrails.policy import BIAS_THRESHOLD
from decorum.prompts.base import Template
from decorum.prompts.render import validate
from decorum.prompts.yaml_format import MAX_FILE_BYTES, load_template_file
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

DEMEANING = "Treat women as inferior"
RULES = {DEMEANING: {"bias": 0.97}, "worthless": {"toxicity": 0.95}}
ANSWER = "The printer is on the second floor, next to the kitchen."

FAQ = {
    "name": "faq",
    "description": "Short answers about the office.",
    "system": "You are {{ assistant_name }}. Answer in {{ sentences }} sentences.\n",
    "user": "{{ question }}",
    "variables": [{"name": "assistant_name", "type": "string", "max_length": 40},
                  {"name": "sentences", "type": "int"}],
    "defaults": {"assistant_name": "Decorum", "sentences": 2},
    "generation": {"max_tokens": 120, "temperature": 0.2},
    "test_cases": [{"question": "Where is the printer?", "expect": {"must_contain": ["printer"], "max_chars": 400}}],
}


@pytest.fixture
def rt(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """One runtime with the rule-based classifier, used by every CLI call of the test."""
    runtime = Runtime.open(Settings(), classifier=FakeClassifier(RULES), generator=FakeGenerator(ANSWER))
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    return runtime


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, data: dict | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def changes(rt: Runtime) -> list[dict]:
    return [n["change"] for n in reversed(rt.audit.list(limit=100, verdict="change"))]


def test_create_edit_diff_publish_rollback_each_recorded(rt: Runtime, capsys, tmp_path: Path) -> None:
    f = write(tmp_path / "faq.yaml", FAQ)
    code, out, err = run(capsys, "prompts", "create", "faq", "--file", str(f), "--as", "alice")
    assert code == 0, err
    assert "saved faq@1" in out and "not published" in out
    code, out, _ = run(capsys, "prompts", "list", "--json")
    row = next(r for r in json.loads(out) if r["name"] == "faq")
    assert row["production"] is None and row["latest"] == 1

    code, _, err = run(capsys, "prompts", "edit", "faq", "--file", str(f), "--message", "same", "--as", "alice")
    assert code == 2 and "no change" in err and "faq@1" in err and len(err.strip().splitlines()) == 1

    write(f, {**FAQ, "system": "You are {{ assistant_name }}. Answer in one short sentence.\n",
              "variables": FAQ["variables"][:1], "defaults": {"assistant_name": "Decorum"}})
    code, out, err = run(capsys, "prompts", "edit", "faq", "--file", str(f), "--message", "shorter", "--as", "alice")
    assert code == 0 and "saved faq@2" in out, err

    code, out, _ = run(capsys, "prompts", "diff", "faq@1", "faq@2")
    assert code == 0
    assert "--- faq@1" in out and "+++ faq@2" in out
    assert "-  You are {{ assistant_name }}. Answer in {{ sentences }} sentences." in out
    assert "+  You are {{ assistant_name }}. Answer in one short sentence." in out
    assert "-  sentences: 2" in out

    code, out, err = run(capsys, "prompts", "test", "faq@1", "--as", "carol")
    assert code == 0 and "faq@1: 1/1 cases passed" in out, err
    assert run(capsys, "prompts", "publish", "faq@1", "--as", "bob", "--reason", "first")[0] == 0
    code, out, err = run(capsys, "prompts", "publish", "faq@2", "--as", "bob")  # runs faq@2's tests first
    assert code == 0 and "production -> faq@2" in out, err
    code, out, _ = run(capsys, "prompts", "show", "faq", "--json")
    shown = json.loads(out)
    assert shown["version"] == 2 and shown["labels"] == ["production"] and shown["author"] == "alice"
    assert shown["checks"]["passed"] is True and shown["test_cases"][0]["question"] == "Where is the printer?"

    code, out, err = run(capsys, "prompts", "rollback", "faq", "--as", "bob", "--reason", "too terse")
    assert code == 0 and "production -> faq@1" in out, err
    assert rt.templates.get("faq").version == 1  # what the pipeline now serves
    code, _, err = run(capsys, "prompts", "rollback", "faq", "--as", "bob")
    assert code == 2 and "no earlier version" in err

    code, out, _ = run(capsys, "prompts", "history", "faq", "--json")
    hist = json.loads(out)
    assert [v["version"] for v in hist["versions"]] == [1, 2] and hist["labels"] == {"production": 1}
    assert [(e["action"], e["label"], e["from_version"], e["version"]) for e in hist["events"]] == [
        ("create", None, None, 1), ("edit", None, None, 2), ("test", None, None, 1), ("publish", "production", None, 1),
        ("test", None, None, 2), ("publish", "production", 1, 2), ("rollback", "production", 2, 1)]
    assert [(e["actor"], e["message"]) for e in hist["events"] if e["action"] == "test"] == [
        ("carol", "1/1 cases passed"), ("bob", "1/1 cases passed")]
    assert hist["events"][-1]["reason"] == "too terse" and hist["events"][-1]["actor"] == "bob"
    code, out, _ = run(capsys, "prompts", "history", "faq")
    assert "rollback production v2 -> v1 by bob: too terse" in out

    kinds = [(c["kind"], c["version"], c["actor"]) for c in changes(rt)]
    assert kinds == [("template.create", 1, "alice"), ("template.edit", 2, "alice"), ("template.test", 1, "carol"),
                     ("template.publish", 1, "bob"), ("template.test", 2, "bob"), ("template.publish", 2, "bob"),
                     ("template.rollback", 1, "bob")]
    assert changes(rt)[1]["sha256"] == rt.templates.get("faq", 2).sha256
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "9 records verified" in out  # 7 changes and the 2 test answers' notes
    code, out, _ = run(capsys, "audit", "list", "--verdict", "change")
    assert "template.rollback faq@1 production by bob" in out
    code, out, _ = run(capsys, "audit", "export", "--format", "csv")
    assert code == 0 and out.count("change") >= 5


def test_a_demeaning_template_is_a_draft_that_publish_refuses_without_override(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "bad.yaml", {"system": f"{DEMEANING}; answer the men first.", "user": "{{ question }}"})
    code, out, err = run(capsys, "prompts", "create", "bad", "--file", str(f), "--as", "mallory")
    assert code == 0, err
    assert "checks FAILED: bias on system" in out and "a draft" in out
    code, _, err = run(capsys, "prompts", "publish", "bad@1", "--as", "mallory")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"bad@1 failed the template checks (bias on system: bias 0.97 >= threshold {BIAS_THRESHOLD:.2f}" in err
    assert "--override --reason" in err
    code, _, err = run(capsys, "prompts", "publish", "bad@1", "--reason", "looks fine")  # a reason alone: no
    assert code == 2 and "failed the template checks" in err
    code, _, err = run(capsys, "prompts", "publish", "bad@1", "--override")  # override without a reason: no
    assert code == 2 and "--override needs --reason" in err
    assert rt.templates.labels("bad") == {}

    code, out, err = run(capsys, "prompts", "publish", "bad@1", "--override", "--reason", "quoted in a training deck",
                         "--as", "root")
    assert code == 0 and "checks overridden" in out, err
    last = changes(rt)[-1]
    assert last["kind"] == "template.publish" and last["override"] is True
    assert last["reason"] == "quoted in a training deck" and last["actor"] == "root"
    assert rt.templates.events("bad", "production")[-1]["override"] is True
    assert run(capsys, "audit", "verify")[0] == 0


def test_test_case_prompts_are_checked_too(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "t.yaml", {**FAQ, "test_cases": [{"question": "Is Bob worthless?"}]})
    run(capsys, "prompts", "create", "faq", "--file", str(f))
    checks = rt.templates.version_info("faq")[-1]["checks"]
    assert not checks["passed"]
    assert [r["field"] for r in checks["results"] if not r["passed"]] == ["test_cases[0]"]


@pytest.mark.parametrize("system,match", [
    ("{{ ''.__class__.__mro__ }}", "'__mro__' is unsafe"),
    ("{% if false %}{{ cycler.__init__.__globals__ }}{% endif %}", "is unsafe"),  # never runs: refused anyway
    ("{% import os %}", "syntax error on line 1"),
    ("{% import 'os' as os %}Hi", "may not import, include or extend"),
    ("{% include 'x.txt' %}", "may not import, include or extend"),
])
def test_template_injection_is_refused_at_save(rt, capsys, tmp_path, system: str, match: str) -> None:
    f = write(tmp_path / "inj.yaml", {"system": system})  # plain, the default: nothing but {{ variable }}
    code, _, err = run(capsys, "prompts", "create", "inj", "--file", str(f))
    assert code == 2 and "plain templates take only {{ variable }}" in err and "syntax: jinja" in err
    assert len(err.strip().splitlines()) == 1
    f = write(tmp_path / "inj.yaml", {"syntax": "jinja", "system": system})  # opted in: the sandbox's reasons
    code, _, err = run(capsys, "prompts", "create", "inj", "--file", str(f))
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert "inj" not in rt.templates.names()
    with pytest.raises(TemplateInvalid, match=match):  # and the same check guards every other path
        validate(Template(name="inj", version=0, system=system))
    with pytest.raises(TemplateInvalid, match="plain templates take only"):
        validate(Template(name="inj", version=0, system=system, syntax="plain"))


def test_plain_templates_substitute_once_so_user_text_stays_data(rt, capsys, tmp_path) -> None:
    from decorum.prompts.render import render_messages

    f = write(tmp_path / "faq.yaml", {**FAQ, "test_cases": []})
    assert run(capsys, "prompts", "create", "faq", "--file", str(f))[0] == 0
    tpl = rt.templates.latest("faq")
    assert tpl.syntax == "plain" and tpl.body()["syntax"] == "plain"
    msgs = render_messages(tpl, question="{{ assistant_name }} {% for x in range(9) %}x{% endfor %} {{ 7*7 }}")
    assert msgs[0]["content"] == "You are Decorum. Answer in 2 sentences."
    assert msgs[1]["content"] == "{{ assistant_name }} {% for x in range(9) %}x{% endfor %} {{ 7*7 }}"
    f = write(tmp_path / "bad.yaml", {"system": "Hi {{ who }}", "user": "{{ question }}"})
    code, _, err = run(capsys, "prompts", "create", "bad", "--file", str(f))
    assert code == 2 and "'who' is undefined" in err
    f = write(tmp_path / "c.yaml", {"system": "Hi {# note #}", "user": "{{ question }}"})
    code, _, err = run(capsys, "prompts", "create", "c", "--file", str(f))
    assert code == 2 and "is a comment; plain templates" in err


def test_four_eyes_refuses_the_author(db_url, capsys, tmp_path, monkeypatch) -> None:
    cfg = write(tmp_path / "config.yaml", {"prompts": {"four_eyes": True}})
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    runtime = Runtime.open(Settings(), classifier=FakeClassifier(RULES), generator=FakeGenerator(ANSWER))
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    f = write(tmp_path / "faq.yaml", FAQ)
    assert run(capsys, "prompts", "create", "faq", "--file", str(f), "--as", "alice")[0] == 0
    code, _, err = run(capsys, "prompts", "publish", "faq@1", "--as", "alice")
    assert code == 2 and "four eyes: alice wrote faq@1" in err
    assert runtime.templates.test_runs("faq", 1) == []  # refused before its test cases ran
    assert run(capsys, "prompts", "publish", "faq@1", "--as", "bob")[0] == 0


def test_four_eyes_is_off_by_default(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "faq.yaml", FAQ)
    run(capsys, "prompts", "create", "faq", "--file", str(f), "--as", "alice")
    assert run(capsys, "prompts", "publish", "faq@1", "--as", "alice")[0] == 0


def test_export_import_round_trip_into_a_fresh_database(rt, capsys, tmp_path, monkeypatch) -> None:
    f = write(tmp_path / "faq.yaml", FAQ)
    run(capsys, "prompts", "create", "faq", "--file", str(f), "--as", "alice")
    run(capsys, "prompts", "publish", "faq@1")
    write(f, {**FAQ, "description": "Office answers."})
    run(capsys, "prompts", "edit", "faq", "--file", str(f), "--message", "description")
    out_dir = tmp_path / "export"
    code, out, err = run(capsys, "prompts", "export", str(out_dir))
    assert code == 0, err
    names = sorted(p.stem for p in out_dir.glob("*.yaml"))
    assert names == sorted(rt.templates.names())
    exported = yaml.safe_load((out_dir / "faq.yaml").read_text())
    assert exported["version"] == 2 and exported["labels"]["production"]["version"] == 1
    hashes = {n: rt.templates.latest(n).sha256 for n in names}

    # a fresh database: every latest version comes back with the same content hash
    monkeypatch.setenv("DECORUM_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh = Runtime.open(Settings(), classifier=FakeClassifier(RULES), generator=FakeGenerator(ANSWER))
    monkeypatch.setattr(cli.base, "runtime", lambda: fresh)
    code, out, err = run(capsys, "prompts", "import", str(out_dir), "--as", "carol")
    assert code == 0, err
    assert "new version faq@1" in out
    assert "label skipped: production of faq" in out  # it named faq@1 of the old database: no such content here
    assert {n: fresh.templates.latest(n).sha256 for n in names} == hashes
    assert fresh.templates.labels("general") == {"production": 1}  # seeds: same content, nothing new
    assert all(f"unchanged {n}@1" in out for n in ("general", "helpdesk", "helpdesk-tuned"))

    # again: nothing changed, nothing created
    before = fresh.audit.count()
    code, out, _ = run(capsys, "prompts", "import", str(out_dir), "--as", "carol")
    assert code == 0 and "new version" not in out and fresh.audit.count() == before

    # a changed file gives one new version; a label naming existing content is applied
    doc = yaml.safe_load((out_dir / "faq.yaml").read_text())
    doc["system"] = "You are {{ assistant_name }}. Be brief.\n"
    doc["labels"] = {"staging": 1}
    write(out_dir / "faq.yaml", doc)
    code, out, err = run(capsys, "prompts", "import", str(out_dir))
    assert code == 0, err
    assert "new version faq@2" in out and "label staging -> faq@1" in out
    assert fresh.templates.labels("faq") == {"staging": 1}
    assert changes(fresh)[-1]["kind"] == "template.import" and changes(fresh)[-1]["label"] == "staging"
    assert run(capsys, "audit", "verify")[0] == 0


def test_seeds_load_in_the_new_format_and_old_versions_keep_their_hash(rt) -> None:
    tpl = rt.templates.get("helpdesk")
    assert tpl.strategy == "prompt_engineering" and {v["name"] for v in tpl.variables} == {
        "assistant_name", "company", "facts"}
    assert rt.templates.get("helpdesk-tuned").strategy == "fine_tuned"
    legacy = {"system": "Hi", "user": "{{ question }}", "safer_system": "", "defaults": {}, "domain": None}
    from decorum.prompts.base import content_sha256

    old = Template(name="x", version=1, system="Hi", description="kept aside", legacy=True)
    assert old.sha256 == content_sha256(legacy)  # a version stored before the registry keeps its hash


@pytest.mark.parametrize("content,match", [
    ({"system": "Hi", "colour": "red"}, "colour: unknown field"),
    ({"system": "Hi", "variables": [{"name": "x", "kind": "int"}]}, "variables.0.kind: unknown field"),
    ({"system": "Hi", "test_cases": [{"question": "q", "expect": {"must_contian": ["a"]}}]},
     "test_cases.0.expect.must_contian: unknown field"),
    ({"system": "Hello {{ team }}"}, "'team' is undefined"),
    ({"system": "Hello {{ team }}", "variables": [{"name": "team", "required": True}]},
     "variables.team: required but has no default"),
    ({"system": "Hi {{ n }}", "variables": [{"name": "n", "type": "int"}], "defaults": {"n": "two"}},
     "defaults.n: 'two' is not of the declared type int"),
    ({"system": "Hi {{ who }}", "variables": [{"name": "who", "max_length": 3}], "defaults": {"who": "everyone"}},
     "defaults.who: 8 characters; the declared max_length is 3"),
    ({"system": "Hi", "strategy": "fine_tuned"}, "domain: a fine_tuned template needs the domain"),
    ({"system": "Hi", "user": "no question here"}, "must use the {{ question }} variable"),
    ({"name": "other", "system": "Hi"}, "name: the file names 'other', the command 'faq'"),
    ("system: [unclosed", "not valid YAML at line 1"),
    ("- just\n- a list\n", "expected a mapping"),
    ("base: &a [x]\nsystem: *a\n", "YAML aliases"),
])
def test_bad_files_are_refused_naming_the_field(rt, capsys, tmp_path, content, match: str) -> None:
    f = write(tmp_path / "faq.yaml", content)
    code, _, err = run(capsys, "prompts", "create", "faq", "--file", str(f))
    assert code == 2 and match in err, err
    assert len(err.strip().splitlines()) == 1 and "faq" not in rt.templates.names()


def test_an_optional_variable_without_default_renders_empty() -> None:
    from decorum.prompts.render import render_messages

    tpl = Template(name="x", version=0, system="Hi{{ ' ' ~ who if who }}.", variables=[{"name": "who"}])
    validate(tpl)
    assert render_messages(tpl, question="q")[0]["content"] == "Hi."


def test_missing_huge_and_binary_files(rt, capsys, tmp_path) -> None:
    code, _, err = run(capsys, "prompts", "create", "faq", "--file", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err
    huge = tmp_path / "huge.yaml"
    huge.write_text("system: " + "a" * (MAX_FILE_BYTES + 1), encoding="utf-8")
    code, _, err = run(capsys, "prompts", "create", "faq", "--file", str(huge))
    assert code == 2 and "a template file may have at most" in err
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"system: \xff\xfe\x00\x01")
    code, _, err = run(capsys, "prompts", "create", "faq", "--file", str(binary))
    assert code == 2 and "not UTF-8" in err
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"system: a\x00b")
    code, _, err = run(capsys, "prompts", "create", "faq", "--file", str(nul))
    assert code == 2 and "NUL bytes" in err
    assert "faq" not in rt.templates.names()


@pytest.mark.parametrize("argv,match", [
    (["show", "nosuch"], "unknown template 'nosuch'"),
    (["show", "general@9"], "has no version 9"),
    (["history", "nosuch"], "unknown template 'nosuch'"),
    (["diff", "general@1", "general@7"], "has no version 7"),
    (["diff", "general", "general@1"], "diff takes two versions"),
    (["publish", "general"], "publish takes NAME@VERSION"),
    (["publish", "general@1"], "production already points at general@1"),
    (["publish", "nosuch@1"], "unknown template 'nosuch'"),
    (["publish", "general@1", "--label", "Bad Label"], "invalid label"),
    (["rollback", "general"], "no earlier version to roll back to"),
    (["rollback", "general", "--label", "staging"], "has no 'staging' version"),
    (["edit", "nosuch", "--file", "x.yaml", "--message", "m"], "no such file"),
    (["import", "/nonexistent-dir"], "no such directory"),
    (["rollback", "general@1"], "without @VERSION"),
    (["edit", "general", "--file", "x.yaml", "--message", " "], "--message takes 1 to 1000 characters"),
])
def test_refusals_exit_2_with_one_line(rt, capsys, argv: list[str], match: str) -> None:
    code, _, err = run(capsys, "prompts", *argv)
    assert code == 2 and match in err, err
    assert len(err.strip().splitlines()) == 1


def test_edit_of_an_unknown_template_and_create_of_a_known_one(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "faq.yaml", FAQ)
    code, _, err = run(capsys, "prompts", "edit", "faq", "--file", str(f), "--message", "m")
    assert code == 2 and "unknown template 'faq'" in err
    g = write(tmp_path / "general.yaml", {"system": "Hi"})
    code, _, err = run(capsys, "prompts", "create", "general", "--file", str(g))
    assert code == 2 and "exists; use `decorum prompts edit general" in err


def test_the_seed_files_parse_in_the_registry_format() -> None:
    from decorum.prompts.sql_store import SEEDS

    for path in sorted(SEEDS.glob("*.yaml")):
        tpl, spec = load_template_file(path)
        validate(tpl)
        assert tpl.name == path.stem and spec.version is None


def test_a_version_stored_before_the_registry_still_loads_with_its_hash(rt, capsys) -> None:
    from sqlalchemy import select

    from decorum.prompts.base import content_sha256
    from decorum.store.tables import TemplateRow, TemplateVersionRow

    body = {"system": "Old {{ x }}", "user": "{{ question }}", "safer_system": "", "defaults": {"x": "y"},
            "domain": None}
    with rt.db.session() as s:
        tid = s.execute(select(TemplateRow.id).where(TemplateRow.name == "general")).scalar_one()
        s.add(TemplateVersionRow(template_id=tid, version=2, body=json.dumps(body), sha256=content_sha256(body),
                                 author="old", comment="before 0005", created_at="2026-01-01T00:00:00.000Z"))
    old = rt.templates.get("general", 2)
    assert old.legacy and old.sha256 == content_sha256(body) and old.variables == []
    code, out, _ = run(capsys, "prompts", "diff", "general@1", "general@2")
    assert code == 0 and "+  Old {{ x }}" not in out and "+system: Old {{ x }}" in out
    code, out, _ = run(capsys, "prompts", "history", "general")
    assert "unchecked" in out and "before 0005" in out
    assert run(capsys, "prompts", "publish", "general@2")[0] == 0  # no checks recorded: not refused


def test_roles_editor_saves_publisher_publishes_admin_overrides(rt) -> None:
    from decorum.access import Principal
    from decorum.errors import Forbidden
    from decorum.prompts.registry import Registry

    reg = Registry(rt.templates, rt.audit, guard=rt.guardrails.run, access=rt.access, surface="web")
    editor, publisher = Principal("ed", "editor", "token"), Principal("pub", "publisher", "token")
    bad = reg.save(Template(name="bad", version=0, system=DEMEANING), action="create", by=editor)
    assert bad.version == 1
    with pytest.raises(Forbidden, match=r"templates\.publish"):
        reg.publish("bad", 1, by=editor)
    with pytest.raises(Forbidden, match="override"):
        reg.publish("bad", 1, by=publisher, override=True, reason="trust me")
    assert rt.templates.labels("bad") == {}
    denied = [e for e in rt.access.events(limit=10) if e["outcome"] == "denied_403"]
    assert {e["action"] for e in denied} == {"templates.publish", "override"}
    reg.publish("bad", 1, by=Principal("root", "admin", "session"), override=True, reason="reviewed")
    assert changes(rt)[-1]["actor"] == "root"


def test_change_records_pass_through_metrics_csv_and_summary(rt, capsys, tmp_path) -> None:
    from decorum import metrics
    from decorum.audit.records import csv_row
    from decorum.bot.note import summary

    run(capsys, "prompts", "create", "faq", "--file", str(write(tmp_path / "faq.yaml", FAQ)), "--as", "alice")
    note = rt.audit.list(limit=1, verdict="change")[0]
    metrics.observe(note)
    assert summary(note) == f"[change · template.create faq@1 by alice · id {note['id']}]"
    row = csv_row(1, note)
    assert row[4] == "change" and row[6] == "faq@1"  # the template a change is about: filterable (--template)


def test_a_published_template_serves_with_its_max_tokens(db_url, capsys, tmp_path, monkeypatch) -> None:
    import asyncio

    from decorum.bot.pipeline import Request
    from tests.fakes import FakeGenerator

    gen = FakeGenerator("The printer is on floor 2.")
    runtime = Runtime.open(Settings(), classifier=FakeClassifier(RULES), generator=gen)
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    run(capsys, "prompts", "create", "faq", "--file", str(write(tmp_path / "faq.yaml", FAQ)))
    run(capsys, "prompts", "publish", "faq@1")
    answer = asyncio.run(runtime.pipeline.answer(Request(text="Where is the printer?", surface="cli",
                                                         template="faq")))
    assert answer.verdict == "answered"
    assert gen.requests[-1].max_new_tokens == 120
    assert answer.note["template"] == {"name": "faq", "version": 1, "sha256": runtime.templates.get("faq").sha256,
                                       "variant": "standard"}
    assert "Answer in 2 sentences" in gen.requests[-1].messages[0]["content"]


def test_an_answer_runs_with_its_template_temperature_and_the_note_says_so(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "faq.yaml", {**FAQ, "test_cases": []})
    assert run(capsys, "prompts", "create", "faq", "--file", str(f))[0] == 0
    assert run(capsys, "prompts", "publish", "faq@1")[0] == 0
    code, out, err = run(capsys, "ask", "--json", "--template", "faq", "Where is the printer?")
    assert code == 0, err
    gen = json.loads(out)["generation"]
    assert (gen["temperature"], gen["max_new_tokens"]) == (0.2, 120)
    assert (rt.generator.requests[-1].temperature, rt.generator.requests[-1].max_new_tokens) == (0.2, 120)
    code, out, _ = run(capsys, "ask", "--json", "--template", "helpdesk", "Where is the printer?")
    assert json.loads(out)["generation"]["temperature"] == 0.0 and rt.generator.requests[-1].temperature is None


def test_edit_without_a_file_opens_the_editor(rt, capsys, tmp_path, monkeypatch) -> None:
    import sys

    script = tmp_path / "ed.py"
    script.write_text("import pathlib, sys\n"
                      "p = pathlib.Path(sys.argv[1])\n"
                      "p.write_text(p.read_text().replace('Answer in', 'Always answer in'))\n")
    run(capsys, "prompts", "create", "faq", "--file", str(write(tmp_path / "faq.yaml", FAQ)))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    code, _, err = run(capsys, "prompts", "edit", "faq", "--message", "m")
    assert code == 2 and "needs --file FILE.yaml, or $EDITOR" in err
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    code, out, err = run(capsys, "prompts", "edit", "faq", "--message", "in the editor")
    assert code == 0 and "saved faq@2" in out, err
    assert rt.templates.get("faq", 2).system.startswith("You are {{ assistant_name }}. Always answer in")
    monkeypatch.setenv("EDITOR", f"{sys.executable} -c pass")  # saved unchanged
    code, _, err = run(capsys, "prompts", "edit", "faq", "--message", "nothing")
    assert code == 2 and "no change" in err
    monkeypatch.setenv("EDITOR", f"{sys.executable} -c 'raise SystemExit(3)'")
    code, _, err = run(capsys, "prompts", "edit", "faq", "--message", "abandoned")
    assert code == 2 and "exited with status 3; nothing saved" in err


# -- the test gate -----------------------------------------------------------------------------------------------
def test_failing_tests_block_publish_until_an_explicit_override(rt, capsys, tmp_path) -> None:
    cases = [{"question": "Where is the printer?", "expect": {"must_contain": ["printer"]}},
             {"question": "Where is the canteen?", "expect": {"must_contain": ["canteen"], "max_chars": 20,
                                                               "strategy": "prompt_engineering"}}]
    f = write(tmp_path / "faq.yaml", {**FAQ, "test_cases": cases})
    assert run(capsys, "prompts", "create", "faq", "--file", str(f), "--as", "alice")[0] == 0

    code, out, err = run(capsys, "prompts", "test", "faq@1", "--as", "alice")
    assert code == 1, err
    assert "case 0 [answered, prompt_engineering" in out and " pass" in out.splitlines()[0]
    assert "case 1" in out and "FAIL: missing 'canteen'" in out and "characters > max_chars 20" in out
    assert "faq@1: 1/2 cases passed" in out
    shown = json.loads(run(capsys, "prompts", "show", "faq@1", "--json")[1])
    assert shown["tests"]["passed"] is False and shown["tests"]["actor"] == "alice"
    assert [r["passed"] for r in shown["tests"]["results"]] == [True, False]
    note = rt.audit.get(shown["tests"]["results"][1]["note_id"])  # each case is a real answer with its note
    assert note["verdict"] == "answered" and note["template"]["version"] == 1

    code, _, err = run(capsys, "prompts", "publish", "faq@1", "--as", "bob", "--reason", "looks fine")
    assert code == 2 and "faq@1 failed its tests (case 1: missing 'canteen'" in err and "--override" in err
    assert len(err.strip().splitlines()) == 1  # a reason alone never overrides
    assert rt.templates.labels("faq") == {}
    code, out, err = run(capsys, "prompts", "publish", "faq@1", "--as", "bob", "--override", "--reason", "known gap")
    assert code == 0 and "production -> faq@1" in out, err
    publish = [c for c in changes(rt) if c["kind"] == "template.publish"][-1]
    assert publish["override"] is True and publish["reason"] == "known gap"
    test_changes = [c for c in changes(rt) if c["kind"] == "template.test"]
    assert [(c["passed"], c["message"]) for c in test_changes] == [(False, "1/2 cases passed")]


def test_publish_runs_untested_cases_and_a_guardrail_expectation_fails_on_a_block(db_url, capsys, tmp_path,
                                                                                   monkeypatch) -> None:
    runtime = Runtime.open(Settings(), classifier=FakeClassifier(RULES),
                           generator=FakeGenerator("You are worthless, find it yourself."))
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    f = write(tmp_path / "faq.yaml", {**FAQ, "test_cases": [
        {"question": "Where is the printer?", "expect": {"guardrails_pass": True}}]})
    assert run(capsys, "prompts", "create", "faq", "--file", str(f))[0] == 0
    code, _, err = run(capsys, "prompts", "publish", "faq@1", "--as", "bob")
    assert code == 2 and "guardrails did not pass (verdict blocked_output)" in err
    assert [r["passed"] for r in runtime.templates.test_runs("faq", 1)] == [False]  # the run publish made is kept


def test_a_version_without_test_cases_publishes_without_running_anything(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "faq.yaml", {**FAQ, "test_cases": []})
    assert run(capsys, "prompts", "create", "faq", "--file", str(f))[0] == 0
    code, out, _ = run(capsys, "prompts", "test", "faq")
    assert code == 0 and "faq@1 has no test cases" in out
    assert run(capsys, "prompts", "publish", "faq@1")[0] == 0
    assert rt.generator.requests == []


def test_archive_hides_a_version_and_refuses_a_labelled_one(rt, capsys, tmp_path) -> None:
    f = write(tmp_path / "faq.yaml", FAQ)
    assert run(capsys, "prompts", "create", "faq", "--file", str(f))[0] == 0
    write(f, {**FAQ, "description": "Office answers."})
    assert run(capsys, "prompts", "edit", "faq", "--file", str(f), "--message", "desc")[0] == 0
    assert run(capsys, "prompts", "publish", "faq@2")[0] == 0
    code, _, err = run(capsys, "prompts", "archive", "faq@2", "--reason", "old")
    assert code == 2 and "faq@2 is labelled production" in err
    code, out, err = run(capsys, "prompts", "archive", "faq@1", "--reason", "superseded", "--as", "bob")
    assert code == 0 and "archived faq@1" in out, err
    assert rt.templates.get("faq", 1).version == 1  # still readable: answers name it
    row = next(r for r in json.loads(run(capsys, "prompts", "list", "--json")[1]) if r["name"] == "faq")
    assert row["archived"] == [1]
    code, _, err = run(capsys, "prompts", "publish", "faq@1", "--label", "staging")
    assert code == 2 and "faq@1 is archived" in err
    code, _, err = run(capsys, "prompts", "archive", "faq@1")
    assert code == 2 and "already archived" in err
    assert "archive  v1 by bob" in run(capsys, "prompts", "history", "faq")[1]
    assert changes(rt)[-1]["kind"] == "template.archive" and changes(rt)[-1]["reason"] == "superseded"
