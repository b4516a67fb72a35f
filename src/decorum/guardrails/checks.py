"""Checks over one shared classifier: a text is scored once, every check reads its labels.

``ClassifierScores`` batches texts, scores them in parts (long ones in sentences and overlapping windows, every
text also clause by clause where a clause names a group or is long enough; the riskiest part counts, and its
span is kept for the explanation) and caches by content hash, so the toxicity and bias checks of one request cost
one forward pass. A text read in many parts must clear a per-part threshold that rises with their number
(:func:`part_threshold`), so that ordinary long messages are not blocked by the sum of small per-part chances.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from decorum.errors import CheckError, ConfigError
from decorum.guardrails.base import Check, CheckResult, Classifier, Stage
from decorum.guardrails.explain import describe_targets
from decorum.guardrails.groups import GroupMention, find_groups
from decorum.guardrails.policy import CheckPolicy, Policy
from decorum.guardrails.screen import PartScreen, screen_for
from decorum.guardrails.windows import scoring_windows, sentence_spans

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TextScores:
    """Label probabilities of one text: the max over its windows, the window that gave each, the groups it names.

    A gated label (the bias check's ``bias``) is read only from windows that name or imply a group
    (:mod:`decorum.guardrails.groups`); it is 0.0 with no span when the text names none. ``worst`` keeps, per
    label, the worst part that names a group (``True``) and the worst that names none (``False``): a check judges
    each against the threshold for its kind's number of parts (:func:`part_threshold`).
    """

    labels: dict[str, float]
    spans: dict[str, tuple[int, int]]
    groups: tuple[str, ...] = ()
    # How many parts the text was cut into (a part the screen cleared counts: it was judged benign), and how many
    # of them name a group.
    parts: int = 1
    group_parts: int = 0
    worst: dict[tuple[str, bool], tuple[float, tuple[int, int]]] = field(default_factory=dict)

    def candidates(self, label: str) -> list[tuple[float, tuple[int, int], int, bool]]:
        """``(score, span, parts, named)`` of ``label``'s worst group part (``named``; judged as one of
        ``group_parts``) and worst other part (one of ``parts``), where the text has them."""
        out = []
        for named, n in ((True, self.group_parts), (False, self.parts)):
            if (label, named) in self.worst:
                score, span = self.worst[(label, named)]
                out.append((score, span, n, named))
        return out


def part_threshold(threshold: float, parts: int, *, rise: float, free_parts: int) -> float:
    """The threshold the worst of ``parts`` parts must reach, for a check whose threshold is ``threshold``.

    Each part of an ordinary text has a small chance to score above the threshold, and the worst of many parts
    sums those chances: the policy's threshold was set on single everyday requests, so a message of 80 of them
    would be blocked far more often than one (19 of 40 such 4,000-character messages, bench/padded_long.py). A
    Sidak-style correction divides the per-part chance by the number of parts; where the benign part scores' upper
    tail is exponential in logit space, that is a logit shift of ``rise * ln(n)``. The first ``free_parts`` parts
    are free: a short text read whole and clause by clause keeps the policy's threshold.

    The checks count a part that names a group among the text's group parts only (a handful even in a long
    message: hate needs a target, so those keep a threshold close to the policy's), and a part that names none
    among all the text's parts (where the everyday false positives are).

    Example::

        part_threshold(0.45, 4, rise=0.8, free_parts=4)    # 0.45
        part_threshold(0.45, 100, rise=0.8, free_parts=4)  # 0.91
    """
    if parts <= free_parts or rise <= 0.0 or not 0.0 < threshold < 1.0:
        return threshold
    logit = math.log(threshold / (1.0 - threshold)) + rise * math.log(parts / free_parts)
    return 1.0 / (1.0 + math.exp(-logit))


GATED_LABELS = frozenset({"bias"})
"""Labels that only mean something about a text that names a group: scored on such windows only."""


class ClassifierScores:
    """Scores texts with one classifier, once each (LRU by SHA-256 of the text).

    A text is scored in parts (:func:`decorum.guardrails.windows.scoring_windows`: a short text whole and by
    sentence and clause, a long one by sentence, clause and pairs of neighbouring sentences) and each label keeps
    its worst part, so neither padding nor a second clause can dilute a bad one. A sentence or clause is a part of
    its own when it names a group or has at least ``clause_chars`` characters (None: no clause parts).
    """

    def __init__(self, classifier: Classifier, *, window_chars: int = 400, whole_chars: int = 240,
                 cache_size: int = 4096, gated_labels: frozenset[str] = GATED_LABELS,
                 screen: PartScreen | None = None, screen_top_k: int = 4, clause_chars: int | None = None) -> None:
        self.classifier = classifier
        # A long text's parts meet the screen first: the classifier reads those it passes, the top_k it ranks
        # worst and every part that names a group (decorum.guardrails.screen).
        self.screen = screen
        self.screen_top_k = screen_top_k
        self.window_chars = window_chars
        self.whole_chars = whole_chars
        self.clause_chars = clause_chars
        self.gated_labels = gated_labels
        self.cache_size = cache_size
        self._cache: OrderedDict[str, TextScores] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def scorer(self) -> str:
        return f"{self.classifier.name}@{self.classifier.revision}"

    def scorer_of(self, label: str) -> str:
        """``name@revision`` of the model that gives ``label`` (a stacked classifier has one per label)."""
        of = getattr(self.classifier, "scorer_of", None)
        return str(of(label)) if of is not None else self.scorer

    def score(self, texts: Sequence[str]) -> list[TextScores]:
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
        todo = [(k, t) for k, t in dict(zip(keys, texts, strict=True)).items() if k not in found]
        if todo:
            windows: list[str] = []
            gated: list[bool] = []
            owners: list[tuple[str, tuple[int, int], bool]] = []
            merged: dict[str, TextScores] = {}
            for key, text in todo:
                mentions = find_groups(text)  # once per text; a part names a group when a mention lies inside it
                spans = self._windows(text, mentions)
                parts = [text[a:b] for a, b in spans]
                in_group = [_holds_mention(mentions, a, b) for a, b in spans]
                # a part that names a group, or speaks of the one the sentence before it names: one of the few parts
                # a hateful message is about (counted apart for the part threshold); the bias model reads only
                # parts that name the group themselves
                refers = _refers_back(text, mentions)
                targeted = [g or refers(a, b) for g, (a, b) in zip(in_group, spans, strict=True)]
                read = self._must_read(parts, targeted, long=len(text) > self.whole_chars)
                merged[key] = TextScores({}, {}, tuple(dict.fromkeys(g.name for g in mentions)), len(spans),
                                         sum(targeted))
                for i, (span, window) in enumerate(zip(spans, parts, strict=True)):
                    if i in read:
                        windows.append(window)
                        gated.append(in_group[i])
                        owners.append((key, span, targeted[i]))
            # a part that occurs more than once (a repeated sentence, the same text in two messages) is scored once
            unique = list(dict.fromkeys(zip(windows, gated, strict=True)))
            try:
                predict_where = getattr(self.classifier, "predict_where", None)
                texts_u = [w for w, _ in unique]
                scored = predict_where(texts_u, [g for _, g in unique]) if predict_where is not None else \
                    self.classifier.predict(texts_u)
            except Exception as exc:
                raise CheckError(f"classifier {self.scorer} failed: {exc.__class__.__name__}: {exc}") from exc
            by_part = dict(zip(unique, scored, strict=True))
            probs = [by_part[(w, g)] for w, g in zip(windows, gated, strict=True)]
            for (key, span, aimed), in_group, p in zip(owners, gated, probs, strict=True):
                ts = merged[key]
                for label, value in p.items():
                    if label in self.gated_labels and not in_group:
                        ts.labels.setdefault(label, 0.0)  # no group named here: no verdict from this window
                        continue
                    if label not in ts.spans or float(value) > ts.labels[label]:
                        ts.labels[label] = float(value)
                        ts.spans[label] = span
                    kind = (label, aimed)
                    if kind not in ts.worst or float(value) > ts.worst[kind][0]:
                        ts.worst[kind] = (float(value), span)
            found.update(merged)
            with self._lock:
                for key, ts in merged.items():
                    self._cache[key] = ts
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [found[k] for k in keys]

    def _must_read(self, parts: Sequence[str], in_group: Sequence[bool], *, long: bool = True) -> set[int] | range:
        """Which parts of one text the classifier reads: all, or (a long text, screened) those the screen picks and
        every part that names a group. A short text's few parts are all read."""
        if self.screen is None or not long or len(parts) <= self.screen_top_k:
            return range(len(parts))
        return self.screen.must_read(parts, top_k=self.screen_top_k) | {i for i, g in enumerate(in_group) if g}

    def _windows(self, text: str, mentions: Sequence[GroupMention] | None = None) -> list[tuple[int, int]]:
        found = find_groups(text) if mentions is None else mentions
        size = self.clause_chars

        def clause(a: int, b: int) -> bool:
            return size is not None and (b - a >= size or _holds_mention(found, a, b))

        return scoring_windows(text, whole_chars=self.whole_chars, window_chars=self.window_chars,
                               pair=lambda a, b: _holds_mention(found, a, b),
                               clause=clause if size is not None else None)


_PRONOUN = re.compile(r"(?<![\w'])(?:they|them|their|theirs|these people|those people)(?![\w'])", re.IGNORECASE)


def _refers_back(text: str, mentions: Sequence[GroupMention]) -> Callable[[int, int], bool]:
    """Whether a part speaks of a group the sentence before it names: "Three refugees started today. They're here
    for the handouts." The toxicity check counts the second sentence among the few parts aimed at a group, not
    among the many that name none (the bias model still reads only parts that name the group themselves)."""
    if not mentions:
        return lambda a, b: False
    starts = [a for a, _ in sentence_spans(text)]

    def refers(a: int, b: int) -> bool:
        if not _PRONOUN.search(text, a, b):
            return False
        i = bisect.bisect_right(starts, a) - 1  # the sentence the part starts in
        begin = starts[i - 1] if i >= 1 else 0
        return any(begin <= g.start and g.end <= a for g in mentions)

    return refers


def _holds_mention(mentions: Sequence[GroupMention], start: int, end: int) -> bool:
    """True when one of ``mentions`` lies inside ``[start, end)``."""
    return any(start <= g.start and g.end <= end for g in mentions)


class DetoxifyCheck:
    """A check whose score is the highest of some classifier labels (default: the toxicity labels)."""

    def __init__(self, name: str, policy: CheckPolicy, scores: ClassifierScores) -> None:
        self.name = name
        self.policy = policy
        self.scores = scores

    def check(self, texts: Sequence[str], *, stage: Stage) -> list[CheckResult]:
        results = []
        for text, ts in zip(texts, self.scores.score(texts), strict=True):
            missing = [lab for lab in self.policy.labels if lab not in ts.labels] if texts else []
            if missing and len(missing) == len(self.policy.labels):
                raise ConfigError(f"check {self.name!r} uses labels {missing} that {self.scores.scorer} does "
                                  f"not have; it has {sorted(ts.labels)}")
            # each label's worst group part and worst other part against the threshold for that many parts; the
            # one most over (or least under) its threshold decides
            cp = self.policy
            group_rise = cp.part_rise if cp.group_part_rise is None else cp.group_part_rise
            judged = [(score - threshold, score, threshold, span, lab)
                      for lab in cp.labels if lab in ts.labels
                      for score, span, n, named in ts.candidates(lab)
                      for threshold in (part_threshold(
                          cp.threshold, n, rise=cp.label_rise.get(lab, group_rise if named else cp.part_rise),
                          free_parts=cp.free_parts),)]
            if judged:
                _, score, threshold, span, label = max(judged, key=lambda j: (j[0], j[1]))
            else:  # a gated label on a text that names no group: no verdict
                label = max((lab for lab in self.policy.labels if lab in ts.labels), key=lambda lab: ts.labels[lab])
                score, threshold, span = ts.labels[label], self.policy.threshold, ts.spans.get(label)
            passed = score < threshold
            results.append(CheckResult(
                check=self.name, score=score, threshold=threshold, passed=passed,
                scorer=self.scores.scorer_of(label), label=label, span=span,
                details={lab: ts.labels[lab] for lab in self.policy.labels if lab in ts.labels},
                explanation="" if passed else self._explain(text, label, score, span, threshold),
                groups=self._groups(ts),
            ))
        return results

    def _groups(self, ts: TextScores) -> tuple[str, ...] | None:
        """The groups to record in the result (None: this check does not look for groups)."""
        return None

    def _explain(self, text: str, label: str, score: float, span: tuple[int, int] | None,
                 threshold: float | None = None) -> str:
        where = f" in characters {span[0]}-{span[1]}" if span and span != (0, len(text)) else ""
        threshold = self.policy.threshold if threshold is None else threshold
        return f"{label} {score:.2f} >= threshold {threshold:.2f}{where}"


class BiasCheck(DetoxifyCheck):
    """Stereotyping and demeaning generalisations about a group; gated on group detection.

    Group detection (:mod:`decorum.guardrails.groups`) is its own recorded step: the result's ``groups`` holds the
    fixed names of the groups the text names or implies. A text that names none gets no bias verdict (score 0,
    passed): a generalisation needs someone to be about. Only the parts of a text that name a group are scored.
    A failure's explanation names the group and its category, e.g. ``bias 0.81 >= threshold 0.50; stereotype
    about: women (gender)``, never the message's words.
    """

    def check(self, texts: Sequence[str], *, stage: Stage) -> list[CheckResult]:
        results = super().check(texts, stage=stage)
        return [r if r.groups else replace(r, explanation="no group named or implied: no bias verdict", span=None)
                for r in results]

    def _groups(self, ts: TextScores) -> tuple[str, ...] | None:
        return ts.groups

    def _explain(self, text: str, label: str, score: float, span: tuple[int, int] | None,
                 threshold: float | None = None) -> str:
        base = super()._explain(text, label, score, span, threshold)
        window = text[span[0]:span[1]] if span else text
        groups = describe_targets(window)
        return f"{base}; stereotype about: {groups}" if groups else f"{base}; no listed group named"


def _answer_bias(name: str, policy: CheckPolicy, _scores: ClassifierScores) -> Check:
    """The rule-based answer-level bias check (``decorum.guardrails.answer_bias``): output only, with the question."""
    from decorum.guardrails.answer_bias import AnswerBiasCheck

    check = AnswerBiasCheck(threshold=policy.threshold)
    check.name = name
    return check  # type: ignore[return-value]


CHECKS: dict[str, Callable[[str, CheckPolicy, ClassifierScores], Check]] = {
    "toxicity": DetoxifyCheck,
    "bias": BiasCheck,
    "answer_bias": _answer_bias,
}


class Guardrails:
    """The configured checks, run together over a stage."""

    def __init__(self, policy: Policy, classifier: Classifier) -> None:
        cfg = policy.classifier
        self.scores = ClassifierScores(classifier, window_chars=cfg.window_chars, whole_chars=cfg.whole_chars,
                                       cache_size=cfg.cache_size, screen_top_k=cfg.screen_top_k,
                                       clause_chars=cfg.clause_chars if cfg.clauses else None,
                                       screen=screen_for(classifier, cfg.screen_artifact) if cfg.screen else None)
        self._validator_cache: dict[tuple[object, ...], Check] = {}
        self.set_policy(policy)

    def set_policy(self, policy: Policy) -> None:
        """Apply ``policy``'s checks, thresholds, stages and profiles from now on (live changes; same classifier)."""
        unknown = sorted(name for name, cp in policy.checks.items() if cp.validator is None and name not in CHECKS)
        if unknown:
            raise ConfigError(f"unknown check {unknown[0]!r}; available: {', '.join(sorted(CHECKS))}, or any "
                              f"installed guardrails-ai validator as {{validator: {{name: ...}}}}")
        views: dict[str | None, tuple[Policy, list[Check]]] = {None: (policy, self._build(policy))}
        for name in policy.profiles:
            profiled = policy.with_profile(name)
            views[name] = (profiled, self._build(profiled))
        self._views = views
        self.policy, self.checks = views[None]

    def _build(self, policy: Policy) -> list[Check]:
        checks: list[Check] = []
        for name, cp in policy.checks.items():
            if not cp.enabled:
                continue
            if cp.validator is not None:
                checks.append(self._validator_check(name, cp))
            else:
                checks.append(CHECKS[name](name, cp, self.scores))
        return checks

    def _validator_check(self, name: str, cp: CheckPolicy) -> Check:
        """A guardrails-ai validator check, reused across policy versions while its settings are the same."""
        from decorum.guardrails.validator_checks import ValidatorCheck

        key = (name, cp.model_dump_json())
        cached = self._validator_cache.get(key)
        if cached is None:
            cached = self._validator_cache[key] = ValidatorCheck(name, cp)
        return cached

    def view(self, profile: str | None = None) -> tuple[Policy, list[Check]]:
        """The policy and checks that apply under ``profile`` (None, or a profile this policy lacks: its own)."""
        views = self._views
        return views.get(profile) or views[None]

    def fixer(self, name: str, profile: str | None = None) -> Check | None:
        """The enabled check ``name`` (under ``profile``) when it can repair a text (``fix``), else None."""
        return next((c for c in self.view(profile)[1] if c.name == name and hasattr(c, "fix")), None)

    def run(self, texts: Sequence[str], *, stage: Stage, profile: str | None = None,
            questions: Sequence[str] | None = None) -> list[list[CheckResult]]:
        """Per text, the results of every check enabled for ``stage`` (under the channel profile ``profile``).

        ``questions``: for answers, the question each one answers; checks that judge an answer with its question
        (a ``check_pairs`` method) run only when they are given.
        """
        policy, checks = self.view(profile)  # one consistent pair, even while set_policy runs
        active = [c for c in checks if stage in policy.checks[c.name].stages
                  and (questions is not None or not hasattr(c, "check_pairs"))]
        if not texts:
            return []
        if questions is not None and len(questions) != len(texts):
            raise ValueError(f"{len(questions)} questions for {len(texts)} answers")
        if any(isinstance(c, DetoxifyCheck) for c in active):
            self.scores.score(texts)  # one batched pass; the classifier checks read the cache
        per_check = [c.check_pairs(questions, texts, stage=stage) if hasattr(c, "check_pairs")  # type: ignore
                     else c.check(texts, stage=stage) for c in active]
        return [list(results) for results in zip(*per_check, strict=True)] if per_check else [[] for _ in texts]


_default: list[Guardrails] = []
_default_lock = threading.Lock()


def default_guardrails() -> Guardrails:
    """The default policy over the committed classifier, built once per process.

    For uses outside a configured ``Runtime`` (guardrails-ai validators, reports); the pipeline gets its
    ``Guardrails`` from ``decorum.bot.runtime`` with the YAML policy instead.
    """
    with _default_lock:
        if not _default:
            from decorum.guardrails.classifier import build_classifier

            policy = Policy()
            _default.append(Guardrails(policy, build_classifier(policy.classifier)))
        return _default[0]
