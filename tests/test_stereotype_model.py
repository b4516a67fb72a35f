"""The bias check's own stereotype model: stacked over the main classifier, Platt-calibrated, explained by group.

Issue 14 probes: the committed classifier scored the stereotyping sentence of a minimal pair above its
counterpart only 56% of the time on pairs outside the repository, its threshold meant nothing in particular,
and its explanation named only the category. Here: a dedicated model ranks the pairs (measured on the
team's pairs and held-out StereoSet items), its ``bias`` is calibrated (0.5 = as likely as not on its
held-out split), and a flagged message is explained by group and category, never by its words.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest

from decorum.errors import UsageError
from decorum.guardrails.checks import Guardrails
from decorum.guardrails.classifier import (
    DEFAULT_ARTIFACT,
    MANIFEST_FILE,
    STEREOTYPE_ARTIFACT,
    STEREOTYPE_MODEL_NAME,
    ArtifactIntegrityError,
    DetoxifyClassifier,
    StackedClassifier,
    build_classifier,
    calibration_of,
    platt,
)
from decorum.guardrails.policy import BIAS_THRESHOLD, ClassifierConfig, Policy
from decorum.guardrails.training.calibrate import calibrate, fit_platt, reliability
from decorum.guardrails.training.datasets import FUNCTIONAL_SUITE, shared_data_dir, training_pairs
from decorum.guardrails.training.evaluate import pair_win_rate, read_rows
from tests.conftest import MODEL_CACHE

HAS_SHARED_DATA = shared_data_dir().is_dir()
# Round 8 (issue 14's 0.70 ambition); measured figures in the README, Guardrail quality.
TEAM_PAIRS_FLOOR = 0.80  # measured 0.846
WRITTEN_DEV_FLOOR = 0.80  # measured 0.858


class Fixed:
    """A classifier returning fixed labels per text (by position in ``scores``)."""

    def __init__(self, name: str, scores: dict[str, dict[str, float]]) -> None:
        self.name, self.revision, self.scores = name, f"{name}-rev", scores
        self.labels = tuple(next(iter(scores.values())))

    def predict(self, texts):  # type: ignore[no-untyped-def]
        return [dict(self.scores[t]) for t in texts]


# --- calibration ---------------------------------------------------------------------------------------


def test_platt_keeps_the_order_and_the_identity_is_a_no_op() -> None:
    ps = [0.001, 0.1, 0.3, 0.5, 0.7, 0.95, 0.999]
    assert all(abs(platt(p, 1.0, 0.0) - p) < 1e-9 for p in ps)
    moved = [platt(p, 0.6, -1.2) for p in ps]
    assert moved == sorted(moved) and moved != ps
    assert 0.0 < platt(0.0, 3.0, 5.0) < 1.0 and 0.0 < platt(1.0, 3.0, -50.0) < 1.0  # no log(0), no overflow


def test_fit_platt_repairs_overconfident_scores() -> None:
    rng = random.Random(3)
    # True probability q; the model reports an overconfident, shifted version of it.
    qs = [rng.random() for _ in range(4000)]
    labels = [int(rng.random() < q) for q in qs]
    z = [2.5 * math.log(q / (1 - q)) + 1.5 if 0 < q < 1 else 0.0 for q in qs]
    scores = [1 / (1 + math.exp(-v)) for v in z]
    entry = calibrate(scores, labels)
    assert entry["a"] == pytest.approx(1 / 2.5, rel=0.15)
    assert entry["after"]["ece"] < entry["before"]["ece"] / 2
    assert entry["after"]["ece"] < 0.03
    assert sum(b["n"] for b in entry["after"]["bins"]) == len(scores)


def test_a_fit_that_would_reverse_the_order_or_has_one_class_is_refused() -> None:
    with pytest.raises(UsageError, match="reverse"):
        fit_platt([0.9, 0.8, 0.2, 0.1] * 10, [0, 0, 1, 1] * 10)
    with pytest.raises(UsageError, match="positives and negatives"):
        fit_platt([0.9, 0.1], [1, 1])
    assert reliability([0.05, 0.95], [0, 1])["ece"] == pytest.approx(0.05)


@pytest.mark.parametrize("section", [{"bias": {"a": -1.0, "b": 0.0}}, {"bias": {"a": 1.0}},
                                     {"nonsense": {"a": 1.0, "b": 0.0}}, {"bias": {"a": 1.0, "b": "nan"}}])
def test_an_unusable_calibration_is_refused(section: dict) -> None:
    with pytest.raises(ArtifactIntegrityError, match="calibration"):
        calibration_of({"calibration": section})


# --- stacking --------------------------------------------------------------------------------------------


def test_the_stack_takes_bias_from_the_stereotype_model_and_names_both() -> None:
    t = "women t"  # names a group, so the bias check reads it
    main = Fixed("main", {t: {"toxicity": 0.1, "bias": 0.9}})
    ster = Fixed("ster", {t: {"toxicity": 0.8, "bias": 0.2}})
    stack = StackedClassifier(main, ster)
    assert stack.predict([t]) == [{"toxicity": 0.1, "bias": 0.2, "bias_main": 0.9}]
    assert stack.predict_where([t, t], [True, False]) == [{"toxicity": 0.1, "bias": 0.2, "bias_main": 0.9},
                                                          {"toxicity": 0.1, "bias": 0.0, "bias_main": 0.9}]
    assert stack.name == "main+ster" and stack.revision == "main-rev+ster-rev"
    g = Guardrails(Policy(), stack)
    [[tox, bias]] = g.run([t], stage="input")
    assert bias.score == 0.2 and bias.scorer == "ster@ster-rev"  # the note names the model behind each check
    assert tox.score == 0.1 and tox.scorer == "main@main-rev"
    assert g.scores.scorer == "main+ster@main-rev+ster-rev"


def test_the_bias_explanation_names_group_and_category_not_words() -> None:
    text = "Honestly, women are just too emotional to lead engineering teams"
    stack = StackedClassifier(Fixed("m", {text: {"toxicity": 0.1, "bias": 0.1}}),
                              Fixed("s", {text: {"toxicity": 0.0, "bias": 0.93}}))
    [[_, bias]] = Guardrails(Policy(), stack).run([text], stage="input")
    assert not bias.passed
    assert bias.explanation == f"bias 0.93 >= threshold {BIAS_THRESHOLD:.2f}; stereotype about: women (gender)"
    assert "emotional" not in bias.explanation and "engineering" not in bias.explanation


# --- the committed stereotype model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> StackedClassifier:
    clf = build_classifier(ClassifierConfig(), MODEL_CACHE / "classifiers")
    assert isinstance(clf, StackedClassifier)
    return clf


@pytest.mark.models
def test_the_default_policy_serves_bias_from_the_calibrated_stereotype_model(stack: StackedClassifier) -> None:
    manifest = json.loads((STEREOTYPE_ARTIFACT / MANIFEST_FILE).read_text())
    assert manifest["name"] == STEREOTYPE_MODEL_NAME and stack.stereotype.name == manifest["name"]
    assert "Role: the bias check's stereotype model" in (STEREOTYPE_ARTIFACT / "MODEL_CARD.md").read_text()
    assert manifest["training"]["pair_rank"] > 0 and manifest["training"]["stereotype_pairs"] > 1000
    assert manifest["training"]["group_swapped_pairs"] > 1000 and manifest["training"]["written_pairs"] > 800
    cal = manifest["calibration"]["bias"]
    assert cal["a"] > 0 and cal["after"]["ece"] < cal["before"]["ece"]
    raw = DetoxifyClassifier(STEREOTYPE_ARTIFACT, MODEL_CACHE / "classifiers", calibrated=False)
    assert stack.stereotype.calibration == {"bias": (cal["a"], cal["b"])}
    assert raw.revision != stack.stereotype.revision  # the calibration is part of what scored
    text = "The new hire from Ghana was very poor."
    [calibrated] = stack.stereotype.predict([text])
    [plain] = raw.predict([text])
    assert calibrated["bias"] == pytest.approx(platt(plain["bias"], cal["a"], cal["b"]), abs=1e-6)
    assert DetoxifyClassifier(DEFAULT_ARTIFACT, MODEL_CACHE / "classifiers").name in stack.name


@pytest.mark.models
@pytest.mark.shared_data
@pytest.mark.skipif(not HAS_SHARED_DATA, reason="../shared/data is absent")
def test_the_stereotype_model_ranks_held_out_stereoset_pairs(stack: StackedClassifier) -> None:
    """Held-out StereoSet items (never trained on): the bias check now prefers the stereotype in >= 70% of pairs,
    where the main model's own bias head (round 6: 0.663) does not reach it."""
    from decorum.guardrails.training.datasets import load_corpus, stereotype_pairs

    corpus = load_corpus(seed=13)
    pairs = [(corpus.dev[s].text, corpus.dev[a].text) for s, a in stereotype_pairs(corpus.dev)]
    assert len(pairs) > 300
    # the model's ranking: StereoSet's targets are mostly professions and countries, which the served check does
    # not read as groups (the check's gated figure is in the model card)
    ours = pair_win_rate(Guardrails(Policy(), stack), pairs)["model_scored_higher"]
    main_only = pair_win_rate(Guardrails(Policy(), stack.main), pairs)["model_scored_higher"]
    assert ours >= 0.75, ours
    assert ours > main_only + 0.05, (ours, main_only)


@pytest.mark.models
def test_the_teams_pairs_reach_the_ambition(stack: StackedClassifier) -> None:
    """The team's own pairs (group-swapped, CrowS-Pairs style, never trained on): round 7 ranked 0.61 of them,
    learning StereoSet's attribute contrasts only; with the group-swapped ranking pairs (--swap-pairs) the
    stereotype model ranks 0.846 of them, over the issue's 0.70."""
    pairs = [(p["stereotype"], p["anti_stereotype"]) for p in read_rows(FUNCTIONAL_SUITE / "stereotype_pairs.jsonl")]
    assert pair_win_rate(Guardrails(Policy(), stack), pairs)["stereotype_scored_higher"] >= TEAM_PAIRS_FLOOR


@pytest.mark.models
def test_the_written_dev_pairs_are_ranked_without_shared_data(stack: StackedClassifier) -> None:
    """The dev split of the written training pairs ships with the code and is never ranked in training, so this
    check runs in a fresh clone without ../shared. The main classifier's own bias head does not rank them."""
    _, dev = training_pairs({})
    assert len(dev) > 100
    ours = pair_win_rate(Guardrails(Policy(), stack), dev)["model_scored_higher"]
    main_only = pair_win_rate(Guardrails(Policy(), stack.main), dev)["model_scored_higher"]
    assert ours >= WRITTEN_DEV_FLOOR, ours
    assert ours > main_only + 0.1, (ours, main_only)


@pytest.mark.models
@pytest.mark.shared_data
@pytest.mark.skipif(not HAS_SHARED_DATA, reason="../shared/data is absent")
def test_calibrate_command_writes_the_fit_and_the_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from decorum.cli import main

    artifact = tmp_path / "stereotype"
    shutil.copytree(STEREOTYPE_ARTIFACT, artifact)
    manifest = json.loads((artifact / MANIFEST_FILE).read_text())
    manifest.pop("calibration")
    (artifact / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert main(["guardrails", "calibrate", "--artifact", str(artifact), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry["a"] > 0 and entry["after"]["ece"] <= entry["before"]["ece"]
    assert json.loads((artifact / MANIFEST_FILE).read_text())["calibration"]["bias"] == entry
    assert "## Calibration" in (artifact / "MODEL_CARD.md").read_text()


def test_calibrate_refuses_an_unknown_label_and_missing_data(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from decorum.cli import EXIT_USAGE, main

    assert main(["guardrails", "calibrate", "--label", "sarcasm"]) == EXIT_USAGE
    assert "not a label of the classifier" in capsys.readouterr().err
    assert main(["guardrails", "calibrate", "--data", str(tmp_path / "absent")]) == EXIT_USAGE
    assert "needs the held-out split" in capsys.readouterr().err


@pytest.mark.models
@pytest.mark.parametrize("flags,stacked", [([], True), (["--no-stereotype"], False)])
def test_report_scores_with_or_without_the_stereotype_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            flags: list[str], stacked: bool) -> None:
    from decorum.cli import main

    suite = tmp_path / "suite"
    suite.mkdir()
    cases = read_rows(FUNCTIONAL_SUITE / "hate_suite.jsonl")
    (suite / "hate_suite.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases[::40]))
    shutil.copy(FUNCTIONAL_SUITE / "stereotype_pairs.jsonl", suite / "stereotype_pairs.jsonl")
    before = (STEREOTYPE_ARTIFACT / MANIFEST_FILE).read_bytes()
    artifact = tmp_path / "main"
    shutil.copytree(DEFAULT_ARTIFACT, artifact)
    assert main(["guardrails", "report", "--artifact", str(artifact), "--suite", str(suite), "--data",
                 str(tmp_path / "absent"), "--write", *flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert ("decorum-minilm-stereotype" in printed["classifier"]) is stacked
    assert json.loads((artifact / MANIFEST_FILE).read_text())["evaluation"] == printed
    # Only the artifact under report is written: the committed stereotype model was not named, so it is untouched.
    assert (STEREOTYPE_ARTIFACT / MANIFEST_FILE).read_bytes() == before
