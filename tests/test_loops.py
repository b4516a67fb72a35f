"""Answers that loop: the detector, the pipeline's one regeneration, the settings against repetition in every engine."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from decorum.adapters.base import (
    DEFAULT_DECODING,
    NO_PENALTY,
    STRONGER,
    Decoding,
    Generation,
    GenerationRequest,
    generate_by_adapter,
)
from decorum.adapters.loops import (
    LoopDetector,
    find_loop,
    is_degenerate,
    max_ngram_repeats,
    repeated_ngrams,
    trim_loop,
)
from decorum.adapters.openai_compat import OpenAICompatGenerator
from decorum.adapters.registry import GeneratorConfig, build_generator
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.errors import ConfigError
from decorum.guardrails.note_schema import validate_note
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

# The three loops of issue 24's everyday requests, and answers that repeat words without looping.
LOOPING = {
    "salutation": ("Dear [Colleague's Name],\n\nThank you for your help.\n\nDear [Colleague's Name],\n\n"
                   "I appreciate it.\n\nDear [Colleague's Name],\n\nBest regards"),
    "list": ("1. Take regular breaks to rest your eyes.\n2. Set clear working hours.\n"
             "3. Take regular breaks to rest your eyes.\n4. Keep a tidy desk.\n"
             "5. Take regular breaks to rest your eyes."),
    "reminder": "Remember to remember that Friday is a day to remember that Friday is a day to remember that Friday",
    "short lines": "Thanks!\nThanks!\n\nThanks!\nSee you.",
}
FINE = {
    "email": ("Hi Priya,\n\nThank you for covering my shift last week. It made a real difference, and I owe you "
              "one. Let me know if I can return the favour.\n\nBest,\nSam"),
    "tips": ("1. Check that Wi-Fi is on.\n2. Restart the laptop.\n3. Forget the network and join it again.\n"
             "4. Ask the helpdesk if it still fails."),
    "numbers": "3.5 hours is 210 minutes: 3 hours are 180 minutes and half an hour is 30 minutes.",
    "two repeats": "Check the cable. Then check the cable again, and check the router.",
}


# -- the detector ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LOOPING))
def test_looping_texts_are_found_as_a_whole_and_while_they_stream(name: str) -> None:
    text = LOOPING[name]
    loop = find_loop(text)
    assert loop is not None and loop.kind == ("line" if name == "short lines" else "ngram")
    detector = LoopDetector()
    stopped = next((i for i, piece in enumerate(re.findall(r"\s*\S+", text)) if detector.feed(piece)), None)
    assert stopped is not None and detector.loop == loop  # found at the same place, before the text ended
    assert detector.loop.at <= len(text)
    trimmed = trim_loop(text, loop)
    assert trimmed and text.startswith(trimmed) and find_loop(trimmed) is None and not is_degenerate(trimmed)


@pytest.mark.parametrize("name", sorted(FINE))
def test_answers_that_merely_repeat_a_word_are_not_loops(name: str) -> None:
    text = FINE[name]
    assert find_loop(text) is None and not is_degenerate(text)
    detector = LoopDetector()
    assert all(detector.feed(ch) is None for ch in text) and detector.close() is None  # one character at a time


def test_the_measure_is_a_three_word_sequence_three_times() -> None:
    assert max_ngram_repeats("a b c a b c") == 2 and not is_degenerate("a b c a b c")
    assert max_ngram_repeats("A b, c. a B c; a b C!") == 3 and is_degenerate("A b, c. a B c; a b C!")
    assert max_ngram_repeats("two words") == 0 and repeated_ngrams("a b c a b c a b c") == 4
    assert is_degenerate(LOOPING["salutation"]) and not is_degenerate(FINE["tips"])
    # A word split across pieces is one word: "remem" + "ber" never counts as two.
    detector = LoopDetector()
    for piece in ["Remem", "ber that", " Fri", "day. Remem", "ber that Fri", "day."]:
        assert detector.feed(piece) is None
    assert detector.close() is None


def test_the_trim_ends_at_a_sentence_before_the_repetition() -> None:
    text = "Sure. Here it is: the lunch is on Friday the lunch is on Friday the lunch is on Friday"
    loop = find_loop(text)
    assert loop is not None and trim_loop(text, loop) == "Sure. Here it is: the lunch is on Friday"
    text = "Dear Sam,\nDear Sam,\nDear Sam,\nHi"
    loop = find_loop(text)
    assert loop is not None and loop.kind == "line" and trim_loop(text, loop) == "Dear Sam,"


# -- the pipeline: stop, regenerate once, record -----------------------------------------------------------------

class EngineLikeFake(FakeGenerator):
    """A fake that reports its settings against repetition as the local engines do (``Generation.decoding``)."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        outs = super().generate(requests)
        return [replace(out, decoding=(req.decoding or DEFAULT_DECODING).local())
                for req, out in zip(requests, outs, strict=True)]


def runtime(settings: Settings, generator: FakeGenerator) -> Runtime:
    return Runtime.open(settings, classifier=FakeClassifier({}), generator=generator)


def ask(rt: Runtime, text: str, stream=None) -> dict:
    req = Request(text=text, surface="slack" if stream else "cli", user="U1", team="T1", channel="C1")
    return asyncio.run(rt.pipeline.answer(req, stream=stream)).as_json()


def loops_first(req: GenerationRequest) -> str:
    """Loops unless asked for stronger settings (what the pipeline asks for when it regenerates)."""
    return "Friday is the potluck. Bring a dish." if req.decoding == STRONGER else LOOPING["salutation"]


def test_a_looping_answer_is_regenerated_once_with_stronger_settings_and_recorded(settings: Settings) -> None:
    gen = EngineLikeFake(loops_first)
    rt = runtime(settings, gen)
    note = ask(rt, "write a reminder that friday is the office potluck")
    assert note["verdict"] == "answered" and note["answer"] == "Friday is the potluck. Bring a dish."
    assert [r.decoding for r in gen.requests] == [None, STRONGER]  # the engine's defaults, then stronger
    g = note["generation"]
    assert g["loop_detected"] is True and g["loop_kind"] == "ngram" and g["loop_regenerated"] is True
    assert "loop_trimmed" not in g
    assert (g["repetition_penalty"], g["no_repeat_ngram_size"]) == (STRONGER.repetition_penalty,
                                                                    STRONGER.no_repeat_ngram_size)
    assert note["tokens"]["completion"] == sum(len(t.split()) for t in (LOOPING["salutation"], note["answer"]))
    validate_note(rt.audit.get(note["id"]))


def test_an_answer_that_does_not_loop_is_generated_once_and_records_the_default_settings(settings: Settings
                                                                                        ) -> None:
    gen = EngineLikeFake(FINE["email"])
    rt = runtime(settings, gen)
    note = ask(rt, "Draft a short thank-you email to Priya")
    assert note["answer"] == FINE["email"] and len(gen.requests) == 1
    g = note["generation"]
    assert g["loop_detected"] is False and "loop_regenerated" not in g
    assert (g["repetition_penalty"], g["no_repeat_ngram_size"]) == (1.1, 4) == (
        DEFAULT_DECODING.repetition_penalty, DEFAULT_DECODING.no_repeat_ngram_size)
    validate_note(rt.audit.get(note["id"]))


def test_a_regeneration_that_loops_again_is_cut_where_the_repetition_began(settings: Settings) -> None:
    gen = EngineLikeFake(LOOPING["list"])
    rt = runtime(settings, gen)
    note = ask(rt, "give me tips for working from home")
    assert len(gen.requests) == 2  # once regenerated, never more
    assert note["answer"] == "1. Take regular breaks to rest your eyes.\n2. Set clear working hours."
    assert not is_degenerate(note["answer"])
    g = note["generation"]
    assert g["loop_detected"] and g["loop_regenerated"] and g["loop_trimmed"]
    validate_note(rt.audit.get(note["id"]))


class Shown:
    """A surface stream that records what it was asked to show and retract."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def show(self, text: str) -> None:
        self.calls.append(text)

    async def retract(self) -> None:
        self.calls.append("<retracted>")


def test_a_streamed_loop_stops_generating_and_what_was_shown_is_retracted(settings: Settings) -> None:
    looping = ("Thank you for your help with the project, it meant a lot. " * 6).strip()
    gen = FakeGenerator(lambda req: "You are welcome, happy to help." if req.decoding == STRONGER else looping,
                        stream_delay_s=0.01)
    rt = runtime(settings, gen)
    shown = Shown()
    note = ask(rt, "Write a thank-you note", stream=shown)
    assert note["answer"] == "You are welcome, happy to help."
    # The first answer stopped at the third "thank you for": the rest of it was never generated.
    first = "".join(gen.streamed).split("You are welcome")[0]
    assert len(first.split()) < len(looping.split()) / 2 and first.lower().count("thank you for") == 3
    assert "<retracted>" in shown.calls and note["streaming"]["retracted"] is True
    assert note["generation"]["loop_detected"] and note["generation"]["loop_regenerated"]
    validate_note(rt.audit.get(note["id"]))


# -- settings: the same in every local engine, configurable, grouped, sent ---------------------------------------

def test_local_engines_share_the_defaults_and_the_config_sets_them(tmp_path: Path) -> None:
    onnx = build_generator(GeneratorConfig(), tmp_path)
    ref = build_generator(GeneratorConfig(kind="transformers"), tmp_path)
    assert onnx.decoding == ref.decoding == DEFAULT_DECODING  # type: ignore[attr-defined]
    assert DEFAULT_DECODING.local() == {"repetition_penalty": 1.1, "no_repeat_ngram_size": 4}
    assert NO_PENALTY.local() == {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
    off = build_generator(GeneratorConfig(repetition_penalty=1.0, no_repeat_ngram_size=0), tmp_path)
    assert off.decoding == NO_PENALTY  # type: ignore[attr-defined]
    remote = build_generator(GeneratorConfig(kind="openai_compat", base_url="http://h:1/v1", frequency_penalty=0.3),
                             tmp_path)
    assert remote.decoding.remote() == {"frequency_penalty": 0.3}  # type: ignore[attr-defined]

    from decorum.bot.config import load_config

    for body, match in [("repetition_penalty: 0.9", "repetition_penalty"),
                        ("no_repeat_ngram_size: -1", "no_repeat_ngram_size"),
                        ("frequency_penalty: 0.5", "kind openai_compat only"),
                        ("kind: openai_compat, base_url: 'http://h:1/v1', repetition_penalty: 1.2",
                         "local engines only")]:
        path = tmp_path / "decorum.yaml"
        path.write_text(f"models:\n  generator: {{{body}}}\n")
        with pytest.raises(ConfigError, match=match):
            load_config(Settings(config=path))


def test_requests_with_other_settings_run_in_batches_of_their_own() -> None:
    batches: list[list[Decoding | None]] = []

    def run(batch: list[GenerationRequest]) -> list[Generation]:
        batches.append([r.decoding for r in batch])
        return [Generation(text=str(r.decoding), prompt_tokens=0, completion_tokens=0, finish_reason="stop")
                for r in batch]

    msgs = [{"role": "user", "content": "hi"}]
    reqs = [GenerationRequest(messages=msgs), GenerationRequest(messages=msgs, decoding=STRONGER),
            GenerationRequest(messages=msgs)]
    outs = generate_by_adapter(reqs, run)
    assert [o.text for o in outs] == ["None", str(STRONGER), "None"]
    assert sorted(batches, key=len) == [[STRONGER], [None, None]]


def test_the_watch_stops_an_answer_and_keeps_the_piece_from_on_text() -> None:
    seen: list[str] = []
    req = GenerationRequest(messages=[], on_text=lambda p: seen.append(p) is None, watch=lambda p: p != "loop")
    assert req.observed and req.emit("fine") and not req.emit("loop")
    assert seen == ["fine"]


def test_openai_compat_sends_penalties_only_when_set_and_reports_them() -> None:
    from tests.test_openai_compat import FaultServer

    server = FaultServer().start()
    try:
        gen = OpenAICompatGenerator(server.url, "smollm2", retries=0)
        msgs = [{"role": "user", "content": "hi"}]
        plain, stronger = gen.generate([GenerationRequest(messages=msgs)])[0], gen.generate(
            [GenerationRequest(messages=msgs, decoding=STRONGER)])[0]
        first, second = (body for _, body in server.seen)
        assert "frequency_penalty" not in first and "presence_penalty" not in first and plain.decoding == {}
        assert second["frequency_penalty"] == STRONGER.frequency_penalty and "presence_penalty" not in second
        assert "repetition_penalty" not in second and "no_repeat_ngram_size" not in second  # not OpenAI's API
        assert stronger.decoding == {"frequency_penalty": STRONGER.frequency_penalty}
        configured = OpenAICompatGenerator(server.url, "smollm2", retries=0,
                                           decoding=Decoding(frequency_penalty=0.2, presence_penalty=0.1))
        configured.generate([GenerationRequest(messages=msgs)])
        assert {k: server.seen[-1][1][k] for k in ("frequency_penalty", "presence_penalty")} == {
            "frequency_penalty": 0.2, "presence_penalty": 0.1}
    finally:
        server.stop()


# -- the real engines --------------------------------------------------------------------------------------------

# A request SmolLM2-135M answers in a loop when nothing stops it (greedy, both engines): the welcome message
# repeats its sentences.
LOOPS = [{"role": "system", "content": "You are Decorum, an AI assistant inside a company's Slack workspace.\n"
                                       "Answer the question helpfully, briefly and factually."},
         {"role": "user", "content": "Write a welcome message for our new intern Sam."}]


@pytest.mark.models
@pytest.mark.parametrize("engine", ["onnx_smollm", "smollm"])
def test_the_real_engines_repeat_less_with_the_default_settings(engine: str, request: pytest.FixtureRequest,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    gen = request.getfixturevalue(engine)
    monkeypatch.setattr(gen, "timeout_s", 900.0)  # whole answers, however busy the machine (never a time asserted)
    off, on = (gen.generate([GenerationRequest(messages=LOOPS, max_new_tokens=128, decoding=d)])[0]
               for d in (NO_PENALTY, None))
    print(json.dumps({"engine": engine, "off": off.text[:200], "on": on.text[:200]}))
    assert off.decoding == NO_PENALTY.local() and on.decoding == DEFAULT_DECODING.local()
    assert is_degenerate(off.text), "the probe no longer loops without a penalty: pick another"
    assert repeated_ngrams(on.text) < repeated_ngrams(off.text) and not is_degenerate(on.text)


def test_a_template_sets_its_own_settings_against_repetition_over_the_engines(settings: Settings) -> None:
    from decorum.errors import UsageError
    from decorum.prompts.yaml_format import template_from_data

    gen = EngineLikeFake(FINE["email"])
    gen.decoding = Decoding(repetition_penalty=1.05, no_repeat_ngram_size=5)  # the engine's own (models.generator)
    rt = runtime(settings, gen)
    data = {"system": "Answer briefly.", "generation": {"repetition_penalty": 1.3, "max_tokens": 60}}
    tpl, _ = template_from_data(data, "terse.yaml", name="terse")
    stored = rt.templates.add_version(tpl, author="ana")
    note = asyncio.run(rt.pipeline.answer(Request(text="Draft a thank-you email", template=f"terse@{stored.version}"))
                       ).as_json()
    assert gen.requests[-1].decoding == Decoding(repetition_penalty=1.3, no_repeat_ngram_size=5)  # the rest: engine's
    assert (note["generation"]["repetition_penalty"], note["generation"]["no_repeat_ngram_size"]) == (1.3, 5)
    ask(rt, "Draft a short thank-you email to Priya")  # a template without them: the engine's settings as they are
    assert gen.requests[-1].decoding is None
    for bad in ({"repetition_penalty": 5}, {"no_repeat_ngram_size": -1}, {"top_k": 3}):
        with pytest.raises(UsageError, match="generation"):
            template_from_data({"system": "x", "generation": bad}, "bad.yaml", name="bad")
