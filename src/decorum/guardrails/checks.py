"""Checks over one shared classifier: a text is scored once, every check reads its labels.

``ClassifierScores`` batches texts, scores long ones in overlapping windows (the riskiest window
counts, and its span is kept for the explanation) and caches by content hash, so the toxicity and
bias checks of one request cost one forward pass.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from decorum.errors import CheckError, ConfigError
from decorum.guardrails.base import Check, CheckResult, Classifier, Stage
from decorum.guardrails.explain import describe_targets
from decorum.guardrails.groups import GroupMention, find_groups
from decorum.guardrails.policy import CheckPolicy, Policy
from decorum.guardrails.screen import PartScreen, screen_for
from decorum.guardrails.windows import scoring_windows

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TextScores:
    """Label probabilities of one text: the max over its windows, the window that gave each, the groups it names.

    A gated label (the bias check's ``bias``) is read only from windows that name or imply a group
    (:mod:`decorum.guardrails.groups`); it is 0.0 with no span when the text names none.
    """

    labels: dict[str, float]
    spans: dict[str, tuple[int, int]]
    groups: tuple[str, ...] = ()


GATED_LABELS = frozenset({"bias"})
"""Labels that only mean something about a text that names a group: scored on such windows only."""


class ClassifierScores:
    """Scores texts with one classifier, once each (LRU by SHA-256 of the text).

    A long text is scored in parts (:func:`decorum.guardrails.windows.scoring_windows`: sentences and pairs of
    neighbouring sentences) and each label keeps its worst part, so padding cannot dilute a bad sentence.
    """

    def __init__(self, classifier: Classifier, *, window_chars: int = 400, whole_chars: int = 240,
                 cache_size: int = 4096, gated_labels: frozenset[str] = GATED_LABELS,
                 screen: PartScreen | None = None, screen_top_k: int = 4) -> None:
        self.classifier = classifier
        # A long text's parts meet the screen first: the classifier reads those it passes, the top_k it ranks
        # worst and every part that names a group (decorum.guardrails.screen).
        self.screen = screen
        self.screen_top_k = screen_top_k
        self.window_chars = window_chars
        self.whole_chars = whole_chars
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
            owners: list[tuple[str, tuple[int, int]]] = []
            groups: dict[str, tuple[str, ...]] = {}
            for key, text in todo:
                mentions = find_groups(text)  # once per text; a part names a group when a mention lies inside it
                groups[key] = tuple(dict.fromkeys(g.name for g in mentions))
                spans = self._windows(text, mentions)
                parts = [text[a:b] for a, b in spans]
                in_group = [_holds_mention(mentions, a, b) for a, b in spans]
                read = self._must_read(parts, in_group)
                for i, (span, window) in enumerate(zip(spans, parts, strict=True)):
                    if i in read:
                        windows.append(window)
                        gated.append(in_group[i])
                        owners.append((key, span))
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
            merged: dict[str, TextScores] = {}
            for (key, span), in_group, p in zip(owners, gated, probs, strict=True):
                ts = merged.setdefault(key, TextScores({}, {}, groups[key]))
                for label, value in p.items():
                    if label in self.gated_labels and not in_group:
                        ts.labels.setdefault(label, 0.0)  # no group named here: no verdict from this window
                        continue
                    if label not in ts.spans or float(value) > ts.labels[label]:
                        ts.labels[label] = float(value)
                        ts.spans[label] = span
            found.update(merged)
            with self._lock:
                for key, ts in merged.items():
                    self._cache[key] = ts
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [found[k] for k in keys]

    def _must_read(self, parts: Sequence[str], in_group: Sequence[bool]) -> set[int] | range:
        """Which parts of one text the classifier reads: all, or (screened) those the screen picks and every part
        that names a group."""
        if self.screen is None or len(parts) <= self.screen_top_k:
            return range(len(parts))
        return self.screen.must_read(parts, top_k=self.screen_top_k) | {i for i, g in enumerate(in_group) if g}

    def _windows(self, text: str, mentions: Sequence[GroupMention] | None = None) -> list[tuple[int, int]]:
        found = find_groups(text) if mentions is None else mentions
        return scoring_windows(text, whole_chars=self.whole_chars, window_chars=self.window_chars,
                               pair=lambda a, b: _holds_mention(found, a, b))


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
            label = max((lab for lab in self.policy.labels if lab in ts.labels), key=lambda lab: ts.labels[lab])
            score = ts.labels[label]
            passed = score < self.policy.threshold
            span = ts.spans.get(label)
            results.append(CheckResult(
                check=self.name, score=score, threshold=self.policy.threshold, passed=passed,
                scorer=self.scores.scorer_of(label), label=label, span=span,
                details={lab: ts.labels[lab] for lab in self.policy.labels if lab in ts.labels},
                explanation="" if passed else self._explain(text, label, score, span),
                groups=self._groups(ts),
            ))
        return results

    def _groups(self, ts: TextScores) -> tuple[str, ...] | None:
        """The groups to record in the result (None: this check does not look for groups)."""
        return None

    def _explain(self, text: str, label: str, score: float, span: tuple[int, int] | None) -> str:
        where = f" in characters {span[0]}-{span[1]}" if span and span != (0, len(text)) else ""
        return f"{label} {score:.2f} >= threshold {self.policy.threshold:.2f}{where}"


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

    def _explain(self, text: str, label: str, score: float, span: tuple[int, int] | None) -> str:
        base = super()._explain(text, label, score, span)
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
