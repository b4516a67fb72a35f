"""``decorum guardrails eval``: how well the checks separate a labelled file's positives from negatives.

    decorum guardrails eval --data FILE --text-col C --label-col L [--group-col G] [--json]

Reads CSV, TSV or JSONL. Labels count as positive when they are 1/true/yes or one of the usual
positive words (toxic, hateful, hate, offensive, off, bad, stereotype); numbers above ``--positive-above``
(default 0.5) are positive too. For each check and for "any check" it reports ROC AUC, F1, precision,
recall and the false-positive rate at the policy's threshold; with ``--group-col``, the same per group.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decorum.errors import UsageError

POSITIVE = {"1", "true", "yes", "toxic", "hateful", "hate", "offensive", "off", "bad", "stereotype", "positive"}
NEGATIVE = {"0", "false", "no", "non_hateful", "not", "not_bad", "neutral", "none", "negative", "anti-stereotype",
            "clean", "non-toxic", "nontoxic"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="CSV, TSV or JSONL file")
    parser.add_argument("--text-col", required=True)
    parser.add_argument("--label-col", required=True)
    parser.add_argument("--group-col", default=None, help="report metrics per value of this column too")
    parser.add_argument("--positive-above", type=float, default=0.5, help="numeric labels above this are positive")
    parser.add_argument("--stage", default="input", choices=["input", "output", "template"])
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N rows only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise UsageError(f"--data {path}: no such file")
    try:
        if path.suffix == ".jsonl":
            rows = []
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise UsageError(f"{path}:{n}: invalid JSON ({exc})") from exc
            return rows
        with path.open(encoding="utf-8", newline="") as fh:
            dialect = "excel-tab" if path.suffix in (".tsv", ".tab") else "excel"
            return list(csv.DictReader(fh, dialect=dialect))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text") from exc


def to_label(value: Any, above: float) -> int | None:
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in POSITIVE:
        return 1
    if text in NEGATIVE:
        return 0
    try:
        return int(float(text) > above)
    except ValueError:
        return None


def metrics(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= threshold)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= threshold)
    fn = sum(1 for y, s in zip(labels, scores, strict=True) if y and s < threshold)
    tn = len(labels) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out: dict[str, Any] = {
        "n": len(labels), "positives": tp + fn,
        "auc": round(float(roc_auc_score(labels, scores)), 4) if 0 < sum(labels) < len(labels) else None,
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "precision": round(precision, 4), "recall": round(recall, 4),
        "fpr": round(fp / (fp + tn), 4) if fp + tn else None,
        "balanced_accuracy": round(((tp / (tp + fn) if tp + fn else 0) + (tn / (tn + fp) if tn + fp else 0)) / 2, 4),
    }
    return out


def evaluate(guardrails: Any, texts: list[str], labels: list[int], groups: list[str] | None,
             stage: str = "input") -> dict[str, Any]:
    results = guardrails.run(texts, stage=stage)
    names = [r.check for r in results[0]] if results else []
    per_check: dict[str, list[float]] = {n: [] for n in names}
    anyfail: list[float] = []
    for res in results:
        for r in res:
            per_check[r.check].append(r.score)
        # "any": the most over-threshold check, as a margin mapped back to 0..1 around 0.5
        anyfail.append(max(0.5 + (r.score - r.threshold) / 2 for r in res) if res else 0.0)
    thresholds = {r.check: r.threshold for r in results[0]} if results else {}
    report: dict[str, Any] = {"n": len(texts), "policy": guardrails.policy.ref, "scorer": guardrails.scores.scorer,
                              "checks": {n: metrics(labels, s, thresholds[n]) for n, s in per_check.items()}}
    report["checks"]["any"] = metrics(labels, anyfail, 0.5)
    if groups is not None:
        by_group: dict[str, Any] = {}
        for g in sorted(set(groups)):
            idx = [i for i, v in enumerate(groups) if v == g]
            by_group[g] = metrics([labels[i] for i in idx], [anyfail[i] for i in idx], 0.5)
        report["groups"] = by_group
    return report


def run(args: argparse.Namespace, guardrails: Any) -> int:
    """Evaluate ``guardrails`` (the configured policy and classifier, built by the CLI) on ``args.data``."""
    rows = read_rows(args.data)[: args.limit]
    if not rows:
        raise UsageError(f"{args.data} has no rows")
    for col in (args.text_col, args.label_col, *([args.group_col] if args.group_col else [])):
        if col not in rows[0]:
            raise UsageError(f"column {col!r} is not in {args.data}; columns: {', '.join(map(str, rows[0]))}")
    texts, labels, groups = [], [], []
    skipped = 0
    for row in rows:
        label = to_label(row[args.label_col], args.positive_above)
        text = row[args.text_col]
        if label is None or not isinstance(text, str) or not text.strip():
            skipped += 1
            continue
        texts.append(text)
        labels.append(label)
        groups.append(str(row.get(args.group_col, "")) if args.group_col else "")
    if not texts:
        raise UsageError(f"no row of {args.data} has a usable text and label")
    report = evaluate(guardrails, texts, labels, groups if args.group_col else None, args.stage)
    report["skipped_rows"] = skipped
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.data}: {report['n']} rows ({skipped} skipped), policy {report['policy']}, {report['scorer']}")
    print(f"  {'check':<12}{'AUC':>8}{'F1':>8}{'prec':>8}{'recall':>8}{'FPR':>8}{'bal.acc':>9}")
    for name, m in report["checks"].items():
        print(f"  {name:<12}{_f(m['auc']):>8}{_f(m['f1']):>8}{_f(m['precision']):>8}{_f(m['recall']):>8}"
              f"{_f(m['fpr']):>8}{_f(m['balanced_accuracy']):>9}")
    for g, m in report.get("groups", {}).items():
        print(f"  group {g[:30]:<30} n={m['n']:<6} AUC {_f(m['auc'])}  FPR {_f(m['fpr'])}  recall {_f(m['recall'])}")
    return 0


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"



def functional_report(guardrails: Any, cases: list[dict[str, Any]], pairs: list[dict[str, Any]] | None = None
                      ) -> dict[str, Any]:
    """Per-slice accuracy on a functional suite (``hateful`` must fail a check, ``non_hateful`` must pass).

    Balanced accuracy averages "hateful caught" and "non-hateful passed"; it leaves out the slices where
    hate and workplace toxicity disagree (profanity without a target, insults at a person), which are
    reported on their own. With ``pairs``, also the share of stereotype pairs whose stereotypical
    sentence gets the higher bias score.
    """
    results = guardrails.run([c["text"] for c in cases], stage="input")
    slices: dict[str, list[bool]] = {}
    kinds: dict[str, str] = {}
    caught, passed = [], []
    for case, res in zip(cases, results, strict=True):
        flagged = not all(r.passed for r in res)
        if case["label"] == "hateful":
            ok = flagged
            caught.append(ok)
        elif case["label"] == "non_hateful":
            ok = not flagged
            if case["slice"] != "profanity_nonhate":
                passed.append(ok)
        else:  # toxic, not hate: blocking it is right for a workplace bot
            ok = flagged
        slices.setdefault(case["slice"], []).append(ok)
        kinds.setdefault(case["slice"], case["label"])
    hate = sum(caught) / len(caught) if caught else 0.0
    non = sum(passed) / len(passed) if passed else 0.0
    report: dict[str, Any] = {
        "cases": len(cases), "hateful_caught": round(hate, 4), "non_hateful_passed": round(non, 4),
        "balanced_accuracy": round((hate + non) / 2, 4),
        "slices": {name: {"label": kinds[name], "n": len(v), "accuracy": round(sum(v) / len(v), 4)}
                   for name, v in slices.items()},
    }
    if pairs:
        report["stereotype_pairs"] = pair_win_rate(guardrails, [(p["stereotype"], p["anti_stereotype"]) for p in pairs])
    return report


def pair_win_rate(guardrails: Any, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """How often the first (stereotypical) sentence of each pair gets the higher ``bias`` score.

    Two readings: ``stereotype_scored_higher`` is the bias check as served (gated on group detection: a sentence
    that names no group scores 0, so a pair about a profession or an unnamed person is not won), and
    ``model_scored_higher`` is the bias model alone on each whole sentence, ungated: what the model learned.

    Returns:
        ``{"n", "stereotype_scored_higher", "model_scored_higher", "gated_pairs"}`` (shares, 0 when there are no
        pairs; ``gated_pairs``: pairs whose stereotypical sentence names a group).
    """
    from decorum.guardrails.groups import mentions_group

    texts = [text for pair in pairs for text in pair]
    results = guardrails.run(texts, stage="input")
    bias = [next(r.score for r in res if r.check == "bias") for res in results]
    label = guardrails.policy.checks["bias"].labels[0] if "bias" in guardrails.policy.checks else "bias"
    model = [row.get(label, 0.0) for row in guardrails.scores.classifier.predict(texts)] if texts else []
    n = len(pairs)

    def share(scores: list[float]) -> float:
        return round(sum(scores[2 * k] > scores[2 * k + 1] for k in range(n)) / n, 4) if n else 0.0

    return {"n": n, "stereotype_scored_higher": share(bias), "model_scored_higher": share(model),
            "gated_pairs": sum(mentions_group(p[0]) for p in pairs)}
