"""ONNX models for onnxruntime-genai, built once from the converted safetensors into the cache.

``ensure_onnx_model`` returns a verified build of ``(weights revision, precision[, adapter])``:

- The key is the weights' SHA-256, the precision and, for a fine-tuned model, the adapter's SHA-256, so a
  new base model, precision or adapter gets its own folder: ``<cache>/onnx/<revision16>-<precision>[-lora-<sha16>]``.
- A build runs onnxruntime-genai's model builder in a child process (its own memory; its chatter goes to
  ``<folder>.build.log``) into a temporary folder, writes a manifest with every file's size and SHA-256,
  and only then renames the folder into place. A half-built folder therefore has no manifest.
- Every load re-hashes the files against the manifest (about 0.2 s for the int8 model). A missing,
  corrupted or half-built artifact is never loaded: it is moved aside and rebuilt.
- A LoRA adapter is merged into the base weights (peft ``merge_and_unload``) before the build, so the
  fine-tuned model runs at the base model's speed: one built model per adapter hash.
- A file lock serialises builds of one key across processes (two replicas starting on one cache).

The manifest lives beside the files it describes, so it detects corruption and interrupted builds, not a
deliberate swap of both; nothing here is unpickled (ONNX protobuf and raw tensor data only), the base model
and the merged adapter are read as safetensors only, and a build folder that holds a native library or a
``genai_config.json`` naming one (``custom_ops_library``, which onnxruntime-genai would load as code) is
never loaded, whatever its manifest says.

Example::

    art = ensure_onnx_model(folder, revision, cache_dir, "int8")
    art.folder, art.revision
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from decorum.adapters.base import AdapterRef
from decorum.adapters.weights import sha256_file
from decorum.errors import ModelLoadError
from decorum.offline import OFFLINE_ENV
from decorum.progress import ProgressLine

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "int8", "int4"]
PRECISIONS: tuple[str, ...] = ("fp32", "int8", "int4")
MANIFEST = "decorum-onnx.json"
FORMAT = 1
REQUIRED = ("genai_config.json", "model.onnx", "tokenizer.json")
# Files of a Hugging Face model folder that the builder reads besides the weights.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json", "vocab.json", "merges.txt")
BUILD_TIMEOUT_S = 1800
# Files a build never writes and a load must never meet: native code (onnxruntime-genai loads a
# ``custom_ops_library`` named in genai_config.json from the model folder) and Python or pickled objects.
CODE_SUFFIXES = (".so", ".dll", ".dylib", ".pyd", ".py", ".pyc", ".pkl", ".pickle", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True, slots=True)
class OnnxArtifact:
    """A verified build: where it is and what it is (``revision`` goes into the note)."""

    folder: Path
    revision: str
    precision: str
    source_revision: str
    adapter_sha256: str | None
    built: bool  # True when this call built it (False: loaded from the cache)


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onnxruntime-genai")
    except PackageNotFoundError as exc:
        raise ModelLoadError("onnxruntime-genai is not installed; run `make setup`") from exc


def artifact_key(source_revision: str, precision: str, adapter_sha256: str | None = None) -> str:
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    return f"{source_revision[:16]}-{precision}" + (f"-lora-{adapter_sha256[:16]}" if adapter_sha256 else "")


def ensure_onnx_model(source: Path, source_revision: str, cache_dir: Path, precision: str, *,
                      adapter: AdapterRef | None = None, show_progress: bool = True) -> OnnxArtifact:
    """A verified ONNX build of ``source`` (a safetensors model folder) at ``precision``, building it if needed.

    ``adapter`` must already be verified by the caller (its ``sha256`` is part of the key).
    """
    source, cache_dir = source.resolve(), cache_dir.resolve()  # the builder runs in another directory
    adapter_sha = adapter.sha256 if adapter else None
    if adapter is not None and not adapter_sha:
        raise ModelLoadError(f"adapter {adapter.name}@{adapter.version} has no sha256 to key its build by")
    key = artifact_key(source_revision, precision, adapter_sha)
    root = cache_dir / "onnx"
    target = root / key
    expected = {"source_revision": source_revision, "precision": precision, "adapter_sha256": adapter_sha,
                "engine_version": engine_version()}
    if verify(target, expected) is None:  # a complete build is never changed in place (builds land by rename):
        return _artifact(target, built=False)  # no lock needed, so a cache baked into an image may be read-only
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock"):
        problem = verify(target, expected)
        if problem is None:
            return _artifact(target, built=False)
        if target.exists():
            logger.warning("onnx artifact %s is unusable (%s); rebuilding it", key, problem)
            aside = root / f".broken-{key}-{os.getpid()}-{int(time.time())}"
            os.replace(target, aside)
            shutil.rmtree(aside, ignore_errors=True)
        for orphan in root.glob(f".build-{key}-*"):  # left by a build that was killed (we hold the lock)
            shutil.rmtree(orphan, ignore_errors=True)
        _build(source, target, precision, adapter, expected, show_progress=show_progress)
        return _artifact(target, built=True)


def _artifact(folder: Path, *, built: bool) -> OnnxArtifact:
    meta = json.loads((folder / MANIFEST).read_text())
    return OnnxArtifact(folder=folder, revision=meta["revision"], precision=meta["precision"],
                        source_revision=meta["source_revision"], adapter_sha256=meta.get("adapter_sha256"),
                        built=built)


def files_revision(files: dict[str, dict[str, object]]) -> str:
    """One digest over the manifest's file list (name, size, SHA-256): the artifact's revision."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def verify(folder: Path, expected: dict[str, object]) -> str | None:
    """``None`` when ``folder`` is a complete build matching ``expected``; otherwise what is wrong."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return "missing" if not folder.exists() else "no manifest (an interrupted build)"
    try:
        meta = json.loads(manifest.read_text())
        files: dict[str, dict[str, object]] = meta["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable manifest ({exc.__class__.__name__})"
    if meta.get("format") != FORMAT:
        return f"manifest format {meta.get('format')!r}"
    for field, value in expected.items():
        if meta.get(field) != value:
            return f"{field} is {meta.get(field)!r}, expected {value!r}"
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        return f"manifest lacks {', '.join(missing)}"
    if meta.get("revision") != files_revision(files):
        return "manifest revision does not match its file list"
    code = sorted(p.name for p in folder.iterdir() if ".so." in p.name or p.suffix.lower() in CODE_SUFFIXES)
    if code:
        return f"it holds files that are code, not model data ({', '.join(code)})"
    if _names_custom_ops(folder / "genai_config.json"):
        return "genai_config.json names a custom_ops_library (native code); a build never does"
    for name, info in files.items():
        path = folder / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != info.get("size"):
            return f"{name} has {path.stat().st_size} bytes, expected {info.get('size')}"
        if sha256_file(path) != info.get("sha256"):
            return f"{name} does not match its SHA-256"
    return None


def _names_custom_ops(config: Path) -> bool:
    """True when ``config`` (a genai_config.json) holds a ``custom_ops_library`` key anywhere, or is unreadable."""
    try:
        stack: list[object] = [json.loads(config.read_text(encoding="utf-8"))]
    except (OSError, ValueError):
        return True
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "custom_ops_library" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(source: Path, target: Path, precision: str, adapter: AdapterRef | None, expected: dict[str, object],
           *, show_progress: bool) -> None:
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=target.parent))
    try:
        label = f"building the ONNX model ({precision}{', ' + adapter.name if adapter else ''}), once"
        logger.info("%s into %s", label, target)
        bar = ProgressLine(label) if show_progress else None
        with bar or contextlib.nullcontext():
            model_dir = _merge_adapter(source, adapter, work / "merged", bar) if adapter else source
            out = work / "out"
            _run_builder(model_dir, out, precision, work / "hf-cache", target.with_suffix(".build.log"), bar,
                         offset=0.15 if adapter else 0.0)
        files = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                 for p in sorted(out.iterdir()) if p.is_file()}
        missing = [name for name in REQUIRED if name not in files]
        if missing:
            raise ModelLoadError(f"the ONNX builder wrote no {', '.join(missing)} (see {target}.build.log)")
        meta = {"format": FORMAT, **expected, "files": files, "revision": files_revision(files),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.perf_counter() - t0, 1),
                "adapter": {"name": adapter.name, "version": adapter.version} if adapter else None}
        (out / MANIFEST).write_text(json.dumps(meta, indent=1))  # last: a folder without it is unfinished
        os.replace(out, target)
        logger.info("built onnx model %s in %.1f s", target.name, time.perf_counter() - t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _merge_adapter(source: Path, adapter: AdapterRef, out: Path, bar: ProgressLine | None) -> Path:
    """The base model with ``adapter`` merged into its weights, saved as safetensors with the tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from decorum.adapters.lora import verified_sha256

    verified_sha256(adapter)  # checked again (against its recorded digest) right before its weights are read
    adapter_path = adapter.path.resolve()
    if bar:
        bar.update(0.02, f"merging adapter {adapter.name}@{adapter.version}")
    try:
        base = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32, local_files_only=True,
                                                    use_safetensors=True)
        merged = PeftModel.from_pretrained(base, str(adapter_path)).merge_and_unload()
        merged.save_pretrained(str(out), safe_serialization=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot merge adapter {adapter.name}: {exc.__class__.__name__}: {exc}") from exc
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, out / name)
    return out


_LAYER = re.compile(r"Reading layer (\d+)")
_QUANT = re.compile(r"quantiz\w* /model/layers\.(\d+)/")
_SAVING = re.compile(r"Saving .*?(\d+)/(\d+) \[")


def _run_builder(model_dir: Path, out: Path, precision: str, hf_cache: Path, log_path: Path,
                 bar: ProgressLine | None, *, offset: float) -> None:
    """``python -m onnxruntime_genai.models.builder`` in a child process, its output parsed into ``bar``."""
    try:
        layers = int(json.loads((model_dir / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{model_dir} has no usable config.json ({exc.__class__.__name__})") from exc
    quantized = precision != "fp32"
    # Share of the bar per phase: reading layers, quantising them (int8/int4), saving tensors.
    read_end = offset + (1 - offset) * (0.3 if quantized else 0.6)
    quant_end = offset + (1 - offset) * (0.7 if quantized else 0.6)
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir), "-o", str(out),
           "-p", precision, "-e", "cpu", "-c", str(hf_cache)]
    env = {**os.environ, **OFFLINE_ENV}
    tail: deque[str] = deque(maxlen=30)
    with log_path.open("w", encoding="utf-8") as log, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(hf_cache.parent)) as proc:
        assert proc.stdout is not None
        watchdog = threading.Timer(BUILD_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            buf = b""
            while chunk := proc.stdout.read1(65536):
                *lines, buf = re.split(rb"[\r\n]", buf + chunk)
                for raw in lines:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line:
                        continue
                    log.write(line + "\n")
                    tail.append(line)
                    if bar is not None:
                        _advance(bar, line, layers, offset, read_end, quant_end)
            code = proc.wait()
        finally:
            watchdog.cancel()
    if code != 0:
        if code < 0:
            raise ModelLoadError(f"the ONNX model builder was stopped (signal {-code}; limit {BUILD_TIMEOUT_S} s)")
        last = " | ".join(list(tail)[-3:])
        raise ModelLoadError(f"the ONNX model builder failed (exit {code}): {last[-400:]} (log: {log_path})")


def _advance(bar: ProgressLine, line: str, layers: int, offset: float, read_end: float, quant_end: float) -> None:
    if m := _LAYER.search(line):
        i = int(m.group(1)) + 1
        bar.update(offset + (read_end - offset) * i / layers, f"reading layer {i}/{layers}")
    elif m := _QUANT.search(line):
        i = int(m.group(1)) + 1
        bar.update(read_end + (quant_end - read_end) * i / layers, f"quantising layer {i}/{layers}")
    elif m := _SAVING.search(line):
        done, total = int(m.group(1)), max(1, int(m.group(2)))
        bar.update(quant_end + (1 - quant_end) * done / total, f"saving tensors {done}/{total}")
