"""Guardrail speed: per-check latency for one short message and for one 4,000-character message (scored part by
part: sentences and neighbouring pairs, the bias model only on parts that name a group), and throughput at batch 32,
beside detoxify's ``original`` architecture (BERT-base, random weights: timing only) run on the same inputs (the
same parts, for the long message) in this process.

    .venv/bin/python bench/guardrails.py [--runs 200]

Prints figures; never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

SHORT = "Can someone help me reset my VPN password before the 3pm meeting?"
ANSWER = "Open the VPN portal, choose Forgot password and follow the link we email you; it takes two minutes."
BATCH = [
    "How do I reset my VPN password?", "The printer on floor 3 is jammed again.",
    "Thanks for the quick fix yesterday!", "Where do I find the holiday calendar?",
    "You are a worthless idiot.", "My colleague is Muslim and she organised a lovely team lunch.",
    "Can we move the stand-up to 10am?", "This laptop is a piece of junk.",
] * 4
# A long Slack message: ordinary helpdesk text with one sentence naming a group.
LONG = ("Hi all, a few notes from today's infrastructure review before the holidays. The VPN concentrator in the "
        "second rack will be replaced on Friday evening, so expect a short outage around 9pm. Please save your work "
        "and log off before then. Our new colleague from the Lisbon office, who is Muslim, asked about a quiet room "
        "for prayer; facilities have set one up on floor 4. The printer queue on floor 3 is still stuck after the "
        "driver update, and a fix is being tested. Backups ran fine last night and the restore test passed. ")
# Made up to 4,000 characters with distinct everyday requests (tests/benign), so that no sentence repeats (each
# distinct part is scored once per message: repeats would flatter the figure).
_EVERYDAY = Path(__file__).resolve().parents[1] / "tests" / "benign" / "everyday.jsonl"
for _line in _EVERYDAY.read_text(encoding="utf-8").splitlines():
    if len(LONG) >= 4000:
        break
    _text = json.loads(_line)["text"].strip()
    LONG += _text + ("" if _text[-1:] in ".?!" else ".") + " "
LONG = LONG[:4000]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("DECORUM_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "models"))
    os.environ.setdefault("DECORUM_DATA_DIR", tempfile.mkdtemp(prefix="decorum-bench-"))
    from decorum.offline import ensure_offline

    ensure_offline()
    import torch

    from decorum.guardrails.checks import Guardrails
    from decorum.guardrails.classifier import DetoxifyClassifier, build_classifier
    from decorum.guardrails.policy import Policy
    from decorum.settings import Settings

    torch.set_num_threads(os.cpu_count() or 2)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    policy = Policy()
    cache = Settings().cache_dir / "classifiers"
    # As served: the main classifier and the bias check's stereotype model, traced (two forward passes).
    clf = build_classifier(policy.classifier, cache)
    eager = build_classifier(policy.classifier.model_copy(update={"optimize": "eager"}), cache)
    main_only = DetoxifyClassifier(None, cache)

    def all_checks(classifier, stage: str = "input"):  # type: ignore[no-untyped-def]
        g = Guardrails(policy, classifier)

        def once() -> None:
            g.scores._cache.clear()  # so that every run scores instead of hitting the cache
            if stage == "output":  # the answer checks, answer_bias included, read the question too
                g.run([ANSWER], stage="output", questions=[SHORT])
            else:
                g.run([SHORT], stage="input")

        return once

    ours = timed(all_checks(clf), args.runs)
    ours_out = timed(all_checks(clf, "output"), args.runs)
    ours_eager = timed(all_checks(eager), args.runs)
    one_model = timed(all_checks(main_only), args.runs)
    print(f"\nall checks on one short message, {args.runs} runs (input: toxicity + bias; output: + answer_bias):")
    print(f"  {clf.name} ({clf.backend}, as served): input p50 {statistics.median(ours):.1f} ms, "
          f"p95 {pct(ours, 0.95):.1f} ms; output p50 {statistics.median(ours_out):.1f} ms, "
          f"p95 {pct(ours_out, 0.95):.1f} ms")
    print(f"  same, eager: input p50 {statistics.median(ours_eager):.1f} ms, p95 {pct(ours_eager, 0.95):.1f} ms")
    print(f"  main classifier alone (bias from its own head, one forward pass): p50 "
          f"{statistics.median(one_model):.1f} ms, p95 {pct(one_model, 0.95):.1f} ms")
    def long_checks(classifier, stage: str = "input", pol=policy):  # type: ignore[no-untyped-def]
        g = Guardrails(pol, classifier)

        def once() -> None:
            g.scores._cache.clear()
            g.run([LONG], stage=stage, **({"questions": [SHORT]} if stage == "output" else {}))

        return once

    long_runs = max(20, args.runs // 4)
    ours_long = timed(long_checks(clf), long_runs)
    ours_long_out = timed(long_checks(clf, "output"), long_runs)
    unscreened = policy.model_copy(update={"classifier": policy.classifier.model_copy(update={"screen": False})})

    every_part = timed(long_checks(clf, pol=unscreened), long_runs)
    served = Guardrails(policy, clf).scores
    spans = served._windows(LONG)
    screen_ms = timed(lambda: served.screen.must_read([LONG[a:b] for a, b in spans], top_k=served.screen_top_k),
                      args.runs) if served.screen is not None else []
    read = len(served.screen.must_read([LONG[a:b] for a, b in spans], top_k=served.screen_top_k)) \
        if served.screen is not None else len(spans)
    print(f"\nall checks on one {len(LONG):,}-character message, {long_runs} runs ({len(spans)} parts; the screen "
          f"sends {read} to the classifier, group parts aside):")
    print(f"  as served: input p50 {statistics.median(ours_long):.1f} ms, p95 {pct(ours_long, 0.95):.1f} ms; "
          f"output p50 {statistics.median(ours_long_out):.1f} ms, p95 {pct(ours_long_out, 0.95):.1f} ms")
    if screen_ms:
        print(f"  the screen alone: p50 {statistics.median(screen_ms):.1f} ms, p95 {pct(screen_ms, 0.95):.1f} ms")
    print(f"  every part read (screen off): input p50 {statistics.median(every_part):.1f} ms, "
          f"p95 {pct(every_part, 0.95):.1f} ms; ratio (every part / as served) p95 "
          f"{pct(every_part, 0.95) / pct(ours_long, 0.95):.1f}x")
    ours_batch = timed(lambda: clf.predict(BATCH), max(10, args.runs // 20))
    ours_tp = len(BATCH) / (statistics.median(ours_batch) / 1000)
    eager_batch = timed(lambda: eager.predict(BATCH), max(10, args.runs // 20))
    eager_tp = len(BATCH) / (statistics.median(eager_batch) / 1000)
    print(f"  batch of 32: {ours_tp:.0f} messages/s as served, {eager_tp:.0f} eager")

    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from decorum.guardrails.classifier import base_model_dir

    base = BertForSequenceClassification(BertConfig(num_labels=6)).eval()  # detoxify `original`, random weights
    tok = BertTokenizerFast.from_pretrained(str(base_model_dir()))  # same uncased WordPiece vocabulary

    @torch.inference_mode()
    def bert(texts: list[str]) -> None:
        inputs = tok(texts, return_tensors="pt", truncation=True, padding=True, max_length=128)
        torch.sigmoid(base(**inputs)[0])

    theirs = timed(lambda: bert([SHORT]), args.runs)
    parts = [LONG[a:b] for a, b in spans]  # the parts the served checks cut (clauses included)

    def bert_long() -> None:
        for start in range(0, len(parts), policy.classifier.batch_size):
            bert(parts[start:start + policy.classifier.batch_size])

    theirs_long = timed(bert_long, long_runs)
    theirs_batch = timed(lambda: bert(BATCH), max(10, args.runs // 20))
    theirs_tp = len(BATCH) / (statistics.median(theirs_batch) / 1000)
    print(f"  detoxify `original` arch (BERT-base): p50 {statistics.median(theirs):.1f} ms, "
          f"p95 {pct(theirs, 0.95):.1f} ms; batch of 32: {theirs_tp:.0f} messages/s")
    print(f"  ratio (BERT-base eager, one pass / ours as served, all checks): "
          f"p50 {statistics.median(theirs) / statistics.median(ours):.1f}x, "
          f"p95 {pct(theirs, 0.95) / pct(ours, 0.95):.1f}x, throughput {ours_tp / theirs_tp:.1f}x")
    print(f"  ratio (BERT-base eager / ours eager, like for like): "
          f"p50 {statistics.median(theirs) / statistics.median(ours_eager):.1f}x, "
          f"p95 {pct(theirs, 0.95) / pct(ours_eager, 0.95):.1f}x, throughput {eager_tp / theirs_tp:.1f}x")
    print(f"  4,000 characters ({len(parts)} parts): BERT-base over the same parts p50 "
          f"{statistics.median(theirs_long):.1f} ms, p95 {pct(theirs_long, 0.95):.1f} ms; ratio (BERT-base / ours "
          f"as served, input) p50 {statistics.median(theirs_long) / statistics.median(ours_long):.1f}x, "
          f"p95 {pct(theirs_long, 0.95) / pct(ours_long, 0.95):.1f}x")


if __name__ == "__main__":
    main()
