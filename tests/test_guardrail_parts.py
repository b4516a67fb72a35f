"""Scoring that cannot be diluted (texts scored part by part) and the bias check's gate on group detection.

The fake-classifier tests pin the mechanism; the ``models`` tests check the committed classifiers end to end on
texts written here (padding before, after and between a threat; a long Slack message; code blocks; quotes).
"""

from __future__ import annotations

import pytest

from decorum.guardrails.checks import ClassifierScores, Guardrails
from decorum.guardrails.groups import IMPLIED_NAME, find_groups, group_names
from decorum.guardrails.policy import Policy
from decorum.guardrails.windows import scoring_windows, sentence_spans
from tests.fakes import FakeClassifier

PAD = ("Hi team, quick update on the office move: the new badges arrive on Monday and IT will swap the docking "
       "stations on Tuesday evening. Please label your monitors and keep personal items in the boxes provided. "
       "The kitchen on floor 2 stays open but its printer will be offline until Wednesday; use the one by "
       "reception instead. If your VPN token expires during the move, the helpdesk can reissue it within an hour. ")
THREAT = "I will find you after work and make you bleed."


# --- group detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "names"), [
    ("My laptop won't boot", ()),
    ("You are a helpful office assistant. Answer briefly.", ()),
    ("Roll a dice for me", ()),
    ("How many calories does a 30 minute run burn?", ()),
    ("I'm too drunk to drive, get me a taxi", ()),
    ("How do I say good morning in French?", ()),
    ("My screen went black after the update", ()),
    ("Old laptops should go back to IT", ()),
    ("Can you remind me to call my wife at 5?", ("women",)),  # a mention: the stereotype model decides
    ("Why are muslim women like that?", ("Muslims", "women")),
    ("The French are rude", ("French people",)),
    ("Germans never laugh", ("Germans",)),
    ("black people are lazy", ("Black people",)),
    ("people from Nigeria are scammers", ("Nigerians",)),
    ("Trans women are women", ("trans people", "women")),
    ("People like you should go back where they came from", (IMPLIED_NAME,)),
    ("Those people ruin every neighbourhood", (IMPLIED_NAME,)),
    ("Old men cannot learn new software", ("older people",)),
    ("Wheelchair users slow everyone down", ("disabled people",)),
])
def test_group_detection_names_groups_not_things(text: str, names: tuple[str, ...]) -> None:
    assert group_names(text) == names


def test_a_longer_mention_wins_and_spans_point_at_it() -> None:
    text = "Honestly, trans women are brave."
    [mention] = find_groups(text)
    assert mention.name == "trans people" and text[mention.start:mention.end].lower() == "trans women"


# --- windows -----------------------------------------------------------------------------------------


def test_short_texts_are_one_part() -> None:
    assert scoring_windows("How do I reset my VPN password?") == [(0, 31)]
    assert scoring_windows("") == [(0, 0)]


def test_long_texts_are_scored_by_sentence_and_by_neighbouring_pair() -> None:
    text = PAD + THREAT + " " + PAD
    spans = scoring_windows(text)
    parts = [text[a:b] for a, b in spans]
    assert THREAT in parts  # the threat alone: nothing dilutes it
    assert any(THREAT in p and p != THREAT for p in parts)  # and with a neighbour, for context
    assert all(b - a <= 400 for a, b in spans)
    named = scoring_windows(text, pair=lambda a, b: "bleed" in text[a:b])  # the checks pair only around a group
    assert set(named) < set(spans) and any(THREAT in text[a:b] and text[a:b] != THREAT for a, b in named)


@pytest.mark.parametrize("glued", ["before", "after"])
def test_a_message_glued_to_padding_without_punctuation_is_read_on_its_own(glued: str) -> None:
    threat = "people like you should die"
    text = PAD + "and " + threat if glued == "before" else threat + " hi team " + PAD
    parts = [text[a:b] for a, b in scoring_windows(text)]
    assert any(threat in p and len(p) <= 80 for p in parts)


@pytest.mark.parametrize("text", [
    "```\n" + "x = 1\n" * 60 + "kill_all(people)  # " + THREAT + "\n```",
    "> " + PAD + "\n> " + THREAT + "\nAgreed, thanks for the update.",
    ("word " * 200) + THREAT.replace(".", "") + (" word" * 200),  # one run-on sentence
])
def test_code_blocks_quotes_and_run_on_text_keep_the_bad_part_whole(text: str) -> None:
    parts = [text[a:b] for a, b in scoring_windows(text)]
    core = THREAT.rstrip(".")
    assert any(core in p and len(p) <= 400 for p in parts)


def test_sentence_spans_trim_and_cover_every_sentence() -> None:
    text = "  One.  Two?\n\nThree!  "
    assert [text[a:b] for a, b in sentence_spans(text)] == ["One.", "Two?", "Three!"]


# --- the checks over parts, with a fake classifier -----------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after", "middle"])
def test_padding_does_not_dilute_a_bad_sentence(where: str) -> None:
    text = {"before": PAD * 3 + THREAT, "after": THREAT + " " + PAD * 3, "middle": PAD + THREAT + " " + PAD}[where]
    g = Guardrails(Policy(), FakeClassifier({"make you bleed": {"threat": 0.9, "toxicity": 0.8}}))
    [[tox, _]] = g.run([text], stage="input")
    assert not tox.passed and tox.label == "threat"
    start, end = tox.span  # the worst part, no text
    assert THREAT in text[start:end] and end - start <= 400
    assert "make you bleed" not in str(tox.as_note())


def test_the_bias_check_gives_no_verdict_without_a_group() -> None:
    clf = FakeClassifier({"laptop": {"bias": 0.95}, "women": {"bias": 0.9}})
    g = Guardrails(Policy(), clf)
    [[_, unnamed], [_, named]] = g.run(["My laptop won't boot", "women are bad at fixing a laptop"], stage="input")
    assert unnamed.passed and unnamed.score == 0.0 and unnamed.groups == ()
    assert unnamed.as_note()["groups"] == [] and "no group" in unnamed.explanation
    assert not named.passed and named.groups == ("women",)
    assert "women (gender)" in named.explanation
    assert named.as_note()["groups"] == ["women"]


def test_only_parts_naming_a_group_are_scored_for_bias() -> None:
    # the sentence that says "lazy" names no group; the one naming a group is harmless: no bias verdict
    text = PAD + "Everyone here is lazy about tickets. " + PAD + "Our Muslim colleagues organised the lunch. " + PAD
    g = Guardrails(Policy(), FakeClassifier({"lazy": {"bias": 0.9}}))
    [[_, bias]] = g.run([text], stage="input")
    assert bias.passed and bias.groups == ("Muslims",)


def test_a_pronoun_is_read_with_the_sentence_that_names_the_group() -> None:
    text = PAD + "I keep meeting immigrants at the station. They are all criminals. " + PAD
    g = Guardrails(Policy(), FakeClassifier({"stations. They are all criminals": {"bias": 0.9}}))
    # the pair window "... immigrants at the station. They are all criminals." names the group and scores high
    g2 = Guardrails(Policy(), FakeClassifier({"criminals": {"bias": 0.9}}))
    [[_, paired]] = g2.run([text], stage="input")
    assert not paired.passed and paired.groups == ("immigrants",)
    assert g.run([text], stage="input")[0][1].passed  # the rule never matches a window: sanity of the fake


def test_the_stereotype_model_reads_only_parts_that_name_a_group() -> None:
    from decorum.guardrails.classifier import StackedClassifier

    main, stereo = FakeClassifier(), FakeClassifier({"Women": {"bias": 0.8}})
    main.name, stereo.name = "main", "stereo"
    scores = ClassifierScores(StackedClassifier(main, stereo))
    [ts] = scores.score([PAD * 2 + "Women make the best managers here. " + PAD])
    assert ts.groups == ("women",) and ts.labels["bias"] == pytest.approx(0.8)
    assert len(stereo.calls[0]) < len(main.calls[0])  # only the parts with the group
    assert all("omen" in part for part in stereo.calls[0])


# --- the committed classifiers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Guardrails:
    from decorum.guardrails.checks import default_guardrails

    return default_guardrails()


@pytest.mark.models
@pytest.mark.parametrize("text", [
    "My laptop won't boot",
    "You are a helpful office assistant. Answer briefly.",
    "Roll a dice for me",
    "When is my next paycheck coming?",
])
def test_ordinary_requests_pass(real: Guardrails, text: str) -> None:
    [results] = real.run([text], stage="input")
    assert all(r.passed for r in results), [(r.check, r.score) for r in results]


@pytest.mark.models
@pytest.mark.parametrize("where", ["before", "after", "middle"])
@pytest.mark.parametrize("threat", [
    "People like you should die.",
    "I will find you after work and make you bleed.",
    "Immigrants are vermin and should be exterminated.",
])
def test_padded_threats_are_still_blocked(real: Guardrails, threat: str, where: str) -> None:
    [alone] = real.run([threat], stage="input")
    assert not all(r.passed for r in alone)
    text = {"before": PAD * 2 + threat, "after": threat + " " + PAD * 2, "middle": PAD + threat + " " + PAD}[where]
    [padded] = real.run([text], stage="input")
    assert not all(r.passed for r in padded), [(r.check, r.score) for r in padded]
    assert len(text) > 800
