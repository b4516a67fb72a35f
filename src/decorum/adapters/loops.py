"""Degenerate answers: the measure, and a detector that watches an answer while it is generated.

An answer is *degenerate* when a 3-word sequence occurs 3 or more times in it (words: letters, digits and
apostrophes, case ignored; punctuation and line breaks do not separate a sequence). That is the measure the
everyday-requests bench reports (``is_degenerate``). The detector stops an answer at the first sign of it: the
same 3-word sequence a third time, or a run of one repeated line (3 lines in a row that read the same once
their list numbers or bullets are set aside, blank lines between them ignored), which also catches loops of
lines under 3 words ("Thanks!" x3).

Example::

    detector = LoopDetector()
    for piece in stream:
        if (loop := detector.feed(piece)) is not None:
            break                                   # stop generating; regenerate, or cut at loop.start
    loop = find_loop(text)                          # the same on a whole text
    trim_loop(text, loop)                           # the text before its repetition began
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

NGRAM = 3  # words in a sequence
REPEATS = 3  # occurrences of one sequence that make an answer degenerate
LINE_REPEATS = 3  # lines in a row that read the same

_WORD = re.compile(r"[\w']+")
_LIST_MARK = re.compile(r"^\s*(?:[-*•>#]+|\d+[.)]|[a-z][.)])\s+", re.IGNORECASE)
_DANGLING_MARK = re.compile(r"(?:^|\n)[ \t]*(?:[-*•]|\d+[.)])$")
_SENTENCE_END = re.compile(r"[.!?]['\")\]]*\s|\n")


@dataclass(frozen=True, slots=True)
class Loop:
    """A repetition found in a text.

    ``kind``: ``ngram`` (a 3-word sequence a third time) or ``line`` (a run of one repeated line);
    ``start``: where the repetition began (the second occurrence, in the text's characters): the text before it
    repeats nothing that often; ``at``: where it was found (the end of the third occurrence).
    """

    kind: Literal["ngram", "line"]
    start: int
    at: int
    what: str = field(default="", repr=False)  # the repeated words or line (never recorded in a note)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def max_ngram_repeats(text: str, n: int = NGRAM) -> int:
    """How often the most frequent ``n``-word sequence of ``text`` occurs (0 for a text under ``n`` words)."""
    ws = words(text)
    counts = Counter(tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))
    return max(counts.values(), default=0)


def repeated_ngrams(text: str, n: int = NGRAM) -> int:
    """Occurrences beyond the first of every ``n``-word sequence (0: no sequence repeats)."""
    ws = words(text)
    counts = Counter(tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))
    return sum(c - 1 for c in counts.values())


def is_degenerate(text: str) -> bool:
    """The bench's measure: some 3-word sequence occurs 3 or more times."""
    return max_ngram_repeats(text) >= REPEATS


def find_loop(text: str) -> Loop | None:
    """The first loop in ``text`` (as the detector would stop at it), or None."""
    detector = LoopDetector()
    detector.feed(text)
    return detector.close()


def trim_loop(text: str, loop: Loop) -> str:
    """``text`` without its repetition: cut where it began, and back to the last sentence or line end before that
    when that keeps at least half of it; trailing space removed."""
    head = text[:loop.start]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= len(head) / 2:
        head = head[:ends[-1]]
    return _DANGLING_MARK.sub("", head.rstrip()).rstrip()  # no list number or bullet left without its item


class LoopDetector:
    """Watches a text arriving in pieces; ``feed`` returns the first ``Loop`` once there is one (and keeps
    returning it). Work per piece is proportional to the piece, not to the text so far."""

    def __init__(self, *, n: int = NGRAM, repeats: int = REPEATS, line_repeats: int = LINE_REPEATS) -> None:
        self.n = n
        self.repeats = repeats
        self.line_repeats = line_repeats
        self.loop: Loop | None = None
        self._text = ""
        self._scanned = 0  # words and lines before this offset are counted
        self._words: list[tuple[str, int]] = []  # (word, start offset)
        self._seen: dict[tuple[str, ...], list[int]] = {}  # sequence -> start offsets of its occurrences
        self._line_start = 0
        self._run: tuple[str, list[int]] = ("", [])  # the current run of one line: its text, their starts

    @property
    def text(self) -> str:
        return self._text

    def feed(self, piece: str) -> Loop | None:
        if self.loop is not None or not piece:
            return self.loop
        self._text += piece
        self._scan(final=False)
        return self.loop

    def close(self) -> Loop | None:
        """The text is complete: count its last word and line too."""
        if self.loop is None:
            self._scan(final=True)
        return self.loop

    def _scan(self, *, final: bool) -> None:
        text = self._text
        # Words that may still grow (the text's last one, unless it is complete) wait for the next piece.
        for m in _WORD.finditer(text, self._scanned):
            if m.end() == len(text) and not final:
                break
            self._scanned = m.end()
            self._word(m.group().lower(), m.start(), m.end())
            if self.loop is not None:
                return
        # Lines: each complete one (and the last, at the end) is compared with the run before it.
        while (nl := text.find("\n", self._line_start)) != -1:
            self._line(text[self._line_start:nl], self._line_start, nl)
            self._line_start = nl + 1
            if self.loop is not None:
                return
        if final and self._line_start < len(text):
            self._line(text[self._line_start:], self._line_start, len(text))
            self._line_start = len(text)

    def _word(self, word: str, start: int, end: int) -> None:
        self._words.append((word, start))
        if len(self._words) < self.n:
            return
        gram = tuple(w for w, _ in self._words[-self.n:])
        first = self._words[-self.n][1]
        starts = self._seen.setdefault(gram, [])
        starts.append(first)
        if len(starts) >= self.repeats:
            self.loop = Loop("ngram", start=starts[1], at=end, what=" ".join(gram))

    def _line(self, line: str, start: int, end: int) -> None:
        key = " ".join(words(_LIST_MARK.sub("", line)))
        if not key:  # blank lines (and lines of punctuation) neither break nor extend a run
            return
        text, starts = self._run
        if key != text:
            self._run = (key, [start])
            return
        starts.append(start)
        if len(starts) >= self.line_repeats:
            self.loop = Loop("line", start=starts[1], at=end, what=key)
