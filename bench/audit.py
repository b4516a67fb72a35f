"""The audit workbench at scale: list/filter pages, totals, figures and exports over N synthetic records.

    .venv/bin/python bench/audit.py [--records 100000] [--backends sqlite,postgresql] [--pg-url URL]
                                    [--repeat 30] [--stats-repeat N] [--json PATH] [--quick]

For each backend (a SQLite file in a temporary folder; a fresh schema on PostgreSQL, dropped at the end):

1. loads ``--records`` synthetic transparency notes shaped like the pipeline's (verdicts ~85% answered,
   8% blocked_input, 4% blocked_output, 3% error; prompt_engineering and fine_tuned routes, six template
   versions, two models, adapters, Slack/web/CLI, 40 channels, ~2,000 pseudonymous users, toxicity and
   bias scores at both stages, 90 days in time order) and 👍/👎 feedback on ~3% of them. The first
   ``--append`` records go through ``SqlAuditLog.append`` (its rate is reported); the rest are inserted in
   batches as exactly the rows ``append`` writes (same chain, keyed hashes, derived columns, score rows),
   and ``SqlAuditLog.verify()`` must then pass on the whole log (its rate is reported too);
2. times each console query (``audit_query.search`` of a 50-record page, the same with the total the
   console shows, and ``stats``) ``--repeat`` times, beside the old unfiltered ``SqlAuditLog.list(limit=50)``
   measured in the same process (the baseline of the ratios);
3. times exports (``audit_export.stream_export`` into a file): the whole log as JSONL and as CSV, and a
   filtered one.

PostgreSQL gets ``VACUUM ANALYZE`` after the load (what autovacuum does shortly after a bulk insert); SQLite
gets nothing (the application never runs ``ANALYZE``), so each is measured as it would run.
Prints figures and writes them with ``--json``; never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DAYS = 90
CHANNELS = 40
USERS = 2000
SEED = 20261201
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TOX = ("toxicity", "severe_toxicity", "threat", "identity_attack", "insult")
THRESHOLDS = {"toxicity": 0.35, "bias": 0.5}
SCORER = "decorum-minilm-tox-bias@19635c4be163"
NOTE_SCHEMA_VERSION = 1  # decorum.guardrails.note_schema's, checked in main()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Notes:
    """Deterministic synthetic notes (same seed, same notes), in time order, ending at ``now_ms``."""

    def __init__(self, n: int, now_ms: int, seed: int = SEED) -> None:
        self.n, self.now_ms = n, now_ms
        self.start_ms = now_ms - DAYS * 86_400_000
        rng = random.Random(seed)
        self.channels = ["C" + "".join(rng.choice(_CROCKFORD[:32]) for _ in range(10)) for _ in range(CHANNELS)]
        self.channel_cum = _zipf_cum(CHANNELS, 0.8)
        self.users = [f"hmac:{rng.getrandbits(128):032x}" for _ in range(USERS)]
        self.user_cum = _zipf_cum(USERS, 0.9)
        self.revisions = {name: f"{rng.getrandbits(256):064x}" for name in
                          ("smollm2-135m-instruct", "smollm2-360m-instruct", "art-135", "art-360",
                           "general@1", "general@2", "general@3", "helpdesk@1", "helpdesk@2", "hr-policy@1",
                           "helpdesk-lora@1", "helpdesk-lora@2")}
        self.seed = seed

    def channel(self, rank: int) -> str:
        return self.channels[rank]

    def user(self, rank: int) -> str:
        return self.users[rank]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.seed + 1)
        slot = (self.now_ms - self.start_ms) / self.n
        for i in range(self.n):
            ms = self.start_ms + int((i + rng.random() * 0.9) * slot)
            yield self.note(rng, i, ms)

    def note(self, rng: random.Random, i: int, ms: int) -> dict[str, Any]:
        frac = i / self.n
        ulid = (ms << 80) | rng.getrandbits(80)
        note: dict[str, Any] = {"id": "".join(_CROCKFORD[(ulid >> s) & 31] for s in range(125, -1, -5)),
                                "created_at": iso_ms(ms), "schema_version": NOTE_SCHEMA_VERSION}
        surface = rng.choices(("slack", "web", "cli"), cum_weights=(70, 90, 100))[0]
        user = self.users[rng.choices(range(USERS), cum_weights=self.user_cum)[0]]
        note["surface"] = surface
        if surface == "slack":
            channel = self.channels[rng.choices(range(CHANNELS), cum_weights=self.channel_cum)[0]]
            note["slack"] = {"team": "T0BENCH001", "channel": channel, "user": user,
                             "thread_ts": f"{ms // 1000}.{rng.randrange(10**6):06d}"}
        else:
            note["user"] = user
        chars = max(3, int(rng.lognormvariate(4.2, 0.8)))
        note["request"] = {"hmac_sha256": f"{rng.getrandbits(256):064x}", "chars": min(chars, 4000),
                           "truncated": chars > 4000}
        if chars > 4000:
            note["request"]["chars_used"] = 4000
        note.update(route=None, template=None, model=None,
                    guardrails={"policy": "default@1", "input": [], "output": [], "action": "allow"},
                    tokens={"prompt": 0, "completion": 0})
        r = rng.random()
        verdict = ("answered" if r < 0.85 else "blocked_input" if r < 0.93 else "blocked_output" if r < 0.97
                   else "error")
        guard = note["guardrails"]
        latency = {"input_checks": int(rng.lognormvariate(3.1, 0.4))}
        if verdict == "blocked_input":
            failing = rng.choices((("toxicity",), ("bias",), ("toxicity", "bias")), cum_weights=(65, 90, 100))[0]
            guard["input"] = [self.result(rng, c, note["request"]["chars"], c in failing) for c in THRESHOLDS]
            guard["action"] = "refused"
            note["verdict"] = verdict
            latency["total"] = latency["input_checks"] + rng.randrange(1, 5)
            note["latency_ms"] = latency
            note["response"] = {"hmac_sha256": f"{rng.getrandbits(256):064x}", "chars": rng.randrange(180, 260)}
            return note
        guard["input"] = [self.result(rng, c, note["request"]["chars"], False) for c in THRESHOLDS]
        fine = rng.random() < 0.3
        if fine:
            rule = rng.random() < 0.6
            note["route"] = ({"strategy": "fine_tuned", "reason": "rule", "domain": "helpdesk", "rule": "vpn"} if rule
                             else {"strategy": "fine_tuned", "reason": "semantic", "domain": "helpdesk",
                                   "score": round(rng.uniform(0.62, 0.95), 4), "threshold": 0.6,
                                   "router": "minilm-router@3"})
            tpl = f"helpdesk@{1 if frac < 0.5 else 2}"
            model_name, engine, precision, art = "smollm2-135m-instruct", "transformers", "fp32", "art-135"
        else:
            note["route"] = {"strategy": "prompt_engineering", "reason": rng.choice(("default", "default", "rule"))}
            tpl = ("hr-policy@1" if rng.random() < 0.15 else
                   f"general@{1 if frac < 0.3 else 2 if frac < 0.75 else 3}")
            model_name, engine, precision, art = (("smollm2-135m-instruct", "onnx", "int8", "art-135")
                                                  if rng.random() < 0.6 else
                                                  ("smollm2-360m-instruct", "onnx", "int8", "art-360"))
        name, version = tpl.split("@")
        note["template"] = {"name": name, "version": int(version), "sha256": self.revisions[tpl],
                            "variant": "standard"}
        model: dict[str, Any] = {"backend": "local", "name": model_name, "revision": self.revisions[model_name],
                                 "engine": engine, "precision": precision, "artifact_revision": self.revisions[art]}
        if fine:
            ad = f"helpdesk-lora@{1 if frac < 0.5 else 2}"
            model["adapter"] = {"name": "helpdesk-lora", "version": int(ad[-1]), "sha256": self.revisions[ad]}
        note["model"] = model
        latency["route"] = int(rng.lognormvariate(2.0, 1.0))
        answer_chars = int(rng.lognormvariate(6.0, 0.6))
        if verdict == "error":
            kind = rng.choices(("GenerationError", "Busy", "StoreError"), cum_weights=(50, 80, 100))[0]
            guard["action"] = "error"
            note["verdict"] = "error"
            note["error"] = {"type": kind, **({"reason": "deadline"} if kind == "Busy" else {})}
            latency["generate"] = int(rng.lognormvariate(8.5, 0.7))
            latency["total"] = sum(latency.values()) + rng.randrange(1, 20)
            note["latency_ms"] = latency
            note["response"] = {"hmac_sha256": f"{rng.getrandbits(256):064x}", "chars": rng.randrange(90, 140)}
            return note
        prompt_tokens, completion = rng.randrange(60, 420), rng.randrange(12, 257)
        note["tokens"] = {"prompt": prompt_tokens, "completion": completion}
        note["generation"] = {"finish_reason": "length" if completion == 256 or rng.random() < 0.1 else "stop",
                              "input_truncated": False, "max_new_tokens": 256, "temperature": 0.0}
        latency["generate"] = int(completion * rng.uniform(8, 30))
        if verdict == "blocked_output":
            failing = rng.choices((("toxicity",), ("bias",)), cum_weights=(60, 100))[0]
            guard["output"] = [self.result(rng, c, answer_chars, c in failing) for c in THRESHOLDS]
            guard["action"] = "refused"
        else:
            a = rng.random()
            if a < 0.04:  # the first answer failed; the policy's one retry passed
                guard["first_output"] = [self.result(rng, c, answer_chars, c == "toxicity") for c in THRESHOLDS]
                guard["action"] = "regenerated" if a < 0.03 else "fallback"
                note["tokens"] = {"prompt": prompt_tokens * 2, "completion": completion * 2}
            guard["output"] = [self.result(rng, c, answer_chars, False) for c in THRESHOLDS]
        latency["output_checks"] = int(rng.lognormvariate(3.6, 0.4))
        latency["total"] = sum(latency.values()) + rng.randrange(1, 20)
        note["verdict"] = verdict
        note["latency_ms"] = latency
        note["response"] = {"hmac_sha256": f"{rng.getrandbits(256):064x}",
                            "chars": answer_chars if verdict == "answered" else rng.randrange(180, 260)}
        return note

    @staticmethod
    def result(rng: random.Random, check: str, chars: int, fail: bool) -> dict[str, Any]:
        threshold = THRESHOLDS[check]
        if fail:  # above the threshold, skewed towards certain
            score = threshold + (1 - threshold) * rng.betavariate(2.0, 1.0)
        else:  # most texts score near 0; a long tail towards the threshold
            score = min(threshold - 1e-4, rng.betavariate(0.6, 14.0))
        score = round(score, 4)
        if check == "toxicity":
            details = {label: round(score * (1.0 if label == "toxicity" else rng.uniform(0.01, 0.7)), 4)
                       for label in TOX}
        else:
            details = {"bias": score}
        return {"check": check, "score": score, "threshold": threshold, "passed": not fail, "scorer": SCORER,
                "label": check, "span": [0, chars], "details": details, "explanation": ""}


def _zipf_cum(n: int, s: float) -> list[float]:
    out, total = [], 0.0
    for k in range(n):
        total += 1.0 / (k + 1) ** s
        out.append(total)
    return out


# ----------------------------------------------------------------------------------------------- loading


def load(db: Any, log: Any, notes: Notes, append_n: int, label: str) -> dict[str, Any]:
    """Append the first ``append_n`` notes through ``SqlAuditLog.append``, insert the rest as the same rows."""
    from sqlalchemy import insert

    from decorum.audit.records import canonical_json, derived_fields, record_hash, score_rows
    from decorum.guardrails.note_schema import validate_note
    from decorum.progress import ProgressLine
    from decorum.store.tables import AuditRecordRow, AuditScoreRow, FeedbackRow

    rng = random.Random(notes.seed + 2)
    feedback: list[dict[str, Any]] = []

    def maybe_feedback(note: dict[str, Any]) -> None:
        if note["verdict"] == "answered" and note["surface"] != "cli" and rng.random() < 0.039:
            ms = int(datetime.fromisoformat(note["created_at"].replace("Z", "+00:00")).timestamp() * 1000)
            feedback.append({"note_id": note["id"], "user": (note.get("slack") or note)["user"],
                             "value": -1 if rng.random() < 0.35 else 1,
                             "created_at": iso_ms(ms + rng.randrange(5_000, 600_000))})

    it = iter(notes)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    with ProgressLine(f"{label}: appending {append_n} records through SqlAuditLog.append") as bar:
        last = None
        for i in range(append_n):
            note = next(it)
            last = log.append(note)
            maybe_feedback(note)
            bar.update((i + 1) / append_n, f"{i + 1}/{append_n}")
    out["append_n"] = append_n
    out["append_per_s"] = append_n / (time.perf_counter() - t0)
    prev, seq = (last["hash"], append_n) if last else ("0" * 64, 0)
    batch = 2000
    t0 = time.perf_counter()
    with ProgressLine(f"{label}: inserting {notes.n - append_n} records as append writes them") as bar:
        records: list[dict[str, Any]] = []
        scores: list[dict[str, Any]] = []

        def flush() -> None:
            with db.session() as s:
                s.execute(insert(AuditRecordRow), records)
                if scores:
                    s.execute(insert(AuditScoreRow), scores)
            records.clear()
            scores.clear()

        for note in it:
            validate_note(note)  # what append refuses is never written
            seq += 1
            chained = {**note, "prev_hash": prev}
            note_json = canonical_json(chained)
            digest = record_hash(seq, note_json, log.chain_key.for_seq(seq) if log.chain_key else None)
            records.append({"seq": seq, "id": note["id"], "created_at": note["created_at"],
                            "surface": note["surface"], "verdict": note["verdict"], "note": note_json,
                            "prev_hash": prev, "hash": digest, **derived_fields(chained)})
            scores.extend({"seq": seq, **r} for r in score_rows(chained))
            maybe_feedback(note)
            prev = digest
            if len(records) >= batch:
                flush()
                bar.update(seq / notes.n, f"{seq}/{notes.n}")
        if records:
            flush()
    out["bulk_per_s"] = (notes.n - append_n) / max(time.perf_counter() - t0, 1e-9)
    with db.session() as s:
        for k in range(0, len(feedback), 2000):
            s.execute(insert(FeedbackRow), feedback[k:k + 2000])
    out["feedback_rows"] = len(feedback)
    if db.dialect == "postgresql":
        from sqlalchemy import text

        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(f"{label}: verifying the chain ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    v = log.verify()
    seconds = time.perf_counter() - t0
    if not v.ok or v.checked != notes.n:
        raise SystemExit(f"{label}: verify failed after the load: {v}")
    out["verify_s"] = seconds
    out["verify_per_s"] = v.checked / seconds
    return out


# ----------------------------------------------------------------------------------------------- queries


def queries(notes: Notes) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, filter fields, page 5 by cursor) of the pages a console user asks for."""
    now = datetime.fromtimestamp(notes.now_ms / 1000, UTC)
    window = now - timedelta(days=60)
    return [
        ("first page, no filter", {}, False),
        ("page 5 (keyset cursor)", {}, True),
        ("verdict=blocked_input", {"verdict": "blocked_input"}, False),
        ("strategy=fine_tuned template=helpdesk@2", {"strategy": "fine_tuned", "template": "helpdesk@2"}, False),
        ("strategy=prompt_engineering", {"strategy": "prompt_engineering"}, False),
        ("check=toxicity min_score=0.8", {"check": "toxicity", "min_score": 0.8}, False),
        ("check=bias max_score=0.01", {"check": "bias", "max_score": 0.01}, False),
        ("since=7d", {"since": "7d"}, False),
        ("until=60d (the oldest third, newest first)", {"until": "60d"}, False),
        ("6 h window 60 days ago", {"since": window.isoformat(), "until": (window + timedelta(hours=6)).isoformat()},
         False),
        ("channel (10th busiest)", {"channel": notes.channel(9)}, False),
        ("user (100th busiest)", {"user": notes.user(99)}, False),
        ("feedback=down", {"feedback": "down"}, False),
        ("surface=slack verdict=blocked_output since=30d",
         {"surface": "slack", "verdict": "blocked_output", "since": "30d"}, False),
        ("almost nothing: template=general@1 verdict=blocked_output check=toxicity min_score=0.97",
         {"template": "general@1", "verdict": "blocked_output", "check": "toxicity", "min_score": 0.97}, False),
    ]


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm-up (caches, prepared plans)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def figures(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 0.95), 2), "runs": len(ms)}


def measure(db: Any, log: Any, notes: Notes, repeat: int, stats_repeat: int, label: str) -> dict[str, Any]:
    from decorum.audit.query import AuditFilter, count, search, stats
    from decorum.progress import ProgressLine

    base = figures(timed(lambda: log.list(limit=50), repeat))
    cursor = None
    for _ in range(4):
        cursor = search(db, AuditFilter(), limit=50, before=cursor).next_before
    rows = []
    qs = queries(notes)
    with ProgressLine(f"{label}: timing {len(qs)} queries") as bar:
        for k, (name, fields, page5) in enumerate(qs):
            flt = AuditFilter.parse(fields)
            before = cursor if page5 else None
            page = figures(timed(lambda flt=flt, before=before: search(db, flt, limit=50, before=before), repeat))
            total = figures(timed(lambda flt=flt, before=before: search(db, flt, limit=50, before=before,
                                                                       with_total=True), repeat))
            figs = figures(timed(lambda flt=flt: stats(db, flt), stats_repeat))
            rows.append({"query": name, "filter": flt.active(), "matches": count(db, flt),
                         "page": {**page, "ratio": round(page["median_ms"] / base["median_ms"], 2)},
                         "page_total": {**total, "ratio": round(total["median_ms"] / base["median_ms"], 2)},
                         "stats": figs})
            bar.update((k + 1) / len(qs), name[:40])
    return {"baseline": {"query": "SqlAuditLog.list(limit=50)", **base}, "queries": rows}


def export(db: Any, workdir: Path, label: str) -> dict[str, Any]:
    """records/s of full JSONL and CSV exports and of a filtered one, streamed into a file."""
    from decorum.audit.export import head_seq, stream_export
    from decorum.audit.query import AuditFilter, count

    upto = head_seq(db)
    out: dict[str, Any] = {"via": "audit_export.stream_export"}
    for name, fmt, fields in (("full JSONL", "jsonl", {}), ("full CSV", "csv", {}),
                              ("filtered JSONL (verdict=blocked_input,blocked_output,error)", "jsonl",
                               {"verdict": "blocked_input,blocked_output,error"})):
        flt = AuditFilter.parse(fields)
        n = count(db, flt)
        path = workdir / f"export-{label}.{fmt}"
        t = time.perf_counter()
        with path.open("w", encoding="utf-8", newline="") as fh:
            for chunk in stream_export(db, flt, fmt, upto=upto):
                fh.write(chunk)
        seconds = time.perf_counter() - t
        out[name] = {"records": n, "seconds": round(seconds, 2), "records_per_s": round(n / seconds),
                     "mib": round(path.stat().st_size / 2**20, 1)}
        path.unlink()
    return out


# ----------------------------------------------------------------------------------------------- backends


def open_backend(name: str, pg_url: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database URL for ``name`` and what drops it."""
    if name == "sqlite":
        return f"sqlite:///{workdir / 'audit-bench.db'}", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if pg_url.startswith(("postgresql://", "postgres://")):
        pg_url = "postgresql+psycopg://" + pg_url.split("://", 1)[1]
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        from decorum.store import db as store_db

        store_db.dispose_all()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def run_backend(name: str, args: argparse.Namespace, notes: Notes, chain_key: Any, workdir: Path
                ) -> dict[str, Any]:
    from decorum.audit.log import SqlAuditLog
    from decorum.store import Database

    url, drop = open_backend(name, args.pg_url, workdir)
    try:
        db = Database.open(url)
        log = SqlAuditLog(db, chain_key=chain_key)
        result: dict[str, Any] = {"load": load(db, log, notes, min(args.append, notes.n), name)}
        if db.dialect == "postgresql":
            from sqlalchemy import text

            with db.session() as s:
                result["server"] = "PostgreSQL " + str(s.execute(text("SHOW server_version")).scalar())
        result.update(measure(db, log, notes, args.repeat, args.stats_repeat, name))
        result["export"] = export(db, workdir, name)
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        result["load"].update(sizes(db, url))
        result["slowest_page_p95_ms"] = max(max(q["page"]["p95_ms"], q["page_total"]["p95_ms"])
                                            for q in result["queries"])
        db.dispose()
        return result
    finally:
        drop()


def sizes(db: Any, url: str) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from decorum.store.tables import AuditScoreRow

    with db.session() as s:
        out: dict[str, Any] = {"score_rows": int(s.execute(select(func.count()).select_from(AuditScoreRow))
                                                 .scalar_one())}
        if db.dialect == "postgresql":
            out["database_mib"] = round(int(s.execute(text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar() or 0) / 2**20, 1)
    if db.dialect == "sqlite":
        out["database_mib"] = round(Path(url.split("///", 1)[1]).stat().st_size / 2**20, 1)
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    mem = 0.0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    import sqlite3

    return {"cpus": os.cpu_count(), "cpu": cpu or platform.processor(), "memory_gib": round(mem, 1),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\nmachine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, "
          f"SQLite {m['sqlite']}, load average at start {m['loadavg_at_start']}; {report['records']} records, "
          f"{report['repeat']} runs per query ({report['stats_repeat']} for stats)")
    for backend, r in report["backends"].items():
        ld = r["load"]
        print(f"\n[{backend}{' ' + r['server'] if r.get('server') else ''}] append {ld['append_per_s']:.0f} records/s "
              f"(first {ld['append_n']}), bulk load {ld['bulk_per_s']:.0f} records/s, verify "
              f"{ld['verify_per_s']:.0f} records/s ({ld['verify_s']:.1f} s); {ld['score_rows']} score rows, "
              f"{ld['feedback_rows']} feedback rows, {ld['database_mib']} MiB; load average after "
              f"{r['loadavg_after']}")
        b = r["baseline"]
        print(f"baseline {b['query']}: median {b['median_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms")
        head = (f"{'query':<58} {'matches':>7} | {'page med':>8} {'p95':>7} {'ratio':>6} | {'+total med':>10} "
                f"{'p95':>7} {'ratio':>6} | {'stats med':>9} {'p95':>7}")
        print(head)
        print("-" * len(head))
        for q in r["queries"]:
            p, t, s = q["page"], q["page_total"], q["stats"]
            print(f"{q['query'][:58]:<58} {q['matches']:>7} | {p['median_ms']:>8.1f} {p['p95_ms']:>7.1f} "
                  f"{p['ratio']:>5.1f}x | {t['median_ms']:>10.1f} {t['p95_ms']:>7.1f} {t['ratio']:>5.1f}x | "
                  f"{s['median_ms']:>9.0f} {s['p95_ms']:>7.0f}")
        print(f"slowest page p95 (with or without total): {r['slowest_page_p95_ms']:.1f} ms")
        e = r["export"]
        print(f"export via {e['via']}: " + "; ".join(
            f"{k} {v['records_per_s']:,} records/s ({v['records']} in {v['seconds']} s, {v['mib']} MiB)"
            for k, v in e.items() if isinstance(v, dict)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--append", type=int, default=2000, help="records written through SqlAuditLog.append")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default=PG, help=f"a fresh schema is made there and dropped (default {PG})")
    ap.add_argument("--repeat", type=int, default=30, help="runs per query (page, page with total)")
    ap.add_argument("--stats-repeat", type=int, default=None, help="runs per stats query (default: --repeat)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--quick", action="store_true", help="2,000 records, few runs: a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.records, args.append, args.repeat = 2000, 200, 3
        args.stats_repeat = args.stats_repeat or 2
    args.stats_repeat = args.stats_repeat or args.repeat
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        ap.error(f"unknown backend {sorted(unknown)[0]!r}; sqlite, postgresql")

    from decorum.audit.chain_key import ChainKey
    from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION as current

    if current != NOTE_SCHEMA_VERSION:
        raise SystemExit(f"the note schema is at version {current}; update bench/audit.py's notes")

    now_ms = int(time.time() * 1000)
    notes = Notes(args.records, now_ms)
    chain_key = ChainKey(os.urandom(32), 1)
    report: dict[str, Any] = {"command": " ".join(["bench/audit.py", *(argv if argv is not None else sys.argv[1:])]),
                              "records": args.records, "repeat": args.repeat, "stats_repeat": args.stats_repeat,
                              "machine": machine(), "backends": {}}
    with tempfile.TemporaryDirectory(prefix="decorum-bench-audit-") as tmp:
        for name in backends:
            report["backends"][name] = run_backend(name, args, notes, chain_key, Path(tmp))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
