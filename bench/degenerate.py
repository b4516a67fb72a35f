"""Degenerate answers to everyday requests, with the settings against repetition off and on. Prints figures.

    .venv/bin/python bench/degenerate.py [--data tests/data/everyday_requests.jsonl] [--max-new-tokens N]
                                         [--limit N] [--examples 5] [--json out.json]

Each request goes through the real default path, as ``decorum ask`` does (input checks, routing, the template it
routes to, the default engine as configured, output checks), twice in one process:

* **off**: the engine without its settings against repetition (``repetition_penalty 1.0``,
  ``no_repeat_ngram_size 0``) and no loop detector: the engines as they were before;
* **on**: the defaults (``decorum.adapters.base.DEFAULT_DECODING``) and the loop detector, which stops a looping
  answer and regenerates it once with ``STRONGER`` settings (``decorum.adapters.loops``).

An answer is degenerate when a 3-word sequence occurs 3 or more times in it (``loops.is_degenerate``; refusals
are texts of their own and counted as they are). It prints the share of each, how many answers the detector
regenerated and cut, and before/after examples (request ids and the first 200 characters of each answer: the
requests that were degenerate before first). Times are printed, never judged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    return f"{platform.machine()} {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}"


def load(path: Path, limit: int | None) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "everyday_requests.jsonl")
    ap.add_argument("--max-new-tokens", type=int, default=None,
                    help="cap on each answer (default: the template's, else the engine's, as `decorum ask`)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N requests")
    ap.add_argument("--examples", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write every answer and its note's fields here")
    args = ap.parse_args()
    requests = load(args.data, args.limit)

    os.environ["DECORUM_DATA_DIR"] = tempfile.mkdtemp(prefix="decorum-degenerate-")
    os.environ.setdefault("DECORUM_CACHE_DIR", str(ROOT / ".cache" / "models"))
    os.environ["DECORUM_LOG_LEVEL"] = "WARNING"
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M')}, load average before: {os.getloadavg()[0]:.2f}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    from decorum.adapters.base import NO_PENALTY
    from decorum.adapters.loops import is_degenerate, max_ngram_repeats
    from decorum.bot.pipeline import Request
    from decorum.bot.runtime import Runtime

    rt = Runtime.open()
    gen = rt.generator
    gen.load()
    engine = gen.info.as_note()
    configured = getattr(gen, "decoding", None)
    print(f"engine: {engine['engine']} {engine.get('precision') or ''} ({engine['name']}); "
          f"{len(requests)} requests from {args.data.name}")

    def run(label: str) -> list[dict]:
        out = []
        t0 = time.perf_counter()
        for row in requests:
            answer = asyncio.run(rt.pipeline.answer(Request(text=row["text"], surface="cli",
                                                            max_new_tokens=args.max_new_tokens)))
            note = answer.note
            out.append({"id": row["id"], "answer": answer.text, "verdict": note["verdict"],
                        "template": (note.get("template") or {}).get("name"),
                        "generation": note.get("generation") or {}, "tokens": note["tokens"]["completion"],
                        "degenerate": is_degenerate(answer.text), "max_repeats": max_ngram_repeats(answer.text)})
        print(f"{label}: {len(out)} answers in {time.perf_counter() - t0:.0f} s", flush=True)
        return out

    # Off: the engine as it was (no penalty, no n-gram ban) and no loop detector.
    if configured is not None:
        gen.decoding = NO_PENALTY  # type: ignore[attr-defined]
    rt.pipeline.watch_loops = False
    off = run("off")
    if configured is not None:
        gen.decoding = configured  # type: ignore[attr-defined]
    rt.pipeline.watch_loops = True
    on = run("on")
    rt.close()

    n = len(requests)
    print(f"\ndegenerate answers (a 3-word sequence 3 or more times), {n} everyday requests:")
    print(f"  {'settings':<70}{'degenerate':>12}{'share':>8}{'tokens/answer':>15}")
    for label, rows in (("off (no penalty, no detector)", off),
                        (f"on ({_settings(configured)}, loop detector)", on)):
        bad = sum(r["degenerate"] for r in rows)
        print(f"  {label:<70}{bad:>9}/{n:<2}{bad / n:>8.1%}{sum(r['tokens'] for r in rows) / n:>15.1f}")
    regenerated = sum(bool(r["generation"].get("loop_regenerated")) for r in on)
    trimmed = sum(bool(r["generation"].get("loop_trimmed")) for r in on)
    print(f"  on: the detector regenerated {regenerated} answer(s) and cut {trimmed} regenerated one(s); "
          f"tokens count every attempt")
    routes: dict[str, int] = {}
    for r in on:
        routes[f"{r['template']} ({r['verdict']})"] = routes.get(f"{r['template']} ({r['verdict']})", 0) + 1
    print("  routes (on): " + ", ".join(f"{k} {v}" for k, v in sorted(routes.items())))

    pairs = sorted(zip(off, on, strict=True), key=lambda p: (not p[0]["degenerate"], p[1]["degenerate"],
                                                             -p[0]["max_repeats"]))
    print(f"\nbefore/after examples (first 200 characters; {args.examples}, degenerate before first):")
    for before, after in pairs[:args.examples]:
        print(f"  {before['id']}  before (max repeats {before['max_repeats']}): {_short(before['answer'])}")
        print(f"  {' ' * len(before['id'])}  after  (max repeats {after['max_repeats']}"
              f"{', regenerated' if after['generation'].get('loop_regenerated') else ''}): {_short(after['answer'])}")
    if args.json:
        args.json.write_text(json.dumps({"off": off, "on": on}, indent=1, ensure_ascii=False))
        print(f"\nanswers written to {args.json}")


def _settings(decoding: object) -> str:
    if decoding is None:
        return "the engine's own settings"
    local = decoding.local()  # type: ignore[attr-defined]
    return ", ".join(f"{k} {v}" for k, v in local.items())


def _short(text: str) -> str:
    return json.dumps(text[:200], ensure_ascii=False)


if __name__ == "__main__":
    main()
