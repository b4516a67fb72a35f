"""``decorum ask`` and ``decorum chat``: one question, or a conversation, answered in this process or by a running
``decorum serve`` (``--server``), printed with its transparency note."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from decorum.cli import base
from decorum.cli.base import EXIT_FAIL, EXIT_OK, Lazy


def add_parser(sub: Any, lazy: Lazy) -> None:
    ask = sub.add_parser("ask", help="answer one question and print its transparency note")
    ask.add_argument("text", nargs="+", help="the question ('-' reads it from stdin)")
    ask.add_argument("--json", action="store_true", help="print exactly one JSON object: the note plus 'answer'")
    ask.add_argument("--strategy", default="auto", choices=["auto", "prompt_engineering", "fine_tuned"])
    ask.add_argument("--template", metavar="NAME[@VERSION]")
    ask.add_argument("--max-new-tokens", type=int, default=None, help=argparse.SUPPRESS)

    chat = sub.add_parser("chat", help="an interactive conversation over the same path")
    chat.add_argument("--strategy", default="auto", choices=["auto", "prompt_engineering", "fine_tuned"])
    chat.add_argument("--template", metavar="NAME[@VERSION]")
    chat.add_argument("--history", type=int, default=6, help="earlier turns kept as context (default 6)")
    chat.add_argument("--max-new-tokens", type=int, default=None, help=argparse.SUPPRESS)
    for sp in (ask, chat):
        where = sp.add_mutually_exclusive_group()
        where.add_argument("--server", metavar="URL",
                           help="answer through a running `decorum serve`: its admin listener, e.g. "
                                "http://127.0.0.1:8001 (needs --token or DECORUM_TOKEN). Default: the admin "
                                "listener configured here when it answers and a token is given, else this process")
        where.add_argument("--local", action="store_true",
                           help="answer in this process (loads the models) even when a server is running")
        sp.add_argument("--token", help="a login token for the server (default: $DECORUM_TOKEN, which `ps` does not "
                                        "show as it shows arguments)")


def run(args: argparse.Namespace) -> int:
    return _chat(args) if args.command == "chat" else _ask(args)


# Measured on 2 cores: 22-42 s with other jobs running (bench/cli.py --ask); 28-138 s seen on a busier machine.
LOADING_NOTICE = ("decorum: loading the models in this process first: 20-140 s on 2 cores, longer on a first start, "
                  "which builds them (`decorum serve` keeps them loaded: `decorum ask --server URL`)")


class ServerAsker:
    """Questions answered by a running ``decorum serve`` through its admin API (``POST /api/ask`` with a token).

    Example::

        out = ServerAsker("http://127.0.0.1:8001", token).ask("How do I reset my VPN password?")
        out["answer"], out["verdict"]   # the note plus "answer", as `decorum ask --json` prints it
    """

    def __init__(self, url: str, token: str, *, timeout_s: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s  # above the server's own request deadline (limits.request_deadline_s, 120 s)

    def ask(self, text: str, *, strategy: str = "auto", template: str | None = None,
            history: list[dict[str, str]] | None = None) -> dict[str, Any]:
        import httpx

        from decorum.errors import DecorumError, UsageError

        body: dict[str, Any] = {"text": text, "strategy": strategy, "template": template}
        if history:
            body["history"] = history
        try:
            r = httpx.post(f"{self.url}/api/ask", json=body, headers={"Authorization": f"Bearer {self.token}"},
                           timeout=httpx.Timeout(self.timeout_s, connect=5.0))
        except httpx.HTTPError as exc:
            raise DecorumError(f"cannot reach the server at {self.url}: {exc.__class__.__name__}") from None
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code in (200, 500) and isinstance(data, dict) and "verdict" in data and "answer" in data:
            data.pop("report", None)  # the console's "This was wrong" link; the CLI prints what a local answer has
            return data
        error = data.get("error") if isinstance(data, dict) else None
        said = f": {error}" if error else ""
        if r.status_code in (401, 403):
            raise UsageError(f"the server at {self.url} refused the token ({r.status_code}{said})")
        if r.status_code == 400:
            raise UsageError(str(error or f"the server at {self.url} refused the question (400)"))
        if r.status_code in (429, 503):
            ref = data.get("ref") if isinstance(data, dict) else None
            raise DecorumError(f"the server at {self.url} is busy ({r.status_code}{said}); try again in "
                               f"{r.headers.get('retry-after', 'a few')} s" + (f" (reference {ref})" if ref else ""))
        hint = " (is it the admin listener? DECORUM_ADMIN_PORT, 8001 by default)" if r.status_code in (404, 413) else ""
        raise DecorumError(f"the server at {self.url} answered {r.status_code}{said}{hint}")


def _server_for(args: argparse.Namespace) -> ServerAsker | None:
    """The server that answers ``ask``/``chat``: ``--server``, else a running local one when a token is given."""
    import os

    from decorum.errors import UsageError

    token = args.token or os.environ.get("DECORUM_TOKEN") or None
    if args.server:
        if not token:
            raise UsageError("--server needs a login token: --token TOKEN or DECORUM_TOKEN "
                             "(`decorum users add NAME --role viewer` prints one)")
        if args.max_new_tokens is not None:
            raise UsageError("--max-new-tokens applies to answers in this process, not with --server")
        return ServerAsker(args.server, token)
    if args.local or token is None or args.max_new_tokens is not None:
        return None
    url = running_server()
    if url is None:
        return None
    print(f"decorum: answering through the running server at {url} (--local answers in this process)",
          file=sys.stderr)
    return ServerAsker(url, token)


def running_server(timeout_s: float = 1.0) -> str | None:
    """The admin listener's URL from this machine's settings, when a ``decorum serve`` answers there."""
    import httpx

    from decorum.settings import Settings

    s = Settings()
    if not s.admin_port:
        return None
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(s.admin_host, s.admin_host)
    url = f"http://[{host}]:{s.admin_port}" if ":" in host else f"http://{host}:{s.admin_port}"
    try:
        status = httpx.get(f"{url}/healthz", timeout=timeout_s).json().get("status")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return url if status in ("ok", "loading") else None  # loading: its models are nearer ready than ours


def _print_answer(out: dict[str, Any], as_json: bool) -> int:
    """What ``ask`` prints for the note plus ``answer`` (``--json``: that object), the same from either path."""
    from decorum.bot.note import summary

    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(out["answer"])
        print(summary(out), flush=True)
    if out.get("verdict") == "error":
        print(f"decorum: failed: internal error recorded as note {out['id']}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _ask(args: argparse.Namespace) -> int:
    import asyncio

    from decorum.errors import UsageError

    text = base.read_stdin_text() if args.text == ["-"] else " ".join(args.text)
    if not text.strip():
        raise UsageError("the question is empty")
    server = _server_for(args)
    if server is not None:
        return _print_answer(server.ask(text, strategy=args.strategy, template=args.template), args.json)
    from decorum.bot.pipeline import Request

    rt = base.runtime()
    req = Request(text=text, surface="cli", strategy=args.strategy, template=args.template,
                  max_new_tokens=args.max_new_tokens)
    rt.validate(req)  # bad usage is refused before any model loads
    print(LOADING_NOTICE, file=sys.stderr, flush=True)
    answer = asyncio.run(rt.pipeline.answer(req))
    return _print_answer(answer.as_json(), args.json)


def _chat(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    import asyncio

    from decorum.bot.note import summary
    from decorum.errors import UsageError

    server = _server_for(args)
    rt: Any = None
    if server is None:
        from decorum.bot.pipeline import Request

        rt = base.runtime()
        rt.validate(Request(text="-", surface="cli", strategy=args.strategy, template=args.template))
        print(LOADING_NOTICE, file=sys.stderr, flush=True)

    async def answer(text: str, history: list[dict[str, str]]) -> dict[str, Any]:
        if server is not None:
            return await asyncio.to_thread(server.ask, text, strategy=args.strategy, template=args.template,
                                           history=history)
        got = await rt.pipeline.answer(Request(text=text, surface="cli", strategy=args.strategy,
                                               template=args.template, history=history,
                                               max_new_tokens=args.max_new_tokens))
        return dict(got.as_json())

    stream = stdin or sys.stdin
    history: list[dict[str, str]] = []
    interactive = stream.isatty()
    if interactive:
        print("Decorum chat. Answers are AI-generated and logged. /quit to leave.")

    async def loop() -> None:
        while True:
            if interactive:
                print("> ", end="", flush=True)
            line = stream.readline()
            if not line or line.strip() in ("/quit", "/exit"):
                return
            if not line.strip():
                continue
            try:
                out = await answer(line.rstrip("\n"), history[-2 * args.history:])
            except UsageError as exc:
                print(f"decorum: error: {exc}")
                continue
            print(out["answer"])
            print(summary(out), flush=True)
            if out["verdict"] == "answered":
                history.extend([{"role": "user", "content": line.strip()},
                                {"role": "assistant", "content": out["answer"]}])

    asyncio.run(loop())
    return EXIT_OK
