"""Fakes of Decorum's own interfaces (never of the thing under test).

``FakeClassifier`` scores by rules the test sets; ``FakeGenerator`` returns scripted answers and
records what it was asked. Real-model tests use the real classes instead.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence

from decorum.adapters.base import (
    DEFAULT_DECODING,
    AdapterRef,
    FinishReason,
    Generation,
    GenerationRequest,
    ModelInfo,
)
from decorum.errors import GenerationError
from decorum.guardrails.classifier import LABELS


class FakeClassifier:
    """Label probabilities from substring rules: ``{"idiot": {"toxicity": 0.9}}``."""

    name = "fake-classifier"
    revision = "0"

    def __init__(self, rules: dict[str, dict[str, float]] | None = None) -> None:
        self.rules = rules or {}
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.calls.append(list(texts))
        out = []
        for text in texts:
            scores = dict.fromkeys(LABELS, 0.01)
            for needle, labels in self.rules.items():
                if needle in text:
                    for label, value in labels.items():
                        scores[label] = max(scores[label], value)
            out.append(scores)
        return out


class FakeGenerator:
    """Answers with ``reply(messages)`` (default: echo a fixed sentence); can fail, or stream word by word.

    With ``stream_delay_s`` set it streams like the real engines: each word (with its leading space) goes
    to the request's ``on_text`` after that delay, and a sink's ``False`` stops the answer there. With ``gate``
    set, every generation waits until the gate is opened: a response that arrives while it is shut was not
    waiting for an answer (how the Slack tests prove the 3-second ack without timing it).
    """

    def __init__(self, reply: Callable[[GenerationRequest], str] | str = "Open Settings and choose Reset.",
                 *, fail: bool = False, stream_delay_s: float | None = None,
                 gate: threading.Event | None = None) -> None:
        self.reply = reply
        self.gate = gate
        self.fail = fail
        self.stream_delay_s = stream_delay_s
        self.requests: list[GenerationRequest] = []
        self.batches: list[int] = []
        self.streamed: list[str] = []  # every piece handed to a sink
        self.info = ModelInfo(backend="fake", name="fake-llm", revision="f" * 64, engine="fake")
        self.decoding = DEFAULT_DECODING
        self._lock = threading.Lock()

    def load(self) -> None:
        return None

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        return None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        with self._lock:
            self.requests.extend(requests)
            self.batches.append(len(requests))
        if self.gate is not None and not self.gate.wait(60):
            raise GenerationError("fake backend: the test never opened the gate")
        if self.fail:
            raise GenerationError("fake backend is down")
        out = []
        for req in requests:
            text = self.reply(req) if callable(self.reply) else self.reply
            reason: FinishReason = "stop"
            if self.stream_delay_s is not None and req.on_text is not None:
                text, reason = self._stream(req, text)
            out.append(Generation(text=text, prompt_tokens=sum(len(m["content"].split()) for m in req.messages),
                                  completion_tokens=len(text.split()), finish_reason=reason))
        return out

    def _stream(self, req: GenerationRequest, text: str) -> tuple[str, FinishReason]:
        sent = ""
        for piece in re.findall(r"\s*\S+", text):
            time.sleep(self.stream_delay_s or 0)
            sent += piece
            with self._lock:
                self.streamed.append(piece)
            if not req.emit(piece):
                return sent.strip(), "cancelled"
        return text, "stop"
