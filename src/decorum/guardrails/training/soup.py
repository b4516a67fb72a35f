"""``decorum guardrails soup``: average trained classifier artifacts in weight space (a "model soup").

    decorum guardrails soup --from DIR --from DIR --weights 0.75 0.25 --out DIR

Each ingredient is an artifact written by ``decorum guardrails train`` from the same base model, LoRA
shape, seed and held-out split. The soup's adapted weights are ``W + sum_i w_i * (alpha/r) * B_i A_i``;
this is stored exactly as one adapter of rank ``n*r`` (the ``A_i`` stacked, the ``w_i * B_i`` side by
side, ``alpha`` scaled by ``n`` so that ``alpha/r`` is unchanged), and the head is the weighted mean of
the heads. The result is an ordinary artifact: the runtime builds and serves it like any other.
Held-out metrics, thresholds, probes and latency are computed on the averaged model, and the
manifest keeps every ingredient's training record (command, seed, data hashes) and adapter SHA-256.

Why: a fine-tune with counterfactual logit pairing (``train --clp``) is far more consistent under
identity swaps but catches less implicit hate; averaging it into the plain fine-tune keeps most of
both (figures in the model card).
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from decorum.errors import UsageError

# Manifest fields that must agree for ingredients to be averaged.
_SAME_LORA = ("target_modules", "r", "alpha")
_SAME_TRAINING = ("seed", "contrastive", "context", "everyday")


def _training(manifest: dict[str, Any], key: str) -> Any:
    value = manifest["training"].get(key)
    return bool(value) if key in ("contrastive", "context", "everyday") else value  # absent in older manifests: off


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the soup options on ``parser``."""
    parser.add_argument("--from", dest="ingredients", type=Path, action="append", required=True,
                        help="an artifact folder (repeat: two or more)")
    parser.add_argument("--weights", type=float, nargs="+", required=True, help="one weight per --from (normalised)")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder for the held-out metrics")
    parser.add_argument("--threads", type=int, default=2)


def _check_compatible(manifests: list[dict[str, Any]]) -> None:
    first = manifests[0]
    for m in manifests[1:]:
        if m["base_model"]["sha256"] != first["base_model"]["sha256"]:
            raise UsageError("ingredients were trained on different base models")
        for key in _SAME_LORA:
            if m["lora"][key] != first["lora"][key]:
                raise UsageError(f"ingredients differ in LoRA {key}: {first['lora'][key]!r} vs {m['lora'][key]!r}")
        for key in _SAME_TRAINING:
            if _training(m, key) != _training(first, key):
                raise UsageError(f"ingredients differ in training {key} (their held-out splits differ)")
        if m["training"].get("smoke") or first["training"].get("smoke"):
            raise UsageError("smoke-test artifacts are not soup ingredients")


def mix_adapters(adapters: list[dict[str, Any]], weights: list[float]) -> dict[str, Any]:
    """Combine adapter tensors exactly: stacked LoRA factors, weighted mean of the fully trained tensors.

    Args:
        adapters: Each ingredient's ``adapter.safetensors`` tensors (same keys and shapes).
        weights: One weight per ingredient, summing to 1.

    Returns:
        The soup's adapter tensors.
    """
    import torch

    keys = set(adapters[0])
    if any(set(a) != keys for a in adapters[1:]):
        raise UsageError("ingredient adapters hold different tensors")
    out: dict[str, Any] = {}
    for key in sorted(keys):
        tensors = [a[key].to(torch.float32) for a in adapters]
        if key.startswith("full."):
            out[key] = sum(w * t for w, t in zip(weights, tensors, strict=True)).contiguous()
        elif key.endswith(".A"):  # (r, in) stacked to (n*r, in)
            out[key] = torch.cat(tensors, dim=0).contiguous()
        elif key.endswith(".B"):  # (out, r) side by side to (out, n*r), each scaled by its weight
            out[key] = torch.cat([w * t for w, t in zip(weights, tensors, strict=True)], dim=1).contiguous()
        else:
            raise UsageError(f"unexpected adapter tensor {key}")
    return out


def run(args: argparse.Namespace) -> int:
    """Entry point of ``decorum guardrails soup``."""
    from safetensors.torch import load, save_file

    from decorum.guardrails.classifier import (
        ADAPTER_FILE,
        ARTIFACT_FORMAT,
        MANIFEST_FILE,
        DetoxifyClassifier,
        load_manifest,
        read_verified,
        sha256_file,
    )
    from decorum.guardrails.training.datasets import load_corpus
    from decorum.guardrails.training.train import (
        RUNTIME_MAX_LENGTH,
        _latency,
        _swap_into_place,
        evaluate,
        run_probes,
        write_model_card,
    )

    t_start = time.time()
    dirs = [Path(d) for d in args.ingredients]
    if len(dirs) < 2:
        raise UsageError("a soup needs two or more --from artifacts")
    if len(args.weights) != len(dirs) or any(w <= 0 for w in args.weights):
        raise UsageError("give one positive --weights value per --from")
    total = sum(args.weights)
    weights = [w / total for w in args.weights]
    manifests = [load_manifest(d) for d in dirs]
    _check_compatible(manifests)
    # each ingredient is parsed from the very bytes that were checked against its manifest
    verified = [read_verified(d / ADAPTER_FILE, m["files"][ADAPTER_FILE], f"ingredient adapter {d}")
                for d, m in zip(dirs, manifests, strict=True)]

    import torch

    torch.set_num_threads(max(1, args.threads))
    tensors = mix_adapters([load(data) for data in verified], weights)
    final_out = Path(args.out)
    final_out.parent.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f".{final_out.name}.staging-", dir=final_out.parent))
    save_file(tensors, str(out / ADAPTER_FILE), metadata={"format": ARTIFACT_FORMAT})

    main = manifests[max(range(len(weights)), key=lambda i: weights[i])]
    n = len(dirs)
    manifest = copy.deepcopy(main)
    for key in ("metrics", "thresholds", "probes", "latency_ms", "verification", "evaluation"):
        manifest.pop(key, None)
    manifest["lora"] = dict(main["lora"], r=main["lora"]["r"] * n, alpha=main["lora"]["alpha"] * n)
    manifest["files"] = {ADAPTER_FILE: sha256_file(out / ADAPTER_FILE)}
    manifest["adapter_bytes"] = (out / ADAPTER_FILE).stat().st_size
    argv = getattr(args, "argv", None) or sys.argv[1:]
    manifest["soup"] = {
        "command": "decorum guardrails soup " + " ".join(shlex.quote(str(a)) for a in argv),
        "weights": [round(w, 6) for w in weights],
        "ingredients": [
            {
                "weight": round(w, 6),
                "adapter_sha256": m["files"][ADAPTER_FILE],
                "lora": m["lora"],
                "training": m["training"],
                "data": m["data"],
                # The ingredient's own `decorum guardrails report`, when it was run (for the card's comparison).
                "evaluation": m.get("evaluation"),
            }
            for w, m in zip(weights, manifests, strict=True)
        ],
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    tr = main["training"]
    corpus = load_corpus(args.data, seed=tr["seed"], with_contrastive=bool(tr.get("contrastive")),
                         with_context=bool(tr.get("context")), with_everyday=bool(tr.get("everyday")))
    with tempfile.TemporaryDirectory(prefix="decorum-soup-") as tmp:
        clf = DetoxifyClassifier(out, Path(tmp), max_length=int(tr["max_length"]))
        scores = clf.predict([ex.text for ex in corpus.dev])
        probs = [[row[label] for label in manifest["labels"]] for row in scores]
        metrics = evaluate(probs, corpus.dev)
        manifest["metrics"] = metrics
        manifest["thresholds"] = metrics["thresholds"]
        clf.max_length = RUNTIME_MAX_LENGTH
        manifest["latency_ms"] = {k: round(v, 2) for k, v in _latency(clf).items()}
        manifest["probes"] = run_probes(clf, metrics["thresholds"])
        manifest["verification"] = {"checkpoint_revision": clf.revision}
    manifest["soup"]["wall_time_s"] = round(time.time() - t_start, 1)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_model_card(out, manifest, manifest["sources"])
    _swap_into_place(out, final_out)
    print(f"[soup] wrote {final_out}: weights {manifest['soup']['weights']}, probes "
          f"{manifest['probes']['passed']}/{manifest['probes']['total']}", flush=True)
    return 0

