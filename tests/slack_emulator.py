"""Slack, emulated on 127.0.0.1: the Web API the app calls, and the signed requests Slack sends it.

``SlackEmulator`` is a real aiohttp server in its own thread. It answers the Web API methods Decorum uses
with Slack's documented response shapes, records every call (method, arguments, token), keeps the
messages posted so ``conversations.replies`` returns them, checks Block Kit limits as Slack does
(``invalid_blocks``, ``msg_blocks_too_long``), can answer the next calls with 429 + ``Retry-After`` or
500, serves ``response_url`` posts, and runs a Socket Mode WebSocket.

It also keeps the views put up with ``views.open``/``push``/``update``/``publish`` (checked against Block
Kit's limits for modals and Home: input blocks, selects, titles, ``private_metadata``).

``SlackSender`` signs requests with the v0 HMAC scheme (``slack_sdk.signature.SignatureVerifier``
accepts them) and posts events, slash commands, block actions and view submissions shaped like Slack's
(``view_action``, ``view_submission``: a view's inputs filled as a person would).

Example::

    with SlackEmulator() as emu:
        sender = SlackSender(app_url, "secret")
        r = await sender.event(app_mention("<@U0BOT> hi", ts=new_ts()))
        await emu.wait_for(lambda e: e.calls_to("chat.postMessage"))
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import WSMsgType, web

BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
TEAM = "T0EMU"
APP_ID = "A0EMU"
_ts_counter = itertools.count(1)
_JSON_ARGS = ("blocks", "metadata", "view", "prompts", "attachments")


def new_ts() -> str:
    """A fresh, increasing Slack message timestamp (``1700000000.000123``)."""
    n = next(_ts_counter)
    return f"{int(time.time())}.{n % 1_000_000:06d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class Call:
    """One Web API call as the emulator received it."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int  # HTTP status
    ok: bool  # Slack's "ok"
    at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: int
    method: str | None


def _text_len(obj: Any) -> int:
    if isinstance(obj, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_len(v) for k, v in obj.items())
    if isinstance(obj, list):
        return sum(_text_len(v) for v in obj)
    return 0


def block_error(blocks: Any, *, max_blocks: int = 50, in_view: bool = False) -> str | None:
    """Slack's error for a message's (``in_view``: a modal's or Home's) blocks, or None when Slack takes them."""
    if not isinstance(blocks, list) or len(blocks) > max_blocks:
        return "invalid_blocks"
    for b in blocks:
        kind = b.get("type")
        if kind == "section":
            text = (b.get("text") or {}).get("text", "")
            fields = b.get("fields") or []
            if len(text) > 3000 or len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return "invalid_blocks"
            if not text and not fields:
                return "invalid_blocks"
        elif kind == "context":
            if not 1 <= len(b.get("elements") or []) <= 10:
                return "invalid_blocks"
        elif kind == "actions":
            ids = [e.get("action_id") for e in b.get("elements") or []]
            if not 1 <= len(ids) <= 25 or len(set(ids)) != len(ids):
                return "invalid_blocks"
            if any(len(str(e.get("value", ""))) > 2000 or len(str(e.get("action_id"))) > 255
                   for e in b.get("elements") or []):
                return "invalid_blocks"
        elif kind == "header":
            if len((b.get("text") or {}).get("text", "")) > 150:
                return "invalid_blocks"
        elif kind == "input":
            if not in_view or input_error(b):
                return "invalid_blocks"
        elif kind not in ("divider", "markdown", "rich_text", "image"):
            return "invalid_blocks"
        if kind in ("section", "input", "actions", "context", "header") and any(
                element_error(e) for e in _elements(b)):
            return "invalid_blocks"
    ids = [b["block_id"] for b in blocks if b.get("block_id")]
    if len(set(ids)) != len(ids) or any(len(str(i)) > 255 for i in ids):
        return "invalid_blocks"
    if _text_len(blocks) > 13_000:
        return "msg_blocks_too_long"
    return None


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The interactive elements of a block: an input's element, a section's accessory, an actions block's."""
    if block.get("type") == "input":
        return [block.get("element") or {}]
    if block.get("type") == "section" and block.get("accessory"):
        return [block["accessory"]]
    if block.get("type") == "actions":
        return list(block.get("elements") or [])
    return []


def _plain(obj: Any, limit: int) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "plain_text" and 0 < len(str(obj.get("text", ""))) <= limit


def _option_error(opt: Any) -> bool:
    return not (isinstance(opt, dict) and _plain(opt.get("text"), 75) and 0 < len(str(opt.get("value", ""))) <= 150)


def element_error(e: dict[str, Any]) -> bool:
    """True when Slack would refuse this element (the limits of Block Kit's element reference)."""
    kind = e.get("type")
    if len(str(e.get("action_id", ""))) > 255:
        return True
    if kind == "button":
        return not _plain(e.get("text"), 75) or len(str(e.get("value", ""))) > 2000
    if kind == "plain_text_input":
        top = e.get("max_length", 3000)
        initial = e.get("initial_value")
        return not 1 <= top <= 3000 or (initial is not None and len(str(initial)) > top)
    if kind in ("static_select", "radio_buttons", "checkboxes"):
        options = e.get("options") or []
        most = 100 if kind == "static_select" else 10
        if not 1 <= len(options) <= most or any(_option_error(o) for o in options):
            return True
        values = [o["value"] for o in options]
        initial = [e["initial_option"]] if e.get("initial_option") else list(e.get("initial_options") or [])
        return any(not isinstance(o, dict) or o.get("value") not in values for o in initial)
    return kind not in ("image", "overflow", "datepicker", "users_select", "conversations_select",
                        "channels_select", "mrkdwn", "plain_text")


def input_error(block: dict[str, Any]) -> bool:
    """True when Slack would refuse this input block: a plain-text label and one input element."""
    element = block.get("element") or {}
    return not _plain(block.get("label"), 2000) or element.get("type") not in (
        "plain_text_input", "static_select", "checkboxes", "radio_buttons", "datepicker", "users_select")


def view_error(view: Any) -> str | None:
    """Slack's error for a ``view`` argument (``views.open``/``push``/``update``/``publish``), or None."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return "invalid_arguments"
    blocks = view.get("blocks")
    if block_error(blocks, max_blocks=100, in_view=True) not in (None, "msg_blocks_too_long"):
        return "invalid_arguments"
    if len(str(view.get("private_metadata", ""))) > 3000 or len(str(view.get("callback_id", ""))) > 255:
        return "invalid_arguments"
    if view["type"] == "modal":
        if not _plain(view.get("title"), 24):
            return "invalid_arguments"
        if any(k in view and not _plain(view[k], 24) for k in ("submit", "close")):
            return "invalid_arguments"
        if any(b.get("type") == "input" for b in blocks) and "submit" not in view:
            return "invalid_arguments"  # "submit is required when an input block is within the blocks array"
    return None


class SlackEmulator:
    """A local Slack Web API (``url``) that records calls. Use as a context manager."""

    def __init__(self, *, team: str = TEAM, bot_user: str = BOT_USER, bot_id: str = BOT_ID) -> None:
        self.team, self.bot_user, self.bot_id = team, bot_user, bot_id
        self.workspace_admins: set[str] = set()  # user ids users.info reports as workspace admins
        self.port = free_port()
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._delays: list[tuple[str, float]] = []  # (method, seconds): the next call of method answers late
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._views: dict[str, dict[str, Any]] = {}  # view id -> the view as last opened, updated or published
        self._homes: dict[str, dict[str, Any]] = {}  # user id -> App Home as last published
        self._opened: list[dict[str, Any]] = []
        self.tokens: dict[str, dict[str, str]] = {}  # token -> auth.test identity; unknown xoxb- = default team
        self.errors: dict[str, str] = {}  # method -> Slack error code it always answers (``ok: false``)
        self.revoked: set[str] = set()
        self.oauth_codes: dict[str, dict[str, Any]] = {}
        self.socket_acks: dict[str, float] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event  # made in the emulator's own loop

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL (``DECORUM_SLACK_API_URL``)."""
        return f"{self.base}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.base}/response/{name}"

    def start(self) -> SlackEmulator:
        self._thread = threading.Thread(target=self._serve, name="slack-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("slack emulator did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                fut.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        self._stopping.set()
        await asyncio.sleep(0)  # delayed answers finish first
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- recording and control -------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def fail_next(self, n: int = 1, *, status: int = 429, retry_after: int = 1, method: str | None = None) -> None:
        """Answer the next ``n`` calls (of ``method``, or any) with ``status`` (429 with ``Retry-After``)."""
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, method) for _ in range(n))

    def delay_next(self, method: str, seconds: float) -> None:
        """Answer the next call of ``method`` only after ``seconds`` (a slow Slack, or a caller stuck mid-answer)."""
        with self._lock:
            self._delays.append((method, seconds))

    def add_message(self, channel: str, text: str, *, user: str = "U0ALICE", ts: str | None = None,
                    thread_ts: str | None = None, **extra: Any) -> str:
        """A message that exists in Slack (for ``conversations.replies``); returns its ts."""
        ts = ts or new_ts()
        msg = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        with self._lock:
            self._messages.setdefault(channel, []).append(msg)
        return ts

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages.get(channel, []))

    async def wait_for(self, predicate: Callable[[SlackEmulator], Any], within_s: float = 10.0) -> Any:
        """Poll (without blocking the caller's event loop) until ``predicate(self)`` is truthy."""
        deadline = time.monotonic() + within_s
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within_s}s; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    async def settle(self, quiet_s: float = 0.3, within_s: float = 10.0) -> None:
        """Wait until no call has arrived for ``quiet_s`` (the app has finished talking)."""
        deadline = time.monotonic() + within_s
        count = -1
        while time.monotonic() < deadline:
            now = len(self.calls)
            if now == count:
                return
            count = now
            await asyncio.sleep(quiet_s)

    # --- Web API ---------------------------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        body = await request.read()
        ctype = request.headers.get("content-type", "")
        if body:
            if "json" in ctype:
                args.update(json.loads(body))
            else:
                args.update(dict(parse_qsl(body.decode())))
        for key in _JSON_ARGS:
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            for i, f in enumerate(self._failures):
                if f.method in (None, method):
                    return self._failures.pop(i)
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else args.get("token")
        with self._lock:
            delay = next((d for d in self._delays if d[0] == method), None)
            if delay is not None:
                self._delays.remove(delay)
        if delay is not None:  # ends early when the emulator stops (no handler left pending)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay[1])
        failure = self._take_failure(method)
        if failure is not None:
            self._record(Call(method, args, token, failure.status, False))
            if failure.status == 429:
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": str(failure.retry_after)})
            return web.Response(status=failure.status, text="emulated server error")
        body = self._answer(method, args, token)
        self._record(Call(method, args, token, 200, bool(body.get("ok"))))
        return web.json_response(body)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _identity(self, token: str | None) -> dict[str, str] | None:
        if not token or token in self.revoked:
            return None
        if token in self.tokens:
            return self.tokens[token]
        if token.startswith(("xoxb-", "xapp-")):
            return {"team_id": self.team, "user_id": self.bot_user, "bot_id": self.bot_id}
        return None

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "oauth.v2.access":
            grant = self.oauth_codes.pop(str(args.get("code")), None)
            return {"ok": True, **grant} if grant else {"ok": False, "error": "invalid_code"}
        who = self._identity(token)
        if who is None:
            return {"ok": False, "error": "invalid_auth"}
        if method in self.errors:
            return {"ok": False, "error": self.errors[method]}
        if method == "auth.test":
            return {"ok": True, "url": "https://emulated.slack.com/", "team": "Emulated", "user": "decorum",
                    "team_id": who["team_id"], "user_id": who["user_id"], "bot_id": who["bot_id"],
                    "is_enterprise_install": False}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            return self._post(method, args, who)
        if method in ("views.open", "views.publish", "views.push", "views.update"):
            return self._view(method, args)
        if method == "conversations.replies":
            channel, ts = str(args.get("channel")), str(args.get("ts"))
            msgs = [m for m in self.messages(channel) if m["ts"] == ts or m.get("thread_ts") == ts]
            msgs.sort(key=lambda m: float(m["ts"]))
            if str(args.get("include_all_metadata")).lower() not in ("1", "true"):
                msgs = [{k: v for k, v in m.items() if k != "metadata"} for m in msgs]
            return {"ok": True, "messages": msgs, "has_more": False}
        if method in ("reactions.add", "reactions.remove"):
            missing = [k for k in ("channel", "timestamp", "name") if not args.get(k)]
            return {"ok": not missing, **({"error": "invalid_arguments"} if missing else {})}
        if method.startswith("assistant.threads."):
            missing = [k for k in ("channel_id", "thread_ts") if not args.get(k)]
            return {"ok": not missing, **({"error": "invalid_arguments"} if missing else {})}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if method == "users.info":
            return {"ok": True, "user": {"id": args.get("user"), "team_id": who["team_id"], "is_bot": False,
                                         "is_admin": args.get("user") in self.workspace_admins}}
        return {"ok": False, "error": "unknown_method"}

    def _post(self, method: str, args: dict[str, Any], who: dict[str, str]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel or not (args.get("text") or args.get("blocks")):
            return {"ok": False, "error": "no_text" if channel else "channel_not_found"}
        if method == "chat.postEphemeral" and not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        if "blocks" in args:
            error = block_error(args["blocks"])
            if error:
                return {"ok": False, "error": error}
        if len(str(args.get("text") or "")) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        if method == "chat.update":
            return self._update(str(channel), args)
        ts = new_ts()
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        msg = {"type": "message", "user": who["user_id"], "bot_id": who["bot_id"], "text": args.get("text", ""),
               "ts": ts, "blocks": args.get("blocks")}
        if args.get("thread_ts"):
            msg["thread_ts"] = args["thread_ts"]
        if args.get("metadata"):
            msg["metadata"] = args["metadata"]
        if method == "chat.postMessage":
            with self._lock:
                self._messages.setdefault(str(channel), []).append(msg)
        return {"ok": True, "channel": channel, "ts": args.get("ts", ts), "message": msg}

    def _update(self, channel: str, args: dict[str, Any]) -> dict[str, Any]:
        """``chat.update``: the message with ``ts`` in ``channel`` gets the new text, blocks and metadata."""
        with self._lock:
            msg = next((m for m in self._messages.get(channel, []) if m["ts"] == args.get("ts")), None)
            if msg is None:
                return {"ok": False, "error": "message_not_found"}
            msg.update(text=args.get("text", ""), blocks=args.get("blocks"))
            if args.get("metadata"):
                msg["metadata"] = args["metadata"]
            return {"ok": True, "channel": channel, "ts": msg["ts"], "message": dict(msg)}

    def posted(self, channel: str, ts: str) -> dict[str, Any] | None:
        """A posted message as it stands now (after any ``chat.update``)."""
        return next((dict(m) for m in self.messages(channel) if m["ts"] == ts), None)

    def _view(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if method in ("views.open", "views.push") and not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        if method == "views.publish" and not args.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if method == "views.update" and not (args.get("view_id") or args.get("external_id")):
            return {"ok": False, "error": "invalid_arguments"}
        error = view_error(view)
        if error:
            return {"ok": False, "error": error}
        assert isinstance(view, dict)
        with self._lock:
            if method == "views.update":
                view_id = str(args.get("view_id") or "")
                if view_id not in self._views:
                    return {"ok": False, "error": "not_found"}
            else:
                view_id = "V" + uuid.uuid4().hex[:10].upper()
            stored = {**view, "id": view_id, "hash": uuid.uuid4().hex[:16]}
            self._views[view_id] = stored
            if method == "views.publish":
                self._homes[str(args["user_id"])] = stored
            elif method in ("views.open", "views.push"):
                self._opened.append(stored)
        return {"ok": True, "view": stored}

    def view(self, view_id: str) -> dict[str, Any] | None:
        """A view opened, pushed, updated or published, as it stands now (``views.update`` replaces it)."""
        with self._lock:
            return self._views.get(view_id)

    def home(self, user: str) -> dict[str, Any] | None:
        """The App Home last published for ``user`` (with its ``id``)."""
        with self._lock:
            return self._homes.get(user)

    @property
    def opened(self) -> list[dict[str, Any]]:
        """Every modal opened or pushed, in order, as opened (with its ``id``; see ``view`` for updates)."""
        with self._lock:
            return list(self._opened)

    async def _response_url(self, request: web.Request) -> web.Response:
        args = json.loads(await request.read() or b"{}")
        self._record(Call("response_url", {**args, "_name": request.match_info["name"]}, None, 200, True))
        return web.Response(text="ok")

    # --- Socket Mode -----------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID},
                            "debug_info": {"host": "emulator"}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data.get("envelope_id"):
                    self.socket_acks[data["envelope_id"]] = time.monotonic()
        self._sockets.remove(ws)
        return ws

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    def socket_send(self, payload: dict[str, Any], *, kind: str = "events_api") -> str:
        """Send one Socket Mode envelope to the connected app; returns its ``envelope_id``."""
        if self._loop is None or not self._sockets:
            raise RuntimeError("no Socket Mode connection")
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": kind,
                    "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": ""}
        asyncio.run_coroutine_threadsafe(self._sockets[-1].send_json(envelope), self._loop).result(5)
        return envelope_id


# --- what Slack sends ----------------------------------------------------------------------------------


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """Slack's v0 request signature."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def envelope(event: dict[str, Any], *, event_id: str | None = None, team: str = TEAM,
             app_id: str = APP_ID) -> dict[str, Any]:
    """An Events API ``event_callback`` around ``event``."""
    return {"token": "legacy-verification-token", "team_id": team, "api_app_id": app_id, "event": event,
            "type": "event_callback", "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()), "event_context": "4-" + uuid.uuid4().hex[:16],
            "is_ext_shared_channel": False,
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": BOT_USER, "is_bot": True,
                                "is_enterprise_install": False}]}


def app_mention(text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL", ts: str | None = None,
                thread_ts: str | None = None, team: str = TEAM) -> dict[str, Any]:
    ts = ts or new_ts()
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
             "team": team, "client_msg_id": str(uuid.uuid4())}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str, *, user: str = "U0ALICE", channel: str = "D0ALICE", channel_type: str = "im",
            ts: str | None = None, thread_ts: str | None = None, team: str = TEAM, **extra: Any) -> dict[str, Any]:
    ts = ts or new_ts()
    event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
             "channel_type": channel_type, "team": team, "client_msg_id": str(uuid.uuid4()), **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def slash_command(text: str, *, response_url: str, user: str = "U0ALICE", channel: str = "C0GENERAL",
                  command: str = "/decorum", team: str = TEAM) -> dict[str, str]:
    return {"token": "legacy-verification-token", "team_id": team, "team_domain": "emulated",
            "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": "alice",
            "command": command, "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:12]}"}


def block_action(action_id: str, value: str, *, response_url: str, user: str = "U0ALICE",
                 channel: str = "C0GENERAL", message_ts: str | None = None, team: str = TEAM) -> dict[str, Any]:
    ts = message_ts or new_ts()
    return {"type": "block_actions", "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
            "api_app_id": APP_ID, "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:12]}",
            "team": {"id": team, "domain": "emulated"}, "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": channel, "name": "general"},
            "message": {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts, "text": "answer"},
            "response_url": response_url,
            "actions": [{"action_id": action_id, "block_id": "decorum_answer_actions",
                         "text": {"type": "plain_text", "text": "x"}, "value": value, "type": "button",
                         "action_ts": str(time.time())}]}


def app_home_opened(*, user: str = "U0ALICE", channel: str = "D0ALICE", tab: str = "home") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab, "event_ts": new_ts()}


def view_action(action_id: str, value: str, *, view: dict[str, Any], block_id: str | None = None,
                user: str = "U0ALICE", team: str = TEAM) -> dict[str, Any]:
    """``block_actions`` from a button in a view (App Home or a modal): no channel, no ``response_url``."""
    if block_id is None:  # the block that holds the button, as Slack reports it (it names blocks without an id)
        holder = next((b for b in view.get("blocks") or [] if any(
            e.get("action_id") == action_id and e.get("value") == value for e in _elements(b))), None)
        if holder is None:
            raise AssertionError(f"no button {action_id}={value!r} in the view")
        block_id = holder.get("block_id") or uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(holder)).hex[:5]
    return {"type": "block_actions", "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
            "api_app_id": APP_ID, "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view.get("id")},
            "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:12]}",
            "team": {"id": team, "domain": "emulated"}, "enterprise": None, "is_enterprise_install": False,
            "view": view,
            "actions": [{"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                         "text": {"type": "plain_text", "text": "x"}, "action_ts": str(time.time())}]}


def view_state(view: dict[str, Any], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """What Slack submits for ``view``'s inputs: each input's initial value unless ``given`` names its block.

    A plain-text input takes a string; a select the option's value; checkboxes a list of values.
    """
    given = dict(given or {})
    values: dict[str, Any] = {}
    for b in view.get("blocks") or []:
        if b.get("type") != "input":
            continue
        element, block_id = b["element"], b["block_id"]
        kind = element["type"]
        options = {o["value"]: o for o in element.get("options") or []}
        if kind == "plain_text_input":
            state = {"type": kind, "value": given.pop(block_id, element.get("initial_value"))}
        elif kind == "static_select":
            chosen = given.pop(block_id) if block_id in given else (element.get("initial_option") or {}).get("value")
            if chosen is not None and chosen not in options:
                raise AssertionError(f"{block_id}: {chosen!r} is not an option")
            state = {"type": kind, "selected_option": options[chosen] if chosen is not None else None}
        elif kind == "checkboxes":
            chosen = given.pop(block_id) if block_id in given else [o["value"] for o in
                                                                      element.get("initial_options") or []]
            state = {"type": kind, "selected_options": [options[v] for v in chosen]}
        else:
            raise AssertionError(f"view_state: no {kind}")
        values[block_id] = {element["action_id"]: state}
    if given:
        raise AssertionError(f"no input blocks {sorted(given)} in the view")
    return {"values": values}


def view_submission(view: dict[str, Any], given: dict[str, Any] | None = None, *, user: str = "U0ALICE",
                    team: str = TEAM) -> dict[str, Any]:
    """A ``view_submission`` of ``view`` (as opened: it needs its ``id``) with ``given`` typed into its inputs."""
    submitted = {**view, "state": view_state(view, given), "team_id": team, "app_id": APP_ID, "bot_id": BOT_ID,
                 "root_view_id": view.get("id"), "previous_view_id": None}
    return {"type": "view_submission", "team": {"id": team, "domain": "emulated"},
            "user": {"id": user, "username": "alice", "name": "alice", "team_id": team},
            "api_app_id": APP_ID, "token": "legacy-verification-token",
            "trigger_id": f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex[:12]}", "view": submitted,
            "response_urls": [], "is_enterprise_install": False, "enterprise": None}


def assistant_thread_started(*, user: str = "U0ALICE", channel: str = "D0ALICE",
                             thread_ts: str | None = None) -> dict[str, Any]:
    thread_ts = thread_ts or new_ts()
    return {"type": "assistant_thread_started", "event_ts": thread_ts,
            "assistant_thread": {"user_id": user, "context": {"channel_id": "C0GENERAL", "team_id": TEAM,
                                                              "enterprise_id": None},
                                 "channel_id": channel, "thread_ts": thread_ts}}


class SlackSender:
    """Posts signed requests to the app the way Slack does; returns the response and its latency."""

    def __init__(self, base_url: str, secret: str, *, path: str = "/slack/events") -> None:
        import httpx

        self.url = base_url.rstrip("/") + path
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=30)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def raw(self, body: bytes, content_type: str, *, timestamp: int | None = None,
                  sign_with: str | None = None, headers: dict[str, str] | None = None) -> tuple[Any, float]:
        ts = int(time.time()) if timestamp is None else timestamp
        h = {"content-type": content_type, "x-slack-request-timestamp": str(ts),
             "x-slack-signature": signature(sign_with or self.secret, body, ts), **(headers or {})}
        t = time.perf_counter()
        r = await self.client.post(self.url, content=body, headers=h)
        return r, time.perf_counter() - t

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None,
                    body: dict[str, Any] | None = None, **kw: Any) -> tuple[Any, float]:
        """An Events API delivery of ``event`` (or of a whole ``body``)."""
        payload = body or envelope(event, event_id=event_id)
        headers = {"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"} if retry_num else {}
        return await self.raw(json.dumps(payload).encode(), "application/json", headers=headers, **kw)

    async def command(self, form: dict[str, str], **kw: Any) -> tuple[Any, float]:
        return await self.raw(urlencode(form).encode(), "application/x-www-form-urlencoded", **kw)

    async def action(self, payload: dict[str, Any], **kw: Any) -> tuple[Any, float]:
        return await self.raw(urlencode({"payload": json.dumps(payload)}).encode(),
                              "application/x-www-form-urlencoded", **kw)


@contextlib.asynccontextmanager
async def serve_app(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 inside the running event loop; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn exited before starting")
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
