"""Answer-quality metrics against a reference answer.

- ``token_f1``: SQuAD-style F1 over lower-cased word tokens (articles and punctuation dropped).
- ``rouge_l``: the F-measure of the longest common subsequence of tokens (Lin 2004).
- ``key_fact_recall``: the share of the reference's key facts that the answer contains; the key facts are
  the pair's ``key_facts`` when the data gives them, else the names and numbers found in the reference
  (capitalised words not starting a sentence, numbers, channel names, e-mail addresses, short codes).
- ``answer_class``: ``not_sure`` (the answer says so first, as the served "I'm not sure" answer does),
  ``right`` (more than half of the key facts: key-fact recall above ``RIGHT_ABOVE``) or ``wrong`` (everything
  else, a refusal too).

Example::

    token_f1("Use the Pelican portal", "Reset it in the Pelican portal")   # 0.57
    key_fact_recall("Call ext. 4357", "Call the service desk on ext. 4357 within 10 minutes")  # 0.5
    answer_class("I'm not sure. The closest article says: ...", 1.0)   # "not_sure"
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

AnswerClass = Literal["right", "not_sure", "wrong"]
ANSWER_CLASSES: tuple[AnswerClass, ...] = ("right", "not_sure", "wrong")
# More than half: 2 of 2 or 2 of 3 key facts (the helpdesk test pairs have 2 or 3). On the shipped split
# (2026-12-07) four of the five answers with 1 of 2 or 1 of 3 told another article's facts or invented some,
# naming only a system of the right one (Ledgerline, Tidewater, Lighthouse); the fifth misspelt the name it
# was asked about. The one with 2 of 3 answered the question, with trailing noise.
RIGHT_ABOVE = 0.5
NOT_SURE = ("i'm not sure", "i\u2019m not sure")

_TOKEN = re.compile(r"[\w€$£%]+(?:[.,'][\w]+)*")
_ARTICLES = {"a", "an", "the"}
_KEY = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+"            # e-mail
    r"|#[\w-]+"                            # Slack channel
    r"|(?:[€$£]\s?)?\d[\d.,:/]*(?:\s?%|\s?[€$£])?"  # numbers, amounts, times, dates
    r"|go/[\w-]+"                          # short links
    r"|(?<![.!?]\s)(?<!^)\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*"  # capitalised names not starting a sentence
)


def tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.casefold()) if t not in _ARTICLES]


def token_f1(answer: str, reference: str) -> float:
    a, r = tokens(answer), tokens(reference)
    if not a or not r:
        return float(a == r)
    common = sum((Counter(a) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(answer: str, reference: str) -> float:
    a, r = tokens(answer), tokens(reference)
    if not a or not r:
        return float(a == r)
    lcs = _lcs(a, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def key_facts(reference: str) -> list[str]:
    """Names and numbers of a reference answer (used when the data gives no ``key_facts``)."""
    found = [m.group(0).strip(" .,") for m in _KEY.finditer(reference)]
    return list(dict.fromkeys(f for f in found if f and f.lower() not in {"i", "if", "you", "your"}))


def key_fact_recall(answer: str, reference: str, facts: Sequence[str] = ()) -> float:
    """The share of key facts (given, or extracted from ``reference``) that ``answer`` contains."""
    wanted = list(facts) or key_facts(reference)
    if not wanted:
        return 1.0
    norm = " ".join(answer.casefold().split())

    def found(fact: str) -> bool:  # as a whole phrase: "10" is not in "100"
        phrase = re.escape(" ".join(fact.casefold().split()))
        return re.search(rf"(?<!\w){phrase}(?!\w)", norm) is not None

    return sum(1 for f in wanted if found(f)) / len(wanted)


def answer_class(answer: str, recall: float, *, right_above: float = RIGHT_ABOVE) -> AnswerClass:
    """``not_sure`` when ``answer`` starts by saying so, else ``right`` when ``recall`` (its key-fact recall) is
    above ``right_above``, else ``wrong``. A not-sure answer is neither, whatever the article it quotes."""
    if answer.lstrip().casefold().startswith(NOT_SURE):
        return "not_sure"
    return "right" if recall > right_above else "wrong"
