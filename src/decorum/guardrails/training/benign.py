"""Benign base-rate sets and the threshold / unintended-bias metrics computed on them.

Thresholds are chosen on realistic base rates: each check's threshold is the lowest one that blocks at most
a small share (0.5%) of everyday text, and only then is what it catches maximised. This module supplies the
data for that and the pure metric functions; it loads no model.

Data (none of it is ever trained on):

* :func:`everyday_texts` - the committed everyday development set (:data:`EVERYDAY`: HWU64, BANKING77,
  SNIPS, NLU++ requests; see ``tests/benign/README.md``) plus the Bitext customer-support instructions that
  the training code put in its dev split.
* :func:`everyday_answers` - Bitext customer-support responses, as benign model outputs.
* :func:`identity_benign_texts` - benign texts that name identity groups (ToxiGen held-out benign rows,
  held-out non-toxic Jigsaw sentence templates).
* :func:`labelled_identity_rows` - the same held-out rows, toxic and benign, for the per-group
  unintended-bias metrics of Borkan et al. 2019 (:func:`subgroup_metrics`).

Groups are prefixed by their data set (``"toxigen:asian"``, ``"templates:asian"``): ToxiGen's machine-written
statements and the templates' short synthetic sentences differ so much that a background drawn from the other
data set would measure the data set, not the group. Compute :func:`subgroup_metrics` per prefix.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from decorum.guardrails.training import datasets

EVERYDAY = Path(__file__).resolve().parents[4] / "tests" / "benign" / "everyday.jsonl"
BITEXT = "bitext_customer_support/bitext_sft.jsonl"
TOXIGEN = "toxigen/toxigen_annotated_normalized.jsonl"
TEMPLATES = "jigsaw_unintended_bias/en_sentence_templates.csv"
TOXIGEN_DEMOS = "toxigen/toxigen_demonstrations.csv"
BITEXT_CAP = 2000
ANSWER_CAP = 300
DEFAULT_SEED = 13
METRICS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")

_PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_BEING_RE = re.compile(r"^being (.+) is \S+$")


def _rank(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _present(data: Path | None, rel: str) -> Path | None:
    if data is None:
        return None
    path = Path(data) / rel
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------- everyday text


def read_everyday(path: Path = EVERYDAY) -> list[dict[str, str]]:
    """Rows of the committed everyday set.

    Args:
        path: The JSONL file (default :data:`EVERYDAY`).

    Returns:
        One ``{"text", "source", "intent"}`` dict per line, in file order.
    """
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def bitext_dev_instructions(data: Path | None, seed: int = DEFAULT_SEED, cap: int = BITEXT_CAP) -> list[str]:
    """Bitext customer-support instructions that the classifier's training put in its dev split.

    Rows are read exactly as :func:`datasets.load_corpus` reads them (``datasets._bitext``: normalised text,
    rows matching the obscene / threat patterns skipped, de-duplicated case-insensitively, key = lower-cased
    text) and kept when ``datasets.is_dev(seed, "bitext", key)``; so none of them was trained on.

    Args:
        data: The shared data folder, or None.
        seed: The training seed of the artifacts (13).
        cap: At most this many rows, the first by a SHA-256 rank of the key.

    Returns:
        Texts sorted by that rank; [] when the file is absent.
    """
    if data is None or _present(data, BITEXT) is None:
        return []
    reader = datasets._Reader(Path(data), {})
    seen: set[str] = set()
    keys: dict[str, str] = {}
    for ex in datasets._bitext(reader):
        norm = ex.text.lower()
        if norm in seen:
            continue
        seen.add(norm)
        if datasets.is_dev(seed, "bitext", ex.key):
            keys[ex.key] = ex.text
    ranked = sorted(keys, key=lambda k: _rank("everyday-bitext", k))[:cap]
    return [keys[k] for k in ranked]


def everyday_texts(data: Path | None, seed: int = DEFAULT_SEED) -> list[tuple[str, str]]:
    """Everyday benign requests for the input-stage operating point.

    Args:
        data: The shared data folder (:func:`datasets.shared_data_dir`), or None / an absent folder, in which
            case only the committed file is used.
        seed: The artifacts' training seed, which decides the Bitext dev split.

    Returns:
        ``(text, source)`` pairs: every line of :data:`EVERYDAY`, then up to :data:`BITEXT_CAP` Bitext dev
        instructions with source ``"bitext"``.
    """
    rows = [(row["text"], row["source"]) for row in read_everyday()]
    rows.extend((text, "bitext") for text in bitext_dev_instructions(data, seed))
    return rows


def render_answer(text: str) -> str:
    """Turn a Bitext response into plain text: ``{{Order Number}}`` becomes ``Order Number``, whitespace squeezed."""
    return " ".join(_PLACEHOLDER_RE.sub(r"\1", text).split())


def everyday_answers(data: Path | None, cap: int = ANSWER_CAP) -> list[str]:
    """Benign model outputs for the output-stage operating point: Bitext customer-support responses.

    No training code reads the ``response`` field (the classifier trains on Bitext instructions only, the
    fine-tuning pipeline does not use Bitext), so every response is held out.

    Args:
        data: The shared data folder, or None.
        cap: Number of responses, the first distinct ones by a SHA-256 rank of their text.

    Returns:
        Responses rendered with :func:`render_answer`; [] when the file is absent.
    """
    path = _present(data, BITEXT)
    if path is None:
        return []
    answers: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                text = render_answer(str(json.loads(line)["response"]))
                if text:
                    answers.setdefault(text.lower(), text)
    ranked = sorted(answers, key=lambda k: _rank("everyday-answer", k))[:cap]
    return [answers[k] for k in ranked]


# --------------------------------------------------------------------------------------------- identity sets


def toxigen_held_out(data: Path | None, seed: int = DEFAULT_SEED) -> list[tuple[str, int, str]]:
    """ToxiGen human-annotated rows in the classifier's dev split (never trained on).

    Mirrors ``datasets._toxigen`` and ``load_corpus``: normalised text, key = lower-cased text, first
    occurrence of a case-insensitive duplicate kept, dev when ``datasets.is_dev(seed, "toxigen", key)``.
    Like ``load_corpus`` (which drops dev texts that another source trains on), texts that also occur among
    ToxiGen's seed statements (``toxigen_demonstrations.csv``, a training source) are left out.
    Labels are human judgements: toxic when :func:`datasets.toxigen_is_toxic` (human and model scores).

    Args:
        data: The shared data folder, or None.
        seed: The artifacts' training seed.

    Returns:
        ``(text, toxic, "toxigen:<target group>")`` rows in file order; [] when the file is absent.
    """
    path = _present(data, TOXIGEN)
    if path is None:
        return []
    demos: set[str] = set()
    demos_path = _present(data, TOXIGEN_DEMOS)
    if demos_path is not None:
        with open(demos_path, encoding="utf-8", newline="") as handle:
            demos = {datasets.normalise(row["text"]).lower() for row in csv.DictReader(handle)}
    seen: set[str] = set()
    rows: list[tuple[str, int, str]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            text = datasets.normalise(str(row["text"]))
            key = text.lower()
            if not text or key in seen:
                continue
            seen.add(key)
            if not datasets.is_dev(seed, "toxigen", key) or key in demos:
                continue
            toxic = datasets.toxigen_is_toxic(float(row["toxicity_human"]), float(row["toxicity_ai"]))
            rows.append((text, int(toxic), f"toxigen:{row.get('target_group', '') or 'unknown'}"))
    return rows


def _template_terms(rows: Sequence[Mapping[str, str]]) -> list[str]:
    # ``verb_adj`` rows are "<verb> <identity term>": they list every identity term, multi-word ones included.
    terms = {row["phrase"].lower().split(" ", 1)[1] for row in rows if row["template"] == "verb_adj"}
    return sorted(terms, key=lambda t: (-len(t), t))


def template_identity(phrase: str, terms: Sequence[str]) -> str:
    """The identity term a Jigsaw sentence template names ("" for the occupation templates).

    Args:
        phrase: The template sentence, e.g. ``"Sohaib is a filthy asian"`` or ``"Being old is kind"``.
        terms: Identity terms, longest first.

    Returns:
        The lower-cased term, or "" when none is found.
    """
    low = phrase.lower().strip()
    match = _BEING_RE.match(low)
    if match and match.group(1) in terms:
        return match.group(1)
    for term in terms:
        if low == term or low.endswith(" " + term):
            return term
    return ""


def templates_held_out(data: Path | None, seed: int = DEFAULT_SEED) -> list[tuple[str, int, str]]:
    """Jigsaw sentence templates held out from training (by sentiment word, :func:`datasets.madlib_held_out`).

    Labels come from the template (toxic / nontoxic adjective or verb), not from annotators. Rows that name
    no identity term (the ``you_occupation`` template) are left out.

    Args:
        data: The shared data folder, or None.
        seed: The artifacts' training seed.

    Returns:
        ``(text, toxic, "templates:<identity term>")`` rows in file order, de-duplicated
        case-insensitively; [] when the file is absent.
    """
    path = _present(data, TEMPLATES)
    if path is None:
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    terms = _template_terms(raw)
    seen: set[str] = set()
    rows: list[tuple[str, int, str]] = []
    for row in raw:
        text = datasets.normalise(row["phrase"])
        key = text.lower()
        if not text or key in seen:
            continue
        seen.add(key)
        term = template_identity(text, terms)
        if term and datasets.madlib_held_out(seed, text):
            rows.append((text, int(row["toxicity"] == "toxic"), f"templates:{term}"))
    return rows


def _cap_per_group(rows: list[tuple[str, int, str]], cap: int | None) -> list[tuple[str, int, str]]:
    if cap is None:
        return rows
    ranked = sorted(rows, key=lambda r: (r[2], r[1], _rank("identity", r[0].lower())))
    counts: dict[tuple[str, int], int] = {}
    kept: list[tuple[str, int, str]] = []
    for row in ranked:
        n = counts.get((row[2], row[1]), 0)
        if n < cap:
            counts[(row[2], row[1])] = n + 1
            kept.append(row)
    return kept


def labelled_identity_rows(
    data: Path | None, seed: int = DEFAULT_SEED, *, per_group_cap: int | None = None
) -> list[tuple[str, int, str]]:
    """Held-out, labelled texts that name identity groups, for the per-group bias metrics.

    * ToxiGen (:func:`toxigen_held_out`): human-labelled machine-written statements about 13 target groups,
      group ``"toxigen:<target_group>"``.
    * Jigsaw sentence templates (:func:`templates_held_out`): template-labelled synthetic sentences, group
      ``"templates:<identity term>"``.

    Args:
        data: The shared data folder, or None.
        seed: The artifacts' training seed.
        per_group_cap: Keep at most this many rows per (group, label), by a SHA-256 rank of the text
            (the templates give ~20k held-out rows; a cap keeps scoring cheap). None keeps all.

    Returns:
        ``(text, toxic 0/1, group)`` rows, ToxiGen first; [] when ``data`` is absent.
    """
    rows = toxigen_held_out(data, seed) + templates_held_out(data, seed)
    return _cap_per_group(rows, per_group_cap)


def identity_benign_texts(
    data: Path | None, seed: int = DEFAULT_SEED, *, per_group_cap: int | None = None
) -> list[tuple[str, str]]:
    """Benign, held-out texts that name identity groups: the blocked share on these is the over-blocking
    an identity mention causes.

    ToxiGen rows judged benign (:func:`datasets.toxigen_is_toxic` False) in the dev split, and non-toxic
    held-out Jigsaw sentence templates; see :func:`labelled_identity_rows`.

    Args:
        data: The shared data folder, or None.
        seed: The artifacts' training seed.
        per_group_cap: At most this many texts per group (None keeps all).

    Returns:
        ``(text, group)`` pairs; [] when ``data`` is absent.
    """
    benign = [row for row in labelled_identity_rows(data, seed) if row[1] == 0]
    return [(text, group) for text, _, group in _cap_per_group(benign, per_group_cap)]


# --------------------------------------------------------------------------------------------- metrics


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U), ties counted as half.

    Args:
        scores: Higher means more likely positive.
        labels: 1 (positive) or 0 (negative), one per score.

    Returns:
        The AUC in [0, 1], or nan when either class is absent.

    Raises:
        ValueError: If the lengths differ.
    """
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels")
    n_pos = sum(1 for y in labels if y)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1
        rank_sum += average_rank * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def subgroup_metrics(rows: Sequence[tuple[float, int, str]], min_count: int = 20) -> list[dict[str, object]]:
    """Per-group unintended-bias AUCs of Borkan et al. 2019 ("Nuanced Metrics for Measuring Unintended Bias
    with Real Data for Text Classification").

    For group ``g`` with rows ``D_g`` and background ``D`` minus ``D_g`` (every other row):

    * subgroup AUC: AUC on ``D_g`` only (can the model tell toxic from benign within the group?);
    * BPSN (background positive, subgroup negative): AUC on the group's negatives and the background's
      positives; low when benign mentions of the group score higher than toxic text elsewhere;
    * BNSP (background negative, subgroup positive): AUC on the group's positives and the background's
      negatives; low when toxic text about the group scores lower than benign text elsewhere.

    Args:
        rows: ``(score, label 0/1, group)`` per text.
        min_count: Groups with fewer rows are left out.

    Returns:
        ``{"group", "n", "subgroup_auc", "bpsn_auc", "bnsp_auc"}`` per group, sorted by group; an AUC is nan
        when a class it needs is absent.
    """
    by_group: dict[str, list[int]] = {}
    for i, (_, _, group) in enumerate(rows):
        by_group.setdefault(group, []).append(i)
    scores = [float(r[0]) for r in rows]
    labels = [1 if r[1] else 0 for r in rows]
    out: list[dict[str, object]] = []
    for group in sorted(by_group):
        members = by_group[group]
        if len(members) < min_count:
            continue
        inside = set(members)
        sub_pos = [i for i in members if labels[i]]
        sub_neg = [i for i in members if not labels[i]]
        bg_pos = [i for i in range(len(rows)) if i not in inside and labels[i]]
        bg_neg = [i for i in range(len(rows)) if i not in inside and not labels[i]]

        def auc(idx: list[int]) -> float:
            return roc_auc([scores[i] for i in idx], [labels[i] for i in idx])

        out.append(
            {
                "group": group,
                "n": len(members),
                "subgroup_auc": auc(members),
                "bpsn_auc": auc(sub_neg + bg_pos),
                "bnsp_auc": auc(sub_pos + bg_neg),
            }
        )
    return out


def power_mean(values: Sequence[float], p: float = -5) -> float:
    """Generalised (power) mean ``(mean(v ** p)) ** (1 / p)``, nan values ignored.

    Args:
        values: Non-negative values.
        p: The power; negative powers weigh the smallest values most.

    Returns:
        The mean; nan when no value is left; 0 when ``p < 0`` and a value is 0.
    """
    finite = [float(v) for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    if p == 0:
        return math.exp(sum(math.log(v) for v in finite) / len(finite)) if min(finite) > 0 else 0.0
    if p < 0 and min(finite) == 0:
        return 0.0
    return (sum(v**p for v in finite) / len(finite)) ** (1 / p)


def generalized_mean_bias_auc(metrics: Sequence[Mapping[str, object]], p: float = -5) -> dict[str, float]:
    """The Jigsaw Unintended Bias competition's per-metric power mean over groups.

    Args:
        metrics: :func:`subgroup_metrics` output.
        p: The power (the competition used -5).

    Returns:
        ``{"subgroup_auc": M_p, "bpsn_auc": M_p, "bnsp_auc": M_p}``; groups whose AUC is nan are skipped.
    """
    return {name: power_mean([float(m[name]) for m in metrics], p) for name in METRICS}  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- thresholds


def blocked_share(scores: Sequence[float], threshold: float) -> float:
    """Share of ``scores`` at or above ``threshold`` (nan for no scores)."""
    if not scores:
        return math.nan
    return sum(1 for s in scores if s >= threshold) / len(scores)


def threshold_for_share(scores: Sequence[float], max_share: float) -> float:
    """The lowest threshold on the 0.01 grid of [0, 1] that blocks at most ``max_share`` of ``scores``.

    A text is blocked when its score is ``>= threshold``; the result is ``k / 100`` for the smallest
    integer ``k`` with ``blocked_share(scores, k / 100) <= max_share``, i.e. the exact cut rounded up to
    two decimals. When even 1.0 blocks more (more than ``max_share`` of the scores are exactly 1.0),
    1.0 is returned; check :func:`blocked_share`.

    Args:
        scores: Benign texts' scores in [0, 1].
        max_share: The largest acceptable blocked share, in [0, 1].

    Returns:
        The threshold.

    Raises:
        ValueError: If ``scores`` is empty or ``max_share`` is outside [0, 1].
    """
    if not scores:
        raise ValueError("no scores")
    if not 0.0 <= max_share <= 1.0:
        raise ValueError(f"max_share must lie in [0, 1], got {max_share}")
    ordered = sorted(float(s) for s in scores)
    n = len(ordered)
    for k in range(101):
        t = k / 100
        if (n - bisect_left(ordered, t)) / n <= max_share:
            return t
    return 1.0


def iter_groups(rows: Sequence[tuple[object, ...]], prefix: str) -> Iterator[tuple[object, ...]]:
    """Rows whose last field (the group) starts with ``prefix`` (e.g. ``"toxigen:"``)."""
    return (row for row in rows if str(row[-1]).startswith(prefix))
