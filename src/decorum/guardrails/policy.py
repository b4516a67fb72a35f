"""The guardrail policy: thresholds, labels and actions. YAML-overridable, versioned into every note.

Example YAML (``DECORUM_CONFIG``)::

    policy:
      version: 6
      checks:
        toxicity: {threshold: 0.4}
      on_output_fail: refuse

A check may also be any installed guardrails-ai validator (one a team registered itself, imported through
``DECORUM_GUARDRAILS_MODULES``, or one from the hub installed as a package), run through a ``Guard`` on the
stages it lists; its on-fail action maps onto Decorum's (:data:`GUARDRAILS_AI_ON_FAIL`)::

    policy:
      checks:
        secrets:
          validator: {name: acme/no-secrets, args: {min_length: 20}, on_fail: fix}
          stages: [input, output]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from decorum.guardrails.base import Stage

TOXICITY_LABELS = ["toxicity", "severe_toxicity", "threat", "identity_attack", "insult"]

# Operating points, set on base rates (``decorum guardrails report``: ``base_rates``): the thresholds at which all
# checks together block at most 0.5% of everyday benign text (tests/benign, never trained on), the toxicity
# check's first since it decides most of that share, then the bias check's as low as the budget allows. The
# committed classifier's manifest records the same figures (``evaluation.base_rates``); a test holds them equal.
TOXICITY_THRESHOLD = 0.45
BIAS_THRESHOLD = 0.45

# How a text's parts combine (decorum.guardrails.checks): clauses of at least CLAUSE_CHARS characters (or naming a
# group) are parts of their own (ClassifierConfig.clause_chars), on by default. A check's part_rise can make the
# worst of n > FREE_PARTS parts reach the check's threshold raised by part_rise * ln(n / FREE_PARTS) in logit
# space; it is OFF by default (0): LONG_TEXT_RISE below is the calibrated setting, measured but not the default,
# because on held-out items it let padded threats through (bench/padded_long.py, 180 held-out hateful items in
# 4,000 characters of everyday requests: 172/180 blocked with no rise, 167/180 with it, below the 95% bar; 40
# benign 4,000-character messages: 19 blocked with no rise and no clauses, 3 with both). A workspace of long
# messages may turn it on (policy.checks.toxicity/bias: LONG_TEXT_RISE's keys). Calibrated on training-side data
# only (everyday_train.jsonl as benign parts and padding, the team's suite as padded items):
# `bench/padded_long.py --calibration --served-only --items 120 --benign 120 --seed 5 --rise 0.8,1.0,1.3
# --group-rise 0,0.3,0.5,1.0` prints that frontier. Chosen: the smallest rise that blocks at most 1 in 40 of those
# benign 4,000-character messages (1.0: 2/120), then the toxicity group-part rise that keeps the most padded items
# blocked (0 and 0.3 tie at 342/360; the larger kept). The `threat` label keeps the threshold (label_rise threat 0):
# no benign training part's worst label was `threat` at 0.45 or more, and "I will find you after work and make you
# bleed." (threat 0.73, no group) passed in a 4,000-character message otherwise. CLAUSE_CHARS 40 over 30 on the
# team's suite (balanced accuracy).
CLAUSE_CHARS = 40
FREE_PARTS = 4
LONG_TEXT_RISE: dict[str, dict[str, Any]] = {
    "toxicity": {"part_rise": 1.0, "group_part_rise": 0.3, "label_rise": {"threat": 0.0}},
    "bias": {"part_rise": 1.0},
}


# What a failed check does. refuse: block (input: refuse the question; output: refuse the answer, no retry);
# regenerate / fallback: retry the answer once (safer prompt / the other strategy), then refuse; on input they
# refuse (a question cannot be regenerated); fix: go on with the text the check repaired (guardrails-ai fix
# values: a redacted question is what the model sees, a redacted answer is what is shown); warn: record only.
CheckAction = Literal["refuse", "regenerate", "fallback", "fix", "warn"]

# guardrails-ai on-fail actions (OnFailAction) as Decorum's check actions.
GUARDRAILS_AI_ON_FAIL: dict[str, CheckAction] = {
    "exception": "refuse", "refrain": "refuse", "filter": "refuse", "reask": "regenerate",
    "fix_reask": "regenerate", "fix": "fix", "noop": "warn",
}
_GUARDRAILS_AI_ACTIONS = Literal["exception", "refrain", "filter", "reask", "fix_reask", "fix", "noop"]


class ValidatorSpec(BaseModel):
    """An installed guardrails-ai validator used as a check: its registered name, arguments and on-fail action.

    ``name`` is the name it was registered under (``@register_validator(name=...)``; ``hub://`` prefix allowed).
    ``on_fail`` takes guardrails-ai's vocabulary (exception, refrain, filter, reask, fix_reask, fix, noop) or
    Decorum's (refuse, regenerate, fallback, fix, warn).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=3, max_length=200, pattern=r"^(hub://)?[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+$")
    args: dict[str, JsonValue] = Field(default_factory=dict)
    on_fail: _GUARDRAILS_AI_ACTIONS | CheckAction = "exception"

    @property
    def action(self) -> CheckAction:
        return GUARDRAILS_AI_ON_FAIL.get(self.on_fail, self.on_fail)  # type: ignore[return-value]


class CheckPolicy(BaseModel):
    """How one check is applied: a classifier check (``labels``) or a guardrails-ai validator (``validator``)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.5, ge=0.0, le=1.0)
    labels: list[str] = Field(default_factory=list)
    stages: list[Stage] = ["input", "output", "template"]
    enabled: bool = True
    validator: ValidatorSpec | None = None
    # This check's own action when it fails; None: the stage's (on_input_fail / on_output_fail), or for a
    # validator its on_fail.
    on_fail: CheckAction | None = None
    part_rise: float = Field(0.0, ge=0.0, le=5.0, description=(
        "Classifier checks: how the threshold a text's worst part must reach rises with the number of parts the "
        "check's labels were judged on (decorum.guardrails.checks.part_threshold): logit(threshold) + part_rise "
        "* ln(parts / free_parts). Each part of an ordinary message has a small chance to score above the "
        "threshold, and a 4,000-character message has about 100 parts; 0 (the default) judges every part against "
        "the threshold itself. policy.LONG_TEXT_RISE is the calibrated setting and what it costs."))
    group_part_rise: float | None = Field(None, ge=0.0, le=5.0, description=(
        "Classifier checks: the rise for the parts that name a group (or speak of the one named just before), "
        "counted among the text's group parts only; None: part_rise. A long message names few groups, and a "
        "hateful sentence is one of those parts."))
    label_rise: dict[str, float] = Field(default_factory=dict, description=(
        "Classifier checks: a rise for one label that replaces part_rise and group_part_rise for it, where that "
        "label's benign part scores have a lighter tail (the toxicity check's `threat`: no everyday training "
        "part scores 0.45 on it, so a threat in a long message keeps the check's threshold)."))
    free_parts: int = Field(FREE_PARTS, ge=1, le=1000, description=(
        "Classifier checks: texts judged on at most this many parts keep the threshold itself (a short text "
        "read whole and clause by clause)."))

    @model_validator(mode="after")
    def _labels_or_validator(self) -> CheckPolicy:
        if self.validator is None and not self.labels:
            raise ValueError("a check needs classifier labels, or a guardrails-ai validator: "
                             "{validator: {name: <registered name>, on_fail: ...}}")
        if self.validator is not None and self.labels:
            raise ValueError("a guardrails-ai validator check takes no classifier labels")
        return self

    def action(self, stage: Stage, default: str) -> CheckAction:
        """What a failure of this check does on ``stage``, given the stage's policy action ``default``."""
        own = self.on_fail or (self.validator.action if self.validator is not None else None)
        return stage_action(own or default, stage)


def stage_action(action: str, stage: Stage) -> CheckAction:
    """``action`` as it applies on ``stage``: only an answer can be regenerated or replaced, elsewhere that refuses."""
    if stage != "output" and action in ("regenerate", "fallback"):
        return "refuse"
    return action  # type: ignore[return-value]


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
    # Texts longer than whole_chars are scored sentence by sentence and in pairs of neighbouring sentences up to
    # window_chars (decorum.guardrails.windows): the worst part decides, so padding cannot dilute it.
    whole_chars: int = Field(240, ge=20, le=4000)
    window_chars: int = Field(400, ge=100, le=2000)
    clauses: bool = Field(True, description=(
        "Also score each sentence of a short text and each clause of every sentence (split at ; : and joining "
        "words such as ', so', ', but', ', therefore') on its own, where it names a group or has at least "
        "clause_chars characters: one clause cannot dilute another ('Women are too emotional to lead teams, so "
        "prefer male candidates' is judged on its first clause). False: short texts are one part, as before."))
    clause_chars: int = Field(CLAUSE_CHARS, ge=1, le=4000, description=(
        "The shortest sentence or clause that is scored on its own without naming a group."))
    cache_size: int = Field(4096, ge=0)
    optimize: Literal["trace", "eager"] = "trace"  # TorchScript trace, checked against eager at load
    # The bias check's own model, trained to rank stereotype pairs (calibrated; its `bias` replaces the main
    # classifier's): on by default, the committed models/minilm-stereotype unless stereotype_artifact names another.
    stereotype_model: bool = True
    stereotype_artifact: Path | None = None
    # Long texts: a cheap screen (decorum.guardrails.screen) picks the parts the classifier reads; the screen_top_k
    # it ranks worst and every part naming a group are always read. Used only with the main model it was distilled
    # from (its manifest names that model's revision); off, or with another model, every part is read.
    screen: bool = True
    screen_top_k: int = Field(4, ge=1, le=64)
    screen_artifact: Path | None = None


def _default_checks() -> dict[str, CheckPolicy]:
    return {
        "toxicity": CheckPolicy(threshold=TOXICITY_THRESHOLD, labels=TOXICITY_LABELS),
        "bias": CheckPolicy(threshold=BIAS_THRESHOLD, labels=["bias"]),
        # Rules over (question, answer): picking one of two people in a who-question the context does not decide
        # (decorum.guardrails.answer_bias). Output only: it reads the answer with its question.
        "answer_bias": CheckPolicy(threshold=0.5, labels=["stereotype_pick"], stages=["output"]),
    }


class CheckOverride(BaseModel):
    """A profile's change to one check: any of threshold, stages, enabled, on_fail, and labels (a subset only)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(None, ge=0.0, le=1.0)
    labels: list[str] | None = None  # narrower only: which of the check's labels count here
    stages: list[Stage] | None = None
    enabled: bool | None = None
    on_fail: CheckAction | None = None


class PolicyProfile(BaseModel):
    """Stricter or looser settings for some Slack channels, over the policy's own.

    Example YAML (``#random`` allows profanity with no target: the generic toxicity label stops counting there,
    insults, threats and identity attacks still do; ``#customers`` blocks earlier)::

        policy:
          profiles:
            relaxed: {checks: {toxicity: {labels: [severe_toxicity, threat, identity_attack, insult]}}}
            strict: {checks: {toxicity: {threshold: 0.2}, bias: {threshold: 0.3}}, on_output_fail: refuse}
          channel_profiles: {C0RANDOM1: relaxed, C0CUSTOM1: strict}
    """

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", max_length=500)
    checks: dict[str, CheckOverride] = Field(default_factory=dict)
    on_input_fail: Literal["refuse", "warn"] | None = None
    on_output_fail: Literal["regenerate", "fallback", "refuse", "warn"] | None = None


_PROFILE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_CHANNEL_ID = r"^[CDG][A-Z0-9]{2,30}$"


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
    # Per-channel profiles: name -> overrides, and Slack channel id -> profile name (see PolicyProfile).
    profiles: dict[str, PolicyProfile] = Field(default_factory=dict)
    channel_profiles: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _profiles_are_consistent(self) -> Policy:
        for name, profile in self.profiles.items():
            if not re.match(_PROFILE_NAME, name):
                raise ValueError(f"profiles.{name}: a profile name is 1-40 of a-z, 0-9, _ and - (starting with a "
                                 f"letter or digit)")
            for check, override in profile.checks.items():
                base = self.checks.get(check)
                if base is None:
                    raise ValueError(f"profiles.{name}.checks.{check}: no such check in the policy "
                                     f"(checks: {', '.join(sorted(self.checks))})")
                if override.labels is not None:
                    extra = sorted(set(override.labels) - set(base.labels))
                    if extra or not override.labels:
                        raise ValueError(f"profiles.{name}.checks.{check}.labels: a profile may only narrow the "
                                         f"check's labels {base.labels}" + (f"; not {extra}" if extra else ""))
        for channel, name in self.channel_profiles.items():
            if not re.match(_CHANNEL_ID, channel):
                raise ValueError(f"channel_profiles.{channel}: not a Slack channel id (C..., G... or D..., "
                                 f"upper case)")
            if name not in self.profiles:
                raise ValueError(f"channel_profiles.{channel}: no profile {name!r} (profiles: "
                                 f"{', '.join(sorted(self.profiles)) or 'none'})")
        return self

    def profile_for(self, channel: str | None) -> str | None:
        """The profile name that applies to ``channel`` (None: the policy's own settings)."""
        return self.channel_profiles.get(channel) if channel else None

    def with_profile(self, name: str) -> Policy:
        """This policy with profile ``name`` applied (no profiles of its own): what the checks run under."""
        profile = self.profiles[name]
        data = self.model_dump(exclude={"profiles", "channel_profiles"})
        for check, override in profile.checks.items():
            data["checks"][check].update(override.model_dump(exclude_none=True))
        for key in ("on_input_fail", "on_output_fail"):
            value = getattr(profile, key)
            if value is not None:
                data[key] = value
        return Policy.model_validate(data)

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
