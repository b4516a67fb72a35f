"""The benign base-rate sets (everyday text, held-out identity texts) and the threshold / bias metrics."""

from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from decorum.guardrails.training import benign, datasets
from tests.conftest import SHARED_DATA, requires_shared_data

BENIGN_DIR = Path(__file__).parent / "benign"


# ------------------------------------------------------------------------------------------ committed file


def _lines() -> list[str]:
    return benign.EVERYDAY.read_text(encoding="utf-8").splitlines()


def test_everyday_path_points_at_committed_file() -> None:
    assert benign.EVERYDAY == BENIGN_DIR / "everyday.jsonl"
    assert benign.EVERYDAY.is_file()


def test_everyday_rows_are_valid() -> None:
    raw = benign.EVERYDAY.read_bytes()
    assert raw.endswith(b"\n")
    raw.decode("utf-8")
    rows = [json.loads(line) for line in _lines()]
    assert len(rows) >= 2500
    for row in rows:
        assert set(row) == {"text", "source", "intent"}
        assert all(isinstance(row[k], str) and row[k] for k in row)
        assert len(row["text"]) >= 3
        assert row["text"] == " ".join(row["text"].split())
    assert rows == benign.read_everyday()


def test_everyday_has_no_case_insensitive_duplicates() -> None:
    keys = Counter(json.loads(line)["text"].casefold() for line in _lines())
    assert [k for k, n in keys.items() if n > 1] == []


def test_everyday_spans_corpora_and_intents() -> None:
    rows = benign.read_everyday()
    sources = Counter(row["source"] for row in rows)
    assert len(sources) >= 3
    assert max(sources.values()) <= 0.5 * len(rows)
    assert len({(row["source"], row["intent"]) for row in rows}) >= 100


def test_everyday_is_sorted_as_the_build_script_writes_it() -> None:
    rows = benign.read_everyday()
    key = [(r["source"], r["intent"], r["text"].casefold(), r["text"]) for r in rows]
    assert key == sorted(key)
    assert all(line == json.dumps(row, ensure_ascii=False) for line, row in zip(_lines(), rows, strict=True))


def test_readme_states_the_never_train_rule_and_sources() -> None:
    text = (BENIGN_DIR / "README.md").read_text(encoding="utf-8")
    assert "NEVER" in text and "trained on" in text
    for repo in ("xliuhw/NLU-Evaluation-Data", "PolyAI-LDN/task-specific-datasets", "sonos/nlu-benchmark"):
        assert repo in text


def _build_module():
    spec = importlib.util.spec_from_file_location("build_everyday", BENIGN_DIR / "build_everyday.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_applies_the_sampling_rule_on_a_tiny_tree(tmp_path: Path) -> None:
    """The real raw files are not in CI; a miniature tree in their layout exercises the script."""
    build = _build_module()
    hwu = tmp_path / build.HWU_DIR
    for fold in build.HWU_FOLDS:
        (hwu / fold / "testset" / "csv").mkdir(parents=True)
    header = "answerid;scenario;intent;answer_annotation;answer_from_anno;answer_from_user\n"
    (hwu / "KFold_1" / "testset" / "csv" / "alarm_set.csv").write_text(
        header + '1;alarm;set;"x";"wake me up at seven";"Wake me  up at seven"\n'
        '2;alarm;set;"x";"set an alarm for paris";"Set an alarm for <insert city>"\n'
        '3;alarm;set;"x";"ok";"ok"\n',
        encoding="utf-8",
    )
    (hwu / "KFold_2" / "testset" / "csv" / "alarm_set.csv").write_text(
        header + '4;alarm;set;"x";"wake me up at seven";"wake me up at SEVEN"\n', encoding="utf-8"
    )
    banking = tmp_path / build.BANKING
    banking.parent.mkdir(parents=True)
    banking.write_text("text,category\nWake me up at seven,odd\nWhere is my card?,card_arrival\n", encoding="utf-8")
    for intent in build.SNIPS_INTENTS:
        folder = tmp_path / build.SNIPS_DIR / intent
        folder.mkdir(parents=True)
        item = {"data": [{"text": "play "}, {"text": "jazz", "entity": "genre"}]}
        (folder / f"validate_{intent}.json").write_text(json.dumps({intent: [item]}), encoding="utf-8")
    hotels = tmp_path / build.NLUPP_HOTELS
    hotels.mkdir(parents=True)
    for fold in range(20):
        items = [{"text": f"book a room for {fold} nights", "intents": ["booking", "make"]}, {"text": "hi there"}]
        (hotels / f"fold{fold}.json").write_text(json.dumps(items), encoding="utf-8")

    rows = [json.loads(line) for line in build.build(tmp_path).decode("utf-8").splitlines()]
    texts = [r["text"] for r in rows]
    assert "Wake me up at seven" in texts  # whitespace squeezed, first casing kept
    assert "set an alarm for paris" in texts  # template markers replaced by the annotated form
    assert "ok" not in texts  # shorter than 3 characters
    assert len({t.casefold() for t in texts}) == len(texts)  # also across sources (banking duplicate dropped)
    assert {r["source"] for r in rows} == {"hwu64", "banking77", "snips", "nlupp_hotels"}
    assert {"text": "play jazz", "source": "snips", "intent": "AddToPlaylist"} in rows
    assert {"text": "hi there", "source": "nlupp_hotels", "intent": "none"} in rows
    assert {"text": "book a room for 3 nights", "source": "nlupp_hotels", "intent": "booking+make"} in rows
    out = tmp_path / "out.jsonl"
    assert build.main(["--src", str(tmp_path), "--out", str(out)]) == 0
    assert build.main(["--src", str(tmp_path), "--out", str(out), "--check"]) == 0
    out.write_text("", encoding="utf-8")
    assert build.main(["--src", str(tmp_path), "--out", str(out), "--check"]) == 1


# ------------------------------------------------------------------------------------------ metrics


def test_roc_auc_hand_made() -> None:
    assert benign.roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert benign.roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert benign.roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    assert benign.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # One tie across classes counts as half a correctly ordered pair: (3 + 0.5) / 4.
    assert benign.roc_auc([0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(0.875)


def test_roc_auc_one_class_or_bad_input() -> None:
    assert math.isnan(benign.roc_auc([0.1, 0.9], [1, 1]))
    assert math.isnan(benign.roc_auc([0.1, 0.9], [0, 0]))
    assert math.isnan(benign.roc_auc([], []))
    with pytest.raises(ValueError):
        benign.roc_auc([0.1], [0, 1])


def _synthetic() -> list[tuple[float, int, str]]:
    rows: list[tuple[float, int, str]] = []
    for i in range(40):  # background: negatives 0.10-0.29, positives 0.70-0.89
        rows.append((0.10 + i * 0.005, 0, "background"))
        rows.append((0.70 + i * 0.005, 1, "background"))
    for i in range(15):  # over-flagged group: benign mentions score 0.90-0.97, toxic ones 0.98
        rows.append((0.90 + i * 0.005, 0, "flagged"))
        rows.append((0.98, 1, "flagged"))
    for i in range(15):  # under-flagged group: toxic mentions score 0.01-0.08, benign ones 0.0
        rows.append((0.01 + i * 0.005, 1, "missed"))
        rows.append((0.0, 0, "missed"))
    for i in range(5):
        rows.append((0.5, i % 2, "tiny"))
    return rows


def test_subgroup_metrics_known_answers() -> None:
    metrics = {m["group"]: m for m in benign.subgroup_metrics(_synthetic(), min_count=20)}
    assert set(metrics) == {"background", "flagged", "missed"}  # "tiny" has 5 rows < 20
    flagged, missed = metrics["flagged"], metrics["missed"]
    assert flagged["n"] == 30
    assert flagged["subgroup_auc"] == 1.0
    assert flagged["bpsn_auc"] < 0.5  # its negatives outscore the background's positives
    assert flagged["bpsn_auc"] == 0.0  # every flagged negative (>= 0.90) beats every background positive
    assert flagged["bnsp_auc"] == 1.0
    assert missed["subgroup_auc"] == 1.0
    assert missed["bpsn_auc"] == 1.0
    assert missed["bnsp_auc"] < 0.5  # its positives score below the background's negatives
    for m in metrics.values():
        assert set(m) == {"group", "n", "subgroup_auc", "bpsn_auc", "bnsp_auc"}


def test_subgroup_metrics_single_class_group_is_nan() -> None:
    rows = [(0.9, 1, "a")] * 25 + [(0.1, 0, "b")] * 25 + [(0.8, 1, "b")] * 5
    metrics = {m["group"]: m for m in benign.subgroup_metrics(rows)}
    assert math.isnan(metrics["a"]["subgroup_auc"])
    assert math.isnan(metrics["a"]["bpsn_auc"])  # no negatives in "a"
    assert metrics["a"]["bnsp_auc"] == 1.0


def test_generalized_mean_bias_auc() -> None:
    metrics = [
        {"group": "a", "n": 30, "subgroup_auc": 0.8, "bpsn_auc": 0.9, "bnsp_auc": 0.0},
        {"group": "b", "n": 30, "subgroup_auc": 0.8, "bpsn_auc": 0.6, "bnsp_auc": math.nan},
    ]
    means = benign.generalized_mean_bias_auc(metrics)
    assert means["subgroup_auc"] == pytest.approx(0.8)
    assert means["bpsn_auc"] == pytest.approx(((0.9**-5 + 0.6**-5) / 2) ** (-1 / 5))
    assert 0.6 < means["bpsn_auc"] < 0.75  # a power mean with p = -5 leans to the worst group
    assert means["bnsp_auc"] == 0.0
    assert math.isnan(benign.generalized_mean_bias_auc([])["subgroup_auc"])
    assert benign.power_mean([0.5, 0.5], p=1) == pytest.approx(0.5)


def test_threshold_for_share_edge_cases() -> None:
    scores = [0.1] * 990 + [0.9] * 10
    assert benign.threshold_for_share(scores, 0.01) == 0.11  # the ten 0.9s (1%) may stay blocked
    assert benign.threshold_for_share(scores, 0.005) == 0.91
    assert benign.threshold_for_share(scores, 1.0) == 0.0
    assert benign.threshold_for_share([0.2, 0.5], 0.5) == 0.21
    assert benign.threshold_for_share([0.2, 0.505], 0.0) == 0.51  # rounded up, never down
    assert benign.threshold_for_share([0.2, 0.5], 0.0) == 0.51
    assert benign.threshold_for_share([0.0, 0.0], 0.0) == 0.01
    assert benign.threshold_for_share([1.0, 1.0], 0.0) == 1.0  # nothing on the grid is enough: capped at 1
    with pytest.raises(ValueError):
        benign.threshold_for_share([], 0.01)
    with pytest.raises(ValueError):
        benign.threshold_for_share([0.5], 1.5)


def test_threshold_respects_share_on_random_scores() -> None:
    import random

    rng = random.Random(7)
    scores = [rng.random() ** 3 for _ in range(2000)]
    for share in (0.0, 0.005, 0.05, 0.3):
        t = benign.threshold_for_share(scores, share)
        assert benign.blocked_share(scores, t) <= share
        if t > 0:
            assert benign.blocked_share(scores, round(t - 0.01, 2)) > share  # the lowest such threshold


def test_blocked_share() -> None:
    assert benign.blocked_share([0.1, 0.5, 0.9, 0.5], 0.5) == 0.75
    assert benign.blocked_share([0.1], 0.2) == 0.0
    assert math.isnan(benign.blocked_share([], 0.5))


# ------------------------------------------------------------------------------------------ loaders


def test_loaders_without_shared_data(tmp_path: Path) -> None:
    committed = [(r["text"], r["source"]) for r in benign.read_everyday()]
    assert benign.everyday_texts(None) == committed
    assert benign.everyday_texts(tmp_path / "absent") == committed
    assert benign.everyday_answers(None) == []
    assert benign.identity_benign_texts(None) == []
    assert benign.labelled_identity_rows(tmp_path / "absent") == []


def test_template_identity() -> None:
    terms = ["african american", "middle eastern", "american", "african", "old", "gay"]
    assert benign.template_identity("Sohaib is a nice african american", terms) == "african american"
    assert benign.template_identity("Being middle eastern is kind", terms) == "middle eastern"
    assert benign.template_identity("I am gay", terms) == "gay"
    assert benign.template_identity("You are a caring scientist", terms) == ""


def test_render_answer() -> None:
    assert benign.render_answer("Go to {{Website Name}}  and\r\nclick {{ Cancel Order }}.") == (
        "Go to Website Name and click Cancel Order."
    )


@requires_shared_data
def test_everyday_texts_add_bitext_dev_instructions() -> None:
    rows = benign.everyday_texts(SHARED_DATA)
    bitext = [text for text, source in rows if source == "bitext"]
    assert 300 <= len(bitext) <= benign.BITEXT_CAP
    assert len(rows) == len(benign.read_everyday()) + len(bitext)
    assert all(datasets.is_dev(13, "bitext", text.lower()) for text in bitext)
    assert benign.everyday_texts(SHARED_DATA) == rows  # deterministic


@requires_shared_data
def test_everyday_answers() -> None:
    answers = benign.everyday_answers(SHARED_DATA)
    assert len(answers) == benign.ANSWER_CAP
    assert len({a.lower() for a in answers}) == len(answers)
    assert not any("{{" in a for a in answers)


@requires_shared_data
def test_identity_sets_are_held_out_and_grouped() -> None:
    rows = benign.labelled_identity_rows(SHARED_DATA)
    toxigen = [r for r in rows if r[2].startswith("toxigen:")]
    templates = [r for r in rows if r[2].startswith("templates:")]
    assert len({r[2] for r in toxigen}) == 13
    assert list(benign.iter_groups(rows, "toxigen:")) == toxigen
    assert len({r[2] for r in templates}) >= 40
    for part in (toxigen, templates):
        assert {r[1] for r in part} == {0, 1}
    assert all(datasets.is_dev(13, "toxigen", text.lower()) for text, _, _ in toxigen)
    assert all(datasets.madlib_held_out(13, text) for text, _, _ in templates)

    benign_rows = benign.identity_benign_texts(SHARED_DATA)
    labels = {(text, group): label for text, label, group in rows}
    assert benign_rows and all(labels[row] == 0 for row in benign_rows)
    groups = Counter(group for _, group in benign_rows)
    assert all(n > 0 for n in groups.values()) and len(groups) >= 50
    capped = benign.identity_benign_texts(SHARED_DATA, per_group_cap=20)
    assert max(Counter(g for _, g in capped).values()) == 20
    assert set(capped) <= set(benign_rows)


@requires_shared_data
def test_nothing_in_the_benign_sets_was_trained_on() -> None:
    """Against the artifacts' own training configuration (seed 13, augmentation, contrastive, context)."""
    corpus = datasets.load_corpus(
        SHARED_DATA, seed=13, with_augmentation=True, with_contrastive=True, with_context=True
    )
    train = {ex.text.lower() for ex in corpus.train}
    texts = [text for text, _ in benign.everyday_texts(SHARED_DATA)]
    texts += [text for text, _, _ in benign.labelled_identity_rows(SHARED_DATA)]
    texts += benign.everyday_answers(SHARED_DATA)
    assert [t for t in texts if t.lower() in train] == []
