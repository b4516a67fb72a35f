"""Question/answer data for fine-tuning: read, check, screen, split.

A data file is JSONL, one ``{"question": str, "answer": str}`` object per line (``fact`` and ``key_facts``
are optional: the fact a pair teaches, and the names and numbers an answer must contain). Before any
training, :func:`check_data` refuses what would make a bad or misleading model, with one line that says
where: an empty file, a line that is not such an object, an empty question or answer, one question with
two different answers, a test question that is in the training data (exactly or nearly). What can be set
aside without lying is set aside and listed: exact duplicate pairs, pairs too long to train on whole, and
examples the product's own guardrails flag (toxic or stereotyping: a model learns them; ``keep_flagged``
keeps them, and the model card says so).

Example::

    train = read_pairs(Path("train.jsonl"))
    test = read_pairs(Path("test.jsonl"))
    report = check_data(train, test, count_tokens=len_in_tokens, max_tokens=256, screen=guardrails_screen)
    report.kept                       # the pairs to train on
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decorum.errors import UsageError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FIELD_CHARS = 8_000
NEAR_DUPLICATE = 0.8  # word-set Jaccard at or above which two questions are "the same question"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class QAPair:
    question: str
    answer: str
    line: int
    fact: str | None = None
    key_facts: tuple[str, ...] = ()


def read_pairs(path: Path) -> list[QAPair]:
    """Every pair of a JSONL file; any malformed line is a ``UsageError`` naming the file and line."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc
    if size > MAX_FILE_BYTES:
        raise UsageError(f"{path}: {size} bytes; the limit is {MAX_FILE_BYTES} (split the data set)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from exc
    if "\x00" in text:
        raise UsageError(f"{path}: holds NUL bytes; expected JSONL text")
    pairs = []
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{path}:{n}: not valid JSON ({exc.__class__.__name__}: {exc})") from exc
        if not isinstance(row, dict):
            raise UsageError(f"{path}:{n}: expected a JSON object with 'question' and 'answer'")
        question, answer = row.get("question"), row.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise UsageError(f"{path}:{n}: 'question' and 'answer' must both be strings")
        if not question.strip() or not answer.strip():
            raise UsageError(f"{path}:{n}: empty {'question' if not question.strip() else 'answer'}")
        if len(question) > MAX_FIELD_CHARS or len(answer) > MAX_FIELD_CHARS:
            raise UsageError(f"{path}:{n}: a field is over {MAX_FIELD_CHARS} characters")
        key_facts = row.get("key_facts") or ()
        if not isinstance(key_facts, list | tuple) or not all(isinstance(k, str) for k in key_facts):
            raise UsageError(f"{path}:{n}: 'key_facts' must be a list of strings")
        fact = row.get("fact")
        pairs.append(QAPair(question=question.strip(), answer=answer.strip(), line=n,
                            fact=str(fact) if fact is not None else None, key_facts=tuple(key_facts)))
    if not pairs:
        raise UsageError(f"{path}: holds no question/answer pairs")
    return pairs


def data_sha256(pairs: Sequence[QAPair]) -> str:
    """A digest of the pairs' content (not of the file's bytes: reformatting does not change it)."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(json.dumps([p.question, p.answer], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.casefold()))


def _normal(text: str) -> str:
    """Words only, case-folded; text without any word character stays itself (never collapses to "")."""
    return " ".join(_WORD.findall(text.casefold())) or text.strip()


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


@dataclass(frozen=True, slots=True)
class Flagged:
    line: int
    field: str  # question | answer
    check: str
    score: float


@dataclass(slots=True)
class DataReport:
    """What the checks found; ``kept`` is what training uses."""

    total: int
    kept: list[QAPair]
    duplicates: list[int] = field(default_factory=list)  # lines of exact repeats (the first one stays)
    overlong: list[int] = field(default_factory=list)
    flagged: list[Flagged] = field(default_factory=list)
    flagged_kept: bool = False
    leakage_checked: bool = False
    test_size: int = 0

    def summary(self) -> dict[str, Any]:
        return {"rows": self.total, "kept": len(self.kept), "duplicates_removed": len(self.duplicates),
                "overlong_removed": len(self.overlong), "overlong_lines": self.overlong[:50],
                "flagged": len({f.line for f in self.flagged}), "flagged_kept": self.flagged_kept,
                "flagged_examples": [{"line": f.line, "field": f.field, "check": f.check, "score": round(f.score, 3)}
                                     for f in self.flagged[:100]],
                "leakage_checked": self.leakage_checked, "test_pairs": self.test_size}


Screen = Callable[[list[str], str], list[list[tuple[str, float, bool]]]]
"""Guardrail screen: texts and a stage -> per text, ``(check, score, passed)`` for every check."""


def check_data(train: Sequence[QAPair], test: Sequence[QAPair] | None, *, count_tokens: Callable[[QAPair], int],
               max_tokens: int, screen: Screen | None, keep_flagged: bool = False) -> DataReport:
    """Refuse bad data (``UsageError``, one line) or return what to train on, with what was set aside."""
    seen: dict[str, QAPair] = {}
    kept: list[QAPair] = []
    report = DataReport(total=len(train), kept=kept, flagged_kept=keep_flagged)
    for p in train:
        key = _normal(p.question)
        first = seen.get(key)
        if first is not None:
            if _normal(first.answer) != _normal(p.answer):
                raise UsageError(f"line {p.line}: the question of line {first.line} again with a different answer; "
                                 f"give one canonical answer per question")
            report.duplicates.append(p.line)
            continue
        seen[key] = p
        kept.append(p)
    if test is not None:
        _check_leakage(kept, test)
        report.leakage_checked, report.test_size = True, len(test)
    for p in list(kept):
        if count_tokens(p) > max_tokens:
            report.overlong.append(p.line)
    if report.overlong:
        drop = set(report.overlong)
        kept[:] = [p for p in kept if p.line not in drop]
    if screen is not None:
        for field_name, stage in (("question", "input"), ("answer", "output")):
            results = screen([getattr(p, field_name) for p in kept], stage)
            for p, checks in zip(kept, results, strict=True):
                report.flagged.extend(Flagged(p.line, field_name, check, score)
                                      for check, score, passed in checks if not passed)
        if report.flagged and not keep_flagged:
            drop = {f.line for f in report.flagged}
            kept[:] = [p for p in kept if p.line not in drop]
    if not kept:
        raise UsageError("no training pairs are left after the checks (see the lines listed above)")
    return report


def _check_leakage(train: Sequence[QAPair], test: Sequence[QAPair]) -> None:
    """A test question that is also a training question (exactly, or the same words) is an error."""
    exact = {_normal(p.question): p for p in train}
    train_words = [(words(p.question), p) for p in train]
    leaks = []
    for t in test:
        hit = exact.get(_normal(t.question))
        if hit is not None:
            leaks.append(f"test line {t.line} = train line {hit.line}")
            continue
        tw = words(t.question)
        for w, p in train_words:
            if len(tw) >= 3 and similarity(tw, w) >= NEAR_DUPLICATE:
                leaks.append(f"test line {t.line} ~ train line {p.line} ({similarity(tw, w):.2f})")
                break
    if leaks:
        more = f" and {len(leaks) - 3} more" if len(leaks) > 3 else ""
        raise UsageError(f"train/test leakage: {len(leaks)} test question(s) are in the training data "
                         f"({'; '.join(leaks[:3])}{more}); remove them from one side")


def split_eval(pairs: Sequence[QAPair], fraction: float, seed: int) -> tuple[list[QAPair], list[QAPair]]:
    """A seeded train/eval split. Pairs of one ``fact`` are spread so that each fact keeps training pairs."""
    rng = random.Random(seed)
    order = list(pairs)
    rng.shuffle(order)
    n_eval = max(1, round(len(order) * fraction)) if len(order) > 1 else 0
    evals: list[QAPair] = []
    per_fact: dict[str | None, int] = {}
    for p in order:
        facts_total = sum(1 for q in pairs if q.fact == p.fact) if p.fact else 0
        if len(evals) < n_eval and (p.fact is None or per_fact.get(p.fact, 0) < facts_total - 1):
            evals.append(p)
            if p.fact is not None:
                per_fact[p.fact] = per_fact.get(p.fact, 0) + 1
    chosen = {p.line for p in evals}
    return [p for p in pairs if p.line not in chosen], evals
