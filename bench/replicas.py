"""Sustained Slack answers/minute and ack latency with 1, 2, ... ``decorum serve`` processes on one database.
Prints figures; never fails on a time (exit 1 only on duplicates, losses or errors).

    .venv/bin/python bench/replicas.py [--processes 1 2] [--rate 30] [--duration 120] [--warmup 20]
        [--retries] [--generator onnx | openai_compat --base-url URL [--model-name NAME] | llama]
        [--max-new-tokens 48] [--database-url postgresql://postgres@127.0.0.1:5432/test | sqlite[:///PATH]]
        [--cpus 0,1] [--json out.json]

For each configuration (each ``--generator`` times each ``--processes``, one after the other in one run):

1. a fresh database (a new schema in the PostgreSQL database of ``--database-url``, dropped afterwards; or a new
   SQLite file), a fresh local Slack Web API emulator (``tests/slack_emulator.py``), and N real
   ``python -m decorum serve`` processes on it, each on its own public and admin port, sharing the data dir
   (audit chain and signing keys) and a ``DECORUM_CONFIG`` with ``max_new_tokens`` (48 by default); it waits
   for ``/healthz`` 200 on each;
2. one warm-up mention per replica, answered, then signed ``app_mention`` events at a steady ``--rate`` per
   minute, round-robin over the replicas (a load balancer): ``--warmup`` seconds not measured, then the
   ``--duration`` s measurement window. ``--retries`` also sends each event's Slack retry
   (``X-Slack-Retry-Num: 1``) to the *next* replica ``--retry-delay`` s later;
3. it waits for every event's reply (``--drain-s`` at most), lets late duplicates arrive, and counts per event.

Measured per configuration:
  * ack p50 / p99: HTTP response time of every delivery sent in the window (originals and retries);
  * answered/min: answers delivered in the window (final message of any bench event, warm-up traffic
    included, verdict ``answered``) / window; with the offered rate above capacity this is the capacity;
  * answer p50 / p95: event sent -> its final message (the ``chat.update``/``chat.postMessage`` carrying the
    answer's metadata), over the events sent in the window;
  * duplicates (replies beyond one per event: answers, refusals, apologies or busy notices) and losses (events
    with no final reply at all): both must be 0;
  * load avg: mean of ``/proc/loadavg``'s 1-minute figure sampled every 2 s in the window (plus CPU busy %).

Generators: ``onnx`` (the default engine, in each replica), ``openai_compat`` (an external OpenAI-compatible
server at ``--base-url``), ``llama`` (starts llama.cpp's server itself, with the Python and GGUF of
``tests/llama_server.py``, on the same CPUs as the replicas, ``interrupt_requests`` off: see
``llama_server``). The ack is sent before any model work, so ack latency shows whether the replicas stay
responsive under load; answers/min is bounded by the CPU the models get.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.slack_emulator, tests.llama_server

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "bench-replicas-signing-secret"
QUESTIONS = [
    "How do I reset my VPN password?",
    "My laptop will not connect to the office Wi-Fi. What should I check?",
    "How can I book a meeting room for next Tuesday?",
    "How do I share a large file with a colleague securely?",
    "What should I do if I clicked a phishing link?",
    "How do I set up two-factor authentication?",
    "How do I connect to the office printer?",
]
CHANNELS = 4
USERS = 24  # askers; well under the per-person rate limit (20/min) at the rates used here
LLAMA_ALIASES = ("smollm2-135m-instruct", "helpdesk-lora@1")  # the base model and the shipped adapter's name

# The replica's launcher: affinity (the CPUs the replicas get) and death with the bench, then exec the command.
_LAUNCH = ("import ctypes, os, signal, sys\n"
           "cpus = {int(c) for c in sys.argv[1].split(',') if c}\n"
           "cpus and os.sched_setaffinity(0, cpus)\n"
           "ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG: no orphan if the bench dies\n"
           "os.execv(sys.argv[2], sys.argv[2:])\n")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def loadavg() -> tuple[float, float, float]:
    a, b, c = Path("/proc/loadavg").read_text().split()[:3]
    return float(a), float(b), float(c)


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return (f"{platform.node()}: {platform.machine()}, {os.cpu_count()} vCPUs ({model}), "
            f"{mem_kib / 1024 / 1024:.1f} GiB, Python {platform.python_version()}")


# --- what came back -----------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Per-event outcomes read from the emulator: one reply each, or a duplicate / a loss."""

    outcomes: dict[str, str]  # event ts -> answered | refused | busy | error | lost
    replies: dict[str, int]  # event ts -> final replies seen (1 is right)
    final_at: dict[str, float]  # event ts -> monotonic time of the final message (answered or refused in thread)
    duplicates: int
    losses: int


def _text_of(blocks: Any, text: str) -> str:
    return json.dumps(blocks) if blocks else text


def tally(event_ts: list[str], channel_of: dict[str, str], emu: Any) -> Tally:
    """Count each event's replies as Slack shows them (after every ``chat.update``), plus private replies.

    A reply is one answer (its parts share a note id), a refusal (in the thread, or private with a reference),
    an apology, or an "at capacity" notice with a reference. Notices without a reference (first contact,
    "you are queued") are not replies. A streamed message never turned into a final one is not a reply.
    """
    wanted = set(event_ts)
    replies: dict[str, list[str]] = {ts: [] for ts in event_ts}
    notes: dict[str, set[str]] = {ts: set() for ts in event_ts}
    thread_of: dict[tuple[str, str], str] = {}
    for channel in sorted(set(channel_of.values())):
        for m in emu.messages(channel):
            thread = m.get("thread_ts")
            if not m.get("bot_id") or thread not in wanted:
                continue
            thread_of[(channel, m["ts"])] = thread
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            text = _text_of(m.get("blocks"), str(m.get("text") or ""))
            if payload.get("note_id"):
                if payload["note_id"] not in notes[thread]:
                    notes[thread].add(payload["note_id"])
                    replies[thread].append("answered" if payload.get("verdict") == "answered" else "refused")
            elif ":warning:" in text:
                replies[thread].append("error")
            elif ":hourglass_flowing_sand:" in text and "Ref `" in text:
                replies[thread].append("busy")
    final_at: dict[str, float] = {}
    for c in emu.calls:
        if c.method not in ("chat.postMessage", "chat.update", "chat.postEphemeral") or not c.ok:
            continue
        if c.method == "chat.postEphemeral":
            thread = c.args.get("thread_ts")
            text = _text_of(c.args.get("blocks"), str(c.args.get("text") or ""))
            if thread in wanted and "Ref `" in text:
                replies[thread].append("busy" if ":hourglass_flowing_sand:" in text else "refused")
            continue
        if not c.args.get("metadata"):
            continue
        thread = c.args.get("thread_ts") or thread_of.get((str(c.args.get("channel")), str(c.args.get("ts"))))
        if thread in wanted:
            final_at[thread] = max(final_at.get(thread, 0.0), c.at)
    outcomes = {ts: (r[0] if len(set(r)) == 1 else "+".join(sorted(set(r)))) if r else "lost"
                for ts, r in replies.items()}
    return Tally(outcomes=outcomes, replies={ts: len(r) for ts, r in replies.items()}, final_at=final_at,
                 duplicates=sum(max(0, len(r) - 1) for r in replies.values()),
                 losses=sum(1 for r in replies.values() if not r))


# --- one configuration --------------------------------------------------------------------------------------


@dataclass
class Generator:
    """What generates the answers: ``label`` for the table, ``models`` for DECORUM_CONFIG's models.generator."""

    label: str
    models: dict[str, Any]
    note: str = ""


@dataclass
class Result:
    label: str
    processes: int
    database: str
    offered_per_min: float
    answered_per_min: float
    answered_in_window: int
    window_s: float
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    answer_p50_s: float
    answer_p95_s: float
    events: int  # all bench events of this configuration (warm-up included)
    measured_events: int  # sent in the window
    deliveries: int  # HTTP deliveries in the window (with retries)
    duplicates: int
    losses: int
    outcomes: dict[str, int]
    bad_acks: int  # non-200 responses
    load_avg: float  # mean 1-min load average in the window
    load_before: tuple[float, float, float]
    load_end: tuple[float, float, float]
    cpu_busy_pct: float
    startup_s: list[float]
    started_at: str  # local time the window started
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.losses or self.bad_acks or self.errors or self.outcomes.get("error"))


class Replicas:
    """N ``decorum serve`` processes, each on its own public and admin port, on one database."""

    def __init__(self, n: int, env: dict[str, str], log_dir: Path, cpus: str, *, pin: bool = False) -> None:
        """``pin``: replica i gets only the i-th CPU of ``cpus`` (round robin), so N replicas on N CPUs do not
        compete for cores (its engine sizes its threads to the CPUs it may use)."""
        from tests.slack_emulator import free_port

        self.procs: list[subprocess.Popen[bytes]] = []
        self.bases: list[str] = []
        self.logs: list[Path] = []
        self.startup_s: list[float] = []
        t0 = time.monotonic()
        cpu_ids = sorted(int(c) for c in cpus.split(",") if c) if cpus else sorted(os.sched_getaffinity(0))
        for i in range(n):
            mine = str(cpu_ids[i % len(cpu_ids)]) if pin else cpus
            port, admin_port = free_port(), free_port()
            log = log_dir / f"replica-{i}.log"
            with log.open("wb") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-c", _LAUNCH, mine, sys.executable, "-m", "decorum", "serve", "--port",
                     str(port)], env={**env, "DECORUM_ADMIN_PORT": str(admin_port)}, cwd=REPO, stdout=out,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
            self.bases.append(f"http://127.0.0.1:{port}")
            self.logs.append(log)
        self._t0 = t0

    def wait_healthy(self, within_s: float = 900) -> None:
        import httpx

        pending = dict(enumerate(self.bases))
        self.startup_s = [0.0] * len(self.bases)
        deadline = self._t0 + within_s
        while pending:
            for i, base in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        self.startup_s[i] = time.monotonic() - self._t0
                        del pending[i]
                        continue
                if self.procs[i].poll() is not None:
                    raise RuntimeError(f"replica {i} exited with {self.procs[i].returncode}:\n{self.tail(i)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas {sorted(pending)} not healthy in {within_s:g} s:\n"
                                   + "\n".join(self.tail(i) for i in pending))
            time.sleep(0.5)

    def tail(self, i: int, chars: int = 3000) -> str:
        try:
            return self.logs[i].read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def crashed(self) -> list[str]:
        return [f"replica {i} exited with {p.returncode} during the run:\n{self.tail(i)}"
                for i, p in enumerate(self.procs) if p.poll() is not None]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()  # SIGTERM: drain (nothing is in flight by now), exit 0
        deadline = time.monotonic() + 40
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


@contextlib.contextmanager
def fresh_database(url: str, label: str, scratch: Path) -> Iterator[str]:
    """A new, empty database for one configuration: a schema in PostgreSQL, a file for SQLite; removed after."""
    if url == "sqlite" or url.startswith("sqlite:"):
        given = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
        path = Path(given).with_name(f"{Path(given).stem}-{label}.db") if given else scratch / f"{label}.db"
        if path.exists():
            raise SystemExit(f"{path} exists: the bench only writes new files")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                p.unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text

    from decorum.settings import Settings

    schema = f"bench_replicas_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Settings(database_url=url).resolved_database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def replica_env(*, database_url: str, slack_api_url: str, data_dir: Path, config: Path,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every replica, as tests/test_slack_serve.py sets it (no SLACK_*/DECORUM_* leaks in)."""
    keep = ("DECORUM_CACHE_DIR", "DECORUM_LOG_LEVEL", "DECORUM_LOG_FORMAT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DECORUM_")) or k in keep}
    default_cache = REPO / ".cache" / "models"
    if "DECORUM_CACHE_DIR" not in env and default_cache.exists():
        env["DECORUM_CACHE_DIR"] = str(default_cache)  # the models the tests built: no rebuild per run
    env.update({"DECORUM_DATABASE_URL": database_url, "DECORUM_DATA_DIR": str(data_dir),
                "DECORUM_CONFIG": str(config), "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
                "DECORUM_SLACK_API_URL": slack_api_url, "DECORUM_AUDIT_KEY": "bench-audit-key-0123456789abcdef",
                "DECORUM_SLACK_DRAIN_S": "10", **(extra or {})})
    return env


async def drive(emu: Any, bases: list[str], *, rate: float, warmup_s: float, duration_s: float, retries: bool,
                retry_delay_s: float, drain_s: float, label: str, replicas: Replicas | None = None,
                quiet: bool = False) -> dict[str, Any]:
    """Send the traffic, wait for the replies, and return the raw figures (see ``Result``)."""
    from tests.slack_emulator import BOT_USER, SlackSender, app_mention, envelope

    from decorum.progress import ProgressLine

    senders = [SlackSender(b, SECRET) for b in bases]
    channel_of: dict[str, str] = {}
    sent_at: dict[str, float] = {}
    acks: list[tuple[float, float, int]] = []  # (sent at, seconds, status)
    tasks: set[asyncio.Task[None]] = set()
    counter = 0

    def new_event(k: int) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        event = app_mention(f"<@{BOT_USER}> {QUESTIONS[k % len(QUESTIONS)]} (#{counter})",
                            channel=f"CBENCH{k % CHANNELS}", user=f"UBENCH{k % USERS:03d}")
        channel_of[event["ts"]] = event["channel"]
        return event

    async def post(i: int, event: dict[str, Any], body: dict[str, Any], retry: int | None) -> None:
        at = time.monotonic()
        try:
            r, elapsed = await senders[i].event(event, body=body, retry_num=retry)
            acks.append((at, elapsed, r.status_code))
        except Exception:  # a refused connection, a time-out: an ack that never came
            acks.append((at, time.monotonic() - at, 0))

    async def deliver(k: int, event: dict[str, Any]) -> None:
        body = envelope(event)
        n = len(senders)
        sent_at[event["ts"]] = time.monotonic()
        first = asyncio.create_task(post(k % n, event, body, None))
        if retries:
            await asyncio.sleep(retry_delay_s)
            await post((k + 1) % n, event, body, 1)  # Slack's retry, balanced to the next replica
        await first

    def answered() -> int:
        return sum(1 for ts in sent_at if ts in done_ts)

    done_ts: set[str] = set()

    def refresh() -> None:
        t = tally(list(sent_at), channel_of, emu)
        done_ts.clear()
        done_ts.update(ts for ts, o in t.outcomes.items() if o != "lost")

    try:
        # one answered mention per replica first: first-request costs stay out of the figures
        for i in range(len(senders)):
            event = new_event(i)
            await deliver(i, event)
        wait_until = time.monotonic() + 600
        while True:
            refresh()
            if len(done_ts) == len(sent_at) or time.monotonic() > wait_until:
                break
            await asyncio.sleep(0.2)
        acks.clear()

        interval = 60.0 / rate
        start = time.monotonic()
        window_start, window_end = start + warmup_s, start + warmup_s + duration_s
        started_at = time.strftime("%Y-%m-%d %H:%M:%S")
        samples: list[float] = []
        busy0 = total0 = 0
        total_events = round((warmup_s + duration_s) / interval)
        with ProgressLine(f"{label}: sending", every_s=10.0, stream=io.StringIO() if quiet else None) as bar:
            k, next_sample = 0, start
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    refresh()
                    if now >= window_start and not busy0:
                        busy0, total0 = cpu_times()
                        started_at = time.strftime("%Y-%m-%d %H:%M:%S")
                    if window_start <= now <= window_end:
                        samples.append(loadavg()[0])
                    phase = "warm-up" if now < window_start else "window"
                    bar.update((now - start) / (warmup_s + duration_s),
                               f"{phase}: sent {k}/{total_events}, replied {answered()}/{len(sent_at)}, "
                               f"load {loadavg()[0]:.2f}")
                    next_sample = now + 2.0
                if k >= total_events:
                    break
                due = start + k * interval
                if due > now:
                    await asyncio.sleep(min(due - now, max(0.0, next_sample - now)))
                    continue
                event = new_event(k)
                task = asyncio.create_task(deliver(k, event))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                k += 1
            await asyncio.sleep(max(0.0, window_end - time.monotonic()))  # the last interval
        busy1, total1 = cpu_times()
        load_end = loadavg()
        samples.append(load_end[0])
        if tasks:
            await asyncio.gather(*tasks)
        drain_deadline = time.monotonic() + drain_s
        with ProgressLine(f"{label}: waiting for replies", every_s=10.0,
                          stream=io.StringIO() if quiet else None) as bar:
            while True:
                refresh()
                bar.update(answered() / max(1, len(sent_at)), f"{answered()}/{len(sent_at)} replied")
                if answered() == len(sent_at) or time.monotonic() > drain_deadline:
                    break
                if replicas is not None and replicas.crashed():
                    break
                await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # late duplicates (a retry answered twice) would arrive here
        await emu.settle(0.5, within_s=30)
    finally:
        for task in list(tasks):
            task.cancel()
        for s in senders:
            await s.aclose()
    return {"sent_at": sent_at, "channel_of": channel_of, "acks": acks, "window": (window_start, window_end),
            "samples": samples, "cpu": (busy1 - busy0, total1 - total0), "load_end": load_end,
            "started_at": started_at}


def run_configuration(*, generator: Generator, processes: int, rate: float, warmup_s: float, duration_s: float,
                      retries: bool = False, retry_delay_s: float = 0.5, database_url: str, max_new_tokens: int,
                      cpus: str = "", drain_s: float = 300, extra_env: dict[str, str] | None = None,
                      quiet: bool = False, keep_logs: Path | None = None, pin: bool = False) -> Result:
    """One configuration, on ``database_url`` as given (the caller makes it fresh): start, drive, tally, stop.

    ``keep_logs``: a folder that receives the replicas' logs (``<label>-p<N>-replica-<i>.log``).
    """
    import yaml
    from tests.slack_emulator import SlackEmulator

    label = generator.label + (", pinned 1 CPU each" if pin else "")
    load_before = loadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    replicas: Replicas | None = None
    try:
        config = scratch / "decorum.yaml"
        models = {"generator": {**generator.models, "max_new_tokens": max_new_tokens}}
        config.write_text(yaml.safe_dump({"models": models}))
        with SlackEmulator() as emu:
            env = replica_env(database_url=database_url, slack_api_url=emu.url, data_dir=scratch / "data",
                              config=config, extra=extra_env)
            if not quiet:
                print(f"[{label}, {processes} process(es)] load before: {' '.join(f'{x:.2f}' for x in load_before)};"
                      f" starting {processes} x decorum serve ...", file=sys.stderr, flush=True)
            replicas = Replicas(processes, env, scratch, cpus, pin=pin)
            replicas.wait_healthy()
            if not quiet:
                print(f"[{label}, {processes} process(es)] healthy after "
                      f"{', '.join(f'{s:.1f} s' for s in replicas.startup_s)}", file=sys.stderr, flush=True)
            raw = asyncio.run(drive(emu, replicas.bases, rate=rate, warmup_s=warmup_s, duration_s=duration_s,
                                    retries=retries, retry_delay_s=retry_delay_s, drain_s=drain_s,
                                    label=f"{label} x{processes}", replicas=replicas, quiet=quiet))
            t = tally(list(raw["sent_at"]), raw["channel_of"], emu)
            crashed = replicas.crashed()
    finally:
        if replicas is not None:
            replicas.stop()
            if keep_logs is not None:
                keep_logs.mkdir(parents=True, exist_ok=True)
                slug = "".join(ch if ch.isalnum() else "-" for ch in label).strip("-")
                for i, log in enumerate(replicas.logs):
                    with contextlib.suppress(OSError):
                        shutil.copy(log, keep_logs / f"{slug}-p{processes}-replica-{i}.log")
        shutil.rmtree(scratch, ignore_errors=True)

    w0, w1 = raw["window"]
    sent_at: dict[str, float] = raw["sent_at"]
    in_window = [ts for ts, at in sent_at.items() if w0 <= at <= w1]
    answered_in_window = sum(1 for ts, at in t.final_at.items() if w0 <= at <= w1 and t.outcomes[ts] == "answered")
    tta = [t.final_at[ts] - sent_at[ts] for ts in in_window if ts in t.final_at]
    acks = [s for at, s, _ in raw["acks"] if w0 <= at <= w1]
    busy, total = raw["cpu"]
    outcomes: dict[str, int] = {}
    for o in t.outcomes.values():
        outcomes[o] = outcomes.get(o, 0) + 1
    return Result(
        label=label, processes=processes, database=database_url.split(":", 1)[0].split("+")[0],
        offered_per_min=rate, answered_per_min=answered_in_window / (duration_s / 60),
        answered_in_window=answered_in_window, window_s=duration_s,
        ack_p50_ms=pct(acks, 0.5) * 1000, ack_p99_ms=pct(acks, 0.99) * 1000,
        ack_max_ms=max(acks, default=float("nan")) * 1000,
        answer_p50_s=pct(tta, 0.5), answer_p95_s=pct(tta, 0.95), events=len(sent_at),
        measured_events=len(in_window), deliveries=len(acks), duplicates=t.duplicates, losses=t.losses,
        outcomes=outcomes, bad_acks=sum(1 for _, _, status in raw["acks"] if status != 200),
        load_avg=sum(raw["samples"]) / len(raw["samples"]) if raw["samples"] else float("nan"),
        load_before=load_before, load_end=raw["load_end"],
        cpu_busy_pct=100.0 * busy / total if total else float("nan"), startup_s=replicas.startup_s if replicas
        else [], started_at=raw["started_at"], errors=crashed)


# --- the command line ---------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    head = ("| configuration | processes | offered/min | answered/min | ack p50 | ack p99 | answer p50 | answer p95 "
            "| dups | losses | load avg |")
    rows = [head, "|" + "---|" * 11]
    for r in results:
        rows.append(f"| {r.label}, {r.database} | {r.processes} | {r.offered_per_min:g} | {r.answered_per_min:.1f} | "
                    f"{r.ack_p50_ms:.0f} ms | {r.ack_p99_ms:.0f} ms | {r.answer_p50_s:.1f} s | {r.answer_p95_s:.1f} s |"
                    f" {r.duplicates} | {r.losses} | {r.load_avg:.2f} |")
    return "\n".join(rows)


def details(r: Result) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
    return (f"- {r.label} x{r.processes} (window from {r.started_at}, {r.window_s:g} s): {r.answered_in_window} "
            f"answers in the window; {r.measured_events} events sent in it ({r.deliveries} deliveries), "
            f"{r.events} in all: {outcomes}; non-200 acks {r.bad_acks}; ack max {r.ack_max_ms:.0f} ms; "
            f"CPU busy {r.cpu_busy_pct:.0f}%; load before {' '.join(f'{x:.2f}' for x in r.load_before)}, "
            f"at the window's end {' '.join(f'{x:.2f}' for x in r.load_end)}; healthy after "
            f"{', '.join(f'{s:.0f} s' for s in r.startup_s)}")


@contextlib.contextmanager
def llama_server(*, n_threads: int, cpus: set[int], interrupt_requests: bool = False,
                 startup_timeout_s: float = 120) -> Iterator[tuple[str, int, float]]:
    """llama.cpp's OpenAI-compatible server on the packaged SmolLM2 GGUF, on ``cpus``; yields (base URL, pid, s to up).

    The Python and the GGUF come from ``tests/llama_server.py`` (its venv, ``.cache/llama-server-venv``, made once
    there). It is started here rather than with that module's ``llama_server()`` for one server setting:
    llama-cpp-python's ``interrupt_requests`` defaults to true, which ends the stream in progress (``[DONE]``)
    as soon as another request waits for the model, so with Decorum's concurrent requests most answers come back
    cut short or empty (the output checks then refuse the empty ones). A shared server must run with it off.
    """
    import urllib.request

    from tests.llama_server import ensure_python, free_port, gguf

    python, model = ensure_python(), gguf()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-llama-") as folder:
        config = Path(folder) / "config.json"
        config.write_text(json.dumps({
            "host": "127.0.0.1", "port": port, "interrupt_requests": interrupt_requests,
            "models": [{"model": str(model), "model_alias": alias, "n_threads": n_threads,
                        "n_threads_batch": n_threads, "n_ctx": 2048, "verbose": False} for alias in LLAMA_ALIASES]}))
        log = Path(folder) / "server.log"
        url = f"http://127.0.0.1:{port}/v1"
        cpu_list = ",".join(str(c) for c in sorted(cpus))
        t0 = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, cpu_list, str(python), "-m", "llama_cpp.server",
                                     "--config_file", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while True:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                        if resp.status == 200:
                            break
                if proc.poll() is not None or time.monotonic() - t0 > startup_timeout_s:
                    raise RuntimeError(f"llama.cpp server did not come up:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.1)
            yield url, proc.pid, time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="replica counts, in order (1 2)")
    p.add_argument("--rate", type=float, default=30.0, help="offered app_mention events per minute (30)")
    p.add_argument("--duration", type=float, default=120.0, help="measurement window in seconds (120)")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds of traffic before the window (20)")
    p.add_argument("--retries", action="store_true", help="also send each event's Slack retry to the next replica")
    p.add_argument("--retry-delay", type=float, default=0.5, help="seconds from an event to its retry (0.5)")
    p.add_argument("--generator", nargs="+", default=["onnx"], choices=["onnx", "openai_compat", "llama"],
                   help="onnx (in-process, default), openai_compat (--base-url), llama (starts llama.cpp's server)")
    p.add_argument("--base-url", help="openai_compat: the server's API root, http://host:port/v1")
    p.add_argument("--model-name", default="smollm2-135m-instruct", help="openai_compat: the base model's name")
    p.add_argument("--max-new-tokens", type=int, default=48, help="answer length cap (48)")
    p.add_argument("--database-url", default=PG_DEFAULT,
                   help=f"PostgreSQL database (a fresh schema per configuration; default {PG_DEFAULT}), or sqlite / "
                        "sqlite:///PATH (a fresh file per configuration)")
    p.add_argument("--cpus", default="", help="CPU list for the replicas and the llama.cpp server (default: all "
                                              "this process may use)")
    p.add_argument("--concurrency", type=int, help="DECORUM_SLACK_CONCURRENCY of each replica (default: the app's)")
    p.add_argument("--drain-s", type=float, default=300, help="how long to wait for the last replies (300)")
    p.add_argument("--llama-interrupt-requests", action="store_true",
                   help="llama: keep llama-cpp-python's default interrupt_requests=true (a waiting request ends the "
                        "stream in progress early: truncated or empty answers under concurrency)")
    p.add_argument("--pin", action="store_true", help="with several replicas, pin replica i to the i-th CPU "
                   "(N replicas on N CPUs share no core; the llama.cpp server still gets them all)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep-logs", type=Path, help="copy each replica's log into this folder")
    args = p.parse_args(argv)
    if "openai_compat" in args.generator and not args.base_url:
        p.error("--generator openai_compat needs --base-url")
    cpus = {int(c) for c in args.cpus.split(",") if c.strip()} if args.cpus else set(os.sched_getaffinity(0))
    cpu_list = ",".join(str(c) for c in sorted(cpus))
    extra = {"DECORUM_SLACK_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}

    print(f"machine: {machine()}")
    print(f"load before the run: {' '.join(f'{x:.2f}' for x in loadavg())} (1, 5, 15 min)")
    print(f"database: {args.database_url.split('@')[-1]}; replicas on CPUs {{{cpu_list}}}; offered {args.rate:g} "
          f"events/min, warm-up {args.warmup:g} s, window {args.duration:g} s"
          + (f", each event's retry to the next replica after {args.retry_delay:g} s" if args.retries else ""),
          flush=True)

    results: list[Result] = []
    failures: list[str] = []
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does

    previous = signal.signal(signal.SIGTERM, interrupt)
    scratch = Path(tempfile.mkdtemp(prefix="bench-replicas-db-"))
    try:
        with contextlib.ExitStack() as stack:
            for kind in args.generator:
                if kind == "onnx":
                    gen = Generator("onnx int8, in each replica", {"kind": "onnx"})
                elif kind == "openai_compat":
                    gen = Generator(f"openai_compat {args.base_url}", {"kind": "openai_compat",
                                                                         "base_url": args.base_url,
                                                                         "name": args.model_name})
                else:
                    from tests.llama_server import unavailable_reason

                    if (why := unavailable_reason()) is not None:
                        failures.append(f"--generator llama: {why}")
                        print(f"skipped llama: {why}", file=sys.stderr)
                        continue
                    url, pid, up_s = stack.enter_context(llama_server(
                        n_threads=len(cpus), cpus=cpus, interrupt_requests=args.llama_interrupt_requests))
                    interrupting = ", interrupt_requests on" if args.llama_interrupt_requests else ""
                    gen = Generator(f"llama.cpp server{interrupting} (openai_compat)", {
                        "kind": "openai_compat", "base_url": url, "name": LLAMA_ALIASES[0]},
                        note=f"llama.cpp server {url} (pid {pid}, up in {up_s:.1f} s, n_threads {len(cpus)}, "
                             f"interrupt_requests {str(args.llama_interrupt_requests).lower()}): the server and the "
                             f"replicas share CPUs {{{cpu_list}}}")
                    print(gen.note, flush=True)
                for n in args.processes:
                    tag = f"{kind}-p{n}"
                    with fresh_database(args.database_url, tag, scratch) as url:
                        r = run_configuration(generator=gen, processes=n, rate=args.rate, warmup_s=args.warmup,
                                              duration_s=args.duration, retries=args.retries,
                                              retry_delay_s=args.retry_delay, database_url=url,
                                              max_new_tokens=args.max_new_tokens, cpus=cpu_list,
                                              drain_s=args.drain_s, extra_env=extra, keep_logs=args.keep_logs,
                                              pin=args.pin and n > 1)
                    results.append(r)
                    print(details(r), flush=True)
    except KeyboardInterrupt:
        print("interrupted: replicas stopped, schemas dropped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(f"max_new_tokens {args.max_new_tokens}; ack = HTTP response time of each delivery in the window "
          f"(Slack's limit 3,000 ms); answer = event sent -> its final message; load avg = mean 1-min load in the "
          f"window ({os.cpu_count()} vCPUs; the bench, the Slack emulator"
          + (", the llama.cpp server" if "llama" in args.generator else "") + " and the replicas share them)")
    print(table(results))
    for r in results:
        if not r.ok:
            failures.append(f"{r.label} x{r.processes}: duplicates {r.duplicates}, losses {r.losses}, non-200 acks "
                            f"{r.bad_acks}, apologies {r.outcomes.get('error', 0)}"
                            + "".join(f"\n{e}" for e in r.errors))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
