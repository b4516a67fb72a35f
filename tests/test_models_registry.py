"""The model registry and ``decorum models list|show|promote|retire`` (no model loads; SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from decorum import cli
from decorum.adapters.model_registry import SHIPPED, ModelRegistry
from decorum.errors import UsageError


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


CARD = {"template": {"name": "helpdesk-tuned", "version": 1}, "training": {"best_eval_loss": 1.2},
        "data": {"train_pairs": 10}, "router": {"threshold": 0.05}}


def test_seed_registers_the_shipped_adapter_once(database) -> None:
    reg = ModelRegistry(database)
    first = reg.seed()
    assert first == ["helpdesk-lora"] and reg.seed() == []
    m = reg.get("helpdesk-lora")
    assert (m.version, m.stage, m.domain, m.template) == (1, "production", "helpdesk", "helpdesk-tuned@1")
    assert m.sha256 == SHIPPED["helpdesk-lora"] and (m.path / "adapter_model.safetensors").exists()
    assert reg.history("helpdesk-lora")[0]["actor"] == "seed"


def test_register_refuses_a_version_without_a_digest(database) -> None:
    """Every load is checked against the registered sha256, so a version cannot be registered without one."""
    reg = ModelRegistry(database)
    for bad in ("", "abc", "A" * 64, None):
        with pytest.raises(UsageError, match="64-hex-digit digest"):
            reg.register(name="x-lora", version=1, domain="x", path="/srv/x", sha256=bad, card=CARD, actor="ana")
    assert reg.list("x-lora") == []


def test_promote_archives_the_old_production_and_retire_withdraws(database) -> None:
    reg = ModelRegistry(database)
    for v in (1, 2):
        reg.register(name="x-lora", version=v, domain="x", path=f"/srv/x/v{v}", sha256=f"{v}" * 64, card=CARD,
                     actor="ana")
    assert [m.stage for m in reg.list("x-lora")] == ["candidate", "candidate"]
    with pytest.raises(UsageError, match="has no production version"):
        reg.get("x-lora")
    reg.promote("x-lora", 1, actor="ana", reason="first")
    reg.promote("x-lora", 2, actor="bo", reason="better eval loss")
    assert [m.stage for m in reg.list("x-lora")] == ["archived", "production"]
    assert [m.ref for m in reg.production()] == ["x-lora@2"]
    reg.retire("x-lora", 2, actor="bo", reason="wrong answers about leave")
    assert reg.production() == [] and reg.get("x-lora", 2).stage == "retired"
    with pytest.raises(UsageError, match="is retired"):
        reg.promote("x-lora", 2, actor="bo", reason="again")
    actions = [(h["version"], h["action"], h["actor"]) for h in reg.history("x-lora")]
    assert actions == [(1, "register", "ana"), (2, "register", "ana"), (1, "promote", "ana"),
                       (1, "archive", "bo"), (2, "promote", "bo"), (2, "retire", "bo")]
    with pytest.raises(UsageError, match="unknown model 'nope'"):
        reg.get("nope")
    with pytest.raises(UsageError, match="has no version 9"):
        reg.get("x-lora", 9)


def test_models_cli(capsys, db_url) -> None:
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [(r["name"], r["version"], r["stage"]) for r in rows] == [("helpdesk-lora", 1, "production")]
    assert rows[0]["sha256"] == SHIPPED["helpdesk-lora"] and rows[0]["router_threshold"] is not None
    code, out, _ = run(capsys, "models", "show", "helpdesk-lora", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["card"]["domain"] == "helpdesk"
    assert shown["card"]["command"].startswith("decorum finetune")
    assert shown["history"][0]["action"] == "register"
    code, out, _ = run(capsys, "models", "retire", "helpdesk-lora", "1", "--reason", "audit finding", "--as", "carol",
                       "--json")
    assert code == 0 and json.loads(out)["stage"] == "retired"
    code, out, _ = run(capsys, "models", "show", "helpdesk-lora", "1", "--json")
    assert json.loads(out)["history"][-1] == {**json.loads(out)["history"][-1], "action": "retire",
                                              "actor": "carol", "reason": "audit finding"}
    from decorum.bot.runtime import Runtime  # the change is an audit record too, as from the console

    rt = Runtime.open()
    [note] = [n for n in rt.audit.list(limit=10, verdict="change") if n["change"]["kind"] == "model.retire"]
    change = note["change"]
    assert note["surface"] == "cli"
    assert change["actor"] == "carol" and change["reason"] == "audit finding" and change["from_stage"] == "production"
    assert change["model"] == "helpdesk-lora" and change["version"] == 1
    rt.close()
    code, out, err = run(capsys, "models", "show", "helpdesk-lora")
    assert code == 2 and "has no production version" in err
    code, out, err = run(capsys, "models", "promote", "nope", "1")
    assert code == 2 and "unknown model 'nope'" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "promote", "helpdesk-lora", "x"])
    assert exited.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_a_retired_domain_is_not_routed_to(capsys, db_url) -> None:
    code, out, _ = run(capsys, "models", "retire", "helpdesk-lora", "1", "--reason", "withdrawn")
    assert code == 0 and "helpdesk-lora@1 is now retired" in out
    code, out, err = run(capsys, "route", "explain", "--json", "How do I reset my VPN password?")
    data = json.loads(out)
    assert code == 0 and data["route"]["strategy"] == "prompt_engineering" and data["semantic"] == []
    code, out, err = run(capsys, "ask", "--strategy", "fine_tuned", "hello")
    assert code == 2 and "no fine-tuned domain is configured or registered in production" in err


async def test_a_fine_tuned_domain_runs_under_any_of_its_templates(db_url) -> None:
    """Synergy: the adapter under the domain's prompt template; the note names both."""
    from decorum.bot.pipeline import Request
    from decorum.bot.runtime import Runtime
    from tests.fakes import FakeClassifier, FakeGenerator

    gen = FakeGenerator()
    rt = Runtime.open(classifier=FakeClassifier(), generator=gen)
    answer = await rt.pipeline.answer(Request(text="vpn?", strategy="fine_tuned", template="helpdesk"))
    note = answer.note
    assert note["route"]["strategy"] == "fine_tuned" and note["route"]["domain"] == "helpdesk"
    assert note["template"]["name"] == "helpdesk" and note["model"]["adapter"]["name"] == "helpdesk-lora"
    assert gen.requests[-1].adapter.name == "helpdesk-lora"
    answer = await rt.pipeline.answer(Request(text="vpn?", strategy="fine_tuned"))
    assert answer.note["template"]["name"] == "helpdesk-tuned"
    with pytest.raises(UsageError, match="template 'general' has no fine-tuned domain"):
        await rt.pipeline.answer(Request(text="vpn?", strategy="fine_tuned", template="general"))


@pytest.mark.parametrize("argv, stdin, message", [
    (["route", "explain", "   "], None, "the question is empty"),
    (["route", "explain", "-"], b"\x00\x01binary", "NUL bytes"),
    (["route", "explain", "-"], b"\xff\xfe", "not valid UTF-8"),
])
def test_route_explain_refuses_bad_input(capsys, monkeypatch, db_url, argv, stdin, message) -> None:
    import io
    import sys

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_a_retirement_in_another_process_reaches_this_replica_within_its_cache_bound(capsys, db_url) -> None:
    """Replicas share nothing but the database: a promotion or retirement made by another process (here the
    CLI, as a real subprocess) is served by this one within ``CACHE_S`` (issue 13)."""
    import subprocess
    import sys
    import time

    from decorum.adapters.model_registry import CACHE_S
    from decorum.settings import Settings
    from decorum.store import Database

    assert run(capsys, "models", "list")[0] == 0  # seeds the shipped adapter
    replica = ModelRegistry(Database.open(Settings().resolved_database_url))  # its own engine and cache
    assert [m.ref for m in replica.production()] == ["helpdesk-lora@1"]
    done = subprocess.run([sys.executable, "-m", "decorum", "models", "retire", "helpdesk-lora", "1", "--reason",
                           "withdrawn on another replica"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    changed = time.monotonic()
    while replica.production() and time.monotonic() - changed < CACHE_S + 5:
        time.sleep(0.05)
    seen_after = time.monotonic() - changed
    assert replica.production() == [] and seen_after <= CACHE_S + 0.5, seen_after
