"""bench/replicas.py: its counting (a duplicate and a loss are caught), and a smoke run of its core with 1 and 2
real ``decorum serve`` processes on the test's database. Times are printed, never asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.slack_emulator import Call

REPO = Path(__file__).resolve().parents[1]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_replicas", REPO / "bench" / "replicas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class _Recorded:
    """What the emulator recorded, made by hand: messages as they stand and the calls that made them."""

    def __init__(self) -> None:
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return self._messages.get(channel, [])

    def answer(self, channel: str, thread: str, note: str, ts: str, *, verdict: str = "answered") -> None:
        meta = {"event_type": "decorum_answer", "event_payload": {"note_id": note, "verdict": verdict}}
        self._messages.setdefault(channel, []).append({"bot_id": "B0BOT", "ts": ts, "thread_ts": thread,
                                                       "text": "x", "metadata": meta})
        self.calls.append(Call("chat.postMessage", {"channel": channel, "ts": ts}, "t", 200, True))
        self.calls.append(Call("chat.update", {"channel": channel, "ts": ts, "metadata": meta}, "t", 200, True))


def test_tally_catches_a_duplicate_and_a_loss() -> None:
    bench = _bench()
    emu = _Recorded()
    channels = {"1.1": "C1", "1.2": "C1", "1.3": "C2", "1.4": "C2"}
    emu.answer("C1", "1.1", "note-a", "9.1")
    emu.answer("C1", "1.2", "note-b", "9.2")
    emu.answer("C1", "1.2", "note-c", "9.3")  # a second answer to the same message: a duplicate
    emu.answer("C2", "1.3", "note-d", "9.4", verdict="blocked_output")  # a refusal is a reply, not an answer
    # 1.4 was never answered; a first-contact notice (no reference) is not a reply
    emu.calls.append(Call("chat.postEphemeral", {"channel": "C2", "thread_ts": "1.4", "text": "Hi, I am an AI"},
                          "t", 200, True))
    t = bench.tally(list(channels), channels, emu)
    assert (t.duplicates, t.losses) == (1, 1)
    assert t.outcomes == {"1.1": "answered", "1.2": "answered", "1.3": "refused", "1.4": "lost"}
    assert set(t.final_at) == {"1.1", "1.2", "1.3"}
    # a private "at capacity" reply with its reference is a reply
    emu.calls.append(Call("chat.postEphemeral", {"channel": "C2", "thread_ts": "1.4",
                                                 "text": ":hourglass_flowing_sand: busy, Ref `01J`"}, "t", 200, True))
    t = bench.tally(list(channels), channels, emu)
    assert (t.duplicates, t.losses, t.outcomes["1.4"]) == (1, 0, "busy")


@pytest.mark.models
@pytest.mark.postgres  # two serve processes on one database: PostgreSQL's locking is what it checks
def test_one_and_two_serve_processes_answer_every_event_once(db_url: str, tmp_path: Path) -> None:
    """3 events each (and each event's Slack retry, sent to the other replica) on real processes and weights:
    every event answered once, no duplicate, no loss, every ack 200. Both configurations write one audit log, so
    they share its chain key (a log with records never gets a new one)."""
    bench = _bench()
    gen = bench.Generator("onnx (smoke)", {"kind": "onnx"})
    shared = {"DECORUM_AUDIT_CHAIN_KEY": str(tmp_path / "audit-chain.key")}
    results = []
    for n in (1, 2):
        r = bench.run_configuration(generator=gen, processes=n, rate=60, warmup_s=0, duration_s=3, retries=True,
                                    retry_delay_s=0.2, database_url=db_url, max_new_tokens=8, drain_s=120,
                                    quiet=True, extra_env=shared)
        results.append(r)
        assert r.measured_events == 3 and r.events == 3 + n  # + one warm-up mention per replica
        assert (r.duplicates, r.losses, r.bad_acks, r.errors) == (0, 0, 0, [])
        assert r.outcomes == {"answered": r.events}, r.outcomes
        assert r.deliveries == 6  # each event and its retry
        assert r.answered_in_window >= 1 and r.ok
    print("\n" + bench.table(results))
