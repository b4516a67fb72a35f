"""How long a template publish takes to be served by other processes on the same database. Prints figures.

    .venv/bin/python bench/template_propagation.py [--database-url URL] [--readers 2] [--rounds 20]
                                                   [--check-s 1.0]

Starts ``--readers`` reader processes, each with its own ``SqlTemplateStore`` (the cache the pipeline reads
through) asking for the production version of a bench template every 10 ms, as a busy replica would. This
process then moves ``production`` between two versions ``--rounds`` times, each time waiting until every
reader has seen the move, and prints the delay from the publish's commit to each reader's first read of the
new version (median, p95, max), next to the same for ``--check-s 0`` (no cache: every read goes to the
database; the baseline, run in the same invocation). It also prints what one cached and one uncached
``get`` cost. Default database: PostgreSQL on 127.0.0.1 (the deployment this bound is for).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/test"
NAME = "bench-propagation"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def reader(url: str, check_s: float) -> None:
    from decorum.prompts.sql_store import SqlTemplateStore
    from decorum.store import Database

    store = SqlTemplateStore(Database.open(url), cache_check_s=check_s)
    seen = None
    print("ready", flush=True)
    while True:
        version = store.get(NAME).version
        if version != seen:
            print(json.dumps({"t": time.time(), "version": version}), flush=True)
            seen = version
        time.sleep(0.01)


def measure(url: str, readers: int, rounds: int, check_s: float) -> list[float]:
    from decorum.prompts.sql_store import SqlTemplateStore
    from decorum.store import Database

    store = SqlTemplateStore(Database.open(url), cache_check_s=check_s)
    procs = [subprocess.Popen([sys.executable, __file__, "--reader", "--database-url", url, "--check-s",
                               str(check_s)], stdout=subprocess.PIPE, text=True, env={**os.environ,
                                                                                     "PYTHONPATH": str(ROOT)})
             for _ in range(readers)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        delays: list[float] = []
        for i in range(rounds):
            target = 2 if i % 2 == 0 else 1
            store.set_label(NAME, target)
            committed = time.time()
            for p in procs:
                assert p.stdout is not None
                while True:
                    event = json.loads(p.stdout.readline())
                    if event["version"] == target:
                        delays.append(event["t"] - committed)
                        break
            print(f"\r  round {i + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        return delays
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=None, help=f"default: a fresh schema on {PG}")
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--check-s", type=float, default=1.0)
    ap.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader:
        reader(args.database_url, args.check_s)
        return

    from sqlalchemy import create_engine, text

    from decorum.prompts.base import Template
    from decorum.prompts.sql_store import SqlTemplateStore
    from decorum.store import Database

    url, admin, schema = args.database_url, None, None
    if url is None:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG}?options=-csearch_path%3D{schema}"
    try:
        store = SqlTemplateStore(Database.open(url), cache_check_s=0)
        for body in ("Answer briefly.", "Answer in one sentence."):
            store.add_version(Template(name=NAME, version=0, system=body), author="bench")
        store.set_label(NAME, 1)

        cached = SqlTemplateStore(store.db, cache_check_s=args.check_s)
        uncached = SqlTemplateStore(store.db, cache_check_s=0)
        costs = {}
        for label, s in (("cached", cached), ("uncached", uncached)):
            s.get(NAME)
            times = []
            for _ in range(500):
                t = time.perf_counter()
                s.get(NAME)
                times.append((time.perf_counter() - t) * 1000)
            costs[label] = times

        results = {check: measure(url, args.readers, args.rounds, check) for check in (args.check_s, 0.0)}
        print(f"machine: {platform.node()} ({os.cpu_count()} CPUs), {platform.python_version()}, "
              f"database {url.split('://')[0]}, {args.readers} reader processes, {args.rounds} publishes")
        for check, delays in results.items():
            ms = [d * 1000 for d in delays]
            print(f"cache_check_s {check:<4g}: publish -> served elsewhere median {statistics.median(ms):7.1f} ms, "
                  f"p95 {pct(ms, 0.95):7.1f} ms, max {max(ms):7.1f} ms")
        c, u = costs["cached"], costs["uncached"]
        print(f"one get (production label): cached median {statistics.median(c):.3f} ms, p95 {pct(c, 0.95):.3f} ms; "
              f"uncached median {statistics.median(u):.3f} ms, p95 {pct(u, 0.95):.3f} ms "
              f"(x{statistics.median(u) / statistics.median(c):.0f})")
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
