"""Semantic routing to a fine-tuned domain: a score per question and a threshold calibrated per version.

A version's router index holds two sets of all-MiniLM-L6-v2 embeddings: its training questions (the
domain side) and general requests that must not come to it (the calibration file, the general side). A
question's score is the mean cosine similarity of its ``TOP_K`` nearest domain questions minus that of
its ``TOP_K`` nearest general requests: positive when it looks more like the domain than like general
requests. (Similarity to the domain alone routed only 63% of the shipped test split, whose questions
share few words with the training ones; k=5 with the margin had the best balanced accuracy on the
calibration data, among k = 1, 3, 5 with and without it.)

The threshold is chosen when the version is trained, on data it was not trained on: the held-out eval
questions (must route to it; each scored without the training questions of its own fact, see
``calibrate``) against the general requests (each scored without itself): the midpoint of the interval
with the best balanced accuracy. Both sides' figures at that threshold are kept with the
version, so ``decorum models show`` says how well its router separated them.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from decorum.adapters.embeddings import Embedder

TOP_K = 5
METHOD = (f"mean cosine of the {TOP_K} nearest training questions minus that of the {TOP_K} nearest general "
          "requests (all-MiniLM-L6-v2)")


def _top_mean(vectors: Any, index: Any, k: int, *, exclude_self: bool = False) -> Any:
    import torch

    if index.shape[0] == 0:
        return torch.zeros(vectors.shape[0])
    sims = vectors @ index.T
    if exclude_self:
        sims.fill_diagonal_(-1.0)
    return torch.topk(sims, min(k, index.shape[0] - (1 if exclude_self else 0) or 1), dim=1).values.mean(1)


def margin_scores(vectors: Any, domain: Any, general: Any, *, general_is_self: bool = False) -> list[float]:
    """Scores of already-embedded questions (``vectors``: ``[n, 384]`` unit rows)."""
    s = _top_mean(vectors, domain, TOP_K) - _top_mean(vectors, general, TOP_K, exclude_self=general_is_self)
    return [round(float(v), 4) for v in s]


def calibrate(embedder: Embedder, index: dict[str, Any], positives: Sequence[tuple[str, str | None]],
              index_facts: Sequence[str | None]) -> dict[str, Any]:
    """The threshold with the best balanced accuracy (midpoint of the best interval), and its figures.

    ``positives`` are held-out in-domain ``(question, fact)`` pairs, ``index_facts`` the fact of each row of
    ``index["questions"]``. A positive is scored without the training questions of its own fact, as if its
    topic were not in the data: the threshold must admit in-domain questions that no training question
    paraphrases (what people who never read the data ask), not just rephrasings of trained ones.
    """
    import torch

    vectors = embedder.encode([q for q, _ in positives])
    pos = []
    for (_, fact), vector in zip(positives, vectors, strict=True):
        keep = torch.tensor([fact is None or f != fact for f in index_facts])
        pos.extend(margin_scores(vector[None], index["questions"][keep], index["general"]))
    neg = margin_scores(index["general"], index["questions"], index["general"], general_is_self=True)
    best: tuple[float, float] = (-1.0, 0.0)
    for lo, hi in pairwise(sorted(set(pos + neg))):
        t = (lo + hi) / 2
        bal = (sum(s >= t for s in pos) / len(pos) + sum(s < t for s in neg) / len(neg)) / 2
        if bal > best[0] + 1e-12:
            best = (bal, t)
    threshold = round(best[1], 4)
    return {"method": METHOD, "top_k": TOP_K, "threshold": threshold, "balanced_accuracy": round(best[0], 4),
            "positives": "held-out eval questions, each scored without its own fact's training questions",
            "in_domain_routed": round(sum(s >= threshold for s in pos) / len(pos), 4),
            "general_rejected": round(sum(s < threshold for s in neg) / len(neg), 4),
            "calibration_sizes": {"in_domain_eval": len(pos), "general": len(neg)}}
