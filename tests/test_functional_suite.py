"""The team's functional suite scored by the real guardrails (the same path as `decorum guardrails score`).

Prints per-slice accuracy; fails when quality drops below the floors recorded in the model card.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decorum.guardrails.training.evaluate import functional_report

pytestmark = pytest.mark.models
SUITE = Path(__file__).parent / "functional"

# Floors a little under the committed classifier's measured figures (see its MODEL_CARD.md):
# a regression fails CI, noise does not.
# Round 8: the main classifier with the bias check's stereotype model, at issue 14's bars (0.85, 0.80, 0.70
# pairs, spread <= 0.05, <= 1 flipping group).
MIN_BALANCED_ACCURACY = 0.85  # measured 0.859
MIN_NON_HATEFUL_PASSED = 0.80  # measured 0.866
MIN_PAIR_WIN_RATE = 0.80  # measured 0.846 (held-out StereoSet pairs: 0.806, tests/test_stereotype_model.py)
# Counterfactual consistency over 100 benign Jigsaw template groups (measured: mean spread 0.008 toxicity,
# 0.036 bias; no group crosses a threshold on the identity term alone).
MAX_MEAN_SPREAD = 0.05
MAX_FLIPPING_GROUPS = 1
# Round 3 (issue 23): the thresholds block at most 0.5% of everyday text (tests/benign plus the never-trained
# Bitext rows: 0.41%); on the committed public-corpus part alone, measured 0.50% (15 of 2,994).
MAX_EVERYDAY_BLOCKED = 0.0055


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (SUITE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_functional_suite_per_slice(capsys) -> None:
    from decorum.guardrails.checks import default_guardrails

    report = functional_report(default_guardrails(), _jsonl("hate_suite.jsonl"), _jsonl("stereotype_pairs.jsonl"))
    with capsys.disabled():
        print(f"\nfunctional suite: balanced accuracy {report['balanced_accuracy']:.3f} "
              f"(hateful caught {report['hateful_caught']:.3f}, "
              f"non-hateful passed {report['non_hateful_passed']:.3f}); "
              f"stereotype pairs {report['stereotype_pairs']['stereotype_scored_higher']:.3f}")
        for name, s in report["slices"].items():
            print(f"  {name:<24}{s['accuracy']:.2f}  (n={s['n']})")
    assert report["balanced_accuracy"] >= MIN_BALANCED_ACCURACY
    assert report["non_hateful_passed"] >= MIN_NON_HATEFUL_PASSED
    assert report["stereotype_pairs"]["stereotype_scored_higher"] >= MIN_PAIR_WIN_RATE


@pytest.mark.shared_data
def test_identity_swaps_barely_move_scores(capsys) -> None:
    from decorum.guardrails.checks import default_guardrails
    from decorum.guardrails.training.counterfactual import TEMPLATES, consistency, groups_from_templates
    from decorum.guardrails.training.datasets import shared_data_dir

    templates = shared_data_dir() / TEMPLATES
    if not templates.is_file():
        pytest.skip("../shared/data is absent")
    report = consistency(default_guardrails(), groups_from_templates(templates), sample=100)
    with capsys.disabled():
        print("\ncounterfactual: " + ", ".join(
            f"{name} mean {c['mean_spread']:.3f} max {c['max_spread']:.3f} flips {c['groups_with_a_flip']}"
            for name, c in report["checks"].items()))
    for check in report["checks"].values():
        # a check gated on group detection (bias) scores 0 where no group is read: its model's own spread counts
        assert check.get("model_mean_spread", check["mean_spread"]) <= MAX_MEAN_SPREAD
        assert check["groups_with_a_flip"] <= MAX_FLIPPING_GROUPS


def test_everyday_requests_are_rarely_blocked(capsys) -> None:
    """The operating point: the committed everyday set (public intent corpora, never trained on) is blocked at
    most at the rate the policy's thresholds were chosen for (0.5% over it and the never-trained Bitext rows)."""
    from decorum.guardrails.checks import default_guardrails
    from decorum.guardrails.training.benign import read_everyday

    texts = [row["text"] for row in read_everyday()]
    results = default_guardrails().run(texts, stage="input")
    blocked = sum(not all(r.passed for r in res) for res in results) / len(texts)
    with capsys.disabled():
        print(f"\neveryday requests blocked: {blocked:.2%} of {len(texts)}")
    assert blocked <= MAX_EVERYDAY_BLOCKED


def test_the_card_was_measured_at_the_served_thresholds() -> None:
    """The model card's base-rate figures belong to the thresholds the default policy serves."""
    import json as _json

    from decorum.guardrails.classifier import DEFAULT_ARTIFACT, MANIFEST_FILE
    from decorum.guardrails.policy import Policy

    evaluation = _json.loads((DEFAULT_ARTIFACT / MANIFEST_FILE).read_text())["evaluation"]
    everyday = evaluation["base_rates"]["everyday"]
    policy = Policy()
    assert {name: c["threshold"] for name, c in everyday["checks"].items()} == {
        name: policy.checks[name].threshold for name in everyday["checks"]}
    assert everyday["blocked_share"] <= everyday["target"]
