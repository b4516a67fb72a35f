"""Guarded streaming through the one pipeline, with fake models: only checked text is ever shown."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise

import pytest

from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.bot.streaming import MAX_CHARS, split_chunks
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

TOXIC = {"worthless": {"toxicity": 0.97, "insult": 0.9}}
GOOD = ("Open the VPN portal from the intranet home page. Choose Reset password and follow the steps. "
        "The new password works within five minutes. Call the helpdesk if it does not.")
BAD_LATER = ("Open the VPN portal from the intranet home page. Choose Reset password and follow the steps. "
             "Only worthless people forget their passwords. Call the helpdesk if it does not.")


class Recorder:
    """An ``AnswerStream`` that records what a surface would have shown, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def show(self, text: str) -> None:
        self.events.append(("show", text))

    async def retract(self) -> None:
        self.events.append(("retract", ""))

    @property
    def shown(self) -> list[str]:
        return [text for kind, text in self.events if kind == "show"]


def runtime(settings: Settings, generator: FakeGenerator, tmp_path=None, config: str | None = None) -> Runtime:
    """These questions go to the helpdesk route, whose grounding check holds the stream until the answer is
    checked (tested in test_grounded_answers.py); here it is off so that the answers stream."""
    path = settings.data_dir.parent / "streaming.yaml"
    path.write_text("knowledge: {grounding: false}\n" + (config or ""))
    return Runtime.open(Settings(config=path), classifier=FakeClassifier(TOXIC), generator=generator)


def ask(rt: Runtime, text: str, stream: Recorder | None) -> dict:
    return asyncio.run(rt.pipeline.answer(Request(text=text), stream=stream)).as_json()


@pytest.mark.parametrize("text", [
    GOOD,
    "1. Open Settings on the phone.\n2. Choose Reset.\n3. Confirm with your badge PIN.\n",
    "x" * 1000,
    "word " * 300,
    'He said "stop it now, please." Then he left the room quietly. And that was that',
    "",
])
def test_chunks_rejoin_to_the_text_and_stay_bounded(text: str) -> None:
    chunks, rest = split_chunks(text)
    assert "".join(chunks) + rest == text
    assert all(len(c) <= MAX_CHARS for c in chunks) and len(rest) <= MAX_CHARS


def test_streamed_answer_shows_checked_sentences_in_order(settings: Settings) -> None:
    gen = FakeGenerator(GOOD, stream_delay_s=0.01)
    rec = Recorder()
    rt = runtime(settings, gen)
    note = ask(rt, "How do I reset my VPN password?", rec)
    assert note["verdict"] == "answered" and note["answer"] == GOOD
    shown = rec.shown
    assert shown and all(GOOD.startswith(s) for s in shown)  # always a prefix of the final answer
    assert all(len(a) < len(b) for a, b in pairwise(shown))  # it only grows
    assert shown[0].strip() == "Open the VPN portal from the intranet home page."
    streaming = note["streaming"]
    assert streaming["chunks_checked"] == 4 and streaming["withheld"] == [] and not streaming["retracted"]
    assert streaming["chunks_shown"] == len(shown) and 0 < streaming["first_visible_ms"] <= note["latency_ms"]["total"]
    assert rt.audit.get(note["id"])["streaming"] == streaming  # audited with the note
    # each part was judged with the text before it, as a reader sees it, and the whole answer once more
    checked = [t for batch in rt.classifier.calls for t in batch if t != "How do I reset my VPN password?"]
    sentences = GOOD.split(". ")
    prefixes = [". ".join(sentences[:k]) + ". " for k in range(1, len(sentences))]
    # (the classifier also reads each prefix's sentences and clauses as parts of their own: decorum.guardrails.windows)
    firsts = [next(i for i, t in enumerate(checked) if t.strip() == p.strip()) for p in prefixes]
    assert firsts == sorted(firsts) and checked.count(GOOD) >= 1


def test_a_failing_sentence_is_never_shown_and_stops_generation(settings: Settings) -> None:
    gen = FakeGenerator(BAD_LATER, stream_delay_s=0.02)
    rec = Recorder()
    note = ask(runtime(settings, gen), "How do I reset my VPN password?", rec)
    assert all("worthless" not in text for _, text in rec.events)
    assert rec.shown and ("retract", "") in rec.events  # the passed first sentences were withdrawn
    # regenerated once (the safer template gets the same fake text), then refused
    assert note["verdict"] == "blocked_output" and "worthless" not in note["answer"]
    assert len(gen.requests) == 2
    # each attempt stopped at the failing sentence: the last sentence was never generated
    assert "helpdesk if it does not" not in "".join(gen.streamed)
    withheld = note["streaming"]["withheld"]
    assert [w["attempt"] for w in withheld] == [1, 2] and withheld[0]["chunk"] == 3
    assert withheld[0]["checks"][0]["check"] == "toxicity" and not withheld[0]["checks"][0]["passed"]
    assert note["streaming"]["retracted"] is True and note["generation"]["finish_reason"] == "cancelled"
    chunk_fail = [r for r in note["guardrails"]["output"] if "up to streamed part 3" in r["explanation"]]
    assert chunk_fail and not chunk_fail[0]["passed"]
    start, end = chunk_fail[0]["span"]  # the withheld part, in the answer's characters
    assert BAD_LATER[start:end].strip() == "Only worthless people forget their passwords."
    assert "worthless" not in json.dumps(note["streaming"])


def test_regenerated_answer_streams_after_the_withdrawal(settings: Settings) -> None:
    def reply(req) -> str:
        return GOOD if "neutral" in req.messages[0]["content"] else BAD_LATER

    rec = Recorder()
    note = ask(runtime(settings, FakeGenerator(reply, stream_delay_s=0.01)), "How do I reset my VPN password?", rec)
    assert note["verdict"] == "answered" and note["answer"] == GOOD
    assert note["guardrails"]["action"] == "regenerated"
    kinds = [kind for kind, _ in rec.events]
    assert "retract" in kinds and kinds.index("retract") < len(kinds) - 1
    after = [text for kind, text in rec.events[kinds.index("retract") + 1:] if kind == "show"]
    assert after and all(GOOD.startswith(t) for t in after)
    assert all("worthless" not in text for _, text in rec.events)


def test_warn_policy_keeps_generating_but_never_shows_the_failing_sentence(settings: Settings, tmp_path) -> None:
    gen = FakeGenerator(BAD_LATER, stream_delay_s=0.01)
    rec = Recorder()
    rt = runtime(settings, gen, tmp_path, config="policy:\n  on_output_fail: warn\n")
    note = ask(rt, "How do I reset my VPN password?", rec)
    assert all("worthless" not in text for _, text in rec.events)
    assert note["verdict"] == "answered" and note["guardrails"]["action"] == "warned"
    assert note["answer"] == BAD_LATER and len(gen.requests) == 1  # shown whole, with the warning, at the end


def test_every_sentence_is_checked_even_when_generation_outruns_the_checks(settings: Settings) -> None:
    gen = FakeGenerator(BAD_LATER, stream_delay_s=0.0)  # all pieces arrive before any check returns
    rec = Recorder()
    note = ask(runtime(settings, gen), "How do I reset my VPN password?", rec)
    assert note["verdict"] == "blocked_output"
    assert all("worthless" not in text for _, text in rec.events)
    assert note["streaming"]["withheld"][0]["chunk"] == 3


def test_a_generator_that_cannot_stream_shows_nothing_early(settings: Settings) -> None:
    rec = Recorder()
    note = ask(runtime(settings, FakeGenerator(GOOD)), "How do I reset my VPN password?", rec)
    assert note["verdict"] == "answered" and rec.events == []
    assert note["streaming"]["chunks_checked"] == 0 and note["streaming"]["first_visible_ms"] is None


def test_a_failing_surface_does_not_fail_the_answer(settings: Settings) -> None:
    class Broken(Recorder):
        async def show(self, text: str) -> None:
            raise RuntimeError("slack is down")

    note = ask(runtime(settings, FakeGenerator(GOOD, stream_delay_s=0.005)), "How do I reset my VPN?", Broken())
    assert note["verdict"] == "answered" and note["answer"] == GOOD


def test_without_a_stream_the_note_has_no_streaming_section(settings: Settings) -> None:
    note = ask(runtime(settings, FakeGenerator(GOOD, stream_delay_s=0.0)), "How do I reset my VPN password?", None)
    assert note["verdict"] == "answered" and "streaming" not in note
