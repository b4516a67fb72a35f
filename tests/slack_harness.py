"""The Slack test harness: the served public app with Slack configured, signed requests in, Web API calls out to
the local emulator (tests/slack_emulator.py). The ``emu`` and ``slack`` fixtures (tests/conftest.py) use it."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from decorum.web.app import create_apps
from tests.fakes import FakeClassifier, FakeGenerator
from tests.slack_emulator import SlackEmulator, SlackSender, app_mention, serve_app

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-emulated-bot-token"
ENCRYPTION_KEY = "sWAzhgwStpmA0wM9w8cqzbt2t4cwsFNXIsLbZ7l6W8w="  # a Fernet key, for OAuth installs
RULES = {"worthless": {"toxicity": 0.97, "insult": 0.9}, "lazy people from": {"bias": 0.93}}


@dataclass
class Harness:
    emu: SlackEmulator
    sender: SlackSender
    runtime: Runtime
    app: Any
    generator: FakeGenerator

    @property
    def surface(self) -> Any:
        return self.app.services.slack

    async def mention(self, text: str, **kw: Any) -> tuple[dict[str, Any], Any, float]:
        event = app_mention(text, **kw)
        r, elapsed = await self.sender.event(event)
        return event, r, elapsed

    async def idle(self) -> None:
        """Every job finished (answered, refused, deduplicated) and Slack calls settled."""
        assert await self.surface.answerer.wait_idle(30)
        await self.emu.settle(0.1)

    def posts(self, method: str = "chat.postMessage") -> list[dict[str, Any]]:
        return [c.args for c in self.emu.calls_to(method)]

    @contextlib.contextmanager
    def answers_held(self) -> Iterator[None]:
        """No answer can be generated inside the block: a Slack request acked in it did not wait for one
        (Slack's 3-second ack, checked without a clock; bench/slack_load.py measures the ack times)."""
        assert self.generator.gate is not None
        self.generator.gate.clear()
        try:
            yield
        finally:
            self.generator.gate.set()


@contextlib.asynccontextmanager
async def running(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch, *, generator: FakeGenerator | None = None,
                  env: dict[str, str] | None = None, before: Any = None) -> AsyncIterator[Harness]:
    """The public app of ``create_apps`` (what ``decorum serve`` runs) with Slack configured, served by uvicorn.

    Each call is one replica: its own runtime and database engine on the test's database.
    """
    for k, v in {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "DECORUM_SLACK_API_URL": emu.url,
                 **(env or {})}.items():
        if v:
            monkeypatch.setenv(k, v)
        else:
            monkeypatch.delenv(k, raising=False)
    gen = generator or FakeGenerator(gate=threading.Event())
    if gen.gate is not None:
        gen.gate.set()
    rt = Runtime.open(Settings(), classifier=FakeClassifier(RULES), generator=gen)
    if before is not None:
        before(rt)
    apps = create_apps(rt, load_models=False)
    try:
        async with serve_app(apps.public) as base:
            sender = SlackSender(base, SECRET)
            try:
                yield Harness(emu, sender, rt, apps, gen)
            finally:
                await sender.aclose()
    finally:
        rt.close()


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def button_value(blocks: list[dict[str, Any]], action_id: str) -> str:
    [value] = [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
               if e["action_id"] == action_id]
    return str(value)
