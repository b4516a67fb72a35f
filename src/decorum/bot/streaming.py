"""Guarded streaming: an answer is shown while it is generated, but only text that passed the output checks.

The generator hands each new piece of text to ``StreamGuard.sink`` (on its own thread). The guard cuts the
text into chunks (a sentence, a line, or at most ``max_chars`` at a word boundary) and, in order, runs the
output checks on the answer up to the end of each complete chunk (the chunk with the text before it, as a
reader sees it), then shows the checked text through the surface's ``AnswerStream``. A chunk that fails is
never shown: the generator is told to stop (unless the policy only warns), anything already shown is
retracted, and the pipeline's policy (regenerate, fall back, refuse) decides what replaces it. Once
generation ends nothing more is shown (the final answer follows at once), but the remaining chunks are
still checked, so the verdict on a streamed answer never depends on timing. NeMo Guardrails checks
streamed chunks in the same spirit.

Example::

    guard = StreamGuard(stream, check=lambda text: checks.submit((text, "output")), started=t0,
                        record=StreamRecord())
    gen = await generator.submit(GenerationRequest(messages=msgs, on_text=guard.sink()))
    failed = await guard.finish()   # the failing chunk's results, or None
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from decorum.adapters.base import TextSink
from decorum.guardrails.base import CheckResult

logger = logging.getLogger(__name__)

MIN_CHARS = 24  # a sentence end closes a chunk only once the chunk has this much text ("1." is not a chunk)
MAX_CHARS = 400  # a chunk without a sentence end is cut at a word boundary after this much
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


class AnswerStream(Protocol):
    """Where a surface shows an answer as it is generated (Slack: one message, posted then updated).

    Example::

        class Printer:
            async def show(self, text: str) -> None: print("\\r" + text, end="")
            async def retract(self) -> None: print("\\r(withdrawn)")
    """

    async def show(self, text: str) -> None:
        """Show ``text``: all the checked text of the current attempt so far (not a delta)."""
        ...

    async def retract(self) -> None:
        """Withdraw what was shown: a later chunk failed; the final answer (or refusal) replaces it."""
        ...


def split_chunks(text: str, *, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> tuple[list[str], str]:
    """Complete chunks of ``text`` and the incomplete rest. Joined, they give ``text`` back exactly."""
    chunks: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        while m.end() - start > max_chars:  # a long run before this boundary: cut it at a word end
            start = _cut(text, start, max_chars, chunks)
        if m.end() <= start:
            continue
        if len(text[start:m.start()].strip()) >= min_chars:
            chunks.append(text[start:m.end()])
            start = m.end()
    while len(text) - start > max_chars:
        start = _cut(text, start, max_chars, chunks)
    return chunks, text[start:]


def _cut(text: str, start: int, max_chars: int, chunks: list[str]) -> int:
    window = text[start:start + max_chars]
    space = window.rfind(" ")
    end = start + (space + 1 if space > max_chars // 3 else max_chars)
    chunks.append(text[start:end])
    return end


@dataclass(slots=True)
class StreamRecord:
    """What the note's ``streaming`` section says (no text, only counts, timings and check results)."""

    chunks_checked: int = 0
    chunks_shown: int = 0
    first_visible_ms: int | None = None
    retracted: bool = False
    withheld: list[dict[str, Any]] = field(default_factory=list)

    def as_note(self) -> dict[str, Any]:
        return {"chunks_checked": self.chunks_checked, "chunks_shown": self.chunks_shown,
                "first_visible_ms": self.first_visible_ms, "retracted": self.retracted, "withheld": self.withheld}


class StreamGuard:
    """Checks one attempt's streamed text chunk by chunk and shows what passed. One per generation attempt.

    Args:
        stream: the surface's ``AnswerStream``.
        check: runs the output checks on a text (the answer up to a chunk's end).
        started: ``time.perf_counter()`` of the request (for ``first_visible_ms``).
        record: the request's ``StreamRecord`` (shared by its attempts).
        attempt: 1 for the first answer, 2 for a regenerated or fallback one.
        stop_on_fail: tell the generator to stop at a failing chunk (off when the policy only warns).
    """

    def __init__(self, stream: AnswerStream, *, check: Callable[[str], Awaitable[list[CheckResult]]],
                 started: float, record: StreamRecord, attempt: int = 1, stop_on_fail: bool = True) -> None:
        self.stream = stream
        self.check = check
        self.started = started
        self.record = record
        self.attempt = attempt
        self.stop_on_fail = stop_on_fail
        self.failed: list[CheckResult] | None = None
        self._buffer = ""
        self._shown = ""
        self._closed = False  # generation ended: check, but show nothing more
        self._stop = False  # read by the generating thread
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    def sink(self) -> TextSink:
        """The ``on_text`` for the generation request: called on the generating thread."""
        self._task = self._loop.create_task(self._run(), name="decorum-stream-guard")

        def on_text(piece: str) -> bool:
            if self._stop:
                return False
            self._loop.call_soon_threadsafe(self._feed, piece)
            return True

        return on_text

    def _feed(self, piece: str) -> None:
        self._buffer += piece
        chunks, self._buffer = split_chunks(self._buffer)
        for chunk in chunks:
            self._queue.put_nowait(chunk)

    async def _run(self) -> None:
        index = 0
        text = ""  # the answer up to and including the chunk being checked
        while (chunk := await self._queue.get()) is not None:
            index += 1
            start, text = len(text), text + chunk
            if self.failed is not None or not chunk.strip():
                continue
            # The chunk is judged with the text before it, as it would be read: a sentence alone loses the
            # context that the whole-answer check has ("the user's identity" reads as an identity attack).
            results = await self.check(text)
            self.record.chunks_checked += 1
            bad = [r for r in results if not r.passed]
            if bad:
                # ``span``: the part that was withheld, in the answer's characters.
                self.failed = [replace(r, span=(start, len(text)),
                                       explanation=f"the answer up to streamed part {index}: {r.explanation}"
                                       .rstrip(": ")) for r in bad]
                self.record.withheld.append({"attempt": self.attempt, "chunk": index,
                                             "checks": [r.as_note() for r in self.failed]})
                self._stop = self.stop_on_fail
                if self._shown:
                    self.record.retracted = True
                    await self._safely(self.stream.retract())
                continue
            if self._closed:
                continue
            self._shown += chunk
            self.record.chunks_shown += 1
            if self.record.first_visible_ms is None:
                self.record.first_visible_ms = round((time.perf_counter() - self.started) * 1000)
            await self._safely(self.stream.show(self._shown))

    async def _safely(self, call: Awaitable[None]) -> None:
        """A surface that fails to show or retract never fails the answer (its final delivery still runs)."""
        try:
            await call
        except Exception as exc:
            logger.warning("answer stream update failed (%s)", exc.__class__.__name__)

    async def finish(self) -> list[CheckResult] | None:
        """After generation: check the rest (shown no more) and return the failing chunk's failed checks, if any.

        Their ``span`` is the chunk's place in the answer text.
        """
        self._closed = True
        if self._buffer.strip():
            self._queue.put_nowait(self._buffer)
        self._buffer = ""
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task
        return self.failed

    async def abort(self) -> None:
        """Stop the checker task (the generation failed)."""
        self._closed = self._stop = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
