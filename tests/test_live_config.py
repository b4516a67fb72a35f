"""Routing and policy as admin data: ``decorum policy`` versions, the guard, the test gate, live apply, rollback.

Fakes for the models (the rule-based classifier scores 0.01 unless a rule matches); the database is the
test's own (SQLite, or PostgreSQL in the second CI run).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from decorum import cli
from decorum.access import Principal
from decorum.bot.runtime import Runtime
from decorum.errors import Forbidden
from decorum.guardrails.policy import TOXICITY_THRESHOLD
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

ANSWER = "Open the VPN portal, choose Reset, and follow the steps for the printer."


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    cfg = tmp_path / "config.yaml"
    # No sentence encoder here: a file rule routes the seeds' VPN case to the fine-tuned domain instead
    vpn = {"name": "vpn", "match": {"pattern": "VPN"}, "strategy": "fine_tuned", "domain": "helpdesk"}
    cfg.write_text(yaml.safe_dump({"routing": {"semantic": False, "rules": [vpn]}}), encoding="utf-8")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    runtime = Runtime.open(Settings(), classifier=FakeClassifier({"idiot": {"toxicity": 0.9}}),
                           generator=FakeGenerator(ANSWER))
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    return runtime


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ask(capsys: pytest.CaptureFixture[str], text: str) -> dict:
    code, out, err = run(capsys, "ask", "--json", text)
    assert code == 0, err
    return json.loads(out)


def changes(rt: Runtime) -> list[dict]:
    return [n["change"] for n in reversed(rt.audit.list(limit=200, verdict="change"))]


def test_show_is_the_file_until_a_version_is_published(rt, capsys) -> None:
    code, out, _ = run(capsys, "policy", "show", "--json")
    eff = json.loads(out)
    assert code == 0 and eff["version"] is None and eff["overlay"] == {}
    assert eff["policy"]["checks"]["toxicity"]["threshold"] == TOXICITY_THRESHOLD
    assert eff["routing"]["semantic"] is False
    code, out, _ = run(capsys, "policy", "show")
    assert "live configuration: none (the file alone)" in out and f"threshold: {TOXICITY_THRESHOLD}" in out


def test_a_threshold_change_is_gated_overridden_applied_live_and_rolled_back(rt, capsys) -> None:
    before = ask(capsys, "Where is the printer?")
    assert before["verdict"] == "answered" and "live_config" not in before["guardrails"]

    code, out, err = run(capsys, "policy", "set", "policy.checks.toxicity.threshold=0.005",
                         "--message", "block nearly everything", "--as", "carol")
    assert code == 0 and "saved live@1" in out and "not active" in out, err
    assert ask(capsys, "Where is the printer?")["verdict"] == "answered"  # saved is not active

    code, out, err = run(capsys, "policy", "test", "1", "--as", "carol")
    assert code == 1 and "general@1 case 0 [blocked_input, None] FAIL: guardrails did not pass" in out, out
    assert "live@1: 0/3 cases passed" in out  # the seeds' three cases, all blocked now
    code, _, err = run(capsys, "policy", "publish", "1", "--as", "dave", "--reason", "we know")
    assert code == 2 and "live@1 failed the test gate (general@1 case 0" in err and "--override" in err
    assert len(err.strip().splitlines()) == 1 and rt.live.active_version() is None

    code, out, err = run(capsys, "policy", "publish", "1", "--as", "dave", "--override", "--reason", "drill")
    assert code == 0 and "live@1 active (test gate overridden)" in out, err
    after = ask(capsys, "Where is the printer?")  # same process, no restart
    assert after["verdict"] == "blocked_input" and after["guardrails"]["live_config"] == 1
    assert after["guardrails"]["input"][0]["threshold"] == 0.005

    code, out, err = run(capsys, "policy", "rollback", "--as", "dave", "--reason", "drill over")
    assert code == 0 and "the configuration file alone (rolled back)" in out, err
    again = ask(capsys, "Where is the printer?")
    assert again["verdict"] == "answered" and "live_config" not in again["guardrails"]
    code, _, err = run(capsys, "policy", "rollback")
    assert code == 2 and "no earlier live configuration" in err

    kinds = [(c["kind"], c["live_config"], c["actor"]) for c in changes(rt)]
    assert kinds == [("live_config.save", 1, "carol"), ("live_config.test", 1, "carol"),
                     ("live_config.publish", 1, "dave"), ("live_config.rollback", None, "dave")]
    publish = changes(rt)[2]
    assert publish["override"] is True and publish["reason"] == "drill" and publish["from_version"] is None
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0, out
    code, out, _ = run(capsys, "audit", "list", "--verdict", "change")
    assert "live_config.publish live@1 by dave (override)" in out
    hist = json.loads(run(capsys, "policy", "history", "--json")[1])
    assert [(e["action"], e["from_version"], e["version"]) for e in hist["events"]] == [
        ("save", None, 1), ("test", None, 1), ("publish", None, 1), ("rollback", 1, None)]
    assert hist["versions"][0]["tests"][0]["passed"] is False
    assert "publish  file -> v1 by dave (override): drill" in run(capsys, "policy", "history")[1]


def test_a_routing_rule_is_a_version_that_passes_the_gate_and_routes_at_once(rt, capsys) -> None:
    printers = '{name: printers, match: {pattern: "(?i)printer"}, template: helpdesk}'
    vpn = "{name: vpn, match: {pattern: VPN}, strategy: fine_tuned, domain: helpdesk}"
    code, out, err = run(capsys, "policy", "set", f"routing.rules=[{printers}]", "--message", "printers")
    assert code == 0 and "saved live@1" in out, err
    code, _, err = run(capsys, "policy", "publish", "1", "--reason", "helpdesk owns printers")
    # the list replaces the file's rules: the VPN rule is gone, and a seed's case says so
    assert code == 2 and "helpdesk-tuned@1 case 0: strategy prompt_engineering != fine_tuned" in err
    code, out, err = run(capsys, "policy", "set", f"routing.rules=[{printers}, {vpn}]", "--message", "both")
    assert code == 0 and "saved live@2" in out, err
    code, out, err = run(capsys, "policy", "publish", "2", "--reason", "helpdesk owns printers")
    assert code == 0 and "live@2 active" in out, err  # the gate ran here: never tested before
    hist = json.loads(run(capsys, "policy", "history", "--json")[1])
    assert hist["versions"][1]["tests"][0]["summary"] == "3/3 cases passed"
    note = ask(capsys, "The printer on floor 2 jams")
    assert note["route"]["reason"] == "rule" and note["route"]["rule"] == "printers"
    assert note["template"]["name"] == "helpdesk" and note["guardrails"]["live_config"] == 2
    assert ask(capsys, "Plan our offsite")["template"]["name"] == "general"

    code, out, _ = run(capsys, "policy", "set", f"routing.rules=[{vpn}]", "--message", "no printer rule")
    assert code == 0 and "saved live@3" in out
    code, out, _ = run(capsys, "policy", "diff", "2", "3")
    assert "--- live@2" in out and "+++ live@3" in out and "-    name: printers" in out
    assert run(capsys, "policy", "publish", "3")[0] == 0
    assert ask(capsys, "The printer on floor 2 jams")["route"]["reason"] == "default"
    code, out, _ = run(capsys, "policy", "rollback", "--reason", "printers again")
    assert code == 0 and "live@2 active (rolled back)" in out
    assert ask(capsys, "The printer on floor 2 jams")["route"]["rule"] == "printers"


@pytest.mark.parametrize("argv,match", [
    (["policy.classifier.max_length=64"], "policy.classifier: not a live setting"),
    (["policy.checks.toxicity.labels=[insult]"], "policy.checks.toxicity.labels: not a live setting"),
    (["policy.checks.toxicity.threshold=2"], "policy.checks.toxicity.threshold: Input should be less than or equal"),
    (["policy.checks.nosuch.threshold=0.2"], "policy.checks.nosuch: no such check"),
    (["policy.on_output_fail=explode"], "policy.on_output_fail: Input should be"),
    (["routing.default_template=nosuch"], "unknown template 'nosuch'"),
    (["routing.rules=[{name: r, match: {pattern: '('}, template: general}]"], "invalid regular expression"),
    (["routing.rules=[{name: r, match: {}, strategy: fine_tuned, domain: nowhere}]"], "unknown domain 'nowhere'"),
    (["models.generator.engine=x"], "expected policy.KEY"),
    (["policy.checks.toxicity.threshold"], "expected KEY=VALUE"),
    (["routing.rules=[unclosed"], "the value is not valid YAML"),
])
def test_the_guard_refuses_what_cannot_apply_with_one_line(rt, capsys, argv: list[str], match: str) -> None:
    code, _, err = run(capsys, "policy", "set", *argv, "--message", "try")
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert rt.live.versions() == []


def test_files_are_checked_like_template_files(rt, capsys, tmp_path) -> None:
    good = tmp_path / "live.yaml"
    good.write_text("policy:\n  checks:\n    bias: {threshold: 0.4}\nrouting:\n  semantic: false\n", encoding="utf-8")
    code, out, err = run(capsys, "policy", "edit", "--file", str(good), "--message", "bias 0.4")
    assert code == 0 and "saved live@1" in out, err
    code, _, err = run(capsys, "policy", "edit", "--file", str(good), "--message", "again")
    assert code == 2 and "no change: the content is identical to live@1" in err
    for content, match in ((b"\x00\x01", "NUL bytes"), (b"policy: [", "not valid YAML"), (b"- 1\n", "a mapping"),
                           (b"secrets: {}\n", "secrets: unknown section")):
        bad = tmp_path / "bad.yaml"
        bad.write_bytes(content)
        code, _, err = run(capsys, "policy", "edit", "--file", str(bad), "--message", "bad")
        assert code == 2 and match in err, (content, err)
    code, _, err = run(capsys, "policy", "publish", "7")
    assert code == 2 and "no live configuration version 7; versions: 1" in err


def test_only_admins_change_it(rt) -> None:
    live = rt.live_config("console")
    with pytest.raises(Forbidden):
        live.save({"routing": {"semantic": True}}, by=Principal("pat", "publisher", "token"), message="try")
    v = live.save({"routing": {"semantic": False}, "policy": {"max_question_chars": 500}},
                  by=Principal("root", "admin", "token"), message="shorter questions")
    with pytest.raises(Forbidden):
        live.publish(v["version"], by=Principal("pat", "publisher", "token"))
    refused = [(e["actor"], e["outcome"], e["surface"]) for e in rt.access.events(limit=5)
               if e["action"] == "policy.edit"]
    assert refused[:2] == [("pat", "denied_403", "console")] * 2


def test_another_process_applies_a_publish_within_its_check_interval(rt, capsys) -> None:
    other = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator(ANSWER))
    other.live.cache_check_s = 0.05  # the other process's prompts.cache_check_s
    import asyncio
    import time

    from decorum.bot.pipeline import Request

    def other_answer() -> dict:
        return asyncio.run(other.pipeline.answer(Request(text="Where is the printer?"), rate_checked=True)).note

    assert "live_config" not in other_answer()["guardrails"]
    assert run(capsys, "policy", "set", "policy.checks.bias.threshold=0.3", "--message", "stricter bias")[0] == 0
    assert run(capsys, "policy", "publish", "1")[0] == 0
    time.sleep(0.1)
    note = other_answer()
    assert note["guardrails"]["live_config"] == 1
    assert {r["check"]: r["threshold"] for r in note["guardrails"]["input"]}["bias"] == 0.3


def test_applying_the_same_version_again_logs_it_once(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="decorum.bot.live_config")
    rt = Runtime.open(Settings(), classifier=FakeClassifier({}), generator=FakeGenerator())
    rt.guardrails, rt.router  # each service applies the live configuration when it starts  # noqa: B018
    rt.live.refresh(force=True)
    applied = [r.getMessage() for r in caplog.records if "applied" in r.getMessage()]
    assert applied == ["live configuration (file only) applied"]
