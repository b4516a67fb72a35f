"""How a text is cut into the parts the classifier scores, so that padding cannot dilute one bad part.

A classifier that reads a whole message averages it: one threat inside 800 characters of helpdesk text scores
like helpdesk text. So a message longer than ``whole_chars`` is scored part by part: every sentence (a line of a
code block or a quoted line counts as one; a sentence longer than ``sentence_chars`` is cut into overlapping
pieces at spaces), the first and last ``edge_chars`` of each long sentence (a message glued to
padding without punctuation), and pairs of neighbouring sentences that fit in ``window_chars`` (so that
"They are all vermin." is read with the sentence that says who "they" are; the checks pair only around a group
mention). The check keeps the score of the worst part and its span. A short message is one part, as a person
reads it.

Example::

    text = "Thanks for the help. " * 40 + "People like you should die."
    (840, 867) in scoring_windows(text)   # True: the last sentence alone, undiluted
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

# A sentence ends at . ! ? (with closing quotes or brackets) before white space, or at a line break.
_BREAK = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+|\s*\n+\s*")


def sentence_spans(text: str, *, sentence_chars: int = 300) -> list[tuple[int, int]]:
    """``[start, end)`` of each sentence or line of ``text`` (white space trimmed; long ones cut with overlap)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BREAK.finditer(text):
        _add(text, start, m.start(), spans, sentence_chars)
        start = m.end()
    _add(text, start, len(text), spans, sentence_chars)
    return spans


def _add(text: str, start: int, end: int, spans: list[tuple[int, int]], size: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return
    if end - start <= size:
        spans.append((start, end))
        return
    # A run-on sentence or a code line: pieces of ``size`` characters, each starting half a piece after the last,
    # cut at a space where there is one, so every stretch of ``size // 2`` characters is read whole at least once.
    pos = start
    while pos < end:
        stop = min(end, pos + size)
        if stop < end:
            cut = text.rfind(" ", pos + size // 2, stop)
            stop = cut if cut > pos else stop
        spans.append((pos, stop))
        if stop >= end:
            break
        nxt = text.find(" ", pos + (stop - pos) // 2, stop)
        pos = nxt + 1 if nxt > pos else pos + max(1, (stop - pos) // 2)


def scoring_windows(text: str, *, whole_chars: int = 240, window_chars: int = 400, sentence_chars: int = 300,
                    edge_chars: int = 60, pair: Callable[[int, int], bool] | None = None) -> list[tuple[int, int]]:
    """The parts of ``text`` to score: the whole text when it is short, else sentences and neighbouring pairs.

    Args:
        text: The message, template field or answer.
        whole_chars: Texts up to this length are scored whole (one part).
        window_chars: The longest pair of neighbouring sentences scored together.
        sentence_chars: Sentences longer than this are cut into overlapping pieces.
        edge_chars: A sentence longer than 1.5 times this also has its first and last ``edge_chars`` scored on
            their own: a message glued without punctuation to padding before or after it stays undiluted.
        pair: Which pairs of neighbouring sentences to score, asked by position (``[start, end)`` of the pair in
            ``text``; default: all); the checks pass "a group mention lies inside", since a pair is there to read
            a pronoun with the sentence that says who it is.

    Returns:
        ``[start, end)`` spans; never empty (an empty text is the one span ``(0, 0)``).
    """
    if len(text) <= whole_chars:
        return [(0, len(text))]
    sentences = sentence_spans(text, sentence_chars=sentence_chars)
    if not sentences:
        return [(0, len(text))]
    windows = list(sentences)
    for a, b in sentences:  # a message glued to padding without punctuation sits at one end of a long sentence
        if b - a > edge_chars * 3 // 2:
            head = text.rfind(" ", a + edge_chars // 2, a + edge_chars)
            tail = text.find(" ", b - edge_chars, b - edge_chars // 2)
            windows.append((a, head if head > a else a + edge_chars))
            windows.append((tail + 1 if tail >= 0 else b - edge_chars, b))
    for (a, _), (_, d) in pairwise(sentences):
        if d - a <= window_chars and (pair is None or pair(a, d)):
            windows.append((a, d))
    return list(dict.fromkeys(windows))
