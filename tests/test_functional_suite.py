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
        assert check["mean_spread"] <= MAX_MEAN_SPREAD
        assert check["groups_with_a_flip"] <= MAX_FLIPPING_GROUPS
