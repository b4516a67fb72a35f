"""Policy-listed guardrails-ai validators as checks, per-check actions, and per-channel policy profiles.

The validators are registered here, as a team would register its own; they run through a real ``Guard``
on the request path, with fake models around them.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from pathlib import Path

import pytest
import yaml

from decorum import cli
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.errors import ConfigError
from decorum.guardrails.base import CheckResult
from decorum.guardrails.policy import CheckPolicy, Policy
from decorum.guardrails.validator_checks import ValidatorCheck, validator_class, validator_version
from decorum.offline import ensure_offline
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

ensure_offline()

from guardrails.classes.validation.validation_result import (  # noqa: E402
    ErrorSpan,
    FailResult,
    PassResult,
)
from guardrails.validator_base import Validator, register_validator  # noqa: E402

SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


@register_validator(name="acme-test/no-api-keys", data_type="string")
class NoApiKeys(Validator):  # type: ignore[misc]
    """Fails on anything that looks like an API key; its fix redacts it. Reports a score."""

    def __init__(self, prefix: str = "sk-", on_fail: object = None, **kwargs: object) -> None:
        super().__init__(on_fail=on_fail, prefix=prefix, **kwargs)
        self.prefix = prefix

    def _validate(self, value: str, metadata: dict) -> object:
        at = value.find(self.prefix)
        if at < 0:
            return PassResult(metadata={"score": 0.0})
        end = value.find(" ", at)
        end = len(value) if end < 0 else end
        return FailResult(error_message=f"found the key {value[at:end]}", fix_value=value[:at] + "[key]" + value[end:],
                          error_spans=[ErrorSpan(start=at, end=end, reason=value[at:end])], metadata={"score": 0.93})


@register_validator(name="acme-test/no-competitors", data_type="string")
class NoCompetitors(Validator):  # type: ignore[misc]
    """Fails when the text names Globex (no fix, no score)."""

    def _validate(self, value: str, metadata: dict) -> object:
        if "Globex" in value:
            return FailResult(error_message="mentions Globex")
        return PassResult()


def config(tmp_path: Path, policy: dict) -> Settings:
    path = tmp_path / "decorum.yaml"
    path.write_text(yaml.safe_dump({"policy": policy}), encoding="utf-8")
    return Settings(config=path)


def runtime(settings: Settings, generator: FakeGenerator | None = None, rules: dict | None = None) -> Runtime:
    rules = rules if rules is not None else {"worthless": {"toxicity": 0.97, "insult": 0.9},
                                             "damn": {"toxicity": 0.8}}
    return Runtime.open(settings, classifier=FakeClassifier(rules), generator=generator or FakeGenerator())


def ask(rt: Runtime, text: str, **kw: object) -> dict:
    return asyncio.run(rt.pipeline.answer(Request(text=text, **kw))).as_json()


KEYS = {"validator": {"name": "acme-test/no-api-keys", "on_fail": "fix"}, "stages": ["input", "output"]}


def test_a_registered_validator_fixes_the_question_before_the_model_sees_it(settings: Settings,
                                                                           tmp_path: Path) -> None:
    gen = FakeGenerator()
    rt = runtime(config(tmp_path, {"checks": {"api_keys": KEYS}}), gen)
    note = ask(rt, f"Why does {SECRET} get a 401 from the billing API?")
    assert note["verdict"] == "answered" and note["guardrails"]["action"] == "fixed"
    prompt = json.dumps([m for r in gen.requests for m in r.messages])
    assert SECRET not in prompt and "[key]" in prompt  # the model saw the redacted question
    [keys] = [r for r in note["guardrails"]["input"] if r["check"] == "api_keys"]
    version = validator_version(NoApiKeys)
    assert version.startswith("src-") and len(version) == 16
    assert keys["scorer"] == f"guardrails-ai/acme-test/no-api-keys@{version}"
    assert keys["passed"] is False and keys["score"] == 0.93 and keys["span"] == [9, 9 + len(SECRET)]
    assert keys["explanation"] == "acme-test/no-api-keys failed in characters 9-37"
    stored = rt.audit.get(note["id"])
    assert SECRET not in json.dumps(stored) and "fixed" not in stored["guardrails"]["input"][0]
    # The classifier checks ran too, on the original question (they are scored before the fix).
    assert {r["check"] for r in note["guardrails"]["input"]} == {"toxicity", "bias", "api_keys"}
    assert rt.audit.verify().ok


def test_a_fixed_answer_is_what_is_shown(settings: Settings, tmp_path: Path) -> None:
    gen = FakeGenerator(f"Use the key {SECRET} in the header.")
    rt = runtime(config(tmp_path, {"checks": {"api_keys": KEYS}}), gen)
    note = ask(rt, "How do I call the billing API?")
    assert note["verdict"] == "answered" and note["answer"] == "Use the key [key] in the header."
    assert note["guardrails"]["action"] == "fixed" and len(gen.requests) == 1
    [keys] = [r for r in note["guardrails"]["output"] if r["check"] == "api_keys"]
    assert keys["passed"] is False


@pytest.mark.parametrize("on_fail, verdict, action, generations", [
    ("exception", "blocked_input", "refused", 0),
    ("refrain", "blocked_input", "refused", 0),
    ("reask", "blocked_input", "refused", 0),  # a question cannot be regenerated: refused
    ("noop", "answered", "warned", 1),
    ("warn", "answered", "warned", 1),
    ("fix", "blocked_input", "refused", 0),  # this validator has no fix: a fix that repairs nothing refuses
])
def test_on_fail_actions_on_input(settings: Settings, tmp_path: Path, on_fail: str, verdict: str, action: str,
                                  generations: int) -> None:
    gen = FakeGenerator()
    check = {"validator": {"name": "acme-test/no-competitors", "on_fail": on_fail}, "stages": ["input"]}
    note = ask(runtime(config(tmp_path, {"checks": {"competitors": check}}), gen), "Is Globex cheaper than us?")
    assert (note["verdict"], note["guardrails"]["action"], len(gen.requests)) == (verdict, action, generations)
    [r] = [r for r in note["guardrails"]["input"] if r["check"] == "competitors"]
    assert r["passed"] is False and r["score"] == 1.0 and r["threshold"] == 0.5
    assert r["scorer"].startswith("guardrails-ai/acme-test/no-competitors@src-")
    if verdict == "blocked_input":
        assert "competitors" in note["answer"]


@pytest.mark.parametrize("on_fail, verdict, action, generations", [
    ("reask", "blocked_output", "refused", 2),  # regenerated once with the safer prompt, still failing
    ("exception", "blocked_output", "refused", 1),  # refuse: no retry
    ("noop", "answered", "warned", 1),
])
def test_on_fail_actions_on_output(settings: Settings, tmp_path: Path, on_fail: str, verdict: str, action: str,
                                   generations: int) -> None:
    gen = FakeGenerator("Globex does it better.")
    check = {"validator": {"name": "acme-test/no-competitors", "on_fail": on_fail}, "stages": ["output"]}
    note = ask(runtime(config(tmp_path, {"checks": {"competitors": check}}), gen), "Who makes the best widgets?")
    assert (note["verdict"], note["guardrails"]["action"], len(gen.requests)) == (verdict, action, generations)
    assert "Globex" not in json.dumps({k: v for k, v in note.items() if k != "answer"})
    if verdict == "blocked_output":
        assert "Globex" not in note["answer"]


def test_reask_regenerates_and_the_retry_can_pass(settings: Settings, tmp_path: Path) -> None:
    def reply(req) -> str:  # the safer variant of the template does not name competitors
        return "Ours are fine." if "neutral" in req.messages[0]["content"] else "Globex does it better."

    gen = FakeGenerator(reply)
    check = {"validator": {"name": "acme-test/no-competitors", "on_fail": "reask"}, "stages": ["output"]}
    note = ask(runtime(config(tmp_path, {"checks": {"competitors": check}}), gen), "Who makes the best widgets?")
    assert note["verdict"] == "answered" and note["guardrails"]["action"] == "regenerated"
    assert note["answer"] == "Ours are fine." and len(gen.requests) == 2


def test_a_check_can_refuse_while_the_policy_regenerates(settings: Settings, tmp_path: Path) -> None:
    gen = FakeGenerator("You are all worthless.")
    rt = runtime(config(tmp_path, {"checks": {"toxicity": {"on_fail": "refuse"}}}), gen)
    note = ask(rt, "Tell me about the team")
    assert note["verdict"] == "blocked_output" and len(gen.requests) == 1  # no retry for this check


def test_unknown_validators_and_bad_specs_are_clear_errors(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'acme-test/nope' is not installed or not registered \(registered: .*"
                                          r"acme-test/no-api-keys"):
        validator_class("acme-test/nope")
    with pytest.raises(ConfigError, match="does not accept args"):
        ValidatorCheck("x", CheckPolicy(validator={"name": "acme-test/no-competitors", "args": {"colour": "red"}}))
    with pytest.raises(ValueError, match="needs classifier labels, or a guardrails-ai validator"):
        CheckPolicy()
    with pytest.raises(ValueError, match="takes no classifier labels"):
        CheckPolicy(labels=["toxicity"], validator={"name": "acme-test/no-competitors"})
    with pytest.raises(ValueError, match="on_fail"):
        CheckPolicy(validator={"name": "acme-test/no-competitors", "on_fail": "explode"})
    with pytest.raises(ConfigError, match="is not installed or not registered"):
        _ = runtime(config(tmp_path, {"checks": {"x": {"validator": {"name": "acme-test/nope"}}}})).guardrails


def test_a_team_module_is_imported_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pkg = tmp_path / "acme_guards_env.py"
    pkg.write_text("from guardrails.validator_base import Validator, register_validator, PassResult\n"
                   "@register_validator(name='acme-env/always-pass', data_type='string')\n"
                   "class AlwaysPass(Validator):\n"
                   "    version = '2.1.0'\n"
                   "    def _validate(self, value, metadata):\n"
                   "        return PassResult()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DECORUM_GUARDRAILS_MODULES", "acme_guards_env")
    check = ValidatorCheck("p", CheckPolicy(validator={"name": "hub://acme-env/always-pass"}))
    assert check.scorer == "guardrails-ai/acme-env/always-pass@2.1.0"
    [r] = check.check(["anything"], stage="input")
    assert r.passed and r.score == 0.0
    monkeypatch.setenv("DECORUM_GUARDRAILS_MODULES", "acme_guards_missing")
    with pytest.raises(ConfigError, match="DECORUM_GUARDRAILS_MODULES: cannot import 'acme_guards_missing'"):
        validator_class("acme-env/always-pass")


def test_an_installed_packages_validator_is_versioned_by_its_distribution() -> None:
    from decorum.guardrails.validators import DecorumBias

    assert validator_version(DecorumBias) == importlib.metadata.version("decorum")


def test_a_fix_result_never_reaches_the_note() -> None:
    r = CheckResult(check="k", score=1.0, threshold=0.5, passed=False, scorer="s", fixed="secret text")
    assert "fixed" not in r.as_note() and "secret" not in repr(r)


# --- per-channel profiles ----------------------------------------------------------------------------------

PROFILES = {
    "profiles": {
        "relaxed": {"description": "#random: profanity with no target is fine",
                    "checks": {"toxicity": {"labels": ["severe_toxicity", "threat", "identity_attack", "insult"]}}},
        "strict": {"checks": {"bias": {"threshold": 0.2}}, "on_output_fail": "refuse"},
    },
    "channel_profiles": {"C0RANDOM1": "relaxed", "C0CUSTOM1": "strict"},
}


def test_a_channel_profile_relaxes_profanity_but_not_insults(settings: Settings, tmp_path: Path) -> None:
    rt = runtime(config(tmp_path, PROFILES))
    slack = {"surface": "slack", "user": "U1", "team": "T1"}
    general = ask(rt, "damn, the build broke again", channel="C0GENERAL", **slack)
    assert general["verdict"] == "blocked_input" and "profile" not in general["guardrails"]
    random = ask(rt, "damn, the build broke again", channel="C0RANDOM1", **slack)
    assert random["verdict"] == "answered" and random["guardrails"]["profile"] == "relaxed"
    [tox] = [r for r in random["guardrails"]["input"] if r["check"] == "toxicity"]
    assert tox["label"] != "toxicity" and set(tox["details"]) == {"severe_toxicity", "threat", "identity_attack",
                                                                  "insult"}
    insult = ask(rt, "you are worthless", channel="C0RANDOM1", **slack)
    assert insult["verdict"] == "blocked_input" and insult["guardrails"]["profile"] == "relaxed"
    # The CLI is no Slack channel: the policy's own settings.
    assert ask(rt, "damn, the build broke again")["verdict"] == "blocked_input"
    assert rt.audit.verify().ok


def test_a_strict_profile_refuses_without_a_retry(settings: Settings, tmp_path: Path) -> None:
    gen = FakeGenerator("Older staff struggle with this.")
    rt = runtime(config(tmp_path, PROFILES), gen, rules={"Older staff": {"bias": 0.3}})
    slack = {"surface": "slack", "user": "U1", "team": "T1"}
    assert ask(rt, "Who needs help with the tool?", channel="C0GENERAL", **slack)["verdict"] == "answered"
    note = ask(rt, "Who needs help with the tool?", channel="C0CUSTOM1", **slack)
    assert note["verdict"] == "blocked_output" and note["guardrails"]["profile"] == "strict"
    assert note["guardrails"]["output"][1]["threshold"] == 0.2 and len(gen.requests) == 2  # 1 general + 1 here


@pytest.mark.parametrize("policy, match", [
    ({"profiles": {"p": {"checks": {"nosuch": {"threshold": 0.1}}}}}, "profiles.p.checks.nosuch: no such check"),
    ({"profiles": {"p": {"checks": {"toxicity": {"labels": ["obscene"]}}}}}, "may only narrow the check's labels"),
    ({"profiles": {"p": {}}, "channel_profiles": {"C1AB": "q"}}, "no profile 'q'"),
    ({"profiles": {"p": {}}, "channel_profiles": {"#random": "p"}}, "not a Slack channel id"),
    ({"profiles": {"Bad Name": {}}}, "a profile name is"),
])
def test_bad_profiles_are_refused_with_the_field_named(policy: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Policy.model_validate(policy)


@pytest.fixture
def live_rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    cfg = tmp_path / "config.yaml"
    # as in test_live_config: no sentence encoder, a file rule routes the seeds' VPN case; the test gate passes
    vpn = {"name": "vpn", "match": {"pattern": "VPN"}, "strategy": "fine_tuned", "domain": "helpdesk"}
    cfg.write_text(yaml.safe_dump({"routing": {"semantic": False, "rules": [vpn]}}), encoding="utf-8")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    rt = Runtime.open(Settings(), classifier=FakeClassifier({"damn": {"toxicity": 0.8}}),
                      generator=FakeGenerator("Open the VPN portal, choose Reset, and follow the steps."))
    monkeypatch.setattr(cli.base, "runtime", lambda: rt)
    return rt


def test_a_profile_is_an_audited_live_policy_version(live_rt: Runtime, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    slack = {"surface": "slack", "user": "U1", "team": "T1", "channel": "C0RANDOM1"}
    assert ask(live_rt, "damn printer", **slack)["verdict"] == "blocked_input"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"policy": {"profiles": PROFILES["profiles"],
                                                  "channel_profiles": {"C0RANDOM1": "relaxed"}}}), encoding="utf-8")
    code, out, err = run("policy", "edit", "--file", str(overlay), "--message", "#random relaxed", "--as", "carol")
    assert code == 0 and "saved live@1" in out, err
    code, out, err = run("policy", "publish", "1", "--as", "dave", "--reason", "team agreed")
    assert code == 0 and "live@1 active" in out, err
    note = ask(live_rt, "damn printer", **slack)  # same process, no restart
    assert note["verdict"] == "answered" and note["guardrails"]["profile"] == "relaxed"
    assert note["guardrails"]["live_config"] == 1
    kinds = [n["change"]["kind"] for n in reversed(live_rt.audit.list(limit=20, verdict="change"))]
    assert "live_config.publish" in kinds
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"policy": {"channel_profiles": {"C0RANDOM1": "nosuch"}}}), encoding="utf-8")
    code, _, err = run("policy", "edit", "--file", str(bad), "--message", "typo")
    assert code == 2 and "no profile 'nosuch'" in err, err
