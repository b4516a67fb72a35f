"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp's server, Ollama, OpenAI).

A request with ``on_text`` is streamed (``stream: true``; each ``data: {...}`` event's delta goes to
``req.emit`` as it arrives, and the response is closed as soon as ``emit`` returns ``False``); one without is
a plain request. Token counts come from the server's ``usage``: streamed requests ask for it with
``stream_options: {"include_usage": true}``; a server that ignores that (llama-cpp-python 0.3) leaves
``prompt_tokens`` 0 and ``completion_tokens`` the number of content events (one token each on llama.cpp
and vLLM), and ``Generation.extra["usage"]`` says ``"counted"`` instead of ``"server"``.

Timeouts: ``connect_timeout_s`` to open a connection, ``read_timeout_s`` for each read (the first byte of a
plain answer, or the next event of a stream), and ``timeout_s`` for the whole answer, retries and their
waits included. The deadline is firm: a stream still open then is cut (its socket shut down); text already
shown is kept with finish reason ``timeout`` (as the local engines do), no text is a ``GenerationError``.

Retries (up to ``retries``, default 3) after a connection error (refused, reset, closed by the server), a
time-out, HTTP 5xx or 429, and never after text was handed to ``on_text`` (the reader would see it twice)
nor on another 4xx or a malformed body. Waits grow exponentially from ``backoff_s`` with jitter (50-100% of
``backoff_s * 2**n``), capped at ``backoff_max_s``; a ``Retry-After`` header is honoured up to the same cap; a
wait that would pass the deadline ends the answer instead. Each retry counts in
``decorum_generation_retries_total{engine, reason}`` (reason: ``connect``, ``disconnect``, ``timeout``,
``http_5xx``, ``http_429``, ``stream_error``). Log lines carry a request id, the attempt and the status or
exception class, never message text.

Repetition: the chat-completions API has no ``repetition_penalty`` or ``no_repeat_ngram_size`` (the local
engines' settings); a request carries ``frequency_penalty`` and ``presence_penalty`` when its ``Decoding`` (or
``models.generator``) sets them (not 0), and ``Generation.decoding`` says what was sent. By default none is
sent; the pipeline's one regeneration of a looping answer sends ``frequency_penalty`` 0.5 (``STRONGER``).

A LoRA adapter is requested as the ``model`` named by ``adapter_model`` (default ``"{name}@{version}"``:
``helpdesk-lora@1``, as notes and the audit log name adapters, so a server that was not given the version a
note claims answers 404 instead of running another one); vLLM serves it with
``--lora-modules helpdesk-lora@1=/srv/adapters/helpdesk-lora``. ``"{name}"`` restores bare names.

Example::

    gen = OpenAICompatGenerator("http://vllm:8000/v1", "smollm2", retries=3, backoff_s=0.5)
    gen.load()        # GET /v1/models: the served model id goes into info.revision
    [out] = gen.generate([GenerationRequest(messages=msgs, on_text=print_piece)])
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import Counter

from decorum.adapters.base import (
    DEFAULT_DECODING,
    AdapterRef,
    Decoding,
    FinishReason,
    Generation,
    GenerationRequest,
    ModelInfo,
)
from decorum.errors import GenerationError

logger = logging.getLogger(__name__)

ENGINE = "openai_compat"
RETRIES = Counter("decorum_generation_retries_total", "Generation attempts retried after a transient failure",
                  ["engine", "reason"])
MAX_BODY = 8 << 20  # a plain answer's body, or one stream line, beyond this is refused (not an answer)
MAX_ERROR_BODY = 64 << 10


class _Failure(Exception):
    """One attempt failed. ``reason`` (a retry label) when it may be retried, ``None`` when it may not."""

    def __init__(self, cause: str, reason: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.reason = reason
        self.retry_after = retry_after


@dataclass(slots=True)
class _Answer:
    """One attempt's streamed state."""

    pieces: list[str] = field(default_factory=list)
    events: int = 0
    finish: str | None = None
    usage: dict[str, Any] | None = None
    served_model: str = ""
    done: bool = False

    @property
    def emitted(self) -> bool:
        return bool(self.pieces)


class _Watchdog:
    """Cuts a response's connection at the answer's deadline (a blocked read then fails at once)."""

    def __init__(self, resp: Any, deadline: float) -> None:
        self.fired = False
        self._resp = resp
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        stream = self._resp.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), ``None`` when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_code(body: bytes) -> str:
    """The server's error ``type``/``code`` (short identifiers only: never its message, which may quote input)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return ""
    parts = [str(err[k]) for k in ("type", "code") if isinstance(err.get(k), str | int) and len(str(err[k])) <= 64]
    return f" ({', '.join(parts)})" if parts else ""


class OpenAICompatGenerator:
    """HTTP generation against an OpenAI-compatible server. Deterministic by default (temperature 0, seed 0).

    Args:
        base_url: the API root, ending in ``/v1`` (``http://vllm:8000/v1``).
        model: the base model's name on the server (``models.generator.name``).
        timeout_s: the deadline of one answer, retries and waits included.
        connect_timeout_s: to open a connection.
        read_timeout_s: for each read: a plain answer's first byte, a stream's next event.
        retries: further attempts after a transient failure (0: none).
        backoff_s: the first wait before a retry; doubled each time, with jitter, capped at ``backoff_max_s``.
        adapter_model: how an adapter is named as the ``model``: ``{name}`` and ``{version}`` are replaced.
        concurrency: answers of one batch requested at once.
        revision: the note's ``model.revision`` (default: ``remote:<base_url>``, plus the served model id
            once ``load`` has read ``GET /models``).
        decoding: the penalties against repetition a request carries unless it names its own: its
            ``frequency_penalty`` and ``presence_penalty``, sent only when not 0 (the chat-completions API has no
            ``repetition_penalty`` or ``no_repeat_ngram_size``; ``Decoding``). Default: none sent.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_new_tokens: int = 256,
                 timeout_s: float = 60.0, connect_timeout_s: float = 5.0, read_timeout_s: float = 30.0,
                 retries: int = 3, backoff_s: float = 0.5, backoff_max_s: float = 8.0,
                 adapter_model: str = "{name}@{version}", concurrency: int = 8, revision: str = "",
                 decoding: Decoding = DEFAULT_DECODING) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.adapter_model = adapter_model
        self.concurrency = concurrency
        self.decoding = decoding
        self._fixed_revision = revision
        self.info = ModelInfo(backend="openai_compat", name=model, revision=revision or f"remote:{self.base_url}",
                              engine=ENGINE)
        self.served_models: list[str] | None = None  # what GET /models listed; None: not known (yet)
        self._discovered = False
        self._client: Any = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Open the HTTP client and ask the server what it serves (``GET /models``: once, no retries; when the
        server is down then, again after the first answer)."""
        import httpx

        with self._lock:
            if self._client is not None:
                return
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            limits = httpx.Limits(max_connections=max(self.concurrency, 1) * 2,
                                  max_keepalive_connections=max(self.concurrency, 1))
            self._client = httpx.Client(base_url=self.base_url, headers=headers, limits=limits,
                                        timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s))
            self._discover()

    def _discover(self) -> None:
        """Record the served model id in ``info.revision``; a server that cannot say is not an error here."""
        import httpx

        timeout = httpx.Timeout(min(self.read_timeout_s, 10.0), connect=min(self.connect_timeout_s, 5.0))
        try:
            resp = self._client.get("/models", timeout=timeout)
        except httpx.HTTPError as exc:  # down now: asked again after the first answer
            logger.warning("openai_compat %s: GET /models failed (%s); model id unknown for now", self.base_url,
                           exc.__class__.__name__)
            return
        self._discovered = True
        if resp.status_code != 200:
            logger.info("openai_compat %s: GET /models answered HTTP %s", self.base_url, resp.status_code)
            return
        try:
            entries = resp.json()["data"]
            ids = [str(e["id"]) for e in entries]
        except (ValueError, KeyError, TypeError):
            logger.info("openai_compat %s: GET /models returned an unexpected body", self.base_url)
            return
        self.served_models = ids
        entry = next((e for e in entries if str(e["id"]) == self.model), None)
        if entry is None:
            logger.warning("openai_compat %s does not list model %r (it lists %d models)", self.base_url,
                           self.model, len(ids))
            return
        root = entry.get("root") if isinstance(entry, dict) else None
        if not self._fixed_revision:
            suffix = f" (root {root})" if isinstance(root, str) and root and root != self.model else ""
            self.info = replace(self.info, revision=f"remote:{self.base_url}#{entry['id']}{suffix}")

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        """The server holds the adapters; warn about any it does not list (llama.cpp's server would answer
        with its default model instead, vLLM with 404)."""
        self.load()
        if self.served_models is None:
            return
        for adapter in adapters:
            name = self.model_for(adapter)
            if name not in self.served_models:
                logger.warning("openai_compat %s does not list adapter model %r", self.base_url, name)

    def model_for(self, adapter: AdapterRef | None) -> str:
        """The ``model`` a request names: the base model, or the adapter as ``adapter_model`` spells it."""
        if adapter is None:
            return self.model
        return self.adapter_model.format(name=adapter.name, version=adapter.version)

    # -- generation ------------------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.load()
        if len(requests) == 1:
            return [self._one(requests[0])]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, req: GenerationRequest) -> Generation:
        deadline = time.monotonic() + self.timeout_s
        rid = uuid.uuid4().hex[:12]
        stream = req.on_text is not None
        payload: dict[str, Any] = {
            "model": self.model_for(req.adapter),
            "messages": req.messages,
            "max_tokens": req.max_new_tokens or self.max_new_tokens,
            "temperature": req.temperature or 0,
            "seed": 0,
        }
        penalties = (req.decoding or self.decoding).remote()
        payload |= penalties
        if stream:
            payload |= {"stream": True, "stream_options": {"include_usage": True}}
        attempt = 0
        while True:
            attempt += 1
            try:
                out = self._attempt(req, payload, deadline, rid, attempt)
            except _Failure as failure:
                delay = self._retry_delay(failure, attempt, deadline)
                if isinstance(delay, str):
                    logger.warning("openai_compat request %s attempt %d failed (%s); %s", rid, attempt,
                                   failure.reason or "not retryable", delay)
                    raise GenerationError(f"{self.base_url}: no answer after {_plural(attempt, 'attempt')} "
                                          f"({delay}); last cause: {failure.cause}") from failure.__cause__
                RETRIES.labels(ENGINE, failure.reason).inc()
                logger.warning("openai_compat request %s attempt %d failed (%s); retrying in %.2f s", rid, attempt,
                               failure.reason, delay)
                time.sleep(delay)
                continue
            if not self._discovered:  # the server was down at load(): it is up now
                with self._lock:
                    if not self._discovered:
                        self._discover()
            return replace(out, extra={**out.extra, "attempts": attempt, "request_id": rid}, decoding=penalties)

    def _retry_delay(self, failure: _Failure, attempt: int, deadline: float) -> float | str:
        """Seconds to wait before the next attempt, or why there is none."""
        if failure.reason is None:
            return "not retried"
        if attempt > self.retries:
            return f"{_plural(self.retries, 'retry', 'retries')} used" if self.retries else "retries: 0"
        base = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        delay = base * random.uniform(0.5, 1.0)
        if failure.retry_after is not None:
            delay = min(failure.retry_after, self.backoff_max_s)
        if time.monotonic() + delay >= deadline:
            return f"the next try would pass the {self.timeout_s:g} s deadline"
        return delay

    def _attempt(self, req: GenerationRequest, payload: dict[str, Any], deadline: float, rid: str,
                 attempt: int) -> Generation:
        import httpx

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(f"timed out: no answer within the {self.timeout_s:g} s deadline")
        read = min(self.read_timeout_s, remaining)
        timeout = httpx.Timeout(connect=min(self.connect_timeout_s, remaining), read=read, write=read,
                                pool=min(self.connect_timeout_s, remaining))
        # ``rid`` stays in our logs: an X-Request-Id header is refused by some servers (llama-cpp-python wants a UUID)
        request = self._client.build_request("POST", "/chat/completions", json=payload, timeout=timeout)
        try:
            resp = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_failure(exc, read) from exc
        watchdog = _Watchdog(resp, deadline)
        answer = _Answer()
        try:
            if resp.status_code != 200:
                raise self._status_failure(resp, rid, attempt, payload["model"])
            if "text/event-stream" in resp.headers.get("content-type", ""):
                self._read_stream(resp, req, answer, deadline)
            else:  # a plain request, or a server that answered a stream request in one piece
                self._read_plain(resp, req, answer)
        except httpx.HTTPError as exc:
            if watchdog.fired or time.monotonic() >= deadline:
                return self._at_deadline(answer, exc)
            failure = self._transport_failure(exc, read)
            if answer.emitted:
                raise _Failure(f"{failure.cause} after text was shown; a retry would show it twice") from exc
            raise failure from exc
        except _Failure as failure:
            if watchdog.fired:  # the cut connection ended the body early: that is the deadline, not the server
                return self._at_deadline(answer, failure)
            if answer.emitted and failure.reason is not None:
                raise _Failure(f"{failure.cause} after text was shown; a retry would show it twice"
                               ) from failure.__cause__
            raise
        finally:
            watchdog.cancel()
            resp.close()
        if watchdog.fired and answer.finish is None:
            return self._at_deadline(answer, None)
        return self._generation(answer)

    def _at_deadline(self, answer: _Answer, exc: Exception | None) -> Generation:
        if not answer.emitted:
            raise _Failure(f"timed out: no answer within the {self.timeout_s:g} s deadline") from exc
        answer.finish = "timeout"
        return self._generation(answer)

    def _generation(self, answer: _Answer) -> Generation:
        usage = answer.usage or {}
        counted = not usage
        try:
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0) if not counted else answer.events
        except (TypeError, ValueError) as exc:
            raise _Failure("unexpected body (usage is not numbers)") from exc
        reason: FinishReason = {"length": "length", "timeout": "timeout", "cancelled": "cancelled"}.get(
            answer.finish or "stop", "stop")  # type: ignore[assignment]
        revision = f"remote:{self.base_url}#{answer.served_model}" if answer.served_model else ""
        return Generation(text="".join(answer.pieces).strip(), prompt_tokens=prompt, completion_tokens=completion,
                          finish_reason=reason, artifact_revision=revision,
                          extra={"served_model": answer.served_model, "usage": "counted" if counted else "server"})

    # -- failures --------------------------------------------------------------------------------------------

    def _transport_failure(self, exc: Exception, read: float) -> _Failure:
        import httpx

        name = exc.__class__.__name__
        if isinstance(exc, httpx.ConnectTimeout):
            return _Failure(f"unreachable: connecting timed out after {self.connect_timeout_s:g} s", "connect")
        if isinstance(exc, httpx.ConnectError):
            return _Failure(f"unreachable ({name}: {str(exc)[:120]})", "connect")
        if isinstance(exc, httpx.TimeoutException):
            return _Failure(f"timed out: no data for {read:g} s ({name})", "timeout")
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError | httpx.CloseError):
            return _Failure(f"connection dropped ({name}: {str(exc)[:120]})", "disconnect")
        return _Failure(f"request failed ({name}: {str(exc)[:120]})")

    def _status_failure(self, resp: Any, rid: str, attempt: int, model: str) -> _Failure:
        body = b""
        try:
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_ERROR_BODY:
                    break
        except Exception:  # the status says enough
            pass
        status = resp.status_code
        logger.info("openai_compat request %s attempt %d: HTTP %s (server id %s)", rid, attempt, status,
                    resp.headers.get("x-request-id", "-")[:64])
        cause = f"HTTP {status}{_error_code(body)}"
        if status == 429:
            return _Failure(cause, "http_429", _retry_after(resp.headers.get("retry-after")))
        if status >= 500:
            return _Failure(cause, "http_5xx", _retry_after(resp.headers.get("retry-after")))
        if status == 404:
            cause += f" (does {self.base_url}/models list model {model!r}?)"
        return _Failure(cause)

    # -- bodies ----------------------------------------------------------------------------------------------

    def _read_plain(self, resp: Any, req: GenerationRequest, answer: _Answer) -> None:
        body = b""
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > MAX_BODY:
                raise _Failure(f"unexpected body (over {MAX_BODY >> 20} MiB)")
        try:
            data = json.loads(body)
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError("content is not text")
            usage = data.get("usage")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Failure(f"unexpected body ({exc.__class__.__name__})") from exc
        answer.usage = usage if isinstance(usage, dict) and usage else None
        answer.served_model = str(data.get("model") or "")[:200]
        answer.finish = choice.get("finish_reason") or "stop"
        if text:
            answer.pieces.append(text)
            answer.events = 1
            if not req.emit(text) and req.on_text is not None:  # a stream request answered in one piece
                answer.finish = "cancelled"

    def _read_stream(self, resp: Any, req: GenerationRequest, answer: _Answer, deadline: float) -> None:
        saw_event = False
        for event, data in _sse_events(resp.iter_bytes()):
            saw_event = True
            if data == "[DONE]":
                answer.done = True
                break
            try:
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    raise TypeError("event is not an object")
                if event == "error" or "error" in chunk:
                    raise _Failure(f"the server reported an error in the stream{_error_code(data.encode())}",
                                   "stream_error")
                choices = chunk.get("choices") or []
                if chunk.get("usage"):
                    answer.usage = chunk["usage"] if isinstance(chunk["usage"], dict) else None
                if chunk.get("model"):
                    answer.served_model = str(chunk["model"])[:200]
                for choice in choices[:1]:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        if not isinstance(piece, str):
                            raise TypeError("content is not text")
                        answer.pieces.append(piece)
                        answer.events += 1
                        if not req.emit(piece):
                            answer.finish = "cancelled"
                            return
                    if choice.get("finish_reason"):
                        answer.finish = choice["finish_reason"]
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                raise _Failure(f"unexpected body (a stream event that is not a chat chunk: "
                               f"{exc.__class__.__name__})") from exc
            if time.monotonic() >= deadline:
                if answer.emitted:
                    answer.finish = "timeout"
                    return
                raise _Failure(f"timed out: no answer within the {self.timeout_s:g} s deadline")
        if not saw_event:
            raise _Failure("unexpected body (an event stream without events)")
        if not answer.done and answer.finish is None:
            raise _Failure("connection dropped (the stream ended before [DONE])", "disconnect")


def _sse_events(chunks: Iterator[bytes]) -> Iterator[tuple[str, str]]:
    """``(event, data)`` of each server-sent event (``data:`` lines joined by newlines; comments skipped)."""
    buffer = b""
    event, data = "", []
    for chunk in chunks:
        buffer += chunk
        while (cut := buffer.find(b"\n")) >= 0:
            raw, buffer = buffer[:cut], buffer[cut + 1:]
            try:
                line = raw.rstrip(b"\r").decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Failure("unexpected body (a stream line that is not UTF-8)") from exc
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data = "", []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name not in ("id", "retry"):
                raise _Failure("unexpected body (a stream line that is not server-sent events)")
        if len(buffer) > MAX_BODY:
            raise _Failure(f"unexpected body (a stream line over {MAX_BODY >> 20} MiB)")
    if data:
        yield event or "message", "\n".join(data)
