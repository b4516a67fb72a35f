"""Benchmark of generation engines and the request path. Prints figures; never fails on a time.

    .venv/bin/python bench/pipeline.py [--answers 10] [--max-new-tokens 100] [--engines onnx-int8,transformers]

For each engine, in one process, on this machine:
  1. generator tokens/s, single-stream (one request at a time) and aggregate for 8 concurrent requests
     (the pipeline's micro-batcher hands them to the engine as one batch);
  2. per-answer latency through the whole pipeline by stage (input checks, route, generate, output checks,
     total), median and p95, each answer streamed through a recording surface as Slack would see it;
  3. time to the first streamed sentence (checked before it is shown), median and p95;
and ratios against the transformers fp32 generator measured in the same run (the baseline). Then the cold
start of a new `decorum ask --json` process on the default engine (its model already built).

Engines: onnx-int8 (the default), onnx-fp32, onnx-int4, transformers (fp32, the reference) and, where
llama-cpp-python is installed (`pip install ../shared/wheels/llama_cpp_python-*.whl`), llama.cpp in this
process on the same GGUF (Q4_1; one answer at a time, streamed). llama-cpp-python 0.3.36 runs about 4x slower
when called from a worker thread (measured here: 30 against 94-150 tokens/s on the main thread), and the
pipeline calls generators from its batching thread: its single-stream figure (main thread) is llama.cpp's
speed, its pipeline rows are not.

The VM this runs on is noisy (memory bandwidth shared with neighbours): run it more than once and quote
ranges; ratios within one run are the fair comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
STAGES = ["input_checks", "route", "generate", "output_checks", "total"]
ENGINES = ["onnx-int8", "onnx-fp32", "onnx-int4", "transformers", "llama.cpp"]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return (f"{platform.machine()} {len(os.sched_getaffinity(0))} CPUs ({model}), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}")


@dataclass
class Result:
    engine: str
    single: float = 0.0
    concurrent8: float = 0.0
    stages: dict[str, list[float]] = field(default_factory=dict)
    first_visible: list[float] = field(default_factory=list)
    completion: list[int] = field(default_factory=list)


class Recorder:
    """A surface that shows streamed answers nowhere (the note records when the first sentence was shown)."""

    async def show(self, text: str) -> None:
        return None

    async def retract(self) -> None:
        return None


class LlamaCppGenerator:
    """llama.cpp in this process (llama-cpp-python) on the packaged GGUF, as a ``Generator`` for this bench.

    One answer at a time (llama-cpp-python's ``Llama`` does not batch), streamed token by token.
    """

    def __init__(self, max_new_tokens: int, threads: int) -> None:
        from decorum.adapters.base import ModelInfo

        self.max_new_tokens = max_new_tokens
        self.threads = threads
        self.info = ModelInfo(backend="local", name="smollm2-135m-instruct", revision="gguf", engine="llama.cpp",
                              precision="q4_1")
        self._llm = None

    def load(self) -> None:
        from llama_cpp import Llama

        from decorum.adapters.weights import packaged_gguf

        if self._llm is None:
            self._llm = Llama(model_path=str(packaged_gguf()), n_ctx=2048, n_threads=self.threads, verbose=False)

    def prepare(self, adapters) -> None:
        return None

    def generate(self, requests):
        from decorum.adapters.base import Generation

        self.load()
        out = []
        for req in requests:
            pieces, reason = [], "length"
            for chunk in self._llm.create_chat_completion(messages=req.messages, temperature=0, stream=True,
                                                          max_tokens=req.max_new_tokens or self.max_new_tokens):
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content") or ""
                if piece:
                    pieces.append(piece)
                    if not req.emit(piece):
                        reason = "cancelled"
                        break
                if choice.get("finish_reason"):
                    reason = "stop" if choice["finish_reason"] == "stop" else "length"
            text = "".join(pieces)
            prompt = self._llm.tokenize(json.dumps(req.messages).encode())  # approximate; not compared
            out.append(Generation(text=text.strip(), prompt_tokens=len(prompt), completion_tokens=len(pieces),
                                  finish_reason=reason))  # one streamed piece per token
        return out


def make_generator(engine: str, cache: Path, max_new: int):
    from decorum.adapters.onnx_generator import OnnxGenerator
    from decorum.adapters.transformers_generator import TransformersGenerator

    if engine.startswith("onnx-"):
        return OnnxGenerator(cache, precision=engine.split("-", 1)[1], max_new_tokens=max_new)
    if engine == "transformers":
        return TransformersGenerator(cache, max_new_tokens=max_new)
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return None
    return LlamaCppGenerator(max_new, len(os.sched_getaffinity(0)))


def measure(engine: str, gen, settings, classifier, answers: int, max_new: int) -> Result:
    from decorum.adapters.base import GenerationRequest
    from decorum.bot.pipeline import Request
    from decorum.bot.runtime import Runtime

    res = Result(engine)
    gen.load()
    msgs = [[{"role": "user", "content": q}] for q in QUESTIONS]
    gen.generate([GenerationRequest(messages=msgs[0], max_new_tokens=8)])  # warm-up

    def rate(batch: list) -> float:
        t = time.perf_counter()
        outs = gen.generate([GenerationRequest(messages=m, max_new_tokens=max_new) for m in batch])
        return sum(o.completion_tokens for o in outs) / (time.perf_counter() - t)

    res.single = statistics.median([rate([m]) for m in msgs[:3]])
    rt = Runtime.open(settings, classifier=classifier, generator=gen)

    async def concurrent8() -> float:
        t = time.perf_counter()
        done = await asyncio.gather(*(rt.pipeline.answer(Request(text=q, max_new_tokens=max_new))
                                      for q in QUESTIONS[:8]))
        return sum(a.note["tokens"]["completion"] for a in done) / (time.perf_counter() - t)

    res.concurrent8 = statistics.median([asyncio.run(concurrent8()) for _ in range(2)])

    async def one(q: str) -> dict:
        return (await rt.pipeline.answer(Request(text=q, surface="slack", max_new_tokens=max_new),
                                         stream=Recorder())).note

    notes = [asyncio.run(one(QUESTIONS[i % len(QUESTIONS)])) for i in range(answers)]
    res.stages = {st: [float(n["latency_ms"].get(st, 0)) for n in notes] for st in STAGES}
    res.first_visible = [float(n["streaming"]["first_visible_ms"]) for n in notes
                         if n["streaming"]["first_visible_ms"] is not None]
    res.completion = [int(n["tokens"]["completion"]) for n in notes]
    verdicts = {n["verdict"] for n in notes}
    if verdicts != {"answered"}:
        print(f"  note: {engine} verdicts {sorted(verdicts)}")
    rt.close()
    return res


def cold_start(env: dict[str, str], runs: int = 2) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "decorum", "ask", "--json", "--max-new-tokens", "32",
                               QUESTIONS[0]], env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"cold start run failed: {proc.stderr[-500:]}")
        times.append(time.perf_counter() - t)
    return times


def report(results: list[Result], max_new: int) -> None:
    base = next((r for r in results if r.engine == "transformers"), None)

    def ratio(value: float, baseline: float | None) -> str:
        return f"{value / baseline:.1f}x" if baseline else "-"

    print(f"\ngenerator tokens/s (greedy, {max_new} new tokens; ratios against transformers fp32 in this run):")
    print(f"  {'engine':<14}{'single':>9}{'ratio':>8}{'8 concurrent':>15}{'ratio':>8}")
    for r in results:
        print(f"  {r.engine:<14}{r.single:>9.1f}{ratio(r.single, base and base.single):>8}"
              f"{r.concurrent8:>15.1f}{ratio(r.concurrent8, base and base.concurrent8):>8}")
    print(f"\nper answer through the pipeline, streamed (ms; median / p95; up to {max_new} new tokens):")
    print(f"  {'engine':<14}" + "".join(f"{st:>16}" for st in [*STAGES, "first sentence"]) + f"{'tokens':>9}")
    for r in results:
        cells = [f"{statistics.median(r.stages[st]):>7.0f} /{pct(r.stages[st], 0.95):>6.0f}" for st in STAGES]
        fv = (f"{statistics.median(r.first_visible):>7.0f} /{pct(r.first_visible, 0.95):>6.0f}"
              if r.first_visible else f"{'-':>14}")
        print(f"  {r.engine:<14}" + "".join(f"{c:>16}" for c in [*cells, fv])
              + f"{statistics.median(r.completion):>9.0f}")
    checks = [(r.engine, [(a + b) / t for a, b, t in zip(r.stages["input_checks"], r.stages["output_checks"],
                                                          r.stages["total"], strict=True)]) for r in results]
    print("  checks' share of the total (median): "
          + ", ".join(f"{e} {statistics.median(v):.1%}" for e, v in checks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--answers", type=int, default=10, help="pipeline answers per engine (default 10)")
    ap.add_argument("--max-new-tokens", type=int, default=100)
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}")
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        ap.error(f"unknown engine(s) {', '.join(unknown)}; available: {', '.join(ENGINES)}")

    tmp = Path(tempfile.mkdtemp(prefix="decorum-bench-"))
    os.environ["DECORUM_DATA_DIR"] = str(tmp)
    os.environ.setdefault("DECORUM_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "models"))
    os.environ["DECORUM_LOG_LEVEL"] = "WARNING"
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}, load average before: {os.getloadavg()[0]:.2f}")

    from decorum.bot.runtime import Runtime
    from decorum.settings import Settings

    settings = Settings()
    classifier = Runtime.open(settings).classifier  # shared by every engine's runtime
    classifier.predict(["warm-up"])
    results = []
    for engine in engines:
        gen = make_generator(engine, settings.cache_dir, args.max_new_tokens)
        if gen is None:
            print(f"{engine}: skipped (llama-cpp-python is not installed here)")
            continue
        t = time.perf_counter()
        results.append(measure(engine, gen, settings, classifier, args.answers, args.max_new_tokens))
        print(f"{engine}: measured in {time.perf_counter() - t:.0f} s")
    report(results, args.max_new_tokens)
    if not args.skip_cold:
        runs = cold_start(dict(os.environ))
        print(f"\ncold start to first answer (new `decorum ask --json` process, default engine, model built, "
              f"32 new tokens): {' s, '.join(f'{t:.1f}' for t in runs)} s")


if __name__ == "__main__":
    main()
