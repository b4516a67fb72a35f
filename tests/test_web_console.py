"""The console's API in-process over HTTP: users, pinned export counts, playground feedback, kept texts revealed
under audit, search by reference, and the compare report as people read it.

Fakes for the models (the rule-based classifier scores 0.01 unless a rule matches, the generator answers one
sentence); the database is the test's own. The configuration keeps question and answer texts, so an auditor
has something to reveal.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import update

from decorum.access import ROLES, local_admin
from decorum.bot.runtime import Runtime
from decorum.errors import UsageError
from decorum.settings import Settings
from decorum.store.tables import AuditTextRow
from decorum.web.app import create_apps
from tests.fakes import FakeClassifier, FakeGenerator
from tests.test_audit_review import seed_notes

ADMIN = "http://127.0.0.1:8001"
ANSWER = "Open the VPN portal, choose Reset, and follow the steps."
QUESTION = "How do I reset my VPN password?"


@pytest.fixture
def runtime(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"routing": {"semantic": False},
                                   "audit": {"store_question": True, "store_answer": True,
                                             "text_retention_days": 30}}), encoding="utf-8")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    return Runtime.open(Settings(), classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                        generator=FakeGenerator(ANSWER))


@pytest.fixture
async def admin(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_apps(runtime, load_models=False).admin
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ADMIN) as c:
        yield c


@pytest.fixture
def h(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Bearer headers of one user per role (``viewer-user`` ... ``admin-user``) and a second viewer."""
    tokens = {role: runtime.access.add_user(f"{role}-user", role, by=local_admin("local:test"))[1] for role in ROLES}
    tokens["viewer2"] = runtime.access.add_user("viewer-two", "viewer", by=local_admin("local:test"))[1]
    return {role: {"authorization": f"Bearer {token}"} for role, token in tokens.items()}


async def ask(admin: httpx.AsyncClient, headers: dict[str, str], text: str) -> dict[str, Any]:
    r = await admin.post("/api/ask", json={"text": text}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- users ---------------------------------------------------------------------------------------------------

async def test_an_admin_cannot_revoke_themselves_but_another_admin_can(admin: httpx.AsyncClient, runtime: Runtime,
                                                                       h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/users/admin-user/revoke", json={}, headers=h["admin"])
    assert r.status_code == 409 and "cannot revoke your own access (admin-user)" in r.json()["error"]
    assert (await admin.get("/api/me", headers=h["admin"])).status_code == 200  # still in
    _, token = runtime.access.add_user("second-admin", "admin", by=local_admin("local:test"))
    r = await admin.post("/api/users/admin-user/revoke", json={}, headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await admin.get("/api/me", headers=h["admin"])).status_code == 401


# --- exports -------------------------------------------------------------------------------------------------

async def test_the_pinned_export_count_is_what_the_file_holds(admin: httpx.AsyncClient, runtime: Runtime,
                                                                h: dict[str, dict[str, str]]) -> None:
    await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 30)
    flt = {"verdict": "blocked_input,blocked_output"}
    listed = (await admin.get("/api/audit", params={**flt, "limit": "1"}, headers=h["auditor"])).json()["total"]
    await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 12, seed=7)  # records arrive after the list
    pin = await admin.post("/api/audit/export/checkpoint", json={"filter": flt}, headers=h["auditor"])
    assert pin.status_code == 201, pin.text
    upto, pinned = pin.json()["upto"], pin.json()["count"]
    assert pinned > listed and pin.json()["filter"] == flt
    await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 12, seed=8)  # and after the pin: not in it
    r = await admin.get("/api/audit/export", params={"format": "csv", "upto": str(upto), **flt},
                        headers=h["auditor"])
    assert r.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(r.text)))) == pinned
    bad = await admin.post("/api/audit/export/checkpoint", json={"filter": {"verdict": "nope"}}, headers=h["auditor"])
    assert bad.status_code == 400 and "verdict" in bad.json()["error"]


# --- playground feedback -------------------------------------------------------------------------------------

async def test_feedback_on_ones_own_answer_is_stored_once_per_person(admin: httpx.AsyncClient, runtime: Runtime,
                                                                     h: dict[str, dict[str, str]]) -> None:
    note = await ask(admin, h["viewer"], QUESTION)
    url = f"/api/ask/{note['id']}/feedback"
    r = await admin.post(url, json={"value": 1}, headers=h["viewer"])
    assert r.status_code == 200 and r.json() == {"note_id": note["id"], "value": 1, "up": 1, "down": 0}
    r = await admin.post(url, json={"value": -1}, headers=h["viewer"])  # a change of mind replaces the vote
    assert r.status_code == 200 and (r.json()["up"], r.json()["down"]) == (0, 1)
    for body in ({"value": 2}, {"value": True}, {"value": "up"}, {}):
        r = await admin.post(url, json=body, headers=h["viewer"])
        assert r.status_code == 400 and '"value" must be 1' in r.json()["error"], body
    r = await admin.post(url, json={"value": 1}, headers=h["viewer2"])
    assert r.status_code == 403 and "only the person who asked" in r.json()["error"]
    r = await admin.post("/api/ask/01NOSUCHANSWER/feedback", json={"value": 1}, headers=h["viewer"])
    assert r.status_code == 404
    assert (await admin.post(url, json={"value": 1})).status_code == 401
    detail = (await admin.get(f"/api/audit/{note['id']}", headers=h["auditor"])).json()
    assert [f["value"] for f in detail["feedback"]] == [-1]
    assert detail["feedback"][0]["user"] == runtime.pseudonymiser.user("web:viewer-user")
    up = (await admin.get("/api/audit", params={"feedback": "down"}, headers=h["auditor"])).json()
    assert [n["id"] for n in up["records"]] == [note["id"]]


# --- kept texts, revealed under audit ------------------------------------------------------------------------

async def test_an_auditor_reveals_kept_texts_and_each_reveal_is_a_record(admin: httpx.AsyncClient,
                                                                         runtime: Runtime,
                                                                         h: dict[str, dict[str, str]]) -> None:
    note = await ask(admin, h["viewer"], QUESTION)
    detail = (await admin.get(f"/api/audit/{note['id']}", headers=h["auditor"])).json()
    assert detail["texts_kept"] == ["answer", "question"]
    assert QUESTION not in json.dumps(detail)  # the record and its detail never carry the text itself
    url = f"/api/audit/{note['id']}/text"
    r = await admin.post(url, json={}, headers=h["viewer"])
    assert r.status_code == 403 and r.json()["error"].startswith("the viewer role cannot do audit.read")
    r = await admin.post(url, json={}, headers=h["auditor"])
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["texts"] == {"question": QUESTION, "answer": ANSWER} and shown["retention_days"] == 30
    (rec,) = [n for n in runtime.audit.list(limit=20, verdict="change") if n["change"]["kind"] == "audit.text_read"]
    assert rec["id"] == shown["record"]
    assert (rec["change"]["actor"], rec["change"]["note_id"], rec["change"]["fields"]) == (
        "auditor-user", note["id"], ["answer", "question"])
    assert QUESTION not in json.dumps(rec) and ANSWER not in json.dumps(rec)
    await admin.post(url, json={}, headers=h["auditor"])
    reveals = [n for n in runtime.audit.list(limit=20, verdict="change") if n["change"]["kind"] == "audit.text_read"]
    assert len(reveals) == 2  # every reveal, not the first one only

    # in a review sample: which texts may be revealed, never the texts
    drawn = (await admin.post("/api/audit/reviews", json={"filter": {"verdict": "answered"}, "n": 5},
                              headers=h["auditor"])).json()
    assert [i["texts_kept"] for i in drawn["items"] if i["note_id"] == note["id"]] == [["answer", "question"]]
    sample = (await admin.get(f"/api/audit/reviews/{drawn['sample']}", headers=h["auditor"])).json()
    assert QUESTION not in json.dumps(sample)

    # past retention (the purge has not run yet): gone for the console
    with runtime.db.session() as s:
        s.execute(update(AuditTextRow).where(AuditTextRow.note_id == note["id"])
                  .values(stored_at="2020-01-01T00:00:00.000Z"))
    assert (await admin.get(f"/api/audit/{note['id']}", headers=h["auditor"])).json()["texts_kept"] == []
    r = await admin.post(url, json={}, headers=h["auditor"])
    assert r.status_code == 404 and "30-day retention" in r.json()["error"]
    assert runtime.audit.verify().ok


async def test_search_by_the_reference_a_refusal_gives(admin: httpx.AsyncClient, h: dict[str, dict[str, str]]) -> None:
    note = await ask(admin, h["viewer"], "you are worthless")
    assert note["verdict"] == "blocked_input" and note["id"] in note["answer"]
    for typed in (note["id"], note["id"].lower(), f"reference {note['id']}.", f"`{note['id']}`", f"ref:{note['id']}"):
        r = await admin.get("/api/audit/find", params={"ref": typed}, headers=h["auditor"])
        assert r.status_code == 200, (typed, r.text)
        assert r.json()["id"] == note["id"] and r.json()["verdict"] == "blocked_input"
    r = await admin.get("/api/audit/find", params={"ref": "01JD3Q4V7X2M8K9P0R5S6T7V8W"}, headers=h["auditor"])
    assert r.status_code == 404 and "no audit record with the reference 01JD3Q4V7X2M8K9P0R5S6T7V8W" in r.json()["error"]
    for typed in ("", "two words", "a/b"):
        r = await admin.get("/api/audit/find", params={"ref": typed}, headers=h["auditor"])
        assert r.status_code == 400 and r.json()["error"].startswith('"ref"'), typed
    assert (await admin.get("/api/audit/find", params={"ref": note["id"]}, headers=h["viewer"])).status_code == 403


# --- the compare report --------------------------------------------------------------------------------------

def _report() -> dict[str, Any]:
    def summary(f1: float, p50: float) -> dict[str, Any]:
        return {"questions": 3, "token_f1": f1, "rouge_l": 0.22241234, "key_fact_recall": None,
                "guardrail_pass_rate": 1.0, "latency_ms_p50": p50, "latency_ms_p95": p50 * 2,
                "prompt_tokens_mean": 212.4, "answer_tokens_mean": 61.0, "right": 1, "not_sure": 0, "wrong": 2,
                "right_share": 0.3333, "not_sure_share": 0.0, "wrong_share": 0.6667}

    return {"domain": "helpdesk", "test": {"file": "test.jsonl", "questions": 3},
            "engine": {"engine": "onnx", "precision": "int8"},
            "templates": {"prompt_engineering": "helpdesk@1", "fine_tuned": "helpdesk-tuned@1"},
            "adapter": {"name": "helpdesk-lora", "version": 1, "sha256": "a" * 64},
            "strategies": {"prompt_engineering": summary(0.1001234, 3022.4), "fine_tuned": summary(0.235, 1388.0)},
            "served": {"knowledge": True, "grounding": True, "top_k": 3, "min_score": 0.35},
            "winner": {"statement": "fine_tuned answers best."},
            "costs": {"template_edit_ms": 12.345, "training_seconds": 3162.5, "adapter_bytes": 4718592,
                      "time_to_change": {"fine_tuned": "a retrain"}},
            "examples": []}


def test_the_compare_report_reads_as_figures_not_python() -> None:
    from decorum.adapters.finetune.compare import html_report

    html = html_report(_report())
    assert "{'" not in html and "None" not in html and "0.1001234" not in html and "0.22241234" not in html
    assert ">0.100<" in html and ">0.222<" in html and ">3,022<" in html and ">212<" in html
    assert "helpdesk-lora@1 (sha256 aaaaaaaaaaaa…)" in html and "prompt engineering helpdesk@1" in html
    assert "knowledge yes · grounding yes · top k 3 · min score 0.350" in html
    assert "4.72 MB" in html and "3,162 s" in html
    # every bar chart has values on its y axis (0 to 1 in quarters for the scores), not only bars
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(svgs) == 6
    for svg in svgs[:4]:
        ticks = re.findall(r'text-anchor="end">([0-9.,]+)</text>', svg)
        assert ticks == ["0", "0.25", "0.5", "0.75", "1"], ticks
    assert len(re.findall(r'text-anchor="end">([0-9.,]+)</text>', svgs[4])) == 5  # latency: milliseconds


# --- block rates and the model registry ----------------------------------------------------------------------

async def test_block_rate_counts_input_blocks_per_route_and_template(admin: httpx.AsyncClient, runtime: Runtime,
                                                                     h: dict[str, dict[str, str]]) -> None:
    notes = await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 40)
    stats = (await admin.get("/api/audit/stats", headers=h["auditor"])).json()
    routes = {(r["route"], r["template"]): r for r in stats["routes"]}
    blocked_in = sum(n["verdict"] == "blocked_input" for n in notes)
    assert routes[(None, None)]["blocked_input"] == blocked_in > 0  # refused before routing: a group of its own
    assert sum(r["total"] for r in stats["routes"]) == len(notes)  # every answer record, change records excluded
    out = sum(n["verdict"] == "blocked_output" for n in notes)
    assert stats["block_rate"] == {"answers": len(notes), "blocked_input": blocked_in, "blocked_output": out,
                                   "rate": round((blocked_in + out) / len(notes), 4)}
    for (route, template), r in routes.items():
        mine = [n for n in notes if (n["route"] or {}).get("strategy") == route
                and (f"{n['template']['name']}@{n['template']['version']}" if n["template"] else None) == template]
        assert r["total"] == len(mine) and r["blocked_output"] == sum(n["verdict"] == "blocked_output" for n in mine)
    svg = (await admin.get("/api/audit/charts/block-rate-by-template.svg", headers=h["auditor"])).text
    assert "before routing" in svg and f"all {len(notes)}:" in svg
    assert re.search(r'<tspan x="[0-9.]+" dy="0">prompt ·</tspan><tspan x="[0-9.]+" dy="12">helpdesk@1</tspan>', svg)
    mix = (await admin.get("/api/audit/charts/strategy-mix.svg", headers=h["auditor"])).text
    ticks = re.findall(r'text-anchor="end">([0-9.,]+)</text>', mix)
    assert len(ticks) == 5 and ticks[0] == "0" and all(t.isdigit() for t in ticks), ticks  # counts: whole numbers


async def test_models_read_promote_and_retire_over_the_api(admin: httpx.AsyncClient, runtime: Runtime,
                                                           h: dict[str, dict[str, str]]) -> None:
    shipped = runtime.models.get("helpdesk-lora", 1)
    runtime.models.register(name="helpdesk-lora", version=2, domain=shipped.domain, path="package:helpdesk-lora",
                            sha256=shipped.sha256, card={**shipped.card, "version": 2}, actor="local:trainer")
    listed = (await admin.get("/api/models", headers=h["viewer"])).json()
    assert [(m["version"], m["stage"]) for m in listed] == [(1, "production"), (2, "candidate")]
    one = (await admin.get("/api/models/helpdesk-lora/2", headers=h["viewer"])).json()
    assert one["summary"]["stage"] == "candidate" and one["evaluation"]["token_f1"] == shipped.card["test"]["token_f1"]
    assert one["router"]["threshold"] == shipped.card["router"]["threshold"] and "test" not in one["card"]
    assert one["served"]["records"] == 0 and one["card_markdown"].startswith("# Model card: helpdesk-lora")
    notes = await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 24)
    served = (await admin.get("/api/models/helpdesk-lora/1", headers=h["viewer"])).json()["served"]
    tuned = [n for n in notes if (n.get("model") or {}).get("adapter")]
    assert served["records"] == len(tuned) > 0
    assert served["verdicts"] == {v: sum(n["verdict"] == v for n in tuned) for v in served["verdicts"]}
    svg = await admin.get("/api/models/helpdesk-lora/2/loss.svg", headers=h["viewer"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and "loss per epoch" in svg.text
    assert "kept (lowest eval loss)" in svg.text
    for path in ("/api/models/nope/1", "/api/models/helpdesk-lora/9", "/api/models/helpdesk-lora/x",
                 "/api/models/helpdesk-lora/9/loss.svg"):
        assert (await admin.get(path, headers=h["viewer"])).status_code == 404, path

    url = "/api/models/helpdesk-lora/2/promote"
    r = await admin.post(url, json={"reason": "better"}, headers=h["editor"])
    assert r.status_code == 403 and "cannot do models.promote (it needs publisher or above)" in r.json()["error"]
    for body, text in (({}, '"reason" is required'), ({"reason": "  "}, '"reason" is required'),
                       ({"reason": "x" * 501}, "the limit is 500"), ({"reason": "ok", "force": True}, "force")):
        r = await admin.post(url, json=body, headers=h["publisher"])
        assert r.status_code == 400 and text in r.json()["error"], body
    r = await admin.post(url, json={"reason": "beats v1 on the test split"}, headers=h["publisher"])
    assert r.status_code == 200 and (r.json()["stage"], r.json()["from_stage"]) == ("production", "candidate")
    assert runtime.models.get("helpdesk-lora", 1).stage == "archived"  # the registry's own promote did that
    r = await admin.post("/api/models/helpdesk-lora/1/retire", json={"reason": "superseded"}, headers=h["publisher"])
    assert r.status_code == 200 and r.json()["stage"] == "retired"
    r = await admin.post("/api/models/helpdesk-lora/1/promote", json={"reason": "back"}, headers=h["admin"])
    assert r.status_code == 400 and "is retired" in r.json()["error"]
    events = [(e["version"], e["action"], e["actor"], e["reason"]) for e in runtime.models.history("helpdesk-lora")]
    assert (2, "promote", "publisher-user", "beats v1 on the test split") in events
    assert (1, "retire", "publisher-user", "superseded") in events
    kinds = [(n["change"]["kind"], n["change"]["version"]) for n in runtime.audit.list(limit=10, verdict="change")]
    assert kinds == [("model.retire", 1), ("model.promote", 2)]


# --- the playground's stream ----------------------------------------------------------------------------------

def _events(body: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_the_playground_streams_checked_parts_then_the_note(admin: httpx.AsyncClient, runtime: Runtime,
                                                                   h: dict[str, dict[str, str]]) -> None:
    long = "Open the VPN portal from the company intranet first. Then choose Reset and follow the steps shown."
    runtime.generator.reply = long  # the fake streams word by word, as the real engines do
    runtime.generator.stream_delay_s = 0.001
    r = await admin.post("/api/ask/stream", json={"text": QUESTION, "strategy": "prompt_engineering"},
                         headers=h["viewer"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and "part" in kinds and "error" not in kinds
    parts = [d["text"] for k, d in events if k == "part"]
    done = events[-1][1]
    assert all(long.startswith(p) for p in parts) and parts == sorted(parts, key=len)  # checked text so far, growing
    assert done["answer"] == long and done["verdict"] == "answered"
    assert done["streaming"]["chunks_shown"] == len(parts) >= 1
    assert runtime.audit.get(done["id"])["streaming"]["chunks_shown"] == len(parts)

    # a refusal: no part, the note with "This was wrong"; bad input: a plain 400 before any stream
    r = await admin.post("/api/ask/stream", json={"text": "you are worthless"}, headers=h["viewer"])
    (kind, done), = _events(r.text)
    assert kind == "done" and done["verdict"] == "blocked_input" and done["report"]["url"].endswith("/report")
    r = await admin.post("/api/ask/stream", json={"text": 5}, headers=h["viewer"])
    assert r.status_code == 400 and '"text"' in r.json()["error"]
    r = await admin.post("/api/ask/stream", json={"text": "hi", "template": "nope@9"}, headers=h["viewer"])
    kind, err = _events(r.text)[-1]
    assert r.status_code == 200 and kind == "error" and err["status"] == 400 and "nope" in err["error"]
    assert (await admin.post("/api/ask/stream", json={"text": "hi"})).status_code == 401


async def test_a_compare_report_kept_with_a_version_is_on_its_page(admin: httpx.AsyncClient, runtime: Runtime,
                                                                   h: dict[str, dict[str, str]]) -> None:
    assert (await admin.get("/api/models/helpdesk-lora/1", headers=h["viewer"])).json()["compare"] is None
    r = await admin.get("/api/models/helpdesk-lora/1/compare.html", headers=h["viewer"])
    assert r.status_code == 404 and "decorum compare --register" in r.json()["error"]
    with pytest.raises(UsageError, match="strategies"):
        runtime.models.attach_compare("helpdesk-lora", 1, {"strategies": {}}, actor="local:ana")
    report = {**_report(), "answers": [{"question": "q", "answer": "secret-ish"}]}
    runtime.models.attach_compare("helpdesk-lora", 1, report, actor="local:ana")
    one = (await admin.get("/api/models/helpdesk-lora/1", headers=h["viewer"])).json()
    cmp = one["compare"]
    assert set(cmp["strategies"]) == {"prompt_engineering", "fine_tuned"} and cmp["winner"] == report["winner"]
    assert cmp["stored_at"] and "compare" not in one["card"] and "secret-ish" not in json.dumps(one)
    assert "answers" not in runtime.models.get("helpdesk-lora", 1).card["compare"]  # figures, not every answer
    assert runtime.models.history("helpdesk-lora")[-1]["action"] == "compare"
    r = await admin.get("/api/models/helpdesk-lora/1/compare.html", headers=h["viewer"])
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('decorum-compare-helpdesk-lora-1.html"')
    assert "Fine-tuning vs prompt engineering: helpdesk" in r.text and ">0.235<" in r.text


def test_decorum_compare_register_keeps_the_report_with_the_adapter_version(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from decorum.adapters.finetune import compare as compare_cmd

    measured = {**_report(), "answers": []}
    monkeypatch.setattr(compare_cmd, "compare", lambda rt, **_: measured)  # the measuring itself loads models
    parser = argparse.ArgumentParser()
    compare_cmd.add_arguments(parser)
    assert compare_cmd.run(parser.parse_args(["--register", "--json"])) == 0
    assert "report kept with helpdesk-lora@1" in capsys.readouterr().err
    kept = runtime.models.get("helpdesk-lora", 1).card["compare"]
    assert kept["strategies"] == measured["strategies"] and "answers" not in kept
    monkeypatch.setattr(compare_cmd, "compare", lambda rt, **_: {**measured, "adapter": None})
    with pytest.raises(UsageError, match="measured no fine-tuned adapter"):
        compare_cmd.run(parser.parse_args(["--register"]))
