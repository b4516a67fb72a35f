"""``decorum guardrails screen``: distil the main classifier's toxicity score into the part screen.

The screen (:mod:`decorum.guardrails.screen`) decides which parts of a long text the full classifier reads. It
is trained on the main classifier's own scores (not on the data's labels): what it must predict is where the
full model would score high. Texts: the training split of the same corpus the main classifier trains on
(``load_corpus``, with the augmentation, contrastive, context and everyday sets) and every sentence of its
longer texts; the dev split picks the threshold; the held-out sets (tests/benign, the independent functional
suite) are only measured.

The threshold is an operating point on cost: the screen sends ``--read-share`` of everyday dev requests to the
full model. The card reports what that buys: the share of dev parts the full model scores near (``--near`` times
the toxicity threshold) or above the threshold that the screen sends on, and the same on held-out sets.

    decorum guardrails screen --max-examples 30000 --seed 13            # ~10 min on 2 cores
    decorum guardrails screen --targets scored.jsonl                     # reuse scores from an earlier run
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder (default: ../shared/data)")
    parser.add_argument("--max-examples", type=int, default=30000, help="training texts from the corpus")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--read-share", type=float, default=0.1,
                        help="the operating point: the share of everyday dev requests the screen sends to the full "
                             "model (the card reports the recall this buys)")
    parser.add_argument("--near", type=float, default=0.5,
                        help="a part is near the threshold when the full model scores it >= NEAR x threshold")
    parser.add_argument("--max-train-parts", type=int, default=None, metavar="N",
                        help="train on the first N training texts and parts only (in corpus order)")
    parser.add_argument("--targets", type=Path, default=None, metavar="FILE",
                        help="JSONL {split, source, text, tox} of an earlier run: skip scoring")
    parser.add_argument("--save-targets", type=Path, default=None, metavar="FILE",
                        help="write the scored texts (JSONL) for a later --targets")
    parser.add_argument("--out", type=Path, default=None, help="artifact folder (default: the committed screen)")


def corpus_texts(data: Path | None, max_examples: int, seed: int) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """(split, source, text) of every corpus text and every scoring part of its long texts, deduplicated."""
    from decorum.guardrails.training.datasets import load_corpus
    from decorum.guardrails.windows import scoring_windows

    corpus = load_corpus(data, seed=seed, max_examples=max_examples, with_augmentation=True,
                         with_contrastive=True, with_context=True, with_everyday=True)
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for split, examples in (("train", corpus.train), ("dev", corpus.dev)):
        for ex in examples:
            candidates = [(ex.source, ex.text)]
            if len(ex.text) > 240:
                candidates += [(ex.source + ":part", ex.text[a:b]) for a, b in scoring_windows(ex.text)]
            for source, text in candidates:
                if text and text not in seen:
                    seen.add(text)
                    rows.append((split, source, text))
    return rows, corpus.file_hashes


def served_main() -> Any:
    """The served main classifier (the screen is distilled from it and applies to it alone)."""
    from decorum.guardrails.classifier import build_classifier
    from decorum.guardrails.policy import Policy
    from decorum.settings import Settings

    clf = build_classifier(Policy().classifier, Settings().cache_dir / "classifiers")
    return getattr(clf, "main", clf)


def score_texts(main: Any, texts: Sequence[str], batch: int = 256) -> list[float]:
    """The toxicity check's score (the highest toxicity label) of the main classifier ``main``, per text."""
    from decorum.guardrails.policy import TOXICITY_LABELS
    from decorum.progress import ProgressLine

    out: list[float] = []
    with ProgressLine("scoring texts with the main classifier") as bar:
        for start in range(0, len(texts), batch):
            for row in main.predict(list(texts[start:start + batch])):
                out.append(max(row[label] for label in TOXICITY_LABELS))
            bar.update(len(out) / len(texts), f"{len(out):,}/{len(texts):,}")
    return out


def train_weights(feats: Sequence[Any], targets: Sequence[float], size: int, *, epochs: int, seed: int,
                  positive_weight: float = 4.0) -> tuple[Any, float, list[tuple[float, float]]]:
    """Logistic regression on binary features against the full model's scores (soft targets), weighted towards
    the parts the full model scores high. Returns (weights, bias, [(epoch, mean loss)])."""
    import numpy as np
    import torch

    from decorum.progress import ProgressLine

    torch.manual_seed(seed)
    rng = random.Random(seed)
    bag = torch.nn.EmbeddingBag(size, 1, mode="sum")
    torch.nn.init.zeros_(bag.weight)
    bias = torch.nn.Parameter(torch.tensor([-3.0]))
    opt = torch.optim.Adam([bag.weight, bias], lr=0.02)
    order = list(range(len(feats)))
    curve: list[tuple[float, float]] = []
    batch = 256
    y_all = torch.tensor(targets, dtype=torch.float32)
    with ProgressLine("training the screen") as bar:
        for epoch in range(epochs):
            rng.shuffle(order)
            total, count = 0.0, 0
            for start in range(0, len(order), batch):
                idx = order[start:start + batch]
                flat = torch.from_numpy(np.concatenate([feats[i] for i in idx]))
                offsets = torch.tensor([0, *np.cumsum([len(feats[i]) for i in idx])[:-1]], dtype=torch.long)
                logits = bag(flat, offsets).squeeze(1) + bias
                y = y_all[idx]
                w = 1.0 + (positive_weight - 1.0) * y
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).mean()
                loss = loss + 1e-6 * bag.weight.pow(2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                bar.update((epoch + count / len(order)) / epochs, f"epoch {epoch + 1}/{epochs}")
            curve.append((epoch + 1, total / count))
    return bag.weight.detach().squeeze(1).numpy().astype("float32"), float(bias.detach()), curve


def reads(logits: Sequence[float], threshold: float) -> float:
    return sum(z >= threshold for z in logits) / max(1, len(logits))


def run(args: argparse.Namespace) -> int:
    """Entry point of ``decorum guardrails screen``."""
    import numpy as np

    from decorum.guardrails.policy import TOXICITY_THRESHOLD
    from decorum.guardrails.screen import BUCKETS, SCREEN_ARTIFACT, PartScreen, encode, screen_tokenizer

    out = args.out or SCREEN_ARTIFACT
    started = time.time()
    main = served_main()  # scores the texts (without --targets); the screen applies to it alone
    if args.targets:
        scored = [json.loads(line) for line in args.targets.read_text(encoding="utf-8").splitlines() if line]
        file_hashes = {str(args.targets.name): hashlib.sha256(args.targets.read_bytes()).hexdigest()}
    else:
        rows, file_hashes = corpus_texts(args.data, args.max_examples, args.seed)
        if args.max_train_parts is not None:
            train_rows = [r for r in rows if r[0] == "train"][:args.max_train_parts]
            rows = train_rows + [r for r in rows if r[0] != "train"]
        tox = score_texts(main, [t for _, _, t in rows])
        scored = [{"split": s, "source": src, "text": t, "tox": v} for (s, src, t), v in zip(rows, tox, strict=True)]
        if args.save_targets:
            args.save_targets.write_text("".join(json.dumps(r) + "\n" for r in scored), encoding="utf-8")
    train = [r for r in scored if r["split"] == "train"][:args.max_train_parts]
    dev = [r for r in scored if r["split"] == "dev"]
    tokenizer = screen_tokenizer()
    weights, bias, curve = train_weights(encode(tokenizer, [r["text"] for r in train]),
                                         [float(r["tox"]) for r in train], tokenizer.get_vocab_size() + BUCKETS,
                                         epochs=args.epochs, seed=args.seed)
    logits = PartScreen(weights, bias, 0.0, tokenizer).scores  # before the threshold is chosen

    near = args.near * TOXICITY_THRESHOLD
    dev_logits = logits([r["text"] for r in dev])
    near_logits = sorted(z for z, r in zip(dev_logits, dev, strict=True) if r["tox"] >= near)
    everyday_dev = sorted(z for z, r in zip(dev_logits, dev, strict=True) if r["source"] in ("everyday", "bitext"))
    if not near_logits or not everyday_dev:
        print("the dev split lacks near-threshold or everyday parts: nothing to set the screen's threshold on",
              file=sys.stderr)
        return 1
    threshold = everyday_dev[min(len(everyday_dev) - 1, int((1 - args.read_share) * len(everyday_dev)))]
    blocked = [z for z, r in zip(dev_logits, dev, strict=True) if r["tox"] >= TOXICITY_THRESHOLD]
    strong = [z for z, r in zip(dev_logits, dev, strict=True) if r["tox"] >= 0.8]
    metrics: dict[str, Any] = {
        "dev_parts": len(dev),
        "dev_near_parts": len(near_logits),
        "dev_near_recall": reads(near_logits, threshold),
        "dev_blocked_parts": len(blocked),
        "dev_blocked_recall": reads(blocked, threshold),
        "dev_strong_parts": len(strong),
        "dev_strong_recall": reads(strong, threshold),
        "dev_read_share": reads(dev_logits, threshold),
        "dev_everyday_read_share": reads(everyday_dev, threshold),
    }
    metrics.update(held_out_metrics(logits, threshold))
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, weights.astype(np.float16), allow_pickle=False)
    raw = buf.getvalue()
    (out / "weights.npy").write_bytes(raw)
    manifest = {
        "name": "decorum-part-screen",
        "weights_sha256": hashlib.sha256(raw).hexdigest(),
        "bias": bias,
        "threshold_logit": threshold,
        "features": f"uncased WordPiece ids of all-MiniLM-L6-v2 + token pairs hashed into {BUCKETS} buckets",
        "distilled_from": "the served main classifier's toxicity score (max of the toxicity labels)",
        "model_revision": main.revision,
        "near": args.near,
        "read_share": args.read_share,
        "seed": args.seed,
        "command": "decorum guardrails screen " + " ".join(getattr(args, "argv", []) or []),
        "train_parts": len(train),
        "data": file_hashes,
        "metrics": metrics,
        "loss": curve,
        "seconds": round(time.time() - started),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_card(out, manifest)
    PartScreen.load(out)  # what was written loads and checks
    print(json.dumps({"threshold_logit": threshold, **metrics}, indent=2))
    return 0


def held_out_metrics(logits: Any, threshold: float) -> dict[str, Any]:
    """What the screen sends to the full model on sets it never saw: everyday requests (tests/benign) and the
    independent functional suite's hateful items (each would need the full model)."""
    from decorum.guardrails.training.benign import read_everyday

    repo = Path(__file__).resolve().parents[4]
    out: dict[str, Any] = {}
    try:
        everyday = [r["text"] for r in read_everyday()]
    except OSError:
        everyday = []
    if everyday:
        out["held_out_everyday_read_share"] = reads(logits(everyday), threshold)
    suite = repo / "tests" / "functional_independent" / "hate_suite.jsonl"
    if suite.exists():
        rows = [json.loads(line) for line in suite.read_text(encoding="utf-8").splitlines() if line.strip()]
        hateful = [r["text"] for r in rows if r.get("label") == "hateful"]
        benign = [r["text"] for r in rows if r.get("label") != "hateful"]
        out["held_out_hateful_read_share"] = reads(logits(hateful), threshold) if hateful else None
        out["held_out_suite_benign_read_share"] = reads(logits(benign), threshold) if benign else None
    return out


def write_card(out: Path, manifest: dict[str, Any]) -> None:
    from decorum.charts import line_chart

    (out / "loss.svg").write_text(line_chart({"training loss": manifest["loss"]}, title="screen training loss",
                                             x_label="epoch", y_label="weighted BCE"), encoding="utf-8")
    m = manifest["metrics"]

    def pct(key: str) -> str:
        value = m.get(key)
        return "n/a" if value is None else f"{value:.1%}"

    lines = [
        "# Part screen (decorum-part-screen)",
        "",
        "A logistic regression over WordPiece tokens and token pairs that decides which parts of a long text "
        "(more than one scoring part) the full classifier reads; see `decorum/guardrails/screen.py`. Distilled "
        "from " + manifest["distilled_from"] + ".",
        "",
        f"- Made by: `{manifest['command'].strip()}` (seed {manifest['seed']}, {manifest['seconds']} s)",
        *(["- The scores came from `--targets`: this command's corpus texts and parts scored by the served model "
            "(what it does itself without `--targets`: the long step, about 25 minutes on 2 cores)."]
          if "--targets" in manifest["command"] else []),
        f"- Trained on {manifest['train_parts']:,} texts and sentences of the main classifier's training corpus "
        "(Davidson, OLID train, ToxiGen train, Jigsaw unintended-bias train, Bitext, the everyday training "
        "requests, the team's augmentation, contrastive and context families), scored by the served model.",
        f"- Threshold (logit) {manifest['threshold_logit']:.3f}: the operating point at which the screen sends "
        f"{manifest['read_share']:.0%} of everyday dev requests (everyday and Bitext) to the full model; what that "
        "buys is the recall below.",
        "",
        "| measured on | figure |",
        "|---|---|",
        f"| dev parts near the threshold ({m['dev_near_parts']:,}) sent to the full model | {pct('dev_near_recall')} |",
        f"| dev parts the full model blocks ({m['dev_blocked_parts']:,}) sent to the full model | "
        f"{pct('dev_blocked_recall')} |",
        f"| dev parts the full model scores >= 0.8 ({m['dev_strong_parts']:,}) sent to the full model | "
        f"{pct('dev_strong_recall')} |",
        f"| all dev parts ({m['dev_parts']:,}) sent to the full model | {pct('dev_read_share')} |",
        f"| dev everyday requests sent to the full model | {pct('dev_everyday_read_share')} |",
        f"| held out: everyday requests (tests/benign) sent to the full model | "
        f"{pct('held_out_everyday_read_share')} |",
        f"| held out: hateful items of the independent functional suite sent to the full model | "
        f"{pct('held_out_hateful_read_share')} |",
        f"| held out: benign items of the independent functional suite sent to the full model | "
        f"{pct('held_out_suite_benign_read_share')} |",
        "",
        "The full model also reads the parts the screen ranks worst (`screen_top_k` in the policy's classifier "
        "section) and every part that names a group, so the note's score is always the full model's.",
        "",
        "![training loss](loss.svg)",
        "",
    ]
    (out / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
