"""The default engine: onnxruntime-genai on the packaged SmolLM2 weights, built once into the cache.

These load real weights and build real ONNX models (about 15 s a build on 2 cores).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from decorum.adapters.base import AdapterRef, GenerationRequest
from decorum.adapters.lora import adapter_sha256
from decorum.adapters.onnx_build import MANIFEST, artifact_key, ensure_onnx_model, verify
from decorum.adapters.onnx_generator import OnnxGenerator
from decorum.adapters.weights import ensure_converted
from decorum.errors import ModelLoadError
from tests.conftest import MODEL_CACHE, REPO

pytestmark = pytest.mark.models

VPN = [{"role": "system", "content": "You are a helpful IT helpdesk assistant."},
       {"role": "user", "content": "How do I reset my VPN password?"}]
SHORT = [{"role": "user", "content": "Say hello."}]


def expected(art_folder: Path) -> dict:
    meta = json.loads((art_folder / MANIFEST).read_text())
    return {k: meta[k] for k in ("source_revision", "precision", "adapter_sha256", "engine_version")}


@pytest.fixture
def own_cache(tmp_path: Path) -> Path:
    """A cache of the test's own holding only the converted weights (hard links: no copy, no conversion)."""
    ensure_converted(None, MODEL_CACHE)
    cache = tmp_path / "cache"
    shutil.copytree(MODEL_CACHE / "models", cache / "models", copy_function=os.link)
    return cache


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "decorum", *args], env=env, capture_output=True, text=True,
                          timeout=900, cwd=REPO)


def test_first_start_builds_once_second_start_loads_corrupt_or_half_built_is_rebuilt(
        own_cache: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DECORUM_DATA_DIR": str(tmp_path / "data"), "DECORUM_CACHE_DIR": str(own_cache)}
    first = cli(env, "ask", "--json", "--max-new-tokens", "16", "How do I reset my VPN password?")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "building the ONNX model (int8), once" in first.stderr and "100%" in first.stderr  # a progress line
    note = json.loads(first.stdout)
    model = note["model"]
    assert model["engine"] == "onnx" and model["precision"] == "int8" and note["verdict"] == "answered"
    assert len(model["revision"]) == 64 and len(model["artifact_revision"]) == 64
    assert model["artifact_revision"] != model["revision"]
    folder = own_cache / "onnx" / artifact_key(model["revision"], "int8")
    assert verify(folder, expected(folder)) is None

    second = cli(env, "ask", "--json", "--max-new-tokens", "16", "How do I reset my VPN password?")
    assert second.returncode == 0 and "building" not in second.stderr  # loaded, not rebuilt
    assert json.loads(second.stdout)["model"]["artifact_revision"] == model["artifact_revision"]

    # one flipped byte in the weights: detected by hash, moved aside and rebuilt, never loaded
    data = folder / "model.onnx.data"
    with data.open("r+b") as fh:
        fh.seek(data.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert "does not match its SHA-256" in str(verify(folder, expected(folder)))
    want = expected(folder)
    art = ensure_onnx_model(own_cache / "models" / "smollm2-135m-instruct", model["revision"], own_cache, "int8",
                            show_progress=False)
    assert art.built and art.folder == folder and verify(folder, want) is None

    # a half-built folder (killed before its manifest was written) is rebuilt too, and a killed build's
    # temporary folder is cleared away
    (folder / MANIFEST).unlink()
    orphan = own_cache / "onnx" / f".build-{folder.name}-killed" / "out"
    orphan.mkdir(parents=True)
    (orphan / "model.onnx").write_bytes(b"half")
    assert "interrupted build" in str(verify(folder, want))
    third = cli(env, "ask", "--json", "--max-new-tokens", "8", "Hello")
    assert third.returncode == 0 and "building the ONNX model" in third.stderr
    assert verify(folder, want) is None
    assert not [p for p in (own_cache / "onnx").iterdir() if p.name.startswith((".build-", ".broken-"))]

    # a complete build is loaded without touching the cache (no lock file): an image's cache may be read-only
    from decorum.adapters import onnx_build

    def no_writes(*_a: object, **_k: object) -> None:
        raise PermissionError("read-only file system")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(onnx_build, "_locked", no_writes)
        mp.setattr(Path, "mkdir", no_writes)
        art = ensure_onnx_model(own_cache / "models" / "smollm2-135m-instruct", model["revision"], own_cache, "int8",
                                show_progress=False)
    assert not art.built and art.folder == folder


def test_greedy_answers_are_deterministic_capped_and_streamed(onnx_smollm) -> None:
    pieces: list[str] = []
    a = onnx_smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=24,
                                                on_text=lambda p: pieces.append(p) or True)])[0]
    b = onnx_smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=24)])[0]
    assert a.text == b.text and a.text and a.completion_tokens == 24 and a.finish_reason == "length"
    assert "".join(pieces).strip() == a.text and len(pieces) >= 10  # token by token
    assert a.artifact_revision == onnx_smollm.info.artifact_revision
    info = onnx_smollm.info
    assert (info.engine, info.precision, info.backend) == ("onnx", "int8", "local")


def test_a_template_temperature_samples_and_a_mixed_batch_keeps_the_greedy_answers(onnx_smollm) -> None:
    greedy = onnx_smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=12)])[0].text
    mixed = onnx_smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=12, temperature=1.5)
                                  for _ in range(4)] + [GenerationRequest(messages=VPN, max_new_tokens=12)])
    assert mixed[-1].text == greedy  # batched apart from the sampled ones: still greedy
    sampled = {g.text for g in mixed[:4]}
    assert len(sampled) > 1 and all(g.completion_tokens > 0 for g in mixed[:4])  # four identical draws: not sampled


def test_prompts_are_tokenised_like_the_reference(onnx_smollm, smollm) -> None:
    history = [*VPN, {"role": "assistant", "content": "Open the portal."}, {"role": "user", "content": "And then?"}]
    for messages in (VPN, SHORT, history):
        ids = smollm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
        out = onnx_smollm.generate([GenerationRequest(messages=messages, max_new_tokens=1)])[0]
        assert out.prompt_tokens == len(ids)


def test_a_batch_of_different_lengths_matches_single_runs(onnx_smollm) -> None:
    single = [onnx_smollm.generate([GenerationRequest(messages=m, max_new_tokens=16)])[0] for m in (VPN, SHORT)]
    batched = onnx_smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=16),
                                    GenerationRequest(messages=SHORT, max_new_tokens=8)])
    assert batched[0].text == single[0].text
    assert batched[1].completion_tokens <= 8 and single[1].text.startswith(batched[1].text)  # its own cap


def test_a_sink_stops_only_its_own_answer(onnx_smollm) -> None:
    seen: list[str] = []

    def stop_after_three(piece: str) -> bool:
        seen.append(piece)
        return len(seen) < 3

    def broken(piece: str) -> bool:
        raise RuntimeError("surface crashed")

    stopped, crashed, full = onnx_smollm.generate([
        GenerationRequest(messages=VPN, max_new_tokens=20, on_text=stop_after_three),
        GenerationRequest(messages=VPN, max_new_tokens=20, on_text=broken),
        GenerationRequest(messages=VPN, max_new_tokens=20),
    ])
    assert stopped.finish_reason == "cancelled" and stopped.completion_tokens == 3 and len(seen) == 3
    assert crashed.finish_reason == "cancelled" and crashed.completion_tokens == 1
    assert full.completion_tokens == 20 and full.text.startswith(stopped.text)


def test_long_prompts_are_truncated_and_time_limits_hold(onnx_smollm) -> None:
    long = [{"role": "user", "content": "word " * 3000}]
    out = onnx_smollm.generate([GenerationRequest(messages=long, max_new_tokens=4)])[0]
    assert out.input_truncated and out.prompt_tokens <= onnx_smollm.max_input_tokens
    quick = OnnxGenerator(MODEL_CACHE, timeout_s=0.05, show_progress=False)
    out = quick.generate([GenerationRequest(messages=VPN, max_new_tokens=200)])[0]
    assert out.finish_reason == "timeout" and out.completion_tokens < 200


def test_an_adapter_is_built_merged_once_and_its_hash_checked_before_use(onnx_smollm, tiny_adapter: Path) -> None:
    digest = adapter_sha256(tiny_adapter)
    ref = AdapterRef(name="probe-lora", version=1, path=tiny_adapter, sha256=digest)
    onnx_smollm.prepare([ref])  # built (or found) now, not on the first request
    base, tuned, base_again = onnx_smollm.generate([
        GenerationRequest(messages=VPN, max_new_tokens=8),
        GenerationRequest(messages=VPN, max_new_tokens=8, adapter=ref),
        GenerationRequest(messages=VPN, max_new_tokens=8),
    ])
    assert tuned.text != base.text and base.text == base_again.text
    assert tuned.artifact_revision not in ("", base.artifact_revision)
    folder = MODEL_CACHE / "onnx" / artifact_key(onnx_smollm.info.revision, "int8", digest)
    assert json.loads((folder / MANIFEST).read_text())["adapter"] == {"name": "probe-lora", "version": 1}
    built = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    onnx_smollm.prepare([ref])
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == built  # built once, not again
    wrong = AdapterRef(name="other-lora", version=1, path=tiny_adapter, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="does not match its recorded sha256"):
        onnx_smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=2, adapter=wrong)])
