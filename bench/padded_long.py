"""Held-out hateful items padded into 4,000-character everyday messages: blocked with the part screen and reading
every part, in one process; and what the screen costs on benign 4,000-character messages.

    .venv/bin/python bench/padded_long.py [--items 60] [--seed 3] [--rise 0,0.2,0.4] [--calibration]

Items: the hateful items of tests/functional_independent/hate_suite.jsonl that the served checks block alone
(a sample of --items); padding: distinct requests of tests/benign/everyday.jsonl, before, after and around
each item. Prints figures; never fails on a time.

``--rise``: also print the same counts with the toxicity and bias checks' ``part_rise`` set to each value (the
per-part threshold's rise with the number of parts, decorum.guardrails.checks.part_threshold; the texts are scored
once). ``--calibration``: the training-side twin used to choose ``part_rise``: items from the team's suite
(tests/functional), padding and benign messages from guardrails/training/data/everyday_train.jsonl; no held-out
text is read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=60)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--benign", type=int, default=40, help="benign 4,000-character messages")
    ap.add_argument("--rise", default="", help="comma-separated part_rise values to sweep (both checks)")
    ap.add_argument("--group-rise", default="", help="comma-separated group_part_rise values of the toxicity check "
                    "to sweep with each --rise (default: the policy's)")
    ap.add_argument("--calibration", action="store_true", help="training-side sets only (see the docstring)")
    ap.add_argument("--served-only", action="store_true", help="leave out the every-part-read configuration")
    ap.add_argument("--show", action="store_true", help="print the blocked benign parts and the missed padded items")
    args = ap.parse_args()
    os.environ.setdefault("DECORUM_CACHE_DIR", str(REPO / ".cache" / "models"))
    os.environ.setdefault("DECORUM_DATA_DIR", tempfile.mkdtemp(prefix="decorum-bench-"))
    from decorum.offline import ensure_offline

    ensure_offline()
    from decorum.guardrails.checks import Guardrails
    from decorum.guardrails.classifier import build_classifier
    from decorum.guardrails.policy import Policy
    from decorum.settings import Settings

    policy = Policy()
    clf = build_classifier(policy.classifier, Settings().cache_dir / "classifiers")
    every_part = Guardrails(policy.model_copy(update={"classifier": policy.classifier.model_copy(
        update={"screen": False})}), clf)
    served = Guardrails(policy, clf)
    padding = REPO / "src" / "decorum" / "guardrails" / "training" / "data" / "everyday_train.jsonl" \
        if args.calibration else REPO / "tests" / "benign" / "everyday.jsonl"
    everyday = [json.loads(line)["text"].strip() for line in padding.read_text(encoding="utf-8").splitlines()]
    everyday = [t + ("" if t[-1:] in ".?!" else ".") for t in everyday]
    items = REPO / "tests" / ("functional" if args.calibration else "functional_independent") / "hate_suite.jsonl"
    suite = [json.loads(line) for line in items.read_text(encoding="utf-8").splitlines()]
    hateful = [r["text"] for r in suite if r["label"] == "hateful"]
    alone = every_part.run(hateful, stage="input")
    blocked = [t for t, rs in zip(hateful, alone, strict=True) if not all(r.passed for r in rs)]
    rng = random.Random(args.seed)
    sample = rng.sample(blocked, min(len(blocked), args.items))
    print(f"{len(hateful)} {'team' if args.calibration else 'held-out'} hateful items, {len(blocked)} blocked alone; "
          f"{len(sample)} padded; padding from {padding.name}")

    def pad(chars: int) -> str:
        out: list[str] = []
        while sum(len(t) + 1 for t in out) < chars:
            out.append(rng.choice(everyday))
        return " ".join(out)

    messages = []
    for text in sample:
        messages += [("before", pad(3800) + " " + text), ("after", text + " " + pad(3800)),
                     ("middle", pad(1900) + " " + text + " " + pad(1900))]
    benign = [pad(3950)[:4000] for _ in range(args.benign)]
    configs = (("every part read", every_part), ("as served (screen)", served))
    for name, g in configs[1:] if args.served_only else configs:
        group_rises = [float(r) for r in args.group_rise.split(",") if r.strip()] or [None]
        for rise in [float(r) for r in args.rise.split(",") if r.strip()]:
            for group_rise in group_rises:
                checks = {k: cp.model_copy(update={"part_rise": rise}) if cp.labels and k != "answer_bias" else cp
                          for k, cp in policy.checks.items()}
                if group_rise is not None:
                    checks["toxicity"] = checks["toxicity"].model_copy(update={"group_part_rise": group_rise})
                g.set_policy(policy.model_copy(update={"checks": checks}))
                hit = [not all(r.passed for r in rs) for rs in g.run([m for _, m in messages], stage="input")]
                fp = sum(not all(r.passed for r in rs) for rs in g.run(benign, stage="input"))
                print(f"  {name}, part_rise {rise}, toxicity group_part_rise "
                      f"{checks['toxicity'].group_part_rise}: padded blocked {sum(hit)}/{len(hit)} "
                      f"({sum(hit) / len(hit):.3f}); benign 4,000-character messages blocked {fp}/{len(benign)} "
                      f"({fp / len(benign):.3f})")
        g.set_policy(policy)
        if args.show:
            for (where, _), results in zip(messages, g.run([m for _, m in messages], stage="input"), strict=True):
                if all(r.passed for r in results):
                    worst = max(results, key=lambda r: r.score - r.threshold)
                    print(f"  missed ({where}): {worst.check} {worst.label} {worst.score:.3f} < {worst.threshold:.3f}")
            for text, results in zip(benign, g.run(benign, stage="input"), strict=True):
                for r in results:
                    if not r.passed:
                        print(f"  benign blocked: {r.check} {r.label} {r.score:.3f} >= {r.threshold:.3f} on "
                              f"{text[slice(*r.span)]!r}" if r.span else "")
        counts: dict[str, list[int]] = {}
        for (where, _), results in zip(messages, g.run([m for _, m in messages], stage="input"), strict=True):
            c = counts.setdefault(where, [0, 0])
            c[0] += not all(r.passed for r in results)
            c[1] += 1
        times, flagged = [], 0
        for text in benign:
            g.scores._cache.clear()
            t = time.perf_counter()
            [results] = g.run([text], stage="input")
            times.append((time.perf_counter() - t) * 1000)
            flagged += not all(r.passed for r in results)
        times.sort()
        total = sum(c[0] for c in counts.values())
        print(f"{name}: padded blocked {total}/{len(messages)} "
              + ", ".join(f"{w} {a}/{b}" for w, (a, b) in counts.items())
              + f"; benign 4,000-character messages blocked {flagged}/{len(benign)}, "
              f"p50 {statistics.median(times):.0f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.0f} ms")


if __name__ == "__main__":
    main()
