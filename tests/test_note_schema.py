"""The transparency note's schema (``decorum.guardrails.note_schema``): every note Decorum writes matches it,
the audit log refuses one that does not (and stores nothing), and the exported JSON Schema agrees.

Fakes for the models (rule-based classifier, scripted generator); the database is the test's own.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path

import pytest
import yaml

from decorum.access import Principal
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.errors import UsageError
from decorum.guardrails.note_schema import (
    NOTE_SCHEMA_ID,
    NOTE_SCHEMA_VERSION,
    NoteSchemaError,
    TransparencyNote,
    note_json_schema,
    validate_note,
)
from decorum.prompts.base import PRODUCTION
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

jsonschema = pytest.importorskip("jsonschema")

TOXIC = {"worthless": {"toxicity": 0.97, "insult": 0.9}}
GOOD = "Open the VPN portal from the intranet. Choose Reset password and follow the steps there."
ADMIN = Principal("root", "admin", "token")


class Recorder:
    """An ``AnswerStream`` that keeps nothing (the note's ``streaming`` section is what is under test)."""

    async def show(self, text: str) -> None:
        return None

    async def retract(self) -> None:
        return None


def open_runtime(tmp_path: Path, generator: FakeGenerator, policy: dict | None = None) -> Runtime:
    """A runtime whose routing sends VPN questions to the fine-tuned helpdesk domain (an adapter in the note)."""
    vpn = {"name": "vpn", "match": {"pattern": "VPN"}, "strategy": "fine_tuned", "domain": "helpdesk"}
    config: dict = {"routing": {"semantic": False, "rules": [vpn]}}
    if policy:
        config["policy"] = policy
    path = tmp_path / f"decorum-{len(list(tmp_path.glob('decorum-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return Runtime.open(Settings(config=path), classifier=FakeClassifier(TOXIC), generator=generator)


def ask(rt: Runtime, text: str, **kw) -> dict:
    stream = kw.pop("stream", None)
    deadline = kw.pop("deadline", None)
    return asyncio.run(rt.pipeline.answer(Request(text=text, **kw), stream=stream, deadline=deadline)).note


def stored_notes(rt: Runtime) -> list[dict]:
    return rt.audit.list(limit=1000, newest_first=False)


@pytest.fixture(scope="module")
def validator():
    schema = note_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


_WRITTEN: list[dict] = []  # built once per session (~2 s), by whichever test needs it first


@pytest.fixture
def written(db_url: str, tmp_path: Path) -> list[dict]:
    """Every kind of note the real write sites produce, as stored (read back from the audit log)."""
    if not _WRITTEN:
        _WRITTEN.extend(_write_every_kind(tmp_path))
    return copy.deepcopy(_WRITTEN)


def _write_every_kind(tmp_path: Path) -> list[dict]:
    def reply(req) -> str:  # the standard prompt misbehaves on "team", the safer one does not
        last = req.messages[-1]["content"]
        if "team" in last and "neutral" not in req.messages[0]["content"]:
            return "Only worthless people ask that."
        return "You are all worthless." if "staff" in last else GOOD

    def slow(req) -> str:
        time.sleep(0.6)
        return GOOD

    rt = open_runtime(tmp_path, FakeGenerator(reply))
    notes = [
        ask(rt, "Suggest an agenda for our offsite"),                          # answered, default route
        ask(rt, "How do I reset my VPN password?", user="U0ALICE"),            # fine_tuned + adapter, user
        ask(rt, "Tell me about the team", surface="slack", user="U0BOB", team="T1", channel="C1",
            thread_ts="1700000000.000100"),                                   # regenerated (first_output), slack
        ask(rt, "You are worthless"),                                          # blocked_input
        ask(rt, "Describe the staff"),                                         # blocked_output after a retry
        ask(rt, "a" * 5000),                                                   # a truncated question
    ]
    streamed = open_runtime(tmp_path, FakeGenerator(reply, stream_delay_s=0.001))
    notes.append(ask(streamed, "What is new?", stream=Recorder()))             # streamed, answered
    notes.append(ask(streamed, "Describe the staff please", stream=Recorder()))  # streamed, withheld, blocked
    notes.append(ask(open_runtime(tmp_path, FakeGenerator(fail=True)), "hello"))  # error (GenerationError)
    late = open_runtime(tmp_path, FakeGenerator(slow))
    notes.append(ask(late, "hello", surface="web", user="web:ana", deadline=time.monotonic() + 0.3))  # error, Busy
    warn = open_runtime(tmp_path, FakeGenerator("You are all worthless."),
                        policy={"on_output_fail": "warn", "on_input_fail": "warn"})
    notes.append(ask(warn, "You are worthless"))                               # answered, action warned

    reg = rt.template_registry("cli")
    tpl = rt.templates.get("general", None, label=PRODUCTION)
    from dataclasses import replace

    edited = reg.save(replace(tpl, system=tpl.system + "\nBe brief.", version=0), action="edit", by=ADMIN,
                      message="brief")                                          # template.edit
    reg.publish("general", edited.version, by=ADMIN, reason="reviewed")        # template.publish (+ tests)
    reg.rollback("general", by=ADMIN, reason="too terse")                      # template.rollback
    live = rt.live_config("console")
    v = live.save({"policy": {"max_question_chars": 500}}, by=ADMIN, message="shorter questions")
    live.publish(v["version"], by=ADMIN, reason="agreed", override=True)       # live_config.publish
    notes.append(ask(rt, "Suggest an agenda for our offsite"))                # guardrails.live_config
    live.rollback(by=ADMIN, reason="back to the file")                         # live_config.rollback (null)
    rt.pipeline.close()
    return stored_notes(rt)


def test_every_note_the_write_sites_store_matches_the_schema(written: list[dict], validator) -> None:
    verdicts = {n["verdict"] for n in written}
    assert verdicts == {"answered", "blocked_input", "blocked_output", "error", "change"}
    kinds = {n["change"]["kind"] for n in written if n["verdict"] == "change"}
    assert {"template.edit", "template.publish", "template.rollback", "live_config.save", "live_config.publish",
            "live_config.rollback"} <= kinds
    sections = set().union(*written)
    assert {"slack", "user", "streaming", "generation", "error"} <= sections  # the survey is really covered
    assert any((n.get("model") or {}).get("adapter") for n in written)
    assert any(n.get("guardrails", {}).get("first_output") for n in written)
    assert any(n.get("guardrails", {}).get("live_config") for n in written)
    assert any((n.get("error") or {}).get("reason") == "deadline" for n in written)
    assert any((n.get("streaming") or {}).get("withheld") for n in written)
    assert any(n.get("request", {}).get("truncated") for n in written)
    for note in written:
        assert note["schema_version"] == NOTE_SCHEMA_VERSION, note["id"]
        validate_note(note)  # stored form: with prev_hash and hash
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(note)]
        assert not errors, (note["verdict"], errors)
        # The model and a dump of it agree with the note: nothing is dropped or coerced on the way.
        model = TransparencyNote.model_validate(note)
        assert model.model_dump(exclude_unset=True) == note


def _first(written: list[dict], verdict: str) -> dict:
    return copy.deepcopy(next(n for n in written if n["verdict"] == verdict
                              and (n.get("route") or verdict == "change")))


@pytest.mark.parametrize("mutate,message", [
    (lambda n: n.update(answer="the text itself"), "answer: unknown field (not in the schema)"),
    (lambda n: n["guardrails"].update(polcy="default@1"), "guardrails.polcy: unknown field"),
    (lambda n: n["guardrails"]["input"][0].update(score="0.5"),
     "guardrails.input.0.score: Input should be a valid number"),
    (lambda n: n["guardrails"]["input"][0].update(score=True),
     "guardrails.input.0.score: Input should be a valid number"),
    (lambda n: n.update(route=None), "route: required when verdict is 'answered'"),
    (lambda n: n.pop("template"), "template: required when verdict is 'answered'"),
    (lambda n: n["guardrails"].update(action="refused"), "guardrails.action: must be one of allow, warned"),
    (lambda n: n.update(verdict="blocked_input"), "guardrails.input: verdict 'blocked_input' needs a failed check"),
    (lambda n: n.update(verdict="error"), "error: required when verdict is 'error'"),
    (lambda n: n.update(verdict="refused"), "verdict: Input should be 'answered'"),
    (lambda n: n.update(surface="email"), "surface: Input should be 'cli'"),
    (lambda n: n.update(user="U0ALICE"), "user: String should match pattern"),  # a raw id, not a pseudonym
    (lambda n: n["request"].update(sha256="0" * 64), "request.sha256: unknown field"),  # the old plain hash
    (lambda n: n.update(schema_version=2), "schema_version: Input should be 1"),
    (lambda n: n.update(schema_version=True), "schema_version: must be the integer 1"),
    (lambda n: n["tokens"].update(prompt=-1), "tokens.prompt: Input should be greater than or equal to 0"),
    (lambda n: n.update(created_at="yesterday"), "created_at: String should match pattern"),
    (lambda n: n.update(change={"kind": "template.publish", "actor": "x", "template": "t", "version": 1}),
     "change: only a record with verdict 'change' has one"),
])
def test_an_invalid_answer_note_is_refused_naming_the_field_and_nothing_is_stored(
        written: list[dict], database, mutate, message: str, validator) -> None:
    from decorum.audit.log import SqlAuditLog

    log = SqlAuditLog(database)
    log.append({**_first(written, "answered"), "id": "01VALIDNOTE"})  # the valid note goes in
    note = {k: v for k, v in _first(written, "answered").items() if k not in ("hash", "prev_hash")}
    note["id"] = "01INVALIDNOTE0000000000000"
    note["request"]["hmac_sha256"] = "9" * 64  # a value that must not appear in the message
    mutate(note)
    before = log.count()
    with pytest.raises(NoteSchemaError) as info:
        log.append(note)
    text = str(info.value)
    assert text.startswith(f"audit note does not match schema v{NOTE_SCHEMA_VERSION}: ") and message in text, text
    assert "9" * 64 not in text and "the text itself" not in text and "U0ALICE" not in text  # never a value
    assert isinstance(info.value, UsageError) and info.value.problems
    assert log.count() == before and log.verify().ok
    assert list(validator.iter_errors(note)), "the exported JSON Schema refuses it too"


@pytest.mark.parametrize("mutate,message", [
    (lambda n: n.pop("change"), "change: required when verdict is 'change'"),
    (lambda n: n["change"].update(kind="Template Publish"), "change.kind: String should match pattern"),
    (lambda n: n["change"].update(version="2"), "change.version: Input should be a valid integer"),
    (lambda n: n["change"].pop("actor"), "change.actor: required when kind is template.*"),
    (lambda n: n["change"].update(template=None), "change.template: required when kind is template.*"),
    (lambda n: n["change"].update(extra_facts={1, 2}), "change.extra_facts: input was not a valid JSON value"),
])
def test_an_invalid_change_record_is_refused(written: list[dict], database, mutate, message: str) -> None:
    from decorum.audit.log import SqlAuditLog

    log = SqlAuditLog(database)
    before = log.count()
    note = {k: v for k, v in _first(written, "change").items() if k not in ("hash", "prev_hash")}
    assert note["change"]["kind"].startswith("template.")
    note["id"] = "01INVALIDCHANGE00000000000"
    mutate(note)
    with pytest.raises(NoteSchemaError, match="audit note does not match schema v1: ") as info:
        log.append(note)
    assert message in str(info.value), str(info.value)
    assert log.count() == before


def test_live_config_records_need_the_version_key_even_when_null() -> None:
    note = {"id": "01LIVE", "created_at": "2026-11-22T10:00:00.000Z", "surface": "cli", "verdict": "change",
            "change": {"kind": "live_config.rollback", "actor": "root", "live_config": None}}
    validate_note(note)
    del note["change"]["live_config"]
    with pytest.raises(NoteSchemaError, match=r"change\.live_config: required when kind is live_config\.\*"):
        validate_note(note)


def test_minimal_and_older_notes(validator) -> None:
    """The four columns alone make a valid note only where the verdict asks for nothing more (a change needs
    its change); notes without schema_version (stored before it existed) are accepted; later kinds of change
    (review marks, purges) and the fields being added (pseudonym_key, stored) are accepted."""
    base = {"id": "N00001", "created_at": "2026-11-23T10:00:01.000Z", "surface": "cli"}
    with pytest.raises(NoteSchemaError, match="route: required when verdict is 'answered'"):
        validate_note({**base, "verdict": "answered"})
    with pytest.raises(NoteSchemaError, match="change: required when verdict is 'change'"):
        validate_note({**base, "verdict": "change"})
    for kind in ("review.mark", "audit.purge", "audit.checkpoint", "audit.key_rotation"):
        note = {**base, "verdict": "change", "pseudonym_key": "k1", "review": {"sample": "s1", "mark": "agree"},
                "change": {"kind": kind, "actor": "ana", "note_id": "N00002", "count": 3, "mark": "agree"}}
        validate_note(note)
        assert not list(validator.iter_errors(note))
    refused = {**base, "verdict": "blocked_input", "guardrails": {
        "policy": "default@1", "action": "refused", "output": [],
        "input": [{"check": "toxicity", "score": 0.9, "threshold": 0.5, "passed": False, "scorer": "fake@0"}]},
        "request": {"hmac_sha256": "a" * 64, "chars": 5, "truncated": False, "stored": True},
        "response": {"hmac_sha256": "b" * 64, "chars": 9, "stored": False},
        "latency_ms": {"input_checks": 1, "total": 2}, "tokens": {"prompt": 0, "completion": 0},
        "route": None, "template": None, "model": None}
    validate_note(refused)
    assert not list(validator.iter_errors(refused))
    refused["guardrails"]["input"][0]["passed"] = True
    with pytest.raises(NoteSchemaError, match="needs a failed check"):
        validate_note(refused)
    assert list(validator.iter_errors(refused)), "the JSON Schema has the verdict rules too"


def test_the_json_schema_is_versioned_and_describes_every_field() -> None:
    schema = note_json_schema()
    assert schema["$id"] == NOTE_SCHEMA_ID and schema["$schema"].endswith("/draft/2020-12/schema")
    assert "schema version 1" in schema["title"] and schema["description"]
    assert set(schema["required"]) == {"id", "created_at", "surface", "verdict"}
    assert schema["additionalProperties"] is False
    undescribed = []
    for where, obj in [("", schema), *((f"$defs.{k}.", v) for k, v in schema["$defs"].items())]:
        for name, prop in obj.get("properties", {}).items():
            if not prop.get("description"):
                undescribed.append(where + name)
    assert not undescribed, undescribed
    json.dumps(schema)  # plain JSON


def test_validation_is_cheap(written: list[dict]) -> None:
    import timeit

    note = next(n for n in written if n["verdict"] == "answered" and n.get("streaming"))
    per_call = min(timeit.repeat(lambda: validate_note(note), number=200, repeat=5)) / 200
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per note"  # measured ~40 µs; generous for busy CI
