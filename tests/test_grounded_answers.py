"""Answers on a domain route: the knowledge entries retrieved are cited, and what the answer states as fact is
checked against them (regenerated once with them in the prompt, else "I'm not sure" quoting the closest one)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.guardrails.note_schema import TransparencyNote
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

LEAVE_Q = "How many days of annual leave do full-time staff get?"
GROUNDED = "Full-time staff get 27 days of annual leave; book them in Tidewater under 'Time Off'."
WRONG = "You get 35 days of leave; book them in the Lighthouse app."


def runtime(settings: Settings, reply, config: str | None = None, tmp_path: Path | None = None) -> Runtime:
    if config is not None:
        assert tmp_path is not None
        (tmp_path / "decorum.yaml").write_text(config)
        settings = Settings(config=tmp_path / "decorum.yaml")
    return Runtime.open(settings, classifier=FakeClassifier({}), generator=FakeGenerator(reply))


def ask(rt: Runtime, text: str, **kw):
    return asyncio.run(rt.pipeline.answer(Request(text=text, **kw)))


def system_of(req) -> str:
    return req.messages[0]["content"]


def test_a_grounded_answer_is_kept_and_cites_its_entries(settings: Settings) -> None:
    gen = FakeGenerator(GROUNDED)
    rt = Runtime.open(settings, classifier=FakeClassifier({}), generator=gen)
    answer = ask(rt, LEAVE_Q, strategy="prompt_engineering", template="helpdesk")
    note = answer.note
    assert answer.verdict == "answered" and answer.text == GROUNDED
    assert note["knowledge"][0]["id"] == "hr-annual-leave" and note["knowledge"][0]["version"] == 1
    assert answer.sources[0].id == "hr-annual-leave" and answer.sources[0].title.startswith("Annual leave")
    g = note["grounding"]
    assert g["action"] == "kept" and sum(g["unsupported"].values()) == 0 and sum(g["supported"].values()) >= 2
    assert g["sources"][0] == {"id": "hr-annual-leave", "version": 1}
    assert "27 days of annual leave" in system_of(gen.requests[0])  # the prompt template was given the entries
    assert len(gen.requests) == 1 and {"retrieval", "grounding"} <= set(note["latency_ms"])
    from decorum.bot.note import summary

    line = summary(note)  # what `decorum ask` prints under the answer
    assert "sources hr-annual-leave v1" in line and "grounding kept" in line
    stored = rt.audit.get(answer.id)
    TransparencyNote.model_validate(stored)
    assert "Tidewater" not in json.dumps(stored) and "27" not in json.dumps(stored["grounding"])  # no text


def test_an_ungrounded_answer_is_regenerated_with_the_entries_then_grounded(settings: Settings) -> None:
    def reply(req) -> str:  # the fine-tuned route answers from its weights, wrongly, until it sees the facts
        return GROUNDED if "27 days" in system_of(req) else WRONG

    gen = FakeGenerator(reply)
    rt = Runtime.open(settings, classifier=FakeClassifier({}), generator=gen)
    answer = ask(rt, LEAVE_Q, strategy="fine_tuned")
    assert answer.text == GROUNDED and len(gen.requests) == 2
    assert "27 days" not in system_of(gen.requests[0]) and "27 days" in system_of(gen.requests[1])
    g = answer.note["grounding"]
    assert g["action"] == "regenerated" and sum(g["first"]["unsupported"].values()) >= 2
    assert sum(g["unsupported"].values()) == 0


def test_a_still_ungrounded_answer_becomes_not_sure_quoting_the_closest_entry(settings: Settings) -> None:
    gen = FakeGenerator(WRONG)
    rt = Runtime.open(settings, classifier=FakeClassifier({}), generator=gen)
    answer = ask(rt, LEAVE_Q, strategy="fine_tuned")
    entry = rt.knowledge.get("hr-annual-leave", published=True)
    assert answer.verdict == "answered"
    assert answer.text.startswith("I'm not sure. The closest article says: \u201c") and entry.body in answer.text
    assert "35 days" not in answer.text and len(gen.requests) == 2
    g = answer.note["grounding"]
    assert g["action"] == "not_sure" and g["unsupported"]["duration"] >= 1 and g["unsupported"]["name"] >= 1
    assert g["sources"] == [{"id": "hr-annual-leave", "version": 1}]
    assert [s.id for s in answer.sources] == ["hr-annual-leave"]
    TransparencyNote.model_validate(rt.audit.get(answer.id))
    assert rt.audit.get(answer.id)["grounding"]["action"] == "not_sure"


def test_a_general_request_has_no_knowledge_and_no_grounding(settings: Settings) -> None:
    rt = runtime(settings, "Here is an agenda: 1. Welcome 2. Goals 3. Lunch.")
    answer = ask(rt, "Suggest an agenda for our team offsite", strategy="prompt_engineering", template="general")
    assert "knowledge" not in answer.note and "grounding" not in answer.note and answer.sources == ()


def test_knowledge_can_be_turned_off(settings: Settings, tmp_path: Path) -> None:
    rt = runtime(settings, WRONG, "knowledge: {enabled: false}\n", tmp_path)
    answer = ask(rt, LEAVE_Q, strategy="fine_tuned")
    assert answer.text == WRONG and "grounding" not in answer.note


def test_an_edit_published_here_is_cited_at_once(settings: Settings) -> None:
    from decorum.access import local_admin
    from decorum.knowledge.base import Entry

    rt = runtime(settings, "Full-time staff get 30 days of annual leave; book them in Tidewater.")
    kb = rt.knowledge_registry("cli")
    old = rt.knowledge.get("hr-annual-leave")
    new = kb.save(Entry(id=old.id, title=old.title, body=old.body.replace("27 days", "30 days"), topic=old.topic),
                  action="edit", by=local_admin("root"))
    kb.publish(old.id, new.version, by=local_admin("root"))
    rt.knowledge_index.refresh(force=True)  # this process's own change; others see it within cache_check_s
    answer = ask(rt, LEAVE_Q, strategy="prompt_engineering", template="helpdesk")
    assert answer.note["knowledge"][0] == {**answer.note["knowledge"][0], "id": old.id, "version": 2}
    assert answer.note["grounding"]["action"] == "kept"


def test_a_domain_answer_is_not_streamed_while_grounding_is_on(settings: Settings) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.shown: list[str] = []

        async def show(self, text: str) -> None:
            self.shown.append(text)

        async def retract(self) -> None:
            self.shown.append("<retracted>")

    rec = Recorder()
    rt = Runtime.open(settings, classifier=FakeClassifier({}), generator=FakeGenerator(WRONG, stream_delay_s=0.001))
    answer = asyncio.run(rt.pipeline.answer(Request(text=LEAVE_Q, strategy="fine_tuned"), stream=rec))
    assert rec.shown == [] and answer.note["streaming"]["held"] is True  # the wrong "35 days" was never shown
    assert answer.note["grounding"]["action"] == "not_sure"


def test_a_prompt_that_already_held_the_entries_is_not_generated_again(settings: Settings) -> None:
    gen = FakeGenerator(WRONG)
    rt = Runtime.open(settings, classifier=FakeClassifier({}), generator=gen)
    answer = ask(rt, LEAVE_Q, strategy="prompt_engineering", template="helpdesk")
    assert len(gen.requests) == 1 and "27 days" in system_of(gen.requests[0])
    assert answer.note["grounding"]["action"] == "not_sure" and answer.text.startswith("I'm not sure.")
