"""Issue 10's bounds: bounded queues, one deadline per request, per-user rate limits, bounded templates.

Each probe of the issue is repeated here: 300 concurrent asks, a full queue, a request that waits past its
deadline, one person asking too often, the two template bombs. Fake models keep it fast.
"""

from __future__ import annotations

import asyncio
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from decorum import metrics
from decorum.bot.batching import MicroBatcher
from decorum.bot.limits import LimitsConfig, RateLimiter, rate_key
from decorum.bot.pipeline import Request, refusal_ref
from decorum.bot.runtime import Runtime
from decorum.bot.slack.dedupe import message_key
from decorum.errors import Busy, ConfigError, RateLimited, TemplateInvalid, TemplateRenderError
from decorum.prompts.base import Template
from decorum.prompts.render import RenderLimits, render_messages, render_text
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator
from tests.slack_emulator import BOT_USER, SlackEmulator, app_mention, envelope

STRING_BOMB = "{{ ('a'*10**8)|length }}"
LOOP_BOMB = "{% for i in range(2000) %}{% for j in range(2000) %}x{% endfor %}{% endfor %}"


def runtime(settings: Settings, tmp_path: Path, limits: str = "", *, generator: FakeGenerator | None = None
            ) -> Runtime:
    """A runtime with fake models and a ``limits:`` section in its YAML configuration (no semantic routing)."""
    path = tmp_path / "decorum.yaml"
    section = "".join(f"\n  {line.strip()}" for line in limits.strip().splitlines()) or " {}"
    path.write_text(f"routing: {{semantic: false}}\nlimits:{section}\n")
    return Runtime.open(Settings(config=path), classifier=FakeClassifier(), generator=generator or FakeGenerator())


def slow(seconds: float) -> FakeGenerator:
    def reply(_req: Any) -> str:
        time.sleep(seconds)
        return "Open Settings and choose Reset."

    return FakeGenerator(reply)


def web(text: str = "How do I reset my VPN password?", user: str = "alice", **kw: Any) -> Request:
    return Request(text=text, surface="web", user=user, **kw)


def notes(rt: Runtime) -> int:
    return rt.audit.count()


# --- the batcher: bounded, deadlines ---------------------------------------------------------------------


class Gate:
    """A batch function that blocks until opened, recording every item it was given."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.seen: list[str] = []

    def __call__(self, items: list[str]) -> list[str]:
        self.seen.extend(items)
        self.entered.set()
        assert self.open.wait(10)
        return [f"done {i}" for i in items]


async def _until(predicate: Any, within_s: float = 5.0) -> None:
    end = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_full_queue_refuses_at_once_and_runs_nothing() -> None:
    gate = Gate()
    batcher: MicroBatcher[str, str] = MicroBatcher(gate, max_batch=1, max_wait_s=0.001, name="t-full",
                                                   max_pending=2)
    running = asyncio.create_task(batcher.submit("a"))
    await _until(gate.entered.is_set)  # "a" is in the worker; the queue is empty again
    queued = [asyncio.create_task(batcher.submit(x)) for x in ("b", "c")]
    await _until(lambda: batcher.pending == 2)
    assert metrics.QUEUE_DEPTH.labels("t-full")._value.get() == 2
    with pytest.raises(Busy, match="queue full"):  # refused while "a" still holds the worker: it did not wait
        await batcher.submit("d")
    assert not gate.open.is_set()
    gate.open.set()
    assert await running == "done a" and [await q for q in queued] == ["done b", "done c"]
    assert gate.seen == ["a", "b", "c"]  # "d" was never run
    assert metrics.QUEUE_DEPTH.labels("t-full")._value.get() == 0


async def test_an_item_whose_deadline_passed_in_the_queue_is_not_run() -> None:
    gate = Gate()
    batcher: MicroBatcher[str, str] = MicroBatcher(gate, max_batch=1, max_wait_s=0.001, name="t-deadline")
    first = asyncio.create_task(batcher.submit("a"))
    await _until(gate.entered.is_set)
    late = asyncio.create_task(batcher.submit("late", deadline=time.monotonic() + 0.05))
    gone = asyncio.create_task(batcher.submit("gone"))  # its caller stops waiting
    fine = asyncio.create_task(batcher.submit("fine", deadline=time.monotonic() + 30))
    await asyncio.sleep(0.1)
    gone.cancel()
    gate.open.set()
    assert await first == "done a" and await fine == "done fine"
    with pytest.raises(Busy, match="deadline passed while it was queued"):
        await late
    assert gate.seen == ["a", "fine"] and batcher.dropped == 2
    with pytest.raises(Busy, match="deadline passed before it was queued"):
        await batcher.submit("too late", deadline=time.monotonic() - 1)


# --- the pipeline: 300 concurrent asks, deadline, rate limits ---------------------------------------------


async def _probe(rt: Runtime, n: int, *, trace: bool = True, gate: threading.Event | None = None,
                 open_after: int = 0) -> tuple[list[Any], int, int]:
    """``n`` concurrent asks by ``n`` people: results, peak memory (traced), peak threads.

    With ``gate`` (the generator's, shut): it opens only once ``open_after`` asks have finished, so those were
    refused without waiting for any answer (checked without a clock).
    """
    peak_threads = threading.active_count()
    done = False
    finished = 0

    async def ask(i: int) -> Any:
        nonlocal finished
        try:
            result: Any = await rt.pipeline.answer(web(f"question {i}?", user=f"u{i}"))
        except Busy as exc:
            result = exc
        finished += 1
        return result

    async def release() -> None:
        if gate is not None:
            await _until(lambda: finished >= open_after, within_s=120)
            gate.set()

    async def sample() -> None:
        nonlocal peak_threads
        while not done:
            peak_threads = max(peak_threads, threading.active_count())
            assert rt.pipeline._checks.pending <= rt.pipeline.limits.max_pending
            assert rt.pipeline._generate.pending <= rt.pipeline.limits.max_pending
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    if trace:
        tracemalloc.start()
    try:
        results, _ = await asyncio.gather(asyncio.gather(*(ask(i) for i in range(n))), release())
        peak_bytes = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        tracemalloc.stop()
        done = True
        await sampler
    return results, peak_bytes, peak_threads


async def test_300_concurrent_asks_most_are_refused_at_once_the_rest_answered(settings: Settings,
                                                                             tmp_path: Path) -> None:
    gen = FakeGenerator(gate=threading.Event())  # shut: no answer until the 292 refusals are all in
    rt = runtime(settings, tmp_path, "max_in_flight: 8\nmax_pending: 8\nasks_per_user_per_minute: null",
                 generator=gen)
    threads_before = threading.active_count()
    results, peak_bytes, peak_threads = await _probe(rt, 300, gate=gen.gate, open_after=300 - 8)
    busy = [r for r in results if isinstance(r, Busy)]
    answered = [r for r in results if not isinstance(r, BaseException) and r.verdict == "answered"]
    assert len(busy) == 300 - 8 and len(answered) == 8, [type(r).__name__ for r in results if r not in busy][:5]
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, Busy)]
    assert all("at capacity" in str(b) and refusal_ref(b) for b in busy)  # each refusal has its reference
    assert len({refusal_ref(b) for b in busy}) == len(busy)
    assert notes(rt) == 8  # a refusal before any work leaves no note
    assert len(gen.requests) == 8  # nothing refused was generated
    assert peak_bytes < 64 * 2**20
    assert peak_threads - threads_before <= 12  # two batcher threads and the default executor's, not one per ask
    assert rt.pipeline.in_flight == 0
    rt.close()


async def test_300_concurrent_asks_against_small_batching_queues(settings: Settings, tmp_path: Path) -> None:
    """No admission limit to speak of: the batchers' own bounds refuse what does not fit."""
    rt = runtime(settings, tmp_path, "max_in_flight: 1000\nmax_pending: 4\nasks_per_user_per_minute: null",
                 generator=slow(0.2))
    results, _, _ = await _probe(rt, 300, trace=False)
    raised = [r for r in results if isinstance(r, Busy)]
    answers = [r for r in results if not isinstance(r, BaseException)]
    unfinished = [a for a in answers if a.verdict == "error"]
    answered = [a for a in answers if a.verdict == "answered"]
    assert len(raised) + len(unfinished) + len(answered) == 300
    assert len(raised) + len(unfinished) >= 250 and answered
    assert all("queue full" in str(b) for b in raised)
    # refused after its input was checked: an error note saying so, and a "try again" message
    for a in unfinished:
        assert a.note["error"] == {"type": "Busy", "reason": "capacity"} and "at capacity" in a.text
    assert notes(rt) == len(answers)
    rt.close()


async def test_the_deadline_covers_the_whole_request(settings: Settings, tmp_path: Path) -> None:
    permits = threading.Semaphore(0)  # each generation waits for one permit: the model is as slow as the test says
    finished: list[str] = []

    def held(_req: Any) -> str:
        assert permits.acquire(timeout=60), "the test never let the generation finish"
        finished.append("answer")
        return "Open Settings and choose Reset."

    gen = FakeGenerator(held)
    rt = runtime(settings, tmp_path, "request_deadline_s: 0.5", generator=gen)
    answer = await rt.pipeline.answer(web())  # the deadline passes while the model is still held
    assert not finished and len(gen.requests) == 1
    assert answer.verdict == "error" and answer.note["error"] == {"type": "Busy", "reason": "deadline"}
    assert "couldn't finish your answer in time" in answer.text and answer.id in answer.text
    assert rt.audit.get(answer.id)["verdict"] == "error"
    # a request whose deadline passed while it waited elsewhere (a Slack queue) is refused, no note
    before = notes(rt)
    with pytest.raises(Busy, match="deadline") as exc:
        await rt.pipeline.answer(web(), deadline=time.monotonic() - 0.1)
    assert refusal_ref(exc.value) and notes(rt) == before
    # queued behind a slow answer: the second request's time in the generation queue counts
    permits.release()  # the first generation finishes in the worker
    await _until(lambda: finished == ["answer"])
    first = asyncio.create_task(rt.pipeline.answer(web(user="bob"), deadline=time.monotonic() + 60))
    await _until(lambda: len(gen.requests) == 2)  # bob's generation holds the worker
    second = await rt.pipeline.answer(web(user="carol"))
    assert second.verdict == "error" and second.note["error"]["reason"] == "deadline"
    permits.release()
    assert (await first).verdict == "answered"
    assert len(gen.requests) == 2  # the second one's generation never ran: it left the queue unrun
    rt.close()


async def test_one_person_is_rate_limited_while_others_still_get_through(settings: Settings,
                                                                         tmp_path: Path) -> None:
    rt = runtime(settings, tmp_path, "asks_per_user_per_minute: 2\nasks_burst: 3")
    for _ in range(3):
        assert (await rt.pipeline.answer(web(user="alice"))).verdict == "answered"
    before = notes(rt)
    with pytest.raises(RateLimited, match="too many asks") as exc:
        await rt.pipeline.answer(web(user="alice"))
    assert 25 < exc.value.retry_after_s <= 30 and refusal_ref(exc.value)  # one ask every 30 s
    assert notes(rt) == before  # refused before anything: no note
    assert (await rt.pipeline.answer(web(user="bob"))).verdict == "answered"
    for _ in range(5):  # the CLI is not rate-limited
        assert (await rt.pipeline.answer(Request(text="How do I reset my VPN password?"))).verdict == "answered"
    rt.close()


def test_token_buckets_refill_and_are_keyed_per_person() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    alice, alice_elsewhere = rate_key("slack", "U1", "T1"), rate_key("slack", "U1", "T2")
    limiter.take(alice)
    limiter.take(alice)
    with pytest.raises(RateLimited):
        limiter.take(alice)
    limiter.take(alice_elsewhere)  # the same user id in another workspace is another person
    now[0] += 1.0  # one ask a second
    limiter.take(alice)
    with pytest.raises(RateLimited):
        limiter.take(alice)
    now[0] += 60
    limiter.take("web:bob")
    assert len(limiter) == 1  # full buckets are forgotten: memory stays bounded
    assert rate_key("cli", "root") is None and rate_key("web", None) == "web:anonymous"
    unlimited = RateLimiter(per_minute=None, burst=1)
    for _ in range(100):
        unlimited.take("web:carol")
    assert len(unlimited) == 0


def test_limits_are_configured_in_yaml_and_typos_fail(settings: Settings, tmp_path: Path) -> None:
    rt = runtime(settings, tmp_path, "max_pending: 3\ntemplate_render_timeout_s: 0.2")
    assert rt.pipeline._generate.max_pending == 3 and rt.pipeline.limits.render.timeout_s == 0.2
    rt.close()
    with pytest.raises(ConfigError, match=r"limits\.max_pendng"):
        runtime(settings, tmp_path, "max_pendng: 3")
    with pytest.raises(ConfigError, match=r"limits\.max_pending"):
        runtime(settings, tmp_path, "max_pending: 0")
    assert LimitsConfig().max_pending == 64


# --- templates: both probes refused, quickly --------------------------------------------------------------


@pytest.mark.parametrize("source,match", [
    (STRING_BOMB, "larger than 100,000 characters"),
    (LOOP_BOMB, "longer than 100,000 characters"),
    # 10^8 empty iterations: seconds on any machine (4 * 10^6 rendered in 0.42 s on the 2-vCPU VM when idle)
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "took longer than 0.5 s"),
    ("{% set x %}" + LOOP_BOMB.replace("x", "x" * 100) + "{% endset %}{{ x|length }}",
     "produces more than 400,000 characters"),
    ("{{ 'a'|center(10**9) }}", "number over 100,000"),
    ("{{ '{:>999999999}'.format(1) }}", "unsafe"),
    ("{{ '%999999999d' % 1 }}", "larger than"),
    ("{{ range(100000)|join('x' * 90000) }}", "larger than"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "larger"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "took longer"),
    ("{{ 2 ** (10 ** 6) }}", "number over"),
])
def test_template_probes_are_refused_within_a_short_time(source: str, match: str) -> None:
    with pytest.raises(TemplateRenderError, match=match):  # the renderer's own limits stop it (no clock here)
        render_text(source, {"question": "q"})


def test_template_limits_are_configurable_and_ordinary_templates_still_render() -> None:
    src = ("You are {{ name }}. {% for t in topics %}{{ loop.index }}. {{ t|upper }}{{ ', ' if not loop.last else '' }}"
           "{% endfor %} {{ '%s has %d chars'|format('q', question|length) }} {{ question.strip().split()|join(' ') }}"
           " {{ (['a', 'b'] + ['c'])|join }}{{ 7 * 6 }}{{ 'x' ~ 2 ** 8 }} {{ {'k': 1}['k'] }}")
    out = render_text(src, {"name": "Decorum", "topics": ["vpn", "mail"], "question": "  reset my  vpn "})
    assert out == "You are Decorum. 1. VPN, 2. MAIL q has 16 chars reset my vpn abc42x256 1"
    with pytest.raises(TemplateRenderError, match="longer than 1,000 characters"):
        render_text("{{ question }}" * 3, {"question": "q" * 400}, RenderLimits(max_output_chars=1_000))
    assert render_text("{{ question * 2 }}", {"question": "q" * 400}, RenderLimits(max_output_chars=1_000))


@pytest.mark.parametrize("source", [STRING_BOMB, LOOP_BOMB])
def test_template_bombs_are_refused_when_saved(database: Any, source: str) -> None:
    from decorum.prompts.sql_store import SqlTemplateStore

    store = SqlTemplateStore(database)
    store.seed()
    with pytest.raises(TemplateInvalid, match="characters"):
        store.add_version(Template(name="bomb", version=0, system=source), author="mallory")
    assert "bomb" not in store.names()
    with pytest.raises(TemplateRenderError):  # and at answer time, were one stored some other way
        render_messages(Template(name="bomb", version=1, system=source), question="q")


# --- Slack: queued, at capacity, rate-limited --------------------------------------------------------------


def _ephemerals(h: Any, needle: str) -> list[dict[str, Any]]:
    return [c.args for c in h.emu.calls_to("chat.postEphemeral") if needle in c.args["text"]]


@pytest.fixture
async def slow_slack(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, db_url: str,
                     tmp_path: Path) -> AsyncIterator[Any]:
    from tests.slack_harness import running

    config = tmp_path / "limits.yaml"
    config.write_text("routing: {semantic: false}\n"
                      "limits: {asks_per_user_per_minute: 1, asks_burst: 3, max_in_flight: 1}\n")
    env = {"DECORUM_SLACK_CONCURRENCY": "1", "DECORUM_SLACK_MAX_QUEUED": "1", "DECORUM_SLACK_QUEUED_NOTICE_S": "0.3",
           "DECORUM_CONFIG": str(config)}
    async with running(emu, monkeypatch, generator=slow(1.0), env=env) as h:
        yield h


async def test_slack_queue_full_gets_the_capacity_message_and_queued_ones_are_told_then_answered(
        slow_slack: Any) -> None:
    h = slow_slack
    first = app_mention(f"<@{BOT_USER}> How do I reset my VPN password?", user="U0ALICE")
    await h.sender.event(first)
    await _until(lambda: h.generator.requests)  # answering: the only slot is taken
    second = app_mention(f"<@{BOT_USER}> And my mail password?", user="U0BOB")
    await h.sender.event(second)
    await _until(lambda: h.surface.answerer.waiting == 1)  # the only queue place is taken
    third = app_mention(f"<@{BOT_USER}> And the wifi?", user="U0CAROL")
    body = envelope(third)
    r, _ = await h.sender.event(third, body=body)
    assert r.status_code == 200
    await h.emu.wait_for(lambda e: _ephemerals(h, "at capacity"))
    [refusal] = _ephemerals(h, "at capacity")
    assert refusal["user"] == "U0CAROL" and refusal["thread_ts"] == third["ts"]
    assert "Decorum is at capacity, please try again in a minute" in refusal["text"] and "Ref `" in str(refusal)
    await h.sender.event(third, body=body, retry_num=1)  # Slack's retry of the refused event: not answered
    await h.idle()
    [queued] = _ephemerals(h, "you are queued")
    assert queued["user"] == "U0BOB" and queued["thread_ts"] == second["ts"]
    assert sorted(p["thread_ts"] for p in h.posts()) == sorted([first["ts"], second["ts"]])  # both answered
    outcomes = h.surface.answerer.outcomes
    assert outcomes["answered"] == 2 and outcomes["busy"] == 1 and outcomes["duplicate"] == 1
    assert h.surface.claims.status(message_key(third["channel"], third["ts"])) == "busy"
    assert len(h.generator.requests) == 2  # the refused question never reached the model


async def test_slack_pipeline_refusals_get_a_clear_reply(slow_slack: Any) -> None:
    h = slow_slack
    # the pipeline is at capacity (a web ask holds its one place): the Slack ask is refused, not queued
    web_ask = asyncio.create_task(h.runtime.pipeline.answer(web(user="someone")))
    await _until(lambda: h.generator.requests)
    await h.sender.event(app_mention(f"<@{BOT_USER}> How do I reset my VPN password?", user="U0ALICE"))
    await h.emu.wait_for(lambda e: _ephemerals(h, "at capacity"))
    assert (await web_ask).verdict == "answered"
    # one person asking too often (burst 3, then one a minute; the refused ask above took one)
    for i in range(3):
        await h.sender.event(app_mention(f"<@{BOT_USER}> question {i}?", user="U0ALICE"))
        await h.idle()
    await h.sender.event(app_mention(f"<@{BOT_USER}> one more?", user="U0BOB"))  # someone else: answered
    await h.idle()
    [limited] = _ephemerals(h, "asking faster than I can answer")
    assert limited["user"] == "U0ALICE" and "Reference" in limited["text"]
    assert h.surface.answerer.outcomes["rate_limited"] == 1 and h.surface.answerer.outcomes["busy"] == 1
    assert h.surface.answerer.outcomes["answered"] == 3  # two of alice's, bob's
