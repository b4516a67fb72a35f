"""The round-2 context families (``context.jsonl``): reproducible, well formed, balanced, contrastive, and
disjoint from the functional suite that evaluates the classifier trained on them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "decorum" / "guardrails" / "training" / "data"
BUILD = DATA / "build_context.py"
CONTEXT = DATA / "context.jsonl"
CONTRASTIVE = DATA / "contrastive.jsonl"
SUITE = ROOT / "tests" / "functional" / "hate_suite.jsonl"

LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "bias"]
# Every kind and whether its lines are hateful/toxic (toxicity 1) or benign (toxicity 0).
KINDS = {
    "negated_hate": 0, "hate_affirmed": 1,
    "negated_praise": 1, "praise_twin": 0,
    "homonym": 0, "homonym_slur": 1,
    "object_anger": 0, "anger_group": 1, "anger_person": 1,
    "counter_reference": 0, "endorse_reference": 1,
    "counter_quote": 0, "endorse_quote": 1,
    "implicit_derogation": 1, "implicit_neutral": 0,
    "hate_question": 1, "sincere_question": 0,
    "pronoun_hate": 1, "pronoun_benign": 0,
}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _key(text: str) -> str:
    """Case-insensitive, whitespace-collapsed, final punctuation dropped."""
    return re.sub(r"[\W_]+$", "", " ".join(text.lower().split()))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _rows(CONTEXT)


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_context", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# (a) reproducible ------------------------------------------------------------------------------------


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "context.jsonl"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}  # a hash seed unlike the usual one must not matter
    subprocess.run([sys.executable, str(BUILD), "--out", str(out)], check=True, env=env, capture_output=True)
    assert out.read_bytes() == CONTEXT.read_bytes(), "context.jsonl is stale: rerun build_context.py"


# format: the line format of contrastive.jsonl ----------------------------------------------------------


def test_same_line_format_as_contrastive(rows: list[dict], builder) -> None:
    reference = json.loads(CONTRASTIVE.read_text(encoding="utf-8").splitlines()[0])
    groups = {row["target"] for row in _rows(CONTRASTIVE)}
    for row in rows:
        assert list(row) == list(reference), row
        assert list(row["labels"]) == LABELS == list(reference["labels"]), row
        assert set(row["labels"].values()) <= {0, 1}, row
        assert row["kind"] in KINDS, row
        assert row["target"] in groups, f"unknown target {row['target']!r}"
        assert row["split"] == builder.split_of(row["family"]), row
        assert row["text"] == row["text"].strip() and row["text"], row


def test_dev_split_is_about_a_tenth_of_families(rows: list[dict]) -> None:
    families = {row["family"]: row["split"] for row in rows}
    share = sum(split == "dev" for split in families.values()) / len(families)
    assert 0.05 <= share <= 0.15, share


# (b) coverage, balance, consistency, decontamination --------------------------------------------------


def test_every_kind_in_train_and_dev_with_its_polarity(rows: list[dict]) -> None:
    seen = Counter((row["kind"], row["split"]) for row in rows)
    for kind in KINDS:
        assert seen[(kind, "train")] > 0 and seen[(kind, "dev")] > 0, kind
    for row in rows:
        assert row["labels"]["toxicity"] == KINDS[row["kind"]], row
        if KINDS[row["kind"]] == 0:
            assert row["labels"]["identity_attack"] == row["labels"]["insult"] == 0, row
    for row in rows:
        if row["kind"] == "anger_person":  # toxic, not hate
            assert row["labels"]["identity_attack"] == row["labels"]["bias"] == 0 and row["labels"]["insult"] == 1


def test_benign_lines_are_at_least_half(rows: list[dict]) -> None:
    benign = sum(row["labels"]["toxicity"] == 0 for row in rows)
    assert benign / len(rows) >= 0.5
    assert 3000 <= len(rows) <= 5000


def test_no_text_has_two_label_sets(rows: list[dict]) -> None:
    seen: dict[str, dict] = {}
    for row in rows:
        key = _key(row["text"])
        assert key not in seen, f"duplicate text {row['text']!r}"
        seen[key] = row["labels"]
    for row in _rows(CONTRASTIVE):  # trained together: the two files must agree wherever they meet
        key = _key(row["text"])
        assert seen.get(key, row["labels"]) == row["labels"], f"labels disagree with contrastive.jsonl: {row['text']!r}"


def test_no_text_of_the_functional_suite(rows: list[dict]) -> None:
    suite = {_key(case["text"]): case["id"] for case in _rows(SUITE)}
    leaked = [(row["text"], suite[_key(row["text"])]) for row in rows if _key(row["text"]) in suite]
    assert not leaked, f"suite texts in the training data: {leaked[:5]}"


# (c) contrastive families -----------------------------------------------------------------------------


def test_every_family_is_contrastive(rows: list[dict]) -> None:
    """Every family holds toxic and non-toxic lines (the file has no pure-neutral families)."""
    toxicity: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        toxicity[row["family"]].add(row["labels"]["toxicity"])
    one_sided = sorted(family for family, values in toxicity.items() if values != {0, 1})
    assert not one_sided, one_sided


def test_training_reads_the_families_as_their_own_source_split_by_family() -> None:
    # `decorum guardrails train --context` adds them like --contrastive: train/dev by family, suite texts dropped.
    from decorum.guardrails.training.datasets import CONTEXT as TRAINING_CONTEXT
    from decorum.guardrails.training.datasets import contrastive_examples

    hashes: dict[str, str] = {}
    train, dev = contrastive_examples(hashes, TRAINING_CONTEXT, source="context")
    rows = _rows(CONTEXT)
    assert len(train) + len(dev) == len(rows)  # nothing in it is a suite text
    assert {ex.source for ex in train + dev} == {"context"}
    dev_families = {r["family"] for r in rows if r["split"] == "dev"}
    assert {ex.group for ex in dev} == dev_families and not {ex.group for ex in train} & dev_families
    assert set(hashes) == {"decorum/context.jsonl"} and len(hashes["decorum/context.jsonl"]) == 64
