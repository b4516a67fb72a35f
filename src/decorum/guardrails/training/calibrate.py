"""``decorum guardrails calibrate``: make a label's score mean what its threshold says.

    decorum guardrails calibrate [--artifact DIR] [--label bias] [--data DIR] [--reports FILE] [--json]

Scores the artifact's held-out split (the same split its training used: seed, contrastive and context
families from the manifest) with the uncalibrated model, fits Platt scaling (``p' = sigmoid(a * logit(p) + b)``,
a > 0, so every ranking, and the stereotype-pair preference, is unchanged) of ``--label`` against that
split's labels, and stores ``a``, ``b``, the reliability table before and after and what the default 0.5
threshold then catches in the manifest's ``calibration`` section. The classifier applies it when it
loads the artifact (its revision changes with it). ``MODEL_CARD.md`` is rewritten.

After calibration a score of 0.5 means "as likely as not" on that held-out mix, and the reliability
table shows how far each score band is from the share of positives it holds.

``--reports FILE`` adds the auditors' verdicts on askers' "This was wrong" reports (``decorum audit review
export --false-positives --format jsonl``) to the fit: each row whose ``scored_label`` (or ``check``) is
``--label`` joins the held-out rows with target 0 (``false_positive``: the block was wrong) or 1
(``blocked_correctly``). Such rows are few and all sit above the old threshold, so they can only pull the fit
where the checks misfire in use; the manifest records how many were used.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decorum.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifact", type=Path, default=None,
                        help="artifact folder (default: the committed stereotype model)")
    parser.add_argument("--label", default="bias", help="label to calibrate (default bias)")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder (default: ../shared/data)")
    parser.add_argument("--reports", type=Path, default=None, metavar="FILE",
                        help="also fit on reviewed false-positive reports (JSONL from `decorum audit review export "
                             "--false-positives --format jsonl`): the rows of --label")
    parser.add_argument("--json", action="store_true", help="print the calibration entry as JSON")


REPORT_TARGETS = {"false_positive": 0, "blocked_correctly": 1}  # a reviewed report's label -> the label's target


def read_reports(path: Path, label: str) -> tuple[list[str], list[int]]:
    """The input-stage rows of a reports export about ``label``: (texts, targets); 1 where the block was right.

    Raises:
        UsageError: If the file is missing or a line is not a report row (naming the line).
    """
    if not path.is_file():
        raise UsageError(f"--reports {path}: no such file")
    texts: list[str] = []
    targets: list[int] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UsageError(f"{path}:{n}: not JSON (expected one report row per line)") from None
        if (not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip()
                or row.get("label") not in REPORT_TARGETS):
            raise UsageError(f'{path}:{n}: a report row needs "text" and "label" (false_positive or '
                             "blocked_correctly)")
        if row.get("stage", "input") != "input" or (row.get("scored_label") or row.get("check")) != label:
            continue  # another label's row, or an output check's (it scored the draft answer, not this text)
        texts.append(row["text"])
        targets.append(REPORT_TARGETS[row["label"]])
    return texts, targets


def fit_platt(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """``(a, b)`` minimising the log loss of ``sigmoid(a * logit(score) + b)`` against ``labels``.

    Raises:
        UsageError: If the labels are all one class, or the fit would reverse the order (a <= 0).
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from decorum.guardrails.classifier import logit

    y = np.asarray(labels, dtype=np.int64)
    if y.min() == y.max():
        raise UsageError("calibration needs positives and negatives in the held-out split")
    z = np.asarray([logit(s) for s in scores], dtype=np.float64).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(z, y)
    a, b = float(fit.coef_[0][0]), float(fit.intercept_[0])
    if a <= 0:
        raise UsageError(f"the fitted slope is {a:.3f}: the scores do not rank the label, calibration would "
                         "reverse them")
    return a, b


def reliability(scores: Sequence[float], labels: Sequence[int], bins: int = 10) -> dict[str, Any]:
    """Equal-width reliability table and expected calibration error (ECE, weighted by bin size)."""
    rows = []
    ece = 0.0
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        idx = [i for i, s in enumerate(scores) if lo <= s < hi or (k == bins - 1 and s == 1.0)]
        if not idx:
            continue
        mean_p = sum(scores[i] for i in idx) / len(idx)
        observed = sum(labels[i] for i in idx) / len(idx)
        ece += len(idx) / len(scores) * abs(mean_p - observed)
        rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(idx), "mean_score": round(mean_p, 4),
                     "positives": round(observed, 4)})
    return {"ece": round(ece, 4), "bins": rows}


def at_threshold(scores: Sequence[float], labels: Sequence[int], threshold: float) -> dict[str, float]:
    """Precision and recall (``train._prf``) and how many rows are flagged, at ``threshold``."""
    from decorum.guardrails.training.train import _prf

    m = _prf(scores, labels, threshold)
    return {"threshold": threshold, "precision": round(m["precision"], 4), "recall": round(m["recall"], 4),
            "flagged": sum(1 for s in scores if s >= threshold)}


def calibrate(scores: Sequence[float], labels: Sequence[int]) -> dict[str, Any]:
    """The manifest entry for one label: the fit, and reliability / threshold figures before and after."""
    from decorum.guardrails.classifier import platt

    a, b = fit_platt(scores, labels)
    after = [platt(s, a, b) for s in scores]
    return {
        "method": "platt", "a": round(a, 6), "b": round(b, 6), "n": len(scores), "positives": int(sum(labels)),
        "before": {**reliability(scores, labels), "at_0.5": at_threshold(scores, labels, 0.5)},
        "after": {**reliability(after, labels), "at_0.5": at_threshold(after, labels, 0.5)},
    }


def run(args: argparse.Namespace) -> int:
    """Entry point of ``decorum guardrails calibrate``."""
    from decorum.guardrails.classifier import (
        LABELS,
        MANIFEST_FILE,
        STEREOTYPE_ARTIFACT,
        DetoxifyClassifier,
        load_manifest,
    )
    from decorum.guardrails.training.datasets import load_corpus, shared_data_dir
    from decorum.guardrails.training.train import write_model_card

    artifact = Path(args.artifact) if args.artifact else STEREOTYPE_ARTIFACT
    if args.label not in LABELS:
        raise UsageError(f"--label {args.label!r} is not a label of the classifier; labels: {', '.join(LABELS)}")
    data = Path(args.data) if args.data else shared_data_dir()
    if not data.is_dir():
        raise UsageError(f"calibration needs the held-out split: {data} is not a folder (pass --data, the "
                         "shared/data folder)")
    manifest = load_manifest(artifact)
    tr = manifest["training"]
    corpus = load_corpus(data, seed=int(tr["seed"]), with_contrastive=bool(tr.get("contrastive")),
                         with_context=bool(tr.get("context")), with_everyday=bool(tr.get("everyday")))
    index = LABELS.index(args.label)
    labels = [int(ex.target[index] >= 0.5) for ex in corpus.dev]
    clf = DetoxifyClassifier(artifact, calibrated=False)
    print(f"[calibrate] scoring {len(corpus.dev)} held-out rows with {clf.name}@{clf.revision}", flush=True)
    scores = [row[args.label] for row in clf.predict([ex.text for ex in corpus.dev])]
    reports: dict[str, Any] | None = None
    if args.reports:
        texts, targets = read_reports(Path(args.reports), args.label)
        if texts:
            scores += [row[args.label] for row in clf.predict(texts)]
            labels += targets
        reports = {"file": Path(args.reports).name, "rows": len(texts),
                   "false_positives": len(targets) - sum(targets)}
        print(f"[calibrate] {len(texts)} reviewed reports of {args.label} added "
              f"({reports['false_positives']} false positives)", flush=True)
    entry = calibrate(scores, labels)
    entry["fit_on"] = f"held-out split of seed {tr['seed']} ({len(corpus.dev)} rows, all sources)"
    if reports is not None:
        entry["reports"] = reports
        entry["fit_on"] += f" + {reports['rows']} reviewed false-positive reports ({reports['file']})"
    manifest.setdefault("calibration", {})[args.label] = entry
    (artifact / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_model_card(artifact, manifest, manifest["sources"])
    if args.json:
        print(json.dumps(entry))
    else:
        for when in ("before", "after"):
            t = entry[when]["at_0.5"]
            print(f"  {when}: ECE {entry[when]['ece']:.3f}; at 0.5 precision {t['precision']:.3f} recall "
                  f"{t['recall']:.3f}")
        print(f"  a {entry['a']:.3f}, b {entry['b']:.3f}; wrote {artifact / MANIFEST_FILE}")
    return 0
