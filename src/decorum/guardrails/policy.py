"""The guardrail policy: thresholds, labels and actions. YAML-overridable, versioned into every note.

Example YAML (``DECORUM_CONFIG``)::

    policy:
      version: 6
      checks:
        toxicity: {threshold: 0.4}
      on_output_fail: refuse
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from decorum.guardrails.base import Stage

TOXICITY_LABELS = ["toxicity", "severe_toxicity", "threat", "identity_attack", "insult"]


class CheckPolicy(BaseModel):
    """How one check is applied."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.5, ge=0.0, le=1.0)
    labels: list[str]
    stages: list[Stage] = ["input", "output", "template"]
    enabled: bool = True


class DetoxifyModel(BaseModel):
    """An official detoxify checkpoint, pinned: it loads only when its file's SHA-256 matches.

    Those checkpoints are pickles. decorum pins no digest for them yet (``classifier.OFFICIAL_MODELS``), so
    ``sha256`` is required; ``path`` is the downloaded file (without it, the pinned URL is downloaded into the
    cache and kept only if it matches). The file is then read with ``torch.load(weights_only=True)``.

    Example YAML::

        policy:
          classifier:
            detoxify_model: {name: original, path: /srv/models/toxic_original-c1212f89.ckpt, sha256: "<64 hex>"}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["original", "unbiased", "multilingual"]
    path: Path | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        """A bare name (``detoxify_model: original``) is accepted and then needs a pinned digest."""
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _has_a_digest(self) -> DetoxifyModel:
        from decorum.guardrails.classifier import OFFICIAL_MODELS

        official = OFFICIAL_MODELS[self.name]
        if not (self.sha256 or official.sha256):
            raise ValueError(f"detoxify_model {self.name!r} needs a sha256: decorum pins none for it and never loads "
                             f"an unverified checkpoint. Download {official.url}, check it, and set "
                             f"detoxify_model: {{name: {self.name}, path: <the file>, sha256: <its SHA-256>}}")
        return self


class ClassifierConfig(BaseModel):
    """Which classifier serves the checks: the project's own artifact, or an official detoxify model."""

    model_config = ConfigDict(extra="forbid")

    artifact: Path | None = None  # default: the committed minilm-tox-bias artifact
    detoxify_model: DetoxifyModel | None = None  # opt-in; pinned by its SHA-256 (see DetoxifyModel)
    max_length: int = Field(128, ge=16, le=512)
    batch_size: int = Field(32, ge=1, le=512)
    window_chars: int = Field(600, ge=100)  # long texts are scored in overlapping windows
    cache_size: int = Field(4096, ge=0)
    optimize: Literal["trace", "eager"] = "trace"  # TorchScript trace, checked against eager at load


def _default_checks() -> dict[str, CheckPolicy]:
    return {
        # 0.35 was chosen on the held-out families of guardrails/training/data/contrastive.jsonl
        # (not on tests/functional)
        "toxicity": CheckPolicy(threshold=0.35, labels=TOXICITY_LABELS),
        "bias": CheckPolicy(threshold=0.5, labels=["bias"]),
    }


class Policy(BaseModel):
    """The whole guardrail policy. ``ref`` (``name@version``) goes into every transparency note."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    version: int = Field(1, ge=1)
    checks: dict[str, CheckPolicy] = Field(default_factory=_default_checks)
    on_input_fail: Literal["refuse", "warn"] = "refuse"
    on_output_fail: Literal["regenerate", "fallback", "refuse", "warn"] = "regenerate"
    max_question_chars: int = Field(4000, ge=1)
    classifier: ClassifierConfig = ClassifierConfig()

    @field_validator("checks", mode="before")
    @classmethod
    def _merge_defaults(cls, value: object) -> object:
        """A YAML override of one field of one check keeps the defaults of the rest."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, object] = {k: v.model_dump() for k, v in _default_checks().items()}
        for name, override in value.items():
            base = merged.get(name, {})
            merged[name] = {**base, **override} if isinstance(override, dict) and isinstance(base, dict) else override
        return merged

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"
