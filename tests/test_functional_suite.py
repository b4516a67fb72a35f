"""The team's functional suite scored by the real guardrails (the same path as `decorum guardrails score`).

Prints per-slice accuracy; fails when quality drops below the floors recorded in the model card.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decorum.guardrails.evaluate import functional_report

pytestmark = pytest.mark.models
SUITE = Path(__file__).parent / "functional"

# Floors a little under the committed classifier's measured figures (see its MODEL_CARD.md):
# a regression fails CI, noise does not.
MIN_BALANCED_ACCURACY = 0.80
MIN_PAIR_WIN_RATE = 0.60


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
    assert report["stereotype_pairs"]["stereotype_scored_higher"] >= MIN_PAIR_WIN_RATE
