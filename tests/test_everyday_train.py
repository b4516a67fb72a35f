"""The everyday benign training set (``data/everyday_train.jsonl``) and its loader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from decorum.guardrails.training.datasets import EVERYDAY_TRAIN, everyday_examples, load_corpus, make_target
from tests.conftest import REPO, SHARED_DATA, requires_shared_data

HELD_OUT = (
    REPO / "tests" / "benign" / "everyday.jsonl",
    REPO / "tests" / "functional" / "hate_suite.jsonl",
    REPO / "tests" / "functional_independent" / "hate_suite.jsonl",
)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_file_is_valid_and_large_enough() -> None:
    rows = _rows(EVERYDAY_TRAIN)
    assert len(rows) >= 5000
    for row in rows:
        assert set(row) == {"text", "source", "intent"}
        assert all(isinstance(row[k], str) and row[k] for k in row)
        assert row["text"] == " ".join(row["text"].split())
    sources = Counter(row["source"] for row in rows)
    assert len(sources) >= 3
    assert min(sources.values()) >= 500


def test_no_duplicates() -> None:
    keys = [_key(row["text"]) for row in _rows(EVERYDAY_TRAIN)]
    assert len(keys) == len(set(keys))


def test_disjoint_from_held_out_sets() -> None:
    train = {_key(row["text"]) for row in _rows(EVERYDAY_TRAIN)}
    for path in HELD_OUT:
        held = {_key(row["text"]) for row in _rows(path)}
        assert held, path
        assert not train & held, (path, sorted(train & held)[:5])


def test_everyday_examples_splits_clean() -> None:
    hashes: dict[str, str] = {}
    train, dev = everyday_examples(hashes)
    assert train and dev
    assert len(dev) < len(train)
    assert len(train) + len(dev) == len(_rows(EVERYDAY_TRAIN))
    assert {ex.source for ex in train + dev} == {"everyday"}
    assert all(ex.target == make_target(0.0) for ex in train + dev)
    assert not {ex.key for ex in train} & {ex.key for ex in dev}
    assert f"decorum/{EVERYDAY_TRAIN.name}" in hashes
    again = everyday_examples({})
    assert [ex.text for ex in again[1]] == [ex.text for ex in dev]


@requires_shared_data
def test_load_corpus_with_everyday() -> None:
    corpus = load_corpus(SHARED_DATA, max_examples=2000, max_dev_per_source=50, with_everyday=True)
    assert any(ex.source == "everyday" for ex in corpus.train)
    assert any(ex.source == "everyday" for ex in corpus.dev)
    assert f"decorum/{EVERYDAY_TRAIN.name}" in corpus.file_hashes
