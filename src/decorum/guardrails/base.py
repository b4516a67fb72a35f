"""The ``Check`` interface and its result.

Example::

    check = DetoxifyCheck("toxicity", policy.checks["toxicity"], scores)
    [result] = check.check(["How do I reset my VPN password?"], stage="input")
    result.passed, result.score, result.label
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Stage = Literal["input", "output", "template"]
STAGES: tuple[Stage, ...] = ("input", "output", "template")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check over one text. ``score``: 0 = no risk ... 1 = high risk."""

    check: str
    score: float
    threshold: float
    passed: bool
    scorer: str  # model name@revision: goes into the transparency note
    label: str = ""  # the classifier label that gave the score
    span: tuple[int, int] | None = None  # character span of the riskiest window
    details: Mapping[str, float] = field(default_factory=dict)
    explanation: str = ""
    # The groups the text names or implies, by fixed name (``decorum.guardrails.groups``), for checks gated on
    # them (bias); None for checks that do not look for groups. Never the text's words.
    groups: tuple[str, ...] | None = None
    # The text repaired by a fixing check (guardrails-ai ``fix``): for the pipeline to go on with; never in a note.
    fixed: str | None = field(default=None, repr=False, compare=False)

    def as_note(self) -> dict[str, Any]:
        """The form kept in the transparency note (rounded, no text)."""
        out = asdict(self)
        del out["fixed"]
        out["score"] = round(self.score, 4)
        out["details"] = {k: round(v, 4) for k, v in self.details.items()}
        out["span"] = list(self.span) if self.span else None
        if self.groups is None:
            del out["groups"]
        else:
            out["groups"] = list(self.groups)
        return out


class Check(Protocol):
    """A guardrail over texts. Pure: no Slack calls, no audit writes."""

    name: str

    def check(self, texts: Sequence[str], *, stage: Stage) -> list[CheckResult]:
        """One result per text, in order."""
        ...


class Classifier(Protocol):
    """A multi-label text classifier (``DetoxifyClassifier`` and the test fakes)."""

    name: str
    revision: str

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Label probabilities per text, in order."""
        ...
