"""How a text is cut into the parts the classifier scores, so that padding cannot dilute one bad part.

A classifier that reads a whole message averages it: one threat inside 800 characters of helpdesk text scores
like helpdesk text. So a message longer than ``whole_chars`` is scored part by part: every sentence (a line of a
code block or a quoted line counts as one; a sentence longer than ``sentence_chars`` is cut into overlapping
pieces at spaces), the first and last ``edge_chars`` of each long sentence (a message glued to
padding without punctuation), and pairs of neighbouring sentences that fit in ``window_chars`` (so that
"They are all vermin." is read with the sentence that says who "they" are; the checks pair only around a group
mention). The check keeps the score of the worst part and its span. A short message is read whole, as a person
reads it, and (the checks pass a ``clause`` predicate) also by sentence and by clause (:func:`clause_spans`: split
at ``;``, ``:`` and joining words such as ", so", ", but", ", therefore"), so that one clause cannot dilute another:
"Women are too emotional to lead teams, so prefer male candidates for manager roles." scores identity_attack 0.27
whole and 0.98 on its first clause. Long texts' sentences are cut into clauses the same way.

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
# A clause ends at a semicolon or a colon, or before a joining word that starts a new claim ("..., so prefer ...",
# "..., but they ..."); the joining word belongs to neither side. A reason ("because", "since") stays with its
# claim: "should not be discriminated against because they have a disability" cut there reads as two other claims.
_CLAUSE = re.compile(r"\s*[;:]\s+|,\s+(?:and\s+)?(?:so|but|yet|therefore|hence|thus|which\s+means|"
                     r"and\s+that(?:'s|\s+is)\s+why)\s+|\s+(?:therefore|hence)\s+", re.IGNORECASE)


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


def clause_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``[start, end)`` of each clause of ``text[start:end]`` (split at ``;``, ``:`` and joining words such as
    ", so", ", but", ", therefore"; white space and the joining word trimmed); ``[]`` when it is one clause."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _CLAUSE.finditer(text, start, end):
        _add(text, pos, m.start(), spans, end - start)
        pos = m.end()
    if pos == start:
        return []
    _add(text, pos, end, spans, end - start)
    return spans if len(spans) > 1 else []


def scoring_windows(text: str, *, whole_chars: int = 240, window_chars: int = 400, sentence_chars: int = 300,
                    edge_chars: int = 60, pair: Callable[[int, int], bool] | None = None,
                    clause: Callable[[int, int], bool] | None = None) -> list[tuple[int, int]]:
    """The parts of ``text`` to score: the whole text when it is short, else sentences and neighbouring pairs;
    with ``clause``, also the sentences of a short text and the clauses of every sentence.

    Args:
        text: The message, template field or answer.
        whole_chars: Texts up to this length are scored whole (and, with ``clause``, also by sentence and clause).
        window_chars: The longest pair of neighbouring sentences scored together.
        sentence_chars: Sentences longer than this are cut into overlapping pieces.
        edge_chars: A sentence longer than 1.5 times this also has its first and last ``edge_chars`` scored on
            their own: a message glued without punctuation to padding before or after it stays undiluted.
        pair: Which pairs of neighbouring sentences to score, asked by position (``[start, end)`` of the pair in
            ``text``; default: all); the checks pass "a group mention lies inside", since a pair is there to read
            a pronoun with the sentence that says who it is.
        clause: Which sentences of a short text and which clauses of a sentence (:func:`clause_spans`) to score
            on their own, asked by position (default: none); the checks pass "names a group, or is long enough to
            mean something", so that "Women are too emotional to lead teams, so prefer male candidates" is read
            clause by clause and one clause cannot dilute the other.

    Returns:
        ``[start, end)`` spans; never empty (an empty text is the one span ``(0, 0)``). A short text's first span
        is the whole text.
    """
    if len(text) <= whole_chars:
        windows = [(0, len(text))]
        if clause is not None and text.strip():
            sentences = sentence_spans(text, sentence_chars=sentence_chars)
            if len(sentences) > 1:
                windows += [s for s in sentences if clause(*s)]
            windows += [c for a, b in sentences for c in clause_spans(text, a, b) if clause(*c)]
        return list(dict.fromkeys(windows))
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
        if clause is not None:
            windows += [c for c in clause_spans(text, a, b) if clause(*c)]
    for (a, _), (_, d) in pairwise(sentences):
        if d - a <= window_chars and (pair is None or pair(a, d)):
            windows.append((a, d))
    return list(dict.fromkeys(windows))
