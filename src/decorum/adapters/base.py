"""The ``Generator`` interface: chat messages in, text out, batch-first.

Example::

    gen = TransformersGenerator(weights)
    [out] = gen.generate([GenerationRequest(messages=[{"role": "user", "content": "Hi"}])])
    out.text, out.completion_tokens, out.finish_reason
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "timeout"]


@dataclass(frozen=True, slots=True)
class AdapterRef:
    """A fine-tuned LoRA adapter: where it is and what it is (for the transparency note)."""

    name: str
    version: int
    path: Path
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    messages: list[dict[str, str]]
    max_new_tokens: int | None = None
    adapter: AdapterRef | None = None


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    input_truncated: bool = False
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What goes into the note's ``model`` section."""

    backend: str
    name: str
    revision: str


class Generator(Protocol):
    """A text generator. ``generate`` may batch; results come back in request order."""

    info: ModelInfo

    def load(self) -> None:
        """Load weights now (``serve`` does this before answering ``/healthz`` with 200)."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate one answer per request. Raises ``GenerationError`` on backend failure."""
        ...
