"""The ``Generator`` interface: chat messages in, text out, batch-first, optionally streamed.

Example::

    gen = OnnxGenerator(cache_dir)
    [out] = gen.generate([GenerationRequest(messages=[{"role": "user", "content": "Hi"}])])
    out.text, out.completion_tokens, out.finish_reason

    pieces = []
    gen.generate([GenerationRequest(messages=msgs, on_text=lambda piece: pieces.append(piece) or True)])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Literal, Protocol

logger = logging.getLogger(__name__)

FinishReason = Literal["stop", "length", "timeout", "cancelled"]
TextSink = Callable[[str], bool]
"""Receives each new piece of generated text, in order, on the generating thread; ``False`` stops that answer."""


@dataclass(frozen=True, slots=True)
class AdapterRef:
    """A fine-tuned LoRA adapter: where it is and what it is (for the transparency note)."""

    name: str
    version: int
    path: Path
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One answer to generate. ``on_text`` (optional) streams it: see ``TextSink``.

    A generator that streams hands every piece to ``on_text``; the pieces joined are the final
    ``Generation.text`` before its surrounding whitespace is stripped. One that cannot stream never calls it.
    """

    messages: list[dict[str, str]]
    max_new_tokens: int | None = None
    adapter: AdapterRef | None = None
    # None or 0: greedy (the same answer every time); above 0: sampled at that temperature (a template's
    # ``generation.temperature``). Local engines batch only requests of one adapter and one temperature.
    temperature: float | None = None
    on_text: TextSink | None = field(default=None, compare=False, repr=False)

    def emit(self, piece: str) -> bool:
        """Hand ``piece`` to ``on_text``; ``False`` when the answer should stop (the sink said so, or failed)."""
        if self.on_text is None:
            return True
        try:
            return self.on_text(piece) is not False
        except Exception as exc:  # one failing sink stops its own answer, never the batch
            logger.warning("a text sink failed (%s); that answer stops", exc.__class__.__name__)
            return False


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    input_truncated: bool = False
    artifact_revision: str = ""  # what actually ran (an engine's built model, per adapter); "" = ``revision``
    token_ids: tuple[int, ...] = ()  # the generated tokens, where the engine gives them (engine comparisons)
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What goes into the note's ``model`` section.

    ``revision`` names the weights (SHA-256 of the converted safetensors); ``engine`` and ``precision`` say
    what ran them, and ``artifact_revision`` names the engine's built model (for ONNX: a digest of its files).
    """

    backend: str
    name: str
    revision: str
    engine: str = ""
    precision: str | None = None
    artifact_revision: str = ""

    def as_note(self) -> dict[str, object]:
        return {"backend": self.backend, "name": self.name, "revision": self.revision, "engine": self.engine,
                "precision": self.precision, "artifact_revision": self.artifact_revision or self.revision}


def generate_by_adapter(requests: Sequence[GenerationRequest],
                        run: Callable[[list[GenerationRequest]], list[Generation]]) -> list[Generation]:
    """Run ``requests`` as one batch per adapter and temperature (the base model is an adapter too); results in
    request order.

    For local engines, where one batch runs on one set of weights with one set of search options.
    """
    def key(req: GenerationRequest) -> tuple[str, int, float]:
        adapter = (req.adapter.name, req.adapter.version) if req.adapter else ("", 0)
        return (*adapter, req.temperature or 0.0)

    results: dict[int, Generation] = {}
    indexed = sorted(enumerate(requests), key=lambda p: key(p[1]))
    for _key, group in groupby(indexed, key=lambda p: key(p[1])):
        batch = list(group)
        outs = run([r for _, r in batch])
        results.update({i: out for (i, _), out in zip(batch, outs, strict=True)})
    return [results[i] for i in range(len(requests))]


def truncate_prompt(ids: list[int], limit: int, *, keep_head: int = 8) -> tuple[list[int], bool]:
    """A prompt of at most ``limit`` tokens: its first ``keep_head`` (the system start) and its last ones."""
    if len(ids) <= limit:
        return ids, False
    return ids[:keep_head] + ids[-(limit - keep_head):], True


class Generator(Protocol):
    """A text generator. ``generate`` may batch; results come back in request order."""

    info: ModelInfo

    def load(self) -> None:
        """Load weights now (``serve`` does this before answering ``/healthz`` with 200)."""
        ...

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        """Make these adapters ready now (verify their hashes; build what an engine needs), not on first use."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate one answer per request. Raises ``GenerationError`` on backend failure."""
        ...
