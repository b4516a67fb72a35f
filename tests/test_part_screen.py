"""The part screen of long texts (decorum.guardrails.screen): which parts the full classifier reads.

Mechanism tests use a screen with hand-set weights over the real tokenizer and a fake classifier; the ``models``
tests use the committed screen and classifiers on texts written here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from decorum.guardrails.checks import ClassifierScores, Guardrails
from decorum.guardrails.classifier import ArtifactIntegrityError, StackedClassifier
from decorum.guardrails.policy import Policy
from decorum.guardrails.screen import BUCKETS, SCREEN_ARTIFACT, PartScreen, screen_for, screen_tokenizer
from tests.fakes import FakeClassifier
from tests.test_guardrail_parts import PAD

BENIGN = [
    "Can you book the small meeting room for Thursday at 2pm?",
    "The coffee machine on floor 3 is leaking again.",
    "Please send me the slides from the quarterly review.",
    "How do I add a shared calendar in Outlook?",
    "My monitor flickers when I plug in the dock.",
    "Who approves travel expenses over 500 euros?",
    "The wifi in the east wing drops every few minutes.",
    "Remind me to renew my parking permit next week.",
]


def hand_screen(words: dict[str, float], threshold: float = 0.0) -> PartScreen:
    """A screen whose only weights are on ``words``' tokens (everything else scores the bias, -5)."""
    tok = screen_tokenizer()
    weights = np.zeros(tok.get_vocab_size() + BUCKETS, dtype=np.float32)
    for word, w in words.items():
        for token_id in tok.encode(word, add_special_tokens=False).ids:
            weights[token_id] = w
    return PartScreen(weights, -5.0, threshold, tok, model_revision="0")


def long_text(bad: str) -> str:
    return " ".join(BENIGN[:4]) + " " + bad + " " + " ".join(BENIGN[4:])


def test_the_classifier_reads_what_the_screen_picks_and_the_worst_ranked() -> None:
    fake = FakeClassifier({"bleed": {"toxicity": 0.95}})
    scores = ClassifierScores(fake, screen=hand_screen({"bleed": 8.0}), screen_top_k=2)
    text = long_text("I will make you bleed.")
    [ts] = scores.score([text])
    assert ts.labels["toxicity"] == pytest.approx(0.95)
    assert text[slice(*ts.spans["toxicity"])] == "I will make you bleed."
    read = fake.calls[0]
    assert "I will make you bleed." in read and len(read) == 2  # above the threshold, and one more of the top 2
    assert len(read) < len(scores._windows(text))


def test_a_text_the_screen_clears_still_gets_a_score_from_the_classifier() -> None:
    fake = FakeClassifier()
    scores = ClassifierScores(fake, screen=hand_screen({}), screen_top_k=3)
    [ts] = scores.score([" ".join(BENIGN)])
    assert len(fake.calls[0]) == 3 and ts.labels["toxicity"] == pytest.approx(0.01)


def test_parts_naming_a_group_are_always_read() -> None:
    main, stereo = FakeClassifier(), FakeClassifier({"Women": {"bias": 0.8}})
    main.name, stereo.name = "main", "stereo"
    scores = ClassifierScores(StackedClassifier(main, stereo), screen=hand_screen({}), screen_top_k=1)
    text = long_text("Women make the best managers here.")
    [ts] = scores.score([text])
    assert ts.groups == ("women",) and ts.labels["bias"] == pytest.approx(0.8)
    assert any("Women" in part for part in main.calls[0])


def test_short_texts_never_meet_the_screen() -> None:
    fake = FakeClassifier()
    scores = ClassifierScores(fake, screen=hand_screen({}), screen_top_k=1)
    scores.score(["short one", "another short one"])
    assert fake.calls == [["short one", "another short one"]]


def test_a_screen_applies_only_to_the_model_it_was_distilled_from() -> None:
    fake = FakeClassifier()  # revision "0": not the committed main model
    assert screen_for(fake) is None
    g = Guardrails(Policy(), fake)
    assert g.scores.screen is None


def test_an_altered_screen_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "screen"
    shutil.copytree(SCREEN_ARTIFACT, copy)
    raw = bytearray((copy / "weights.npy").read_bytes())
    raw[-1] ^= 0xFF
    (copy / "weights.npy").write_bytes(bytes(raw))
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        PartScreen.load(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["weights_sha256"] = hashlib.sha256(bytes(raw)).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert PartScreen.load(copy).revision == manifest["weights_sha256"][:12]  # a consistent artifact loads


# --- the committed screen and classifiers ------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Guardrails:
    from decorum.guardrails.checks import default_guardrails

    return default_guardrails()


@pytest.mark.models
def test_the_served_guardrails_use_the_committed_screen(real: Guardrails) -> None:
    assert real.scores.screen is not None
    assert real.scores.screen.model_revision == real.scores.classifier.main.revision  # type: ignore[attr-defined]


@pytest.mark.models
@pytest.mark.parametrize("threat", [
    "People like you should die.",
    "I will find you after work and make you bleed.",
    "You are a worthless piece of garbage and everyone hates you.",
])
@pytest.mark.parametrize("where", [0, 5, 11])
def test_a_threat_in_a_long_message_is_read_and_blocked(real: Guardrails, threat: str, where: int) -> None:
    sentences = (PAD * 3).split(". ")
    text = ". ".join([*sentences[:where], threat.rstrip("."), *sentences[where:]])
    assert len(text) > 1200
    [results] = real.run([text], stage="input")
    toxicity = next(r for r in results if r.check == "toxicity")
    assert not toxicity.passed, (toxicity.score, toxicity.span)
    assert threat.rstrip(".") in text[slice(*toxicity.span)]


@pytest.mark.models
def test_the_screen_reads_fewer_parts_of_an_ordinary_long_message(real: Guardrails) -> None:
    parts = real.scores._windows(PAD * 4)
    texts = [(PAD * 4)[a:b] for a, b in parts]
    screen = real.scores.screen
    assert screen is not None
    picked = screen.must_read(texts, top_k=real.scores.screen_top_k)
    assert len(picked) < len(texts)


def test_batches_keep_short_parts_away_from_long_ones() -> None:
    from decorum.guardrails.classifier import length_batches

    lengths = [40, 45, 50, 52, 300, 320, 60]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = length_batches(order, lengths, batch_size=32)
    assert [sorted(lengths[i] for i in b) for b in batches] == [[40, 45, 50, 52, 60], [300, 320]]
    assert sum(len(b) for b in batches) == len(lengths)
    assert all(len(b) <= 2 for b in length_batches(order, lengths, batch_size=2))
