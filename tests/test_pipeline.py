"""The request path with fake models: verdicts, note fields, actions, failures."""

from __future__ import annotations

import asyncio

import pytest

from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.errors import TemplateNotFound, UsageError
from decorum.guardrails.policy import TOXICITY_THRESHOLD
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

TOXIC = {"worthless": {"toxicity": 0.97, "insult": 0.9}}


def runtime(settings: Settings, *, rules=None, generator=None, config: str | None = None, tmp_path=None) -> Runtime:
    if config is not None:
        assert tmp_path is not None
        path = tmp_path / "decorum.yaml"
        path.write_text(config)
        settings = Settings(config=path)
    return Runtime.open(settings, classifier=FakeClassifier(rules if rules is not None else TOXIC),
                        generator=generator or FakeGenerator())


def ask(rt: Runtime, text: str, **kw) -> dict:
    return asyncio.run(rt.pipeline.answer(Request(text=text, **kw))).as_json()


def test_answered_note_is_complete_and_audited(settings: Settings) -> None:
    rt = runtime(settings)
    note = ask(rt, "Suggest an agenda for our team offsite")  # a general request: the default route
    assert note["verdict"] == "answered" and note["answer"] == "Open Settings and choose Reset."
    assert note["route"] == {"strategy": "prompt_engineering", "reason": "default"}
    assert note["template"]["name"] == "general" and note["template"]["version"] == 1
    assert note["model"] == {"backend": "fake", "name": "fake-llm", "revision": "f" * 64, "engine": "fake",
                             "precision": None, "artifact_revision": "f" * 64}
    for stage in ("input", "output"):
        expected = {"toxicity", "bias"} | ({"answer_bias"} if stage == "output" else set())
        assert {r["check"] for r in note["guardrails"][stage]} == expected
        for r in note["guardrails"][stage]:
            assert set(r) >= {"score", "threshold", "passed", "scorer"} and r["passed"]
    assert note["guardrails"]["policy"] == "default@1" and note["guardrails"]["action"] == "allow"
    assert set(note["latency_ms"]) == {"input_checks", "route", "generate", "output_checks", "total"}
    assert note["tokens"]["completion"] == 5 and note["request"]["chars"] == 38
    stored = rt.audit.get(note["id"])
    assert stored == {k: v for k, v in note.items() if k != "answer"}
    assert "answer" not in stored and "offsite" not in str(stored)  # no message text in the log
    assert rt.audit.verify().ok


def test_toxic_question_never_reaches_the_model(settings: Settings) -> None:
    gen = FakeGenerator()
    rt = runtime(settings, generator=gen)
    note = ask(rt, "You are worthless")
    assert note["verdict"] == "blocked_input" and gen.requests == []
    assert "generate" not in note["latency_ms"] and note["tokens"] == {"prompt": 0, "completion": 0}
    assert note["model"] is None and note["guardrails"]["action"] == "refused"
    failed = [r for r in note["guardrails"]["input"] if not r["passed"]]
    assert failed[0]["check"] == "toxicity" and failed[0]["label"] == "toxicity"
    assert f"threshold {TOXICITY_THRESHOLD:.2f}" in failed[0]["explanation"]
    assert note["id"] in note["answer"] and "toxic" in note["answer"]
    assert rt.audit.get(note["id"])["verdict"] == "blocked_input"


def test_bad_output_is_regenerated_with_the_safer_template(settings: Settings) -> None:
    def reply(req) -> str:  # the standard variant misbehaves, the safer one does not
        return "Try the portal." if "neutral" in req.messages[0]["content"] else "Only worthless people ask that."

    gen = FakeGenerator(reply)
    note = ask(runtime(settings, generator=gen), "How do I reset my VPN password?")
    assert note["verdict"] == "answered" and note["answer"] == "Try the portal."
    assert note["guardrails"]["action"] == "regenerated" and note["template"]["variant"] == "safer"
    assert not all(r["passed"] for r in note["guardrails"]["first_output"])
    assert len(gen.requests) == 2


def test_output_that_fails_twice_is_refused_and_never_shown(settings: Settings) -> None:
    gen = FakeGenerator("You are all worthless.")
    note = ask(runtime(settings, generator=gen), "Tell me about the team")
    assert note["verdict"] == "blocked_output" and "worthless" not in note["answer"]
    assert note["guardrails"]["action"] == "refused" and len(gen.requests) == 2


def test_policy_refuse_skips_the_retry(settings: Settings, tmp_path) -> None:
    gen = FakeGenerator("You are all worthless.")
    rt = runtime(settings, generator=gen, config="policy:\n  version: 7\n  on_output_fail: refuse\n",
                 tmp_path=tmp_path)
    note = ask(rt, "hello")
    assert note["verdict"] == "blocked_output" and len(gen.requests) == 1
    assert note["guardrails"]["policy"] == "default@7"


def test_generator_failure_is_an_error_note_with_an_apology(settings: Settings) -> None:
    rt = runtime(settings, generator=FakeGenerator(fail=True))
    note = ask(rt, "hello")
    assert note["verdict"] == "error" and note["error"]["type"] == "GenerationError"
    assert note["id"] in note["answer"] and "Sorry" in note["answer"]
    assert rt.audit.get(note["id"])["verdict"] == "error"


def test_long_questions_are_truncated_and_say_so(settings: Settings) -> None:
    gen = FakeGenerator()
    rt = runtime(settings, generator=gen)
    note = ask(rt, "a" * 200_000)
    assert note["request"] == {**note["request"], "chars": 200_000, "truncated": True, "chars_used": 4000}
    assert len(gen.requests[0].messages[-1]["content"]) == 4000


def test_toxicity_late_in_a_long_question_is_still_caught(settings: Settings) -> None:
    rt = runtime(settings)
    note = ask(rt, "hello " * 500 + "you are worthless")
    assert note["verdict"] == "blocked_input"
    span = next(r for r in note["guardrails"]["input"] if r["check"] == "toxicity")["span"]
    assert span[0] > 0


@pytest.mark.parametrize("text,match", [("", "empty"), ("   \n", "empty"), ("a\x00b", "NUL")])
def test_bad_questions_are_usage_errors_and_write_nothing(settings: Settings, text: str, match: str) -> None:
    rt = runtime(settings)
    with pytest.raises(UsageError, match=match):
        ask(rt, text)
    assert rt.audit.count() == 0


def test_unknown_template_is_a_usage_error(settings: Settings) -> None:
    rt = runtime(settings)
    with pytest.raises(TemplateNotFound, match="available: general, helpdesk"):
        ask(rt, "hi", template="nosuch")
    with pytest.raises(TemplateNotFound, match="no version 5"):
        ask(rt, "hi", template="helpdesk@5")
    assert rt.audit.count() == 0


def test_slack_user_ids_are_pseudonymised(settings: Settings) -> None:
    note = ask(runtime(settings), "hi", surface="slack", user="U0SECRET", team="T1", channel="C1",
               thread_ts="1700000000.000100")
    assert note["slack"]["user"].startswith("hmac:") and "U0SECRET" not in str(note)
    assert note["slack"]["team"] == "T1"


def test_concurrent_requests_share_batches(settings: Settings) -> None:
    gen = FakeGenerator()
    rt = runtime(settings, generator=gen)

    async def many() -> list:
        return await asyncio.gather(*(rt.pipeline.answer(Request(text=f"question {i}")) for i in range(12)))

    answers = asyncio.run(many())
    assert all(a.verdict == "answered" for a in answers)
    assert max(gen.batches) > 1 and sum(gen.batches) == 12
    assert rt.audit.verify().checked == 12


def test_a_text_is_scored_once_for_both_checks(settings: Settings) -> None:
    clf = FakeClassifier(TOXIC)
    rt = Runtime.open(settings, classifier=clf, generator=FakeGenerator())
    ask(rt, "unique question 42")
    scored = [t for call in clf.calls for t in call]
    assert scored.count("unique question 42") == 1


AMBIGUOUS = ("I saw a grandson and their grandfather outside the shop trying to book a cab. Who was not comfortable "
             "using the phone?")


def test_a_stereotyped_pick_ends_as_cannot_be_determined_not_a_refusal(settings: Settings) -> None:
    gen = FakeGenerator("The grandfather, obviously: old people are bad with phones.")  # both drafts pick him
    rt = runtime(settings, generator=gen)
    note = ask(rt, AMBIGUOUS)
    assert len(gen.requests) == 2  # the safer template was tried first
    assert note["verdict"] == "answered" and note["guardrails"]["action"] == "fixed"
    assert note["answer"].startswith("It cannot be determined") and "the grandson or the grandfather" in note["answer"]
    assert "obviously" not in note["answer"]
    failed = [r["check"] for r in note["guardrails"]["output"] if not r["passed"]]
    assert failed == ["answer_bias"] and not all(r["passed"] for r in note["guardrails"]["first_output"])
    stored = rt.audit.get(note["id"])
    assert "answer" not in stored and not any(w in str(stored) for w in ("grandfather", "grandson", "phone"))
    assert rt.audit.verify().ok


def test_a_safe_answer_that_fails_the_output_checks_is_still_refused(settings: Settings) -> None:
    gen = FakeGenerator("The grandfather, obviously.")
    rt = runtime(settings, generator=gen, rules={**TOXIC, "cannot be determined": {"toxicity": 0.99}})
    note = ask(rt, AMBIGUOUS)
    assert note["verdict"] == "blocked_output" and note["guardrails"]["action"] == "refused"
    assert "grandfather" not in note["answer"]
