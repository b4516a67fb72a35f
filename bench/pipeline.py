"""Benchmark of the request path. Prints figures; never fails on a time.

    .venv/bin/python bench/pipeline.py [--answers 10] [--max-new-tokens 48]

Measures, on this machine:
  1. cold start to first answer: a new `decorum ask --json` process (weights already converted);
  2. steady per-answer latency by stage (input checks, route, generate, output checks), median and p95;
  3. the checks' share of the total;
  4. generator tokens/s single-stream and with 8 concurrent requests (batched), as a ratio to
     single-stream, and llama.cpp on the same GGUF where `llama_cpp` is importable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "How do I reset my VPN password?",
    "My laptop will not connect to the office Wi-Fi. What should I check?",
    "How can I book a meeting room for next Tuesday?",
    "What is the difference between a bug and a feature request?",
    "How do I share a large file with a colleague securely?",
    "Can you explain what two-factor authentication is?",
    "How do I request new software to be installed?",
    "Where do I find the holiday calendar?",
    "How do I set up email on my phone?",
    "What should I do if I clicked a phishing link?",
]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def cold_start(env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "decorum", "ask", "--json", "--max-new-tokens", "32",
                           QUESTIONS[0]], env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"cold start run failed: {proc.stderr[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="decorum-bench-"))
    os.environ["DECORUM_DATA_DIR"] = str(tmp)
    os.environ.setdefault("DECORUM_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "models"))
    os.environ["DECORUM_LOG_LEVEL"] = "WARNING"
    print(f"machine: {machine()}")

    from decorum.adapters.base import GenerationRequest
    from decorum.bot.pipeline import Request
    from decorum.bot.runtime import Runtime

    rt = Runtime.open()
    rt.load_models()  # also converts the weights on a first run
    if not args.skip_cold:
        runs = [cold_start(dict(os.environ)) for _ in range(2)]
        print(f"cold start to first answer (new process, 32 new tokens): median {statistics.median(runs):.1f} s "
              f"over {len(runs)} runs")

    async def answer(q: str) -> dict:
        return (await rt.pipeline.answer(Request(text=q, surface="cli", max_new_tokens=args.max_new_tokens))).note

    notes = [asyncio.run(answer(QUESTIONS[i % len(QUESTIONS)])) for i in range(args.answers)]
    stages = ["input_checks", "route", "generate", "output_checks", "total"]
    print(f"\nsteady state, {args.answers} answers, max {args.max_new_tokens} new tokens (ms):")
    print(f"  {'stage':<14}{'median':>10}{'p95':>10}")
    for st in stages:
        vals = [float(n["latency_ms"].get(st, 0)) for n in notes]
        print(f"  {st:<14}{statistics.median(vals):>10.0f}{pct(vals, 0.95):>10.0f}")
    share = [(n["latency_ms"]["input_checks"] + n["latency_ms"]["output_checks"]) / n["latency_ms"]["total"]
             for n in notes]
    print(f"  checks' share of total: median {statistics.median(share):.1%}, p95 {pct(share, 0.95):.1%}")
    verdicts = {v: sum(n["verdict"] == v for n in notes) for v in {n["verdict"] for n in notes}}
    print(f"  verdicts: {json.dumps(verdicts)}")

    gen = rt.generator
    msgs = [[{"role": "user", "content": q}] for q in QUESTIONS[:8]]
    n_tok = 64

    def tps(batch: list) -> float:
        t = time.perf_counter()
        outs = gen.generate([GenerationRequest(messages=m, max_new_tokens=n_tok) for m in batch])
        return sum(o.completion_tokens for o in outs) / (time.perf_counter() - t)

    single = statistics.median([tps([m]) for m in msgs[:3]])
    batch8 = statistics.median([tps(msgs) for _ in range(2)])
    print(f"\ngenerator ({gen.info.name}, transformers fp32, greedy, {n_tok} new tokens):")
    print(f"  single-stream: {single:.1f} tokens/s (baseline)")
    print(f"  8 concurrent (one batch): {batch8:.1f} tokens/s = {batch8 / single:.2f}x baseline")

    async def concurrent8() -> float:
        t = time.perf_counter()
        notes8 = await asyncio.gather(*(rt.pipeline.answer(Request(text=q, max_new_tokens=n_tok))
                                        for q in QUESTIONS[:8]))
        return sum(n.note["tokens"]["completion"] for n in notes8) / (time.perf_counter() - t)

    print(f"  8 concurrent requests through the pipeline (micro-batched): {asyncio.run(concurrent8()):.1f} tokens/s")
    try:
        from llama_cpp import Llama

        from decorum.adapters.weights import packaged_gguf
    except ImportError:
        print("  llama.cpp: llama-cpp-python is not importable here; skipped")
        return
    llm = Llama(model_path=str(packaged_gguf()), n_ctx=2048, n_threads=os.cpu_count(), verbose=False)
    rates = []
    for m in msgs[:3]:
        t = time.perf_counter()
        out = llm.create_chat_completion(messages=m, max_tokens=n_tok, temperature=0)
        rates.append(out["usage"]["completion_tokens"] / (time.perf_counter() - t))
    lc = statistics.median(rates)
    print(f"  llama.cpp single-stream, same GGUF (Q4_1): {lc:.1f} tokens/s = {lc / single:.2f}x baseline")


if __name__ == "__main__":
    main()
