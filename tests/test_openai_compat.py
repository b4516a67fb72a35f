"""The OpenAI-compatible generator over real HTTP: a real llama.cpp server, and a fault-injecting one.

``TestRealServer`` runs llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``, see
``tests/llama_server.py``) on the packaged SmolLM2 GGUF. It skips, saying why, where no llama-cpp-python
wheel is at hand (``../shared/wheels``, or ``DECORUM_LLAMA_CPP_WHEEL`` / ``DECORUM_LLAMA_SERVER_PYTHON``).

The adapter served there is an alias, not a LoRA: the project exports adapters as PEFT safetensors, not as
GGUF LoRA files (what llama.cpp's ``lora_path`` needs), so the server serves the same base GGUF under a
second name, ``helpdesk-lora@1``. What that tests is the naming contract (an adapter is requested as the
``model`` named ``{name}@{version}``, the server lists it and answers under it), not that LoRA weights ran.

The other tests run a scripted HTTP/1.1 server on a real socket (``FaultServer``): each chat request takes
the next scripted action (an answer, a status, a dropped connection, a stream that dies, garbage, silence).
Back-offs are kept to tens of milliseconds through the generator's own settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from decorum.adapters.base import AdapterRef, GenerationRequest
from decorum.adapters.openai_compat import OpenAICompatGenerator
from decorum.adapters.registry import GeneratorConfig, build_generator
from decorum.errors import ConfigError, GenerationError
from tests import llama_server as ls

VPN = [{"role": "system", "content": "You are a helpful IT helpdesk assistant."},
       {"role": "user", "content": "How do I reset my VPN password?"}]
ADAPTER = AdapterRef(name="helpdesk-lora", version=1, path=Path("/nonexistent/helpdesk-lora"))
UNAVAILABLE = ls.unavailable_reason()  # read at collection, before the autouse fixture clears DECORUM_*


def retries(reason: str) -> float:
    return REGISTRY.get_sample_value("decorum_generation_retries_total",
                                     {"engine": "openai_compat", "reason": reason}) or 0.0


def collect() -> tuple[list[str], Callable[[str], bool]]:
    pieces: list[str] = []

    def sink(piece: str) -> bool:
        pieces.append(piece)
        return True

    return pieces, sink


# -- a scripted server ------------------------------------------------------------------------------------------

Action = Callable[[asyncio.StreamWriter, dict[str, Any]], Awaitable[None]]


async def _head(w: asyncio.StreamWriter, status: int, headers: dict[str, str] | None = None,
                content_type: str = "application/json", length: int | None = None) -> None:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    w.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await w.drain()


async def _chunk(w: asyncio.StreamWriter, data: bytes) -> None:
    w.write(b"%x\r\n%s\r\n" % (len(data), data))
    await w.drain()


def _event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {"id": "c1", "model": extra.pop("model", "m"), "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def answer(text: str = "Open Settings and choose Reset.", *, usage: bool = True) -> Action:
    """A good answer: JSON, or (for ``stream: true``) one SSE event per word, with usage when asked for."""
    async def act(w: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        words = [(" " if i else "") + word for i, word in enumerate(text.split(" "))]
        model = req.get("model", "m")
        if not req.get("stream"):
            body = json.dumps({"model": model, "choices": [{"message": {"role": "assistant", "content": text},
                                                            "finish_reason": "stop"}],
                               **({"usage": {"prompt_tokens": 7, "completion_tokens": len(words)}} if usage else {})
                               }).encode()
            await _head(w, 200, length=len(body))
            w.write(body)
            return
        await _head(w, 200, content_type="text/event-stream")
        await _chunk(w, b": ping\n\n" + _event({"role": "assistant"}, model=model))
        for word in words:
            await _chunk(w, _event({"content": word}, model=model))
        await _chunk(w, _event({}, "stop", model=model))
        if usage and (req.get("stream_options") or {}).get("include_usage"):
            body = {"id": "c1", "model": model, "choices": [],
                    "usage": {"prompt_tokens": 7, "completion_tokens": len(words)}}
            await _chunk(w, b"data: " + json.dumps(body).encode() + b"\n\n")
        await _chunk(w, b"data: [DONE]\n\n")
        w.write(b"0\r\n\r\n")
    return act


def status(code: int, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> Action:
    async def act(w: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        data = json.dumps(body or {"error": {"message": "nope", "type": "server_error"}}).encode()
        await _head(w, code, headers, length=len(data))
        w.write(data)
    return act


def drop() -> Action:
    """Close the connection without answering."""
    async def act(w: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        w.transport.abort()
    return act


def stream(pieces: list[str], *, then: str = "die", delay_s: float = 0.0) -> Action:
    """Stream ``pieces``, then ``die`` (cut the connection mid-body), ``hang`` (silence), or ``done``."""
    async def act(w: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        await _head(w, 200, content_type="text/event-stream")
        await _chunk(w, _event({"role": "assistant"}))
        for piece in pieces:
            await asyncio.sleep(delay_s)
            await _chunk(w, _event({"content": piece}))
        if then == "hang":
            await asyncio.sleep(30)
        elif then == "done":
            await _chunk(w, _event({}, "stop") + b"data: [DONE]\n\n")
            w.write(b"0\r\n\r\n")
        else:
            w.transport.abort()
    return act


def slow(seconds: float) -> Action:
    async def act(w: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        await asyncio.sleep(seconds)
        await answer()(w, req)
    return act


def raw(body: bytes, content_type: str) -> Action:
    async def act(w: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        await _head(w, 200, content_type=content_type, length=len(body))
        w.write(body)
    return act


class FaultServer:
    """HTTP/1.1 on 127.0.0.1 (``Connection: close``): ``GET /v1/models`` lists ``models``; each
    ``POST /v1/chat/completions`` runs the next action of ``script`` (then ``answer()``), recorded in ``seen``."""

    def __init__(self, port: int = 0, models: tuple[str, ...] = ("smollm2",)) -> None:
        self.port = port
        self.models = models
        self.script: list[Action] = []
        self.seen: list[tuple[float, dict[str, Any]]] = []  # (time.monotonic(), request body)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._server is not None:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await r.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
            body = await r.readexactly(int(headers.get("content-length", 0)))
            if request_line.startswith("GET /v1/models"):
                data = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})
                await _head(w, 200, length=len(data))
                w.write(data.encode())
            else:
                req = json.loads(body)
                self.seen.append((time.monotonic(), req))
                action = self.script.pop(0) if self.script else answer()
                await action(w, req)
            await w.drain()
            w.close()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            w.transport.abort()

    def gaps(self) -> list[float]:
        times = [t for t, _ in self.seen]
        return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()


def gen_for(url: str, **kw: Any) -> OpenAICompatGenerator:
    opts: dict[str, Any] = {"timeout_s": 10.0, "connect_timeout_s": 1.0, "read_timeout_s": 2.0, "retries": 3,
                            "backoff_s": 0.02, "backoff_max_s": 0.2} | kw
    return OpenAICompatGenerator(url, "smollm2", **opts)


# -- retries ----------------------------------------------------------------------------------------------------

def test_503_twice_then_an_answer_counts_two_retries(fault: FaultServer) -> None:
    fault.script = [status(503), status(503)]
    before = retries("http_5xx")
    out = gen_for(fault.url).generate([GenerationRequest(messages=VPN)])[0]
    assert out.text == "Open Settings and choose Reset." and out.extra["attempts"] == 3
    assert out.prompt_tokens == 7 and out.completion_tokens == 5 and out.extra["usage"] == "server"
    assert len(fault.seen) == 3 and retries("http_5xx") - before == 2
    first, second = fault.gaps()
    assert first >= 0.01 and second >= 0.02  # backoff 0.02 then 0.04, each 50-100% jittered


def test_connection_refused_until_the_server_comes_up(caplog: pytest.LogCaptureFixture) -> None:
    port = ls.free_port()
    late = FaultServer(port=port)
    gen = gen_for(f"http://127.0.0.1:{port}/v1", retries=6, backoff_s=0.1, backoff_max_s=0.3)
    before = retries("connect")
    gen.load()  # the server is down: no model id yet, and no error either
    assert gen.info.revision == f"remote:http://127.0.0.1:{port}/v1" and gen.served_models is None
    timer = threading.Timer(0.25, late.start)
    timer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="decorum.adapters.openai_compat"):
            out = gen.generate([GenerationRequest(messages=VPN)])[0]
        assert out.text and out.extra["attempts"] >= 2 and len(late.seen) == 1
        assert retries("connect") - before == out.extra["attempts"] - 1
        assert gen.info.revision == f"remote:http://127.0.0.1:{port}/v1#smollm2"  # asked again once it was up
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "retrying" in logged and "VPN" not in logged  # ids and causes, never message text
    finally:
        timer.join()
        late.stop()


def test_a_connection_dropped_before_any_text_is_retried(fault: FaultServer) -> None:
    fault.script = [drop(), stream([], then="die")]  # no response at all; headers and a role event, then cut
    before = retries("disconnect")
    pieces, sink = collect()
    out = gen_for(fault.url).generate([GenerationRequest(messages=VPN, on_text=sink)])[0]
    assert out.extra["attempts"] == 3 and retries("disconnect") - before == 2
    assert "".join(pieces).strip() == out.text == "Open Settings and choose Reset."  # nothing twice


def test_a_stream_that_dies_after_text_is_shown_is_not_retried(fault: FaultServer) -> None:
    fault.script = [stream(["Open ", "Settings "], then="die")]
    before = sum(retries(r) for r in ("disconnect", "timeout", "connect", "http_5xx", "http_429", "stream_error"))
    pieces, sink = collect()
    shown_twice = r"1 attempt \(not retried\).*connection dropped.*after text was shown; a retry would show it twice"
    with pytest.raises(GenerationError, match=shown_twice) as err:
        gen_for(fault.url).generate([GenerationRequest(messages=VPN, on_text=sink)])
    assert pieces == ["Open ", "Settings "] and len(fault.seen) == 1
    assert fault.url in str(err.value) and "1 attempt" in str(err.value)
    after = sum(retries(r) for r in ("disconnect", "timeout", "connect", "http_5xx", "http_429", "stream_error"))
    assert after == before


@pytest.mark.parametrize("code, match", [
    (400, r"HTTP 400 \(invalid_request_error\)"),
    (404, r"HTTP 404 .*does http://127.0.0.1:\d+/v1/models list model 'smollm2'"),
    (422, r"HTTP 422"),
])
def test_a_4xx_is_not_retried(fault: FaultServer, code: int, match: str) -> None:
    fault.script = [status(code, body={"error": {"message": "the user's secret question", "type":
                                                 "invalid_request_error"}})]
    with pytest.raises(GenerationError, match=match) as err:
        gen_for(fault.url).generate([GenerationRequest(messages=VPN)])
    message = str(err.value)
    assert len(fault.seen) == 1 and "1 attempt" in message and "not retried" in message
    assert "secret" not in message  # the server's message may quote input: only its type/code is kept


def test_a_slow_server_times_out_after_all_retries(fault: FaultServer) -> None:
    fault.script = [slow(3), slow(3), slow(3)]
    before = retries("timeout")
    t = time.monotonic()
    with pytest.raises(GenerationError, match=r"3 attempts .*2 retries used.*timed out: no data for 0\.3 s"):
        gen_for(fault.url, read_timeout_s=0.3, retries=2).generate([GenerationRequest(messages=VPN)])
    # each of the 3 attempts ended on its own 0.3 s read timeout (the message says so), none waited for the server's
    # 3 s answer (that would have been a success, not this error)
    assert time.monotonic() - t >= 0.9 and len(fault.seen) == 3 and retries("timeout") - before == 2


def test_429_retry_after_is_honoured_and_capped(fault: FaultServer) -> None:
    fault.script = [status(429, {"Retry-After": "1"}), status(429, {"Retry-After": "60"})]
    before = retries("http_429")
    out = gen_for(fault.url, backoff_s=0.01, backoff_max_s=1.5).generate([GenerationRequest(messages=VPN)])[0]
    first, second = fault.gaps()
    assert out.text and retries("http_429") - before == 2
    assert 0.95 <= first < 10  # as asked (the backoff alone would be 0.01 s)
    assert 1.45 <= second < 10  # asked for 60 s: capped at backoff_max_s (1.5 s)


def test_a_wait_past_the_deadline_ends_the_answer_at_once(fault: FaultServer) -> None:
    fault.script = [status(503, {"Retry-After": "5"})]
    t = time.monotonic()
    with pytest.raises(GenerationError, match=r"next try would pass the 1 s deadline.*HTTP 503"):
        gen_for(fault.url, timeout_s=1, backoff_max_s=10).generate([GenerationRequest(messages=VPN)])
    assert time.monotonic() - t < 4.0 and len(fault.seen) == 1  # not the 5 s asked for


@pytest.mark.parametrize("action, streamed", [
    (raw(b"<html>bad gateway</html>", "text/html"), False),
    (raw(b'{"choices": []}', "application/json"), False),
    (raw(b'data: {"choices": [{"delta": {"content": "Hi"\n\n', "text/event-stream"), True),
    (raw(b"<html>\n<body>not events</body>\n", "text/event-stream"), True),
    (raw(b'data: ["a list"]\n\n', "text/event-stream"), True),
])
def test_malformed_bodies_are_a_clear_error_without_retry(fault: FaultServer, action: Action, streamed: bool) -> None:
    fault.script = [action]
    _, sink = collect()
    with pytest.raises(GenerationError, match=r"unexpected body.*|.*unexpected body"):
        gen_for(fault.url).generate([GenerationRequest(messages=VPN, on_text=sink if streamed else None)])
    assert len(fault.seen) == 1


# -- streaming and deadlines ------------------------------------------------------------------------------------

def test_streamed_and_plain_requests(fault: FaultServer) -> None:
    gen = gen_for(fault.url)
    pieces, sink = collect()
    streamed, plain = gen.generate([GenerationRequest(messages=VPN, on_text=sink), GenerationRequest(messages=VPN)])
    (_, s_req), (_, p_req) = sorted(fault.seen, key=lambda s: "stream" not in s[1])
    assert s_req["stream"] is True and s_req["stream_options"] == {"include_usage": True}
    assert "stream" not in p_req and p_req["temperature"] == 0 and p_req["seed"] == 0
    assert "".join(pieces) == "Open Settings and choose Reset." == streamed.text == plain.text
    assert streamed.completion_tokens == 5 and streamed.prompt_tokens == 7 and streamed.extra["usage"] == "server"


def test_a_server_without_stream_usage_is_counted(fault: FaultServer) -> None:
    fault.script = [answer("One two three.", usage=False)]
    pieces, sink = collect()
    out = gen_for(fault.url).generate([GenerationRequest(messages=VPN, on_text=sink)])[0]
    assert out.extra["usage"] == "counted" and out.completion_tokens == len(pieces) == 3 and out.prompt_tokens == 0


def test_a_false_from_the_sink_stops_reading(fault: FaultServer) -> None:
    fault.script = [stream([f"w{i} " for i in range(100)], then="done", delay_s=0.05)]
    pieces: list[str] = []
    t = time.monotonic()
    out = gen_for(fault.url).generate([GenerationRequest(messages=VPN,
                                                         on_text=lambda p: pieces.append(p) or len(pieces) < 3)])[0]
    assert out.finish_reason == "cancelled" and out.text == "w0 w1 w2" and pieces == ["w0 ", "w1 ", "w2 "]
    assert time.monotonic() - t < 3.5  # not the 5 s the whole stream takes


def test_the_deadline_cuts_a_silent_stream_and_keeps_what_was_shown(fault: FaultServer) -> None:
    fault.script = [stream(["Open ", "Settings ", "now"], then="hang", delay_s=0.4)]
    pieces, sink = collect()
    t = time.monotonic()
    out = gen_for(fault.url, timeout_s=1.5, read_timeout_s=6.0).generate([GenerationRequest(messages=VPN,
                                                                                           on_text=sink)])[0]
    assert out.finish_reason == "timeout" and out.text == "Open Settings now" and len(pieces) == 3
    # The last read began at ~1.2 s: its own timeout (6 s) would end it at ~7.2 s; the deadline cuts it at 1.5.
    assert 1.45 <= time.monotonic() - t < 6.0


def test_the_deadline_without_any_text_is_an_error(fault: FaultServer) -> None:
    fault.script = [stream([], then="hang")]
    _, sink = collect()
    t = time.monotonic()
    with pytest.raises(GenerationError, match=r"timed out: no answer within the 0\.5 s deadline"):
        gen_for(fault.url, timeout_s=0.5, read_timeout_s=5).generate([GenerationRequest(messages=VPN, on_text=sink)])
    assert 0.45 <= time.monotonic() - t < 4.5 and len(fault.seen) == 1  # not the 5 s read timeout


# -- naming and the note ----------------------------------------------------------------------------------------

def test_an_adapter_is_requested_as_name_at_version(fault: FaultServer, caplog: pytest.LogCaptureFixture) -> None:
    fault.models = ("smollm2", "helpdesk-lora@1")
    gen = gen_for(fault.url)
    gen.load()
    assert gen.info.revision == f"{'remote:' + fault.url}#smollm2" and gen.info.engine == "openai_compat"
    base, tuned = gen.generate([GenerationRequest(messages=VPN), GenerationRequest(messages=VPN, adapter=ADAPTER)])
    assert sorted(req["model"] for _, req in fault.seen) == ["helpdesk-lora@1", "smollm2"]
    assert tuned.extra["served_model"] == "helpdesk-lora@1"
    assert tuned.artifact_revision == f"remote:{fault.url}#helpdesk-lora@1"
    assert base.artifact_revision == f"remote:{fault.url}#smollm2"
    with caplog.at_level(logging.WARNING, logger="decorum.adapters.openai_compat"):
        gen.prepare([ADAPTER])
        assert not caplog.records
        gen.prepare([AdapterRef(name="helpdesk-lora", version=2, path=ADAPTER.path)])
    assert "does not list adapter model 'helpdesk-lora@2'" in caplog.text
    bare = gen_for(fault.url, adapter_model="{name}")
    bare.generate([GenerationRequest(messages=VPN, adapter=ADAPTER)])
    assert fault.seen[-1][1]["model"] == "helpdesk-lora"


def test_config_reaches_the_generator_and_bad_settings_are_config_errors(tmp_path: Path) -> None:
    gen = build_generator(GeneratorConfig(kind="openai_compat", base_url="http://h:1/v1", retries=0, backoff_s=0.1,
                                          connect_timeout_s=2, read_timeout_s=9, adapter_model="{name}:{version}"),
                          tmp_path)
    assert isinstance(gen, OpenAICompatGenerator)
    assert (gen.retries, gen.backoff_s, gen.connect_timeout_s, gen.read_timeout_s) == (0, 0.1, 2, 9)
    assert gen.model_for(ADAPTER) == "helpdesk-lora:1" and gen.model_for(None) == "smollm2-135m-instruct"
    defaults = GeneratorConfig()
    assert (defaults.retries, defaults.backoff_s, defaults.backoff_max_s, defaults.connect_timeout_s,
            defaults.read_timeout_s, defaults.timeout_s, defaults.adapter_model) == (3, 0.5, 8, 5, 30, 60,
                                                                                      "{name}@{version}")
    with pytest.raises(ConfigError, match="base_url is required"):
        build_generator(GeneratorConfig(kind="openai_compat"), tmp_path)

    from decorum.bot.config import load_config
    from decorum.settings import Settings

    for body, match in [("retries: -1", "models.generator.retries"), ("retries: 11", "models.generator.retries"),
                        ("backoff_s: -0.5", "models.generator.backoff_s"),
                        ("connect_timeout_s: 0", "models.generator.connect_timeout_s"),
                        ("base_url: 'vllm:8000/v1'", "models.generator.base_url: Value error, must start with"),
                        ("adapter_model: '{nam}'", "models.generator.adapter_model"),
                        ("adapter_model: fixed", "must contain {name}"), ("retrys: 2", "models.generator.retrys")]:
        path = tmp_path / "decorum.yaml"
        path.write_text(f"models:\n  generator: {{kind: openai_compat, base_url: 'http://h:1/v1', {body}}}\n"
                        if "base_url" not in body else f"models:\n  generator: {{kind: openai_compat, {body}}}\n")
        with pytest.raises(ConfigError, match=match.replace("{", r"\{").replace("}", r"\}")):
            load_config(Settings(config=path))


# -- a real server ----------------------------------------------------------------------------------------------

BASE = ls.BASE_ALIAS
LORA = "helpdesk-lora@1"


@pytest.fixture(scope="module")
def llama(request: pytest.FixtureRequest) -> Iterator[ls.LlamaServer]:
    if UNAVAILABLE:
        pytest.skip(UNAVAILABLE)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        ls.ensure_python()  # its progress line shows even under capture (the first run installs: ~25 s)
    with ls.llama_server(aliases=(BASE, LORA)) as server:
        yield server


@pytest.mark.models
class TestRealServer:
    def test_plain_answer_with_token_counts(self, llama: ls.LlamaServer) -> None:
        gen = OpenAICompatGenerator(llama.base_url, BASE, timeout_s=60)
        gen.load()
        assert gen.info.revision == f"remote:{llama.base_url}#{BASE}" and gen.served_models == [BASE, LORA]
        out = gen.generate([GenerationRequest(messages=VPN, max_new_tokens=24)])[0]
        assert out.text and out.prompt_tokens > 10 and 1 <= out.completion_tokens <= 24
        assert out.finish_reason in ("stop", "length") and out.extra == {
            "served_model": BASE, "usage": "server", "attempts": 1, "request_id": out.extra["request_id"]}

    def test_streamed_pieces_join_to_the_answer(self, llama: ls.LlamaServer) -> None:
        gen = OpenAICompatGenerator(llama.base_url, BASE, timeout_s=60)
        pieces, sink = collect()
        plain, streamed = gen.generate([GenerationRequest(messages=VPN, max_new_tokens=24)]), \
            gen.generate([GenerationRequest(messages=VPN, max_new_tokens=24, on_text=sink)])
        assert len(pieces) > 3 and "".join(pieces).strip() == streamed[0].text == plain[0].text  # greedy: the same
        # llama-cpp-python sends no usage on streams: the content events are counted (one token each)
        assert streamed[0].extra["usage"] == "counted" and streamed[0].completion_tokens == len(pieces)

    def test_an_adapter_name_is_sent_as_the_model_and_served(self, llama: ls.LlamaServer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
        gen = OpenAICompatGenerator(llama.base_url, BASE, timeout_s=60)
        with caplog.at_level(logging.WARNING, logger="decorum.adapters.openai_compat"):
            gen.prepare([ADAPTER])
        assert not caplog.records  # the server lists helpdesk-lora@1
        pieces, sink = collect()
        out = gen.generate([GenerationRequest(messages=VPN, max_new_tokens=16, adapter=ADAPTER, on_text=sink)])[0]
        assert out.text and out.extra["served_model"] == LORA and "".join(pieces).strip() == out.text
        assert out.artifact_revision == f"remote:{llama.base_url}#{LORA}"

    def test_a_false_from_the_sink_stops_the_answer(self, llama: ls.LlamaServer) -> None:
        gen = OpenAICompatGenerator(llama.base_url, BASE, timeout_s=60)
        pieces: list[str] = []
        out = gen.generate([GenerationRequest(messages=VPN, max_new_tokens=64,
                                              on_text=lambda p: pieces.append(p) or len(pieces) < 3)])[0]
        assert out.finish_reason == "cancelled" and len(pieces) == 3 and out.text == "".join(pieces).strip()
        again = gen.generate([GenerationRequest(messages=VPN, max_new_tokens=8)])[0]  # the server is fine after
        assert again.text

    def test_an_answer_through_the_whole_pipeline(self, llama: ls.LlamaServer, db_url: str, tmp_path: Path) -> None:
        from decorum.bot.pipeline import Request
        from decorum.bot.runtime import Runtime
        from decorum.settings import Settings
        from tests.fakes import FakeClassifier

        cfg = tmp_path / "decorum.yaml"
        cfg.write_text(f"models:\n  generator: {{kind: openai_compat, base_url: '{llama.base_url}', name: {BASE}, "
                       f"max_new_tokens: 48, retries: 1}}\n")
        rt = Runtime.open(Settings(config=cfg), classifier=FakeClassifier())
        shown: list[str] = []

        class Shown:
            async def show(self, text: str) -> None:
                shown.append(text)

            async def retract(self) -> None:
                shown.append("<retracted>")

        t = time.perf_counter()
        general = asyncio.run(rt.pipeline.answer(Request(text="Suggest an agenda for our team offsite"), Shown()))
        elapsed = time.perf_counter() - t
        note = general.note
        assert note["verdict"] == "answered" and general.text, note
        assert note["route"]["strategy"] == "prompt_engineering" and "adapter" not in note["model"]
        assert note["model"]["engine"] == "openai_compat" and note["model"]["backend"] == "openai_compat"
        assert note["model"]["name"] == BASE and note["model"]["revision"] == f"remote:{llama.base_url}#{BASE}"
        assert note["model"]["artifact_revision"] == f"remote:{llama.base_url}#{BASE}"
        assert note["tokens"]["completion"] > 0 and note["latency_ms"]["generate"] > 0
        assert all(general.text.startswith(s.strip()) for s in shown if s != "<retracted>")
        assert rt.audit.get(note["id"])["model"]["engine"] == "openai_compat"
        # The helpdesk domain routes to the shipped helpdesk-lora v1: requested (and served) as helpdesk-lora@1.
        tuned = asyncio.run(rt.pipeline.answer(Request(text="How do I reset my VPN password?"))).note
        assert tuned["verdict"] in ("answered", "blocked_output") and tuned["route"]["strategy"] == "fine_tuned"
        assert tuned["model"]["adapter"]["name"] == "helpdesk-lora" and tuned["model"]["adapter"]["version"] == 1
        assert tuned["model"]["artifact_revision"] == f"remote:{llama.base_url}#{LORA}"
        print(f"\nreal server: up in {llama.started_s:.2f} s; first pipeline answer {elapsed:.2f} s, of which "
              f"generate {note['latency_ms']['generate']} ms ({note['tokens']['completion']} tokens, "
              f"{os.cpu_count()} CPUs); the adapter's answer: generate {tuned['latency_ms']['generate']} ms")
