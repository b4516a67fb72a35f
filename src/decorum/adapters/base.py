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
from dataclasses import astuple, dataclass, field
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
class Decoding:
    """Settings against repetition. Each engine applies those it implements and reports them (``Generation.decoding``).

    Local engines (onnxruntime-genai and transformers implement both exactly alike):

    * ``repetition_penalty``: the logit of every token already in the sequence (prompt and answer so far) is
      divided by it when positive, multiplied by it when negative (CTRL's rule); 1.0 = off.
    * ``no_repeat_ngram_size``: no sequence of this many tokens occurs twice in the sequence (a next token that
      would repeat one is banned); 0 = off.

    OpenAI-compatible servers (``openai_compat``), sent only when not 0: ``frequency_penalty`` (subtracted from a
    token's logit once per time it occurred in the answer) and ``presence_penalty`` (once, if it occurred).

    ``DEFAULT_DECODING`` is on in every local engine; an answer the loop detector (``decorum.adapters.loops``) stops is
    regenerated once with ``STRONGER``.
    """

    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 4
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0

    def local(self) -> dict[str, float | int]:
        """What a local engine applies (and the note records)."""
        return {"repetition_penalty": self.repetition_penalty, "no_repeat_ngram_size": self.no_repeat_ngram_size}

    def remote(self) -> dict[str, float]:
        """What an OpenAI-compatible request carries (the penalties that are not 0)."""
        return {k: v for k, v in (("frequency_penalty", self.frequency_penalty),
                                  ("presence_penalty", self.presence_penalty)) if v}


DEFAULT_DECODING = Decoding()
# The one regeneration after a loop: a stronger penalty and no repeated token trigram (locally); a frequency
# penalty for a remote model.
STRONGER = Decoding(repetition_penalty=1.2, no_repeat_ngram_size=3, frequency_penalty=0.5)
NO_PENALTY = Decoding(repetition_penalty=1.0, no_repeat_ngram_size=0)  # the engines as they were (benches)


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
    # ``generation.temperature``). Local engines batch only requests of one adapter, temperature and decoding.
    temperature: float | None = None
    on_text: TextSink | None = field(default=None, compare=False, repr=False)
    # Settings against repetition; None: the engine's configured ones (``models.generator``). See ``Decoding``.
    decoding: Decoding | None = None
    # Sees every piece before ``on_text`` does (the pipeline's loop detector); ``False`` stops the answer, and
    # that piece is not handed to ``on_text``. Unlike ``on_text`` it never asks a remote engine to stream (one
    # asked for a plain answer hands it the whole text at once).
    watch: TextSink | None = field(default=None, compare=False, repr=False)

    @property
    def observed(self) -> bool:
        """Whether anyone reads the pieces (a local engine then decodes and hands them out as it generates)."""
        return self.on_text is not None or self.watch is not None

    def emit(self, piece: str) -> bool:
        """Hand ``piece`` to ``watch``, then ``on_text``; ``False`` when the answer should stop (one of them said
        so, or failed)."""
        for sink in (self.watch, self.on_text):
            if sink is None:
                continue
            try:
                if sink(piece) is False:
                    return False
            except Exception as exc:  # one failing sink stops its own answer, never the batch
                logger.warning("a text sink failed (%s); that answer stops", exc.__class__.__name__)
                return False
        return True


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
    # The settings against repetition this answer ran with, as sent to the engine (local: repetition_penalty,
    # no_repeat_ngram_size; openai_compat: frequency_penalty, presence_penalty); empty: none were applied.
    decoding: dict[str, float | int] = field(default_factory=dict)


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
    """Run ``requests`` as one batch per adapter, temperature and decoding settings (the base model is an adapter
    too); results in request order.

    For local engines, where one batch runs on one set of weights with one set of search options.
    """
    def key(req: GenerationRequest) -> tuple[object, ...]:
        adapter = (req.adapter.name, req.adapter.version) if req.adapter else ("", 0)
        return (*adapter, req.temperature or 0.0, astuple(req.decoding) if req.decoding else ())

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
    """A text generator. ``generate`` may batch; results come back in request order. ``decoding``: the settings
    against repetition a request runs with unless it names its own (``GenerationRequest.decoding``)."""

    info: ModelInfo
    decoding: Decoding

    def load(self) -> None:
        """Load weights now (``serve`` does this before answering ``/healthz`` with 200)."""
        ...

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        """Make these adapters ready now (verify their hashes; build what an engine needs), not on first use."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate one answer per request. Raises ``GenerationError`` on backend failure."""
        ...
