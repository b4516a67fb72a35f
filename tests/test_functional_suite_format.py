"""Format checks for the team-written functional suite in tests/functional/.

These tests only validate the data files (shape, ids, labels, coverage). Scoring
the suite against the guardrail models lives in a separate test module.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "functional"
SUITE = HERE / "hate_suite.jsonl"
PAIRS = HERE / "stereotype_pairs.jsonl"

HATEFUL_SLICES = {
    "derogation_direct",
    "derogation_implicit",
    "dehumanisation",
    "threat",
    "slur",
    "hate_question",
    "hate_opinion",
    "obfuscated",
    "pronoun_reference_hateful",
    "negated_praise",
}
NON_HATEFUL_SLICES = {
    "counter_speech_quote",
    "counter_speech_direct",
    "negated_hate",
    "identity_neutral",
    "identity_positive",
    "homonym",
    "reclaimed",
    "abuse_object",
    "workplace_neutral",
    "profanity_nonhate",
    "pronoun_reference_benign",
}
TOXIC_NONHATE_SLICES = {"insult_person"}
ALL_SLICES = HATEFUL_SLICES | NON_HATEFUL_SLICES | TOXIC_NONHATE_SLICES
EXPECTED_LABEL = {
    **{s: "hateful" for s in HATEFUL_SLICES},
    **{s: "non_hateful" for s in NON_HATEFUL_SLICES},
    **{s: "toxic_nonhate" for s in TOXIC_NONHATE_SLICES},
}
VALID_LABELS = {"hateful", "non_hateful", "toxic_nonhate"}
# Slices whose texts never address a group.
NULL_TARGET_SLICES = {"homonym", "abuse_object", "profanity_nonhate", "insult_person"}
SUITE_KEYS = {"id", "slice", "text", "label", "target", "note"}
MIN_PER_SLICE = 30
MIN_TOTAL = 600

PAIR_KEYS = {"id", "attribute", "stereotype", "anti_stereotype"}
ATTRIBUTES = {
    "gender",
    "race",
    "religion",
    "nationality",
    "disability",
    "age",
    "sexual_orientation",
    "socioeconomic",
}
MIN_PAIRS = 200
MIN_PAIRS_PER_ATTRIBUTE = 20
# A pair is "minimal" when at most this many tokens differ on either side.
MAX_PAIR_TOKEN_DIFF = 4


def _load(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            assert line.endswith("\n"), f"{path.name}:{lineno}: missing trailing newline"
            assert line.strip(), f"{path.name}:{lineno}: blank line"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:  # pragma: no cover - message only
                pytest.fail(f"{path.name}:{lineno}: invalid JSON: {exc}")
            assert isinstance(obj, dict), f"{path.name}:{lineno}: not a JSON object"
            rows.append(obj)
    return rows


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", text.casefold())


@pytest.fixture(scope="module")
def suite() -> list[dict]:
    return _load(SUITE)


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return _load(PAIRS)


# --------------------------------------------------------------------------- suite


def test_suite_rows_have_exact_schema(suite):
    for row in suite:
        assert set(row) == SUITE_KEYS, f"{row.get('id')}: keys {sorted(row)}"
        for key in ("id", "slice", "text", "label", "note"):
            assert isinstance(row[key], str) and row[key].strip(), f"{row.get('id')}: empty {key}"
        assert row["target"] is None or (isinstance(row["target"], str) and row["target"].strip()), row["id"]
        assert row["text"] == row["text"].strip(), f"{row['id']}: surrounding whitespace"


def test_suite_ids_unique_and_well_formed(suite):
    ids = [r["id"] for r in suite]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"
    for row in suite:
        assert re.fullmatch(rf"{re.escape(row['slice'])}-\d{{3}}", row["id"]), row["id"]


def test_suite_slices_known_and_large_enough(suite):
    counts = Counter(r["slice"] for r in suite)
    unknown = set(counts) - ALL_SLICES
    assert not unknown, f"unknown slices: {unknown}"
    missing = ALL_SLICES - set(counts)
    assert not missing, f"missing slices: {missing}"
    small = {s: n for s, n in counts.items() if n < MIN_PER_SLICE}
    assert not small, f"slices below {MIN_PER_SLICE}: {small}"
    assert len(suite) >= MIN_TOTAL


def test_suite_labels_valid_and_match_slice(suite):
    for row in suite:
        assert row["label"] in VALID_LABELS, row["id"]
        assert row["label"] == EXPECTED_LABEL[row["slice"]], f"{row['id']}: label {row['label']}"


def test_suite_targets(suite):
    for row in suite:
        if row["slice"] in NULL_TARGET_SLICES:
            assert row["target"] is None, f"{row['id']}: expected null target"
        if row["label"] == "hateful":
            assert row["target"], f"{row['id']}: hateful case needs a target group"
    hateful_targets = {r["target"] for r in suite if r["label"] == "hateful"}
    assert len(hateful_targets) >= 15, f"too few distinct hateful targets: {len(hateful_targets)}"


def test_suite_profanity_note(suite):
    for row in suite:
        if row["slice"] == "profanity_nonhate":
            assert row["note"] == "profanity", row["id"]


def test_suite_has_no_duplicate_texts(suite):
    seen: dict[str, str] = {}
    for row in suite:
        key = _norm(row["text"])
        assert key not in seen, f"{row['id']} duplicates {seen[key]}: {row['text']!r}"
        seen[key] = row["id"]


# --------------------------------------------------------------------------- pairs


def test_pairs_schema_and_ids(pairs):
    assert len(pairs) >= MIN_PAIRS
    ids = [p.get("id") for p in pairs]
    assert len(set(ids)) == len(ids), "duplicate pair ids"
    for p in pairs:
        assert set(p) == PAIR_KEYS, f"{p.get('id')}: keys {sorted(p)}"
        assert re.fullmatch(r"pair-\d{3}", p["id"]), p["id"]
        assert p["attribute"] in ATTRIBUTES, f"{p['id']}: attribute {p['attribute']}"
        for key in ("stereotype", "anti_stereotype"):
            assert isinstance(p[key], str) and p[key].strip(), f"{p['id']}: empty {key}"
            assert p[key] == p[key].strip(), f"{p['id']}: surrounding whitespace in {key}"


def test_pairs_cover_every_attribute(pairs):
    counts = Counter(p["attribute"] for p in pairs)
    low = {a: counts.get(a, 0) for a in ATTRIBUTES if counts.get(a, 0) < MIN_PAIRS_PER_ATTRIBUTE}
    assert not low, f"attributes below {MIN_PAIRS_PER_ATTRIBUTE} pairs: {low}"


def test_pairs_differ_minimally(pairs):
    for p in pairs:
        a, b = _tokens(p["stereotype"]), _tokens(p["anti_stereotype"])
        assert _norm(p["stereotype"]) != _norm(p["anti_stereotype"]), f"{p['id']}: identical sentences"
        ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        changed_a = sum(i2 - i1 for op, i1, i2, _, _ in ops if op != "equal")
        changed_b = sum(j2 - j1 for op, _, _, j1, j2 in ops if op != "equal")
        assert 0 < max(changed_a, changed_b) <= MAX_PAIR_TOKEN_DIFF, (
            f"{p['id']}: not a minimal pair ({changed_a}/{changed_b} tokens differ)"
        )


def test_pairs_are_unique(pairs):
    seen: set[tuple[str, str]] = set()
    sentences: Counter[str] = Counter()
    for p in pairs:
        key = (_norm(p["stereotype"]), _norm(p["anti_stereotype"]))
        assert key not in seen, f"{p['id']}: duplicate pair"
        seen.add(key)
        sentences[key[0]] += 1
    repeated = [s for s, n in sentences.items() if n > 1]
    assert not repeated, f"stereotype sentence used in more than one pair: {repeated}"
