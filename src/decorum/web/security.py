"""ASGI guards in front of both listeners: Host allow-list, body size cap while streaming, security headers;
and ``json_body``, the one parser of every JSON request body.

They run before any route, so an oversized or misdirected request never reaches Bolt's signature check or
a JSON parser, and memory stays flat whatever a client sends (chunked bodies included). ``json_body`` then
refuses (``UsageError``: 400) what a stranger can send to make a parser or a later step fail: bytes that are
not UTF-8, text that is not JSON, nesting deeper than ``MAX_JSON_DEPTH`` (checked before parsing: no
recursion), and strings with a lone surrogate (``"\\ud800"``: valid JSON, not text), naming the field.

Example::

    app = guard(Starlette(routes=...), hosts=["localhost", "127.0.0.1"], body_limits={"/slack/": 1 << 20},
                default_body_limit=256 * 1024, console=True)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from decorum.errors import UsageError

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The console: its own script and style only, no inline code, no frames, no third-party anything.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": data})


def host_of(header: str) -> str:
    """The host name of a ``Host`` header, without the port (``[::1]:8001`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostAllowList:
    """Refuse (421) a request whose ``Host`` is not one of ``hosts`` (``"*"`` allows any): DNS rebinding."""

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.any = "*" in hosts
        self.hosts = {host_of(h) for h in hosts if h != "*"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.any:
            headers = dict(scope.get("headers") or [])
            host = host_of(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.hosts:
                logger.warning("request refused: Host not allowed path=%s", scope.get("path"))
                await _send_json(send, 421, {"error": "this server does not answer to that Host name "
                                             "(add it to DECORUM_ALLOWED_HOSTS if it is yours)"})
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Read the request body up to a limit per path prefix; past it, answer 413 without reading further.

    A ``Content-Length`` over the limit is refused before reading anything; a chunked body is counted as it
    arrives. The body read so far (at most the limit) is handed to the app as one message.
    """

    def __init__(self, app: ASGIApp, limits: dict[str, int], default: int) -> None:
        self.app = app
        self.limits = sorted(limits.items(), key=lambda kv: -len(kv[0]))
        self.default = default

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": "Content-Length is not a number"})
                return
            if size > limit:
                await self._too_large(scope, send, limit)
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                await self._too_large(scope, send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        logger.warning("request refused: body over %s bytes path=%s", limit, scope.get("path"))
        await _send_json(send, 413, {"error": f"request body is over the limit of {limit} bytes"})


class SecurityHeaders:
    """Add the common security headers to every response; the console's CSP and no-store on the admin one."""

    def __init__(self, app: ASGIApp, *, console: bool) -> None:
        self.app = app
        extra = [(b"content-security-policy", CONSOLE_CSP.encode()), (b"cache-control", b"no-store")] if console \
            else [(b"cache-control", b"no-store")]
        self.headers = [*COMMON_HEADERS, *extra]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.headers if h[0] not in have)]
            await send(message)

        await self.app(scope, receive, with_headers)


def guard(app: ASGIApp, *, hosts: list[str], body_limits: dict[str, int], default_body_limit: int,
          console: bool) -> ASGIApp:
    """``app`` behind the three guards: headers outermost, then the Host check, then the body cap."""
    return SecurityHeaders(HostAllowList(BodyLimit(app, body_limits, default_body_limit), hosts), console=console)


# -- JSON bodies --------------------------------------------------------------------------------------------------
MAX_JSON_DEPTH = 64  # arrays and objects inside each other; Decorum's own bodies need 3 or 4
# A JSON string literal, escapes included; one left unclosed runs to the end of the text. It matches from every
# quote it starts at, so the scan is linear whatever the text (a pattern that can fail after scanning to the end,
# restarted at each later quote, is quadratic: 16,000 escaped quotes took 5 s).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?\Z)')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_depth(text: str, *, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in ``text`` (brackets inside strings do not count), without parsing it;
    with ``stop_above``, counting stops once the depth passes it."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def _field_name(path: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path)) or "body"


def lone_surrogate_at(value: Any) -> list[str | int] | None:
    """The path (keys and indexes) of the first string, key or value, holding a lone surrogate; None if none."""
    todo: list[tuple[list[str | int], Any]] = [([], value)]
    while todo:
        path, v = todo.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return path
        elif isinstance(v, dict):
            for k, item in v.items():
                if _SURROGATE.search(k):
                    return [*path, k.encode("utf-8", "backslashreplace").decode("ascii")]
                todo.append(([*path, k], item))
        elif isinstance(v, list):
            todo.extend(([*path, i], item) for i, item in enumerate(v))
    return None


def parse_json(body: bytes) -> Any:
    """``body`` as JSON, or ``UsageError`` (400) saying what is wrong with it, before anything acts on it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError("request body is not valid UTF-8") from exc
    if json_depth(text, stop_above=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise UsageError(f"request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    try:
        data = json.loads(text)
    except RecursionError as exc:  # pragma: no cover - json_depth refused it already
        raise UsageError(f"request body nests more than {MAX_JSON_DEPTH} levels deep") from exc
    except ValueError as exc:
        raise UsageError(f"request body is not valid JSON ({exc})") from exc
    path = lone_surrogate_at(data)
    if path is not None:
        raise UsageError(f'"{_field_name(path)}" is not valid text: it holds a lone UTF-16 surrogate '
                         "(a \\ud800-\\udfff escape without its pair)")
    return data


async def json_body(request: Any) -> dict[str, Any]:
    """The JSON object of a Starlette request (the one reader of JSON bodies on both listeners); ``UsageError``."""
    data = parse_json(await request.body())  # at most the listener's body cap: BodyLimit stopped anything larger
    if not isinstance(data, dict):
        raise UsageError("request body must be a JSON object")
    return data
