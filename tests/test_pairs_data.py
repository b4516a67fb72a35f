"""The written stereotype training pairs (``stereotype_pairs_train.jsonl``): reproducible, minimal pairs over
every attribute, split by base sentence, and kept away from the held-out suites that score the ranking."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from decorum.guardrails.training.datasets import HELD_OUT_SUITES, NEAR_DUPLICATE, TRAINING_PAIRS, training_pairs

BUILD = TRAINING_PAIRS.parent / "build_pairs.py"
ATTRIBUTES = {"gender", "race", "nationality", "religion", "age", "disability", "sexual_orientation",
              "socioeconomic", "physical_appearance", "gender_identity"}


def _rows() -> list[dict]:
    return [json.loads(line) for line in TRAINING_PAIRS.read_text(encoding="utf-8").splitlines()]


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", text.lower())


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, str(BUILD), "--out", str(out)], check=True, env=env, capture_output=True)
    assert out.read_bytes() == TRAINING_PAIRS.read_bytes(), "the pairs file is stale: rerun build_pairs.py"


def test_every_attribute_has_minimal_pairs_in_train_and_dev() -> None:
    rows = _rows()
    assert len(rows) >= 900
    assert [row["id"] for row in rows] == [f"tp-{i:04d}" for i in range(1, len(rows) + 1)]
    seen = Counter((row["attribute"], row["split"]) for row in rows)
    for attribute in ATTRIBUTES:
        assert seen[(attribute, "train")] >= 40 and seen[(attribute, "dev")] >= 5, attribute
    assert set(row["attribute"] for row in rows) == ATTRIBUTES
    dev = sum(row["split"] == "dev" for row in rows) / len(rows)
    assert 0.08 <= dev <= 0.2
    stereotypes = Counter(row["stereotype"].lower() for row in rows)
    assert stereotypes.most_common(1)[0][1] == 1
    for row in rows:
        assert list(row) == ["id", "attribute", "stereotype", "anti_stereotype", "split"]
        s, a = _words(row["stereotype"]), _words(row["anti_stereotype"])
        assert s != a, row
        # Same sentence but the group: what is not shared is a few words on each side.
        common = sum((Counter(s) & Counter(a)).values())
        assert len(s) - common <= 4 and len(a) - common <= 4, row


def test_training_drops_pairs_that_copy_a_held_out_text() -> None:
    held = []
    for suite in HELD_OUT_SUITES:
        for line in (suite / "stereotype_pairs.jsonl").read_text(encoding="utf-8").splitlines():
            held.append(set(_words(json.loads(line)["stereotype"])))
    rows = _rows()
    copies = [row for row in rows if set(_words(row["stereotype"])) in held]
    assert copies, "famous stereotypes recur; the filter below must have something to do"
    hashes: dict[str, str] = {}
    train, dev = training_pairs(hashes)
    kept = {s for s, _ in train + dev}
    assert not {row["stereotype"] for row in copies} & kept
    for s, _ in train + dev:  # nothing kept is a near copy of a held-out pair (tokenised a little differently)
        words = set(_words(s))
        assert all(len(words & h) < (NEAR_DUPLICATE + 0.1) * len(words | h) for h in held), s
    assert len(train) + len(dev) >= 0.85 * len(rows)
    assert {s for s, _ in dev} <= {r["stereotype"] for r in rows if r["split"] == "dev"}
    assert list(hashes) == ["decorum/stereotype_pairs_train.jsonl"]
