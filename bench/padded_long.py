"""Held-out hateful items padded into 4,000-character everyday messages: blocked with the part screen and reading
every part, in one process; and what the screen costs on benign 4,000-character messages.

    .venv/bin/python bench/padded_long.py [--items 60] [--seed 3]

Items: the hateful items of tests/functional_independent/hate_suite.jsonl that the served checks block alone
(a sample of --items); padding: distinct requests of tests/benign/everyday.jsonl, before, after and around
each item. Prints figures; never fails on a time.
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
    everyday = [json.loads(line)["text"].strip() for line in
                (REPO / "tests" / "benign" / "everyday.jsonl").read_text(encoding="utf-8").splitlines()]
    everyday = [t + ("" if t[-1:] in ".?!" else ".") for t in everyday]
    suite = [json.loads(line) for line in
             (REPO / "tests" / "functional_independent" / "hate_suite.jsonl").read_text(encoding="utf-8").splitlines()]
    hateful = [r["text"] for r in suite if r["label"] == "hateful"]
    alone = every_part.run(hateful, stage="input")
    blocked = [t for t, rs in zip(hateful, alone, strict=True) if not all(r.passed for r in rs)]
    rng = random.Random(args.seed)
    sample = rng.sample(blocked, min(len(blocked), args.items))
    print(f"{len(hateful)} held-out hateful items, {len(blocked)} blocked alone; {len(sample)} padded")

    def pad(chars: int) -> str:
        out: list[str] = []
        while sum(len(t) + 1 for t in out) < chars:
            out.append(rng.choice(everyday))
        return " ".join(out)

    messages = []
    for text in sample:
        messages += [("before", pad(3800) + " " + text), ("after", text + " " + pad(3800)),
                     ("middle", pad(1900) + " " + text + " " + pad(1900))]
    benign = [pad(3950)[:4000] for _ in range(40)]
    for name, g in (("every part read", every_part), ("as served (screen)", served)):
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
