"""Counterfactual consistency: swapping only the identity term of a benign sentence must not move scores.

Uses the Jigsaw unintended-bias identity-template sets (``en_sentence_templates.csv``: phrases built
from templates with one identity term each). Sentences that are equal except for the identity term form
a group; for each group of benign (``nontoxic``) sentences we take the spread (max - min) of each
check's score. Reported: mean and max spread, and the identity terms most often at the top.

    python -m decorum.guardrails.training.counterfactual [--groups 400] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

IDENTITY_TERMS = (
    "african american", "middle eastern", "middle aged", "native american", "lgbtq", "lgbt", "lesbian", "gay",
    "bisexual", "transgender", "trans", "queer", "homosexual", "heterosexual", "straight", "nonbinary", "male",
    "female", "african", "black", "white", "european", "hispanic", "latino", "latina", "latinx", "mexican",
    "canadian", "american", "asian", "indian", "chinese", "japanese", "christian", "muslim", "jewish", "buddhist",
    "catholic", "protestant", "sikh", "taoist", "old", "older", "young", "younger", "teenage", "millenial",
    "elderly", "blind", "deaf", "paralyzed",
)
TEMPLATES = Path("jigsaw_unintended_bias") / "en_sentence_templates.csv"
"""The identity-template set, relative to ``shared/data``."""
_TERM_RE = re.compile(r"\b(" + "|".join(re.escape(t) for t in IDENTITY_TERMS) + r")\b", re.IGNORECASE)


def groups_from_templates(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    """``{key: [(phrase, term, toxic), ...]}`` where key is the phrase with its identity term masked."""
    out: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            phrase = row["phrase"]
            m = _TERM_RE.search(phrase)
            if not m:
                continue
            key = f"{row['template']}|{phrase[:m.start()]}<ID>{phrase[m.end():]}".lower()
            out[key].append((phrase, m.group(1).lower(), row["toxicity"].strip() == "toxic"))
    return {k: v for k, v in out.items() if len({t for _, t, _ in v}) > 1}


def consistency(guardrails: Any, groups: dict[str, list[tuple[str, str, bool]]], *, sample: int, seed: int = 13
                ) -> dict[str, Any]:
    rng = random.Random(seed)
    benign = sorted(k for k, v in groups.items() if not any(tox for _, _, tox in v))
    keys = rng.sample(benign, min(sample, len(benign)))
    texts = [p for k in keys for p, _, _ in groups[k]]
    results = guardrails.run(texts, stage="input")
    by_text = {t: {r.check: r.score for r in res} for t, res in zip(texts, results, strict=True)}
    report: dict[str, Any] = {"groups": len(keys), "sentences": len(texts), "checks": {}}
    gated = getattr(guardrails.scores, "gated_labels", frozenset())
    model_rows: list[dict[str, float]] | None = None
    for first in results[0]:
        check, thr = first.check, first.threshold
        spreads, top = [], Counter()
        flips = 0
        for k in keys:
            scored = [(by_text[p][check], term) for p, term, _ in groups[k]]
            hi, lo = max(scored), min(scored)
            spreads.append(hi[0] - lo[0])
            top[hi[1]] += 1
            flips += int(hi[0] >= thr > lo[0])
        report["checks"][check] = {
            "mean_spread": round(sum(spreads) / len(spreads), 4), "max_spread": round(max(spreads), 4),
            "groups_with_a_flip": flips, "most_often_highest": top.most_common(5),
        }
        label = first.label
        if label in gated:
            # A gated check scores 0 where group detection reads no group: bare fragments such as "hug old" are
            # not read as naming one, "hug gay" is, so the served spread mixes the gate with the model. The model's
            # own spread, ungated, is what identity-term sensitivity means.
            if model_rows is None:
                model_rows = guardrails.scores.classifier.predict(texts)
            by_model = {t: row.get(label, 0.0) for t, row in zip(texts, model_rows, strict=True)}
            model_spreads = [max(by_model[p] for p, _, _ in groups[k]) - min(by_model[p] for p, _, _ in groups[k])
                             for k in keys]
            report["checks"][check]["model_mean_spread"] = round(sum(model_spreads) / len(model_spreads), 4)
            report["checks"][check]["model_max_spread"] = round(max(model_spreads), 4)
    return report


def main() -> None:
    from decorum.guardrails.checks import default_guardrails
    from decorum.guardrails.training.datasets import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--groups", type=int, default=400)
    args = ap.parse_args()
    groups = groups_from_templates(args.data / TEMPLATES)
    print(json.dumps(consistency(default_guardrails(), groups, sample=args.groups), indent=2))


if __name__ == "__main__":
    main()
