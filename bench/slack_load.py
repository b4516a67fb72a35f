"""Slack load benchmark. Prints figures; never fails on a time.

    .venv/bin/python bench/slack_load.py [--events 20] [--retries] [--gen-ms 0] [--real] [--database-url URL]

Runs the app as ``decorum serve`` builds it (the public app of ``create_apps``, uvicorn) in a process of its own,
the local Slack Web API emulator in this one, and sends N signed ``app_mention`` events at once (optionally
each followed by Slack's retry with ``X-Slack-Retry-Num: 1``). Measures:
  1. ack latency (HTTP response to Slack) p50 / p99;
  2. time to answer (event sent -> ``chat.postMessage`` received by the emulator) p50 / p95;
  3. duplicates (answers beyond one per event) and losses (events never answered): both must be 0.
The generator is the fake one by default (``--gen-ms`` adds model time per batch); ``--real`` uses the
configured models (the packaged SmolLM2 and the project's classifier).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.slack_emulator, tests.fakes

QUESTIONS = [
    "How do I reset my VPN password?",
    "My laptop will not connect to the office Wi-Fi. What should I check?",
    "How can I book a meeting room for next Tuesday?",
    "How do I share a large file with a colleague securely?",
    "What should I do if I clicked a phishing link?",
]
SECRET = "bench-signing-secret"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def serve_child(port: int, env: dict[str, str], real: bool, gen_ms: int) -> None:
    """The app in its own process (as ``decorum serve`` runs it), so the sender's work is not in its timings."""
    os.environ.update(env)
    import uvicorn

    from decorum.bot.runtime import Runtime
    from decorum.settings import Settings
    from decorum.web.app import create_apps

    if real:
        runtime = Runtime.open(Settings())
        t = time.perf_counter()
        runtime.load_models()
        print(f"models loaded in {time.perf_counter() - t:.1f} s", flush=True)
    else:
        from tests.fakes import FakeClassifier, FakeGenerator

        def reply(_req: object) -> str:
            time.sleep(gen_ms / 1000)
            return "Open Settings, choose Network, then Reset VPN password."

        runtime = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator(reply))
    uvicorn.run(create_apps(runtime, load_models=False).public, host="127.0.0.1", port=port, log_config=None,
                access_log=False)


async def run(args: argparse.Namespace) -> None:
    import multiprocessing

    import httpx
    from tests.slack_emulator import BOT_USER, SlackEmulator, SlackSender, app_mention, envelope, free_port

    with SlackEmulator() as emu, tempfile.TemporaryDirectory() as tmp:
        env = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET, "DECORUM_SLACK_API_URL": emu.url,
               "DECORUM_DATA_DIR": tmp, "DECORUM_SLACK_CONCURRENCY": str(args.concurrency),
               "DECORUM_LOG_LEVEL": "WARNING"}
        if args.database_url:
            env["DECORUM_DATABASE_URL"] = args.database_url
        port = free_port()
        child = multiprocessing.get_context("spawn").Process(
            target=serve_child, args=(port, env, args.real, args.gen_ms), daemon=True)
        child.start()
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as probe:
            deadline = time.monotonic() + 600
            while True:
                try:
                    await probe.get(f"{base}/healthz")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or not child.is_alive():
                        raise SystemExit("the app did not start") from None
                    await asyncio.sleep(0.2)
        gen_name = "real models" if args.real else f"fake ({args.gen_ms} ms per batch)"
        sender = SlackSender(base, SECRET)
        try:
            await sender.event(app_mention(f"<@{BOT_USER}> warm-up", channel="CWARM"))
            await emu.wait_for(lambda e: e.calls_to("chat.postMessage"), within_s=args.wait_s)
            await emu.settle(0.3)
            emu.clear()

            events = [app_mention(f"<@{BOT_USER}> {QUESTIONS[i % len(QUESTIONS)]} (#{i})", channel=f"C{i % 4}",
                                  user=f"U{i % 7}") for i in range(args.events)]
            sent_at: dict[str, float] = {}

            async def deliver(event: dict) -> list[float]:
                body = envelope(event)
                sent_at[event["ts"]] = time.monotonic()
                sends = [sender.event(event, body=body)]
                if args.retries:
                    sends.append(sender.event(event, body=body, retry_num=1))
                results = await asyncio.gather(*sends)
                bad = [r.status_code for r, _ in results if r.status_code != 200]
                if bad:
                    print(f"non-200 acks: {bad}")
                return [elapsed for _, elapsed in results]

            t0 = time.perf_counter()
            acks = [a for group in await asyncio.gather(*(deliver(e) for e in events)) for a in group]
            deadline = time.monotonic() + args.wait_s
            while time.monotonic() < deadline:
                answered = {c.args.get("thread_ts") for c in emu.calls_to("chat.postMessage")}
                if all(e["ts"] in answered for e in events):
                    break
                await asyncio.sleep(0.05)
            await emu.settle(1.0)  # late duplicates would show up here
            wall = time.perf_counter() - t0
        finally:
            await sender.aclose()
            child.terminate()
            child.join(60)

        posts: dict[str, list[float]] = {}
        for c in emu.calls_to("chat.postMessage"):
            posts.setdefault(str(c.args.get("thread_ts")), []).append(c.at)
        # The first post in a thread is the first visible (streamed, checked) sentence; the final answer is the
        # post or chat.update that carries the answer's metadata.
        thread_of = {m["ts"]: m.get("thread_ts") for e in events for m in emu.messages(e["channel"])}
        finals: dict[str, float] = {}
        for c in emu.calls_to("chat.postMessage") + emu.calls_to("chat.update"):
            if c.args.get("metadata"):
                thread = c.args.get("thread_ts") or thread_of.get(str(c.args.get("ts")))
                finals[str(thread)] = max(finals.get(str(thread), 0.0), c.at)
        tta = [min(posts[e["ts"]]) - sent_at[e["ts"]] for e in events if e["ts"] in posts]
        ttf = [finals[e["ts"]] - sent_at[e["ts"]] for e in events if e["ts"] in finals]
        duplicates = sum(len(v) - 1 for v in posts.values())
        losses = sum(1 for e in events if e["ts"] not in posts)

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"events: {args.events} concurrent app_mention"
          + (f" + {args.events} retries (X-Slack-Retry-Num: 1)" if args.retries else "")
          + f"; generator {gen_name}; concurrency {args.concurrency}; "
          f"database {'postgresql' if args.database_url else 'sqlite'}")
    print(f"ack latency:    p50 {pct(acks, 0.5) * 1000:7.1f} ms   p99 {pct(acks, 0.99) * 1000:7.1f} ms   "
          f"max {max(acks) * 1000:7.1f} ms   (Slack's limit: 3000 ms)")
    print(f"first visible:  p50 {pct(tta, 0.5) * 1000:7.1f} ms   p95 {pct(tta, 0.95) * 1000:7.1f} ms   "
          f"max {max(tta, default=float('nan')) * 1000:7.1f} ms   min {min(tta, default=float('nan')) * 1000:7.1f} ms"
          "   (streamed: the first checked sentence)")
    print(f"final answer:   p50 {pct(ttf, 0.5) * 1000:7.1f} ms   p95 {pct(ttf, 0.95) * 1000:7.1f} ms   "
          f"max {max(ttf, default=float('nan')) * 1000:7.1f} ms")
    print(f"answers: {len(tta)} of {args.events} events; duplicates {duplicates}; losses {losses}; "
          f"wall {wall:.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=20, help="concurrent app_mention events (default 20)")
    p.add_argument("--retries", action="store_true", help="also send each event's Slack retry at once")
    p.add_argument("--gen-ms", type=int, default=0, help="fake generator: model time per batch in ms")
    p.add_argument("--real", action="store_true", help="use the configured real models instead of fakes")
    p.add_argument("--concurrency", type=int, default=16, help="DECORUM_SLACK_CONCURRENCY (default 16)")
    p.add_argument("--database-url", help="e.g. postgresql://postgres@127.0.0.1:5432/test (default: SQLite)")
    p.add_argument("--wait-s", type=float, default=900, help="how long to wait for all answers")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
