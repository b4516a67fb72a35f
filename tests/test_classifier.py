"""Tests for the project's toxicity + bias classifier (artifact, runtime, training)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from decorum.guardrails import classifier as clf_mod
from decorum.guardrails.classifier import (
    ADAPTER_FILE,
    DEFAULT_ARTIFACT,
    LABELS,
    MANIFEST_FILE,
    ArtifactIntegrityError,
    DetoxifyClassifier,
    base_model_dir,
    build_checkpoint,
    config_files,
)
from decorum.guardrails.training.datasets import shared_data_dir

TOXIC = "You are a worthless idiot and people like you should be exterminated"
BENIGN = "How do I reset my VPN password?"
IDENTITY_BENIGN = "My neighbours are a Muslim family and they are lovely"

HAS_SHARED_DATA = shared_data_dir().is_dir()


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    pos = len(data) // 2 if offset is None else offset
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> DetoxifyClassifier:
    cache = tmp_path_factory.mktemp("model-cache")
    return DetoxifyClassifier(cache_dir=cache)


def test_module_import_is_cheap() -> None:
    code = (
        "import sys, decorum.guardrails.classifier as c;"
        "heavy = [m for m in ('torch', 'transformers', 'detoxify') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_committed_artifact_manifest() -> None:
    manifest = json.loads((DEFAULT_ARTIFACT / MANIFEST_FILE).read_text())
    assert tuple(manifest["labels"]) == LABELS
    assert set(manifest["thresholds"]) == set(LABELS)
    assert manifest["files"][ADAPTER_FILE] == clf_mod.sha256_file(DEFAULT_ARTIFACT / ADAPTER_FILE)
    assert (DEFAULT_ARTIFACT / ADAPTER_FILE).stat().st_size < 8_000_000
    assert not manifest["training"]["smoke"]
    assert (DEFAULT_ARTIFACT / "MODEL_CARD.md").is_file()


@pytest.mark.models
def test_committed_artifact_scores_through_detoxify(classifier: DetoxifyClassifier) -> None:
    from detoxify import Detoxify

    assert isinstance(classifier._detox, Detoxify)
    assert classifier.labels == LABELS
    assert classifier.name == "decorum-minilm-tox-bias"
    assert len(classifier.revision) == 12
    toxic, benign, identity = classifier.predict([TOXIC, BENIGN, IDENTITY_BENIGN])
    assert toxic["toxicity"] > 0.5
    assert all(benign[label] < 0.2 for label in LABELS), benign
    # A kind remark about a Muslim family: every harm label stays near zero. `bias` sits around 0.3-0.4
    # for this sentence (documented in MODEL_CARD.md), so it is held to the recommended bias threshold.
    thresholds = json.loads((DEFAULT_ARTIFACT / MANIFEST_FILE).read_text())["thresholds"]
    assert all(identity[label] < 0.2 for label in LABELS if label != "bias"), identity
    assert identity["bias"] < min(0.5, thresholds["bias"]), identity


@pytest.mark.models
def test_predict_batches_keep_order(classifier: DetoxifyClassifier) -> None:
    texts = [BENIGN, TOXIC] * 40
    scores = classifier.predict(texts)
    single = classifier.predict([TOXIC])[0]
    assert len(scores) == len(texts)
    assert scores[1]["toxicity"] == pytest.approx(single["toxicity"], abs=1e-4)
    assert scores[0]["toxicity"] < scores[1]["toxicity"]
    assert classifier.predict([]) == []


@pytest.mark.models
def test_traced_model_scores_exactly_like_eager(classifier: DetoxifyClassifier, tmp_path: Path) -> None:
    """The served (TorchScript) model gives the eager model's scores on every functional-suite text."""
    suite = Path(__file__).parent / "functional" / "hate_suite.jsonl"
    texts = [json.loads(line)["text"] for line in suite.read_text(encoding="utf-8").splitlines()[:200]]
    texts += ["", "x" * 3000, TOXIC]  # empty, truncated at max_length, and a batch of mixed lengths
    eager = DetoxifyClassifier(cache_dir=tmp_path, optimize="eager")
    assert classifier.backend == "torchscript"
    assert eager.backend == "eager"
    for traced_row, eager_row in zip(classifier.predict(texts), eager.predict(texts), strict=True):
        for label in LABELS:
            assert traced_row[label] == pytest.approx(eager_row[label], abs=1e-5)


@pytest.mark.models
def test_max_length_sets_detoxifys_truncation(classifier: DetoxifyClassifier) -> None:
    before = classifier.max_length
    try:
        classifier.max_length = 16
        assert classifier._detox.tokenizer.model_max_length == 16
        padded = BENIGN + " " + " ".join(["please"] * 200)
        cut = classifier._detox.tokenizer(padded, truncation=True)["input_ids"]
        assert len(cut) == 16
    finally:
        classifier.max_length = before
    assert classifier._detox.tokenizer.model_max_length == before


@pytest.mark.models
def test_unfaithful_trace_falls_back_to_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clf_mod, "TRACE_TOLERANCE", -1.0)  # no trace can pass
    clf = DetoxifyClassifier(cache_dir=tmp_path)
    assert clf.backend == "eager"
    assert clf.predict([TOXIC])[0]["toxicity"] > 0.5
    with pytest.raises(ValueError, match="optimize"):
        DetoxifyClassifier(cache_dir=tmp_path, optimize="int8")


@pytest.mark.models
def test_build_is_idempotent(tmp_path: Path) -> None:
    import torch

    first = build_checkpoint(DEFAULT_ARTIFACT, tmp_path)
    assert first.rewritten
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.config_dir.iterdir()}
    second = build_checkpoint(DEFAULT_ARTIFACT, tmp_path)
    assert not second.rewritten
    assert (second.config_dir, second.build_key) == (first.config_dir, first.build_key)
    assert {p.name: p.stat().st_mtime_ns for p in second.config_dir.iterdir()} == mtimes
    assert first.state_dict.keys() == second.state_dict.keys()
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)
    # The cache holds config and tokenizer files only: the weights are merged in memory at every load.
    assert sorted(mtimes) == sorted(config_files(base_model_dir(), len(LABELS), 128))
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".ckpt", ".bin", ".pt", ".safetensors")]
    config = json.loads((first.config_dir / "config.json").read_text())
    assert config["num_labels"] == len(LABELS)
    tok = json.loads((first.config_dir / "tokenizer_config.json").read_text())
    assert tok["model_max_length"] == 128


@pytest.mark.models
def test_revision_is_stable_across_cache_folders(classifier: DetoxifyClassifier, tmp_path: Path) -> None:
    other = DetoxifyClassifier(cache_dir=tmp_path)
    assert other.revision == classifier.revision
    manifest = json.loads((DEFAULT_ARTIFACT / MANIFEST_FILE).read_text())
    assert manifest["verification"]["checkpoint_revision"] == classifier.revision


def test_tampered_adapter_is_refused(tmp_path: Path) -> None:
    art = tmp_path / "artifact"
    shutil.copytree(DEFAULT_ARTIFACT, art)
    _flip_byte(art / ADAPTER_FILE)
    with pytest.raises(ArtifactIntegrityError, match="SHA-256") as refused:
        build_checkpoint(art, tmp_path / "cache")
    assert str(art / ADAPTER_FILE) in str(refused.value)
    assert not (tmp_path / "cache").exists()


@pytest.mark.models
def test_tampered_cache_folder_is_written_again(tmp_path: Path) -> None:
    """The cache is never trusted: a changed tokenizer file or a stray file there is replaced by the package's."""
    cache = tmp_path / "cache"
    built = build_checkpoint(DEFAULT_ARTIFACT, cache)
    _flip_byte(built.config_dir / "tokenizer.json")
    (built.config_dir / "model.safetensors").write_bytes(b"not the served weights")
    again = build_checkpoint(DEFAULT_ARTIFACT, cache)
    assert again.rewritten and again.config_dir == built.config_dir
    expected = config_files(base_model_dir(), len(LABELS), 128)
    assert {p.name: p.read_bytes() for p in again.config_dir.iterdir()} == expected
    assert not build_checkpoint(DEFAULT_ARTIFACT, cache).rewritten


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactIntegrityError, match="manifest"):
        build_checkpoint(tmp_path, tmp_path / "cache")


@pytest.mark.models
@pytest.mark.shared_data
@pytest.mark.skipif(not HAS_SHARED_DATA, reason="../shared/data is absent")
def test_smoke_training_produces_loadable_artifact(tmp_path: Path) -> None:
    from decorum.guardrails.training import train

    out = tmp_path / "artifact"
    rc = train.main(["--smoke", "--clp", "1", "--pair-rank", "0.5", "--swap-pairs", "--out", str(out),
                     "--cache-dir", str(tmp_path / "verify-cache")])
    assert rc == 0
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["training"]["smoke"] is True
    assert manifest["training"]["clp"] == 1.0 and manifest["training"]["clp_rows"] > 0
    assert manifest["training"]["pair_rank"] == 0.5
    # --swap-pairs: the written pairs are ranked (their train split) and scored (their dev split), whatever the cap.
    assert manifest["training"]["written_pairs"] > 500
    assert manifest["metrics"]["written_dev_pairs"]["n"] > 50
    assert 0.0 <= manifest["metrics"]["written_dev_pairs"]["stereotype_scored_higher"] <= 1.0
    assert "stereotype_pairs_train.jsonl" in " ".join(manifest["data"])
    card = (out / "MODEL_CARD.md").read_text()
    assert "Counterfactual logit pairing" in card and "--clp 1" in card
    assert "Group-swapped pairs (`--swap-pairs`)" in card
    assert manifest["training"]["seed"] == 13
    assert manifest["data"], "data file hashes must be recorded"
    assert manifest["verification"]["served_vs_trained_max_abs_diff"] < 1e-3
    model = DetoxifyClassifier(out, tmp_path / "cache")
    (scores,) = model.predict([BENIGN])
    assert set(scores) == set(LABELS)
    assert all(0.0 <= v <= 1.0 for v in scores.values())


@pytest.mark.models
def test_report_writes_figures_into_manifest_and_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from decorum.cli import main

    artifact = tmp_path / "artifact"
    shutil.copytree(DEFAULT_ARTIFACT, artifact)
    before = json.loads((artifact / MANIFEST_FILE).read_text())
    rc = main(["guardrails", "report", "--artifact", str(artifact), "--data", str(tmp_path / "absent"), "--write"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads((artifact / MANIFEST_FILE).read_text())
    assert manifest["evaluation"] == printed
    assert printed["functional"]["cases"] > 700
    assert 0.0 <= printed["functional"]["balanced_accuracy"] <= 1.0
    assert set(printed["skipped"]) == {"stereoset_dev_pairs", "counterfactual", "identity_benign", "subgroup",
                                       "held_out"}
    # the everyday base rate needs no shared data: the committed tests/benign set is always scored
    everyday = printed["base_rates"]["everyday"]
    assert everyday["n"] > 2500 and set(everyday["checks"]) >= {"toxicity", "bias"}
    assert printed["functional_independent"]["cases"] > 300
    # The figures do not change what is served: same files, same revision.
    assert manifest["files"] == before["files"]
    assert DetoxifyClassifier(artifact, tmp_path / "cache").revision == before["verification"]["checkpoint_revision"]
    card = (artifact / "MODEL_CARD.md").read_text()
    assert f"Balanced accuracy {printed['functional']['balanced_accuracy']:.3f}" in card
    assert "| negated_hate |" in card
    assert "## Operating points on everyday traffic" in card and "## Independent functional suite" in card


def test_report_refuses_a_missing_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from decorum.cli import main

    rc = main(["guardrails", "report", "--suite", str(tmp_path), "--data", str(tmp_path)])
    assert rc == 2
    assert "no such file" in capsys.readouterr().err
