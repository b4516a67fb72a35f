"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, OpenAI).

A LoRA adapter is requested by name as the ``model`` (how vLLM serves adapters). Answers are not streamed
from the server yet (``on_text`` is never called): they appear whole when ready.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from decorum.adapters.base import AdapterRef, Generation, GenerationRequest, ModelInfo
from decorum.errors import GenerationError

logger = logging.getLogger(__name__)


class OpenAICompatGenerator:
    """HTTP generation. Deterministic by default (temperature 0, fixed seed)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_new_tokens: int = 256,
                 timeout_s: float = 60.0, concurrency: int = 8, revision: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.info = ModelInfo(backend="openai_compat", name=model, revision=revision or f"remote:{self.base_url}",
                              engine="openai_compat")
        self._client: Any = None

    def load(self) -> None:
        import httpx

        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_s)

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        """The server holds the adapters (by name); nothing to do here."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.load()
        if len(requests) == 1:
            return [self._one(requests[0])]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, req: GenerationRequest) -> Generation:
        import httpx

        payload = {
            "model": req.adapter.name if req.adapter else self.model,
            "messages": req.messages,
            "max_tokens": req.max_new_tokens or self.max_new_tokens,
            "temperature": req.temperature or 0,
            "seed": 0,
        }
        try:
            resp = self._client.post("/chat/completions", json=payload)
        except httpx.TimeoutException as exc:
            raise GenerationError(f"{self.base_url} timed out after {self.timeout_s:g}s") from exc
        except httpx.HTTPError as exc:
            raise GenerationError(f"{self.base_url} unreachable: {exc.__class__.__name__}") from exc
        if resp.status_code != 200:
            raise GenerationError(f"{self.base_url} answered HTTP {resp.status_code}")
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GenerationError(f"{self.base_url} returned an unexpected body ({exc.__class__.__name__})") from exc
        reason = {"length": "length"}.get(choice.get("finish_reason") or "stop", "stop")
        return Generation(text=text.strip(), prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)), finish_reason=reason)  # type: ignore[arg-type]
