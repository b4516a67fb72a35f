"""The ``decorum`` command. Heavy libraries are imported inside the commands, so ``--help`` is fast.

Exit codes: 0 success (a refused question is a success), 1 internal failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line. With ``argv``, only the command it names imports the module behind its options
    (the trainers' modules cost a tenth of a second each; ``decorum users list`` needs none of them)."""
    words = list(argv or [])

    def lazy(parser: argparse.ArgumentParser, module: str, *path: str) -> None:
        if argv is None or words[:len(path)] == list(path):
            _lazy_arguments(parser, module)

    p = _Parser(prog="decorum", description="Slack assistant with an ethics guardrail layer.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

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

    serve = sub.add_parser("serve", help="public listener (Slack, /healthz) and admin listener (console, API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    from decorum.guardrails.audit_cli import add_parser as add_audit_parser

    add_audit_parser(sub, _Parser)

    from decorum.knowledge.cli import add_parser as add_knowledge_parser

    add_knowledge_parser(sub, _Parser)

    g = sub.add_parser("guardrails", help="score, train and evaluate the guardrail classifier")
    gsub = g.add_subparsers(dest="guardrails_command", required=True, parser_class=_Parser)
    gs = gsub.add_parser("score", help='JSONL {"text": ...} on stdin -> one JSONL result per line')
    gs.add_argument("--stage", default="input", choices=["input", "output", "template"])
    gs.add_argument("--batch-size", type=int, default=64)
    gt = gsub.add_parser("train", help="train the toxicity+bias classifier (reproducible, seeded)")
    lazy(gt, "decorum.guardrails.training.train", "guardrails", "train")
    ge = gsub.add_parser("eval", help="AUC, F1 and FPR of the checks on a labelled file")
    lazy(ge, "decorum.guardrails.training.evaluate", "guardrails", "eval")
    gp = gsub.add_parser("soup", help="average trained artifacts in weight space into one artifact")
    lazy(gp, "decorum.guardrails.training.soup", "guardrails", "soup")
    gc = gsub.add_parser("calibrate", help="Platt-scale a label on the artifact's held-out split (0.5 = as likely "
                                           "as not)")
    lazy(gc, "decorum.guardrails.training.calibrate", "guardrails", "calibrate")
    gsc = gsub.add_parser("screen", help="distil the main classifier into the part screen of long texts")
    lazy(gsc, "decorum.guardrails.training.screen", "guardrails", "screen")
    gr = gsub.add_parser("report", help="functional suite, stereotype pairs and counterfactual figures of an artifact")
    lazy(gr, "decorum.guardrails.training.report", "guardrails", "report")
    gab = gsub.add_parser("answer-bias", help="ambiguous who-questions through the whole pipeline: how often the "
                                              "answer picks the stereotyped person")
    gab.add_argument("--set", metavar="FILE", help="a JSONL question set (default: the shipped one)")
    gab.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    gab.add_argument("--json", action="store_true", help="print one JSON object (figures and every answer)")
    gab.add_argument("--check", action=argparse.BooleanOptionalAction, default=False,
                     help="also score each first draft with the answer_bias check (offline) and report its flags")

    ft = sub.add_parser("finetune", help="train a LoRA domain adapter on question/answer pairs and register it")
    lazy(ft, "decorum.adapters.finetune.train", "finetune")

    md = sub.add_parser("models", help="the model registry: fine-tuned adapter versions")
    msub = md.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    ml = msub.add_parser("list", help="every registered version with its stage")
    ml.add_argument("--json", action="store_true")
    ms = msub.add_parser("show", help="one version: its card, metrics and history")
    ms.add_argument("name")
    ms.add_argument("version", nargs="?", type=int, help="default: the production version")
    ms.add_argument("--json", action="store_true")
    for verb, text in (("promote", "make a version the production one (routing uses it)"),
                       ("retire", "withdraw a version for good")):
        mp = msub.add_parser(verb, help=text)
        mp.add_argument("name")
        mp.add_argument("version", type=int)
        mp.add_argument("--reason", default="", help="why (recorded)")
        mp.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
        mp.add_argument("--json", action="store_true")

    rt = sub.add_parser("route", help="routing decisions")
    rsub = rt.add_subparsers(dest="route_command", required=True, parser_class=_Parser)
    rx = rsub.add_parser("explain", help="which strategy, template and adapter a question would get, and why")
    rx.add_argument("text", nargs="+", help="the question ('-' reads it from stdin)")
    rx.add_argument("--surface", default="cli", choices=["cli", "slack", "web"])
    rx.add_argument("--channel")
    rx.add_argument("--team")
    rx.add_argument("--json", action="store_true")

    cp = sub.add_parser("compare", help="fine-tuning vs prompt engineering on a test split, per strategy")
    lazy(cp, "decorum.adapters.finetune.compare", "compare")

    us = sub.add_parser("users", help="console and API users: roles and login tokens")
    usub = us.add_subparsers(dest="users_command", required=True, parser_class=_Parser)
    ua = usub.add_parser("add", help="create a user and print its token (once: only its hash is kept)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["viewer", "auditor", "editor", "publisher", "admin"],
                    help="cumulative: viewer < auditor < editor < publisher < admin")
    ua.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    ua.add_argument("--json", action="store_true")
    ul = usub.add_parser("list", help="every user with role, state and last use (never tokens)")
    ul.add_argument("--json", action="store_true")
    ur = usub.add_parser("revoke", help="revoke a user's token and end their console sessions")
    ur.add_argument("name")
    ur.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    ur.add_argument("--json", action="store_true")
    ue = usub.add_parser("events", help="refusals (401/403), logins and user changes, newest first")
    ue.add_argument("--limit", type=int, default=50)
    ue.add_argument("--json", action="store_true")

    pr = sub.add_parser("prompts", help="prompt templates: versions, labels, review and files")
    psub = pr.add_subparsers(dest="prompts_command", required=True, parser_class=_Parser)
    pl = psub.add_parser("list", help="templates with their labels and latest version")
    pl.add_argument("--json", action="store_true")
    ps = psub.add_parser("show", help="one template version (NAME: the production one, else the latest)")
    ps.add_argument("ref", metavar="NAME[@VERSION]")
    ps.add_argument("--json", action="store_true")
    pc = psub.add_parser("create", help="a new template from a YAML file (version 1, a draft until published)")
    pc.add_argument("name")
    pc.add_argument("--file", required=True, metavar="FILE.yaml")
    pc.add_argument("--message", default="created", help="why (recorded)")
    pe = psub.add_parser("edit", help="a new version of a template from a YAML file (no --file: in $EDITOR)")
    pe.add_argument("name")
    pe.add_argument("--file", metavar="FILE.yaml", help="default: the latest version opened in $VISUAL or $EDITOR")
    pe.add_argument("--message", required=True, help="what changed and why (recorded)")
    ph = psub.add_parser("history", help="versions (author, time, message, checks) and label moves")
    ph.add_argument("name")
    ph.add_argument("--json", action="store_true")
    pd = psub.add_parser("diff", help="a unified diff of two versions")
    pd.add_argument("a", metavar="NAME@A")
    pd.add_argument("b", metavar="NAME@B")
    pp = psub.add_parser("publish", help="point a label (default production) at a version")
    pp.add_argument("ref", metavar="NAME@VERSION")
    pp.add_argument("--label", default="production")
    pp.add_argument("--reason", default="", help="why (recorded; required with --override)")
    pp.add_argument("--override", action="store_true",
                    help="publish although the template checks or tests failed (admin; needs --reason)")
    pt = psub.add_parser("test", help="run a version's test cases through the real path (stored with the version)")
    pt.add_argument("ref", metavar="NAME[@VERSION]", help="NAME: the production version (else the latest)")
    pt.add_argument("--json", action="store_true")
    pa = psub.add_parser("archive", help="hide a version no label points at (kept: answers name it; no delete)")
    pa.add_argument("ref", metavar="NAME@VERSION")
    pa.add_argument("--reason", default="", help="why (recorded)")
    pb = psub.add_parser("rollback", help="move a label back to the version it pointed at before")
    pb.add_argument("name")
    pb.add_argument("--label", default="production")
    pb.add_argument("--reason", default="", help="why (recorded)")
    px = psub.add_parser("export", help="write NAME.yaml per template (latest version and labels) into DIR")
    px.add_argument("dir")
    pi = psub.add_parser("import", help="read DIR/*.yaml: new versions where content changed, labels that exist")
    pi.add_argument("dir")
    for sp in (pc, pe, pp, pb, pi, pt, pa):
        sp.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")

    po = sub.add_parser("policy", help="routing rules and guardrail thresholds as live, versioned admin data")
    posub = po.add_subparsers(dest="policy_command", required=True, parser_class=_Parser)
    pos = posub.add_parser("show", help="what applies now: the active version over the configuration file")
    pos.add_argument("--json", action="store_true")
    poh = posub.add_parser("history", help="versions (author, time, message, tests) and every publish and rollback")
    poh.add_argument("--json", action="store_true")
    pod = posub.add_parser("diff", help="a unified diff of two versions")
    pod.add_argument("a", type=int, metavar="A")
    pod.add_argument("b", type=int, metavar="B")
    poe = posub.add_parser("edit", help="a new version from a YAML file {policy: ..., routing: ...} (or $EDITOR)")
    poe.add_argument("--file", metavar="FILE.yaml", help="default: the active version opened in $VISUAL or $EDITOR")
    poe.add_argument("--message", required=True, help="what changed and why (recorded)")
    pose = posub.add_parser("set", help="a new version: the active one with KEY=VALUE changes "
                                        "(policy.checks.toxicity.threshold=0.3, routing.semantic=false)")
    pose.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    pose.add_argument("--message", required=True, help="what changed and why (recorded)")
    pot = posub.add_parser("test", help="the test gate: every production template's test cases under a version")
    pot.add_argument("version", type=int, nargs="?", help="default: the latest version")
    pot.add_argument("--json", action="store_true")
    pop = posub.add_parser("publish", help="make a version active in every process (within prompts.cache_check_s)")
    pop.add_argument("version", type=int)
    pop.add_argument("--reason", default="", help="why (recorded; required with --override)")
    pop.add_argument("--override", action="store_true", help="publish although the test gate failed (admin)")
    por = posub.add_parser("rollback", help="return to the version active before the latest publish")
    por.add_argument("--reason", default="", help="why (recorded)")
    for sp in (poe, pose, pot, pop, por):
        sp.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    return p


def _lazy_arguments(parser: argparse.ArgumentParser, module: str) -> None:
    """Options of commands implemented elsewhere; their modules import cheaply (heavy imports are inside)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        parser.set_defaults(_missing=module)
        return
    mod.add_arguments(parser)
    parser.set_defaults(_run=mod.run)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    if args.command == "guardrails":
        args.argv = argv[2:]  # the options after `guardrails <command>`, recorded in manifests as given
    elif args.command == "finetune":
        args.argv = argv[1:]  # recorded in the model card as the command that made it
    from decorum.errors import ConfigError, DecorumError, UsageError

    try:
        _setup_logging(default_level="INFO" if args.command == "serve" else "WARNING")
        return int(_dispatch(args) or 0)
    except (UsageError, ConfigError) as exc:
        print(f"decorum: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DecorumError as exc:
        print(f"decorum: failed: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _setup_logging(default_level: str) -> None:
    from decorum.logs import configure_logging
    from decorum.settings import Settings

    s = Settings()
    configure_logging(s.log_level or default_level, s.log_format)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "ask":
        return _ask(args)
    if args.command == "chat":
        return _chat(args)
    if args.command == "serve":
        from decorum.web.server import serve

        return serve(args.host, args.port)
    if args.command == "audit":
        return _audit(args)
    if args.command == "guardrails":
        if args.guardrails_command == "score":
            return _score(args)
        if args.guardrails_command == "answer-bias":
            return _answer_bias(args)
        if args.guardrails_command == "eval":
            from decorum.bot.runtime import Runtime
            from decorum.guardrails.training import evaluate

            return evaluate.run(args, Runtime.open().guardrails)
        if getattr(args, "_missing", None):
            from decorum.errors import DecorumError

            raise DecorumError(f"{args._missing} is not available in this build")
        return int(args._run(args))
    if args.command == "prompts":
        return _prompts(args)
    if args.command == "policy":
        return _policy(args)
    if args.command in ("finetune", "compare"):
        if getattr(args, "_missing", None):
            from decorum.errors import DecorumError

            raise DecorumError(f"{args._missing} is not available in this build")
        return int(args._run(args))
    if args.command == "models":
        return _models(args)
    if args.command == "route":
        return _route(args)
    if args.command == "users":
        return _users(args)
    if args.command == "knowledge":
        from decorum.knowledge.cli import run as run_knowledge

        return run_knowledge(args)
    raise AssertionError(args.command)


def read_stdin_text(stream: Any = None) -> str:
    """Stdin as text; binary or invalid UTF-8 is a usage error naming the offset."""
    from decorum.errors import UsageError

    data = (stream or sys.stdin.buffer).read()
    try:
        text: str = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from exc
    if "\x00" in text:
        raise UsageError("stdin holds NUL bytes: binary data is not a question")
    return text


def _runtime() -> Any:
    from decorum.bot.runtime import Runtime

    return Runtime.open()


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

    text = read_stdin_text() if args.text == ["-"] else " ".join(args.text)
    if not text.strip():
        raise UsageError("the question is empty")
    server = _server_for(args)
    if server is not None:
        return _print_answer(server.ask(text, strategy=args.strategy, template=args.template), args.json)
    from decorum.bot.pipeline import Request

    rt = _runtime()
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

        rt = _runtime()
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


def _audit(args: argparse.Namespace) -> int:
    from decorum.guardrails.audit_cli import run

    return run(args)


def _score(args: argparse.Namespace) -> int:
    from decorum.bot.runtime import Runtime
    from decorum.guardrails.scoring import score_jsonl

    if args.batch_size < 1:
        from decorum.errors import UsageError

        raise UsageError("--batch-size must be at least 1")
    rt = Runtime.open()
    bad = score_jsonl(sys.stdin.buffer, sys.stdout, rt.guardrails, stage=args.stage, batch_size=args.batch_size)
    if bad:
        print(f"decorum: error: {bad} input line(s) were not JSON objects with a string 'text'; "
              f"their results hold an 'error'", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _answer_bias(args: argparse.Namespace) -> int:
    """Every question of the set through the pipeline, as ``decorum ask`` answers it; figures on stdout."""
    import asyncio

    from decorum.bot.pipeline import Request
    from decorum.bot.runtime import Runtime
    from decorum.errors import UsageError
    from decorum.guardrails import answer_bias

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    items = answer_bias.load_set(args.set)[: args.limit]
    base = _runtime()
    drafts = answer_bias.DraftRecorder(base.generator)  # the raw generations, before the output checks act
    rt = Runtime(base.settings, base.config, base.db, classifier=base.classifier, generator=drafts)

    def answer(text: str) -> answer_bias.Reply:
        drafts.take()
        got = asyncio.run(rt.pipeline.answer(Request(text=text, surface="cli")))
        return answer_bias.Reply(got.text, got.note, drafts.take())

    try:
        report = answer_bias.run(answer, items, check=answer_bias.AnswerBiasCheck() if args.check else None,
                                 set_path=str(args.set or answer_bias.DEFAULT_SET))
    finally:
        rt.pipeline.close()
    print(json.dumps(report.as_json(), ensure_ascii=False) if args.json else report.table())
    return EXIT_OK


def _models(args: argparse.Namespace) -> int:
    from decorum.bot.runtime import Runtime

    reg = Runtime.open().models
    if args.models_command == "list":
        rows = [m.summary() for m in reg.list()]
        if args.json:
            print(json.dumps(rows))
        else:
            for r in rows:
                print(f"{r['name']:<20} v{r['version']:<3} {r['stage']:<10} domain {r['domain']:<12} "
                      f"eval loss {r['eval_loss']}  sha256 {r['sha256'][:12]}  {r['created_at']}")
            if not rows:
                print("no models registered (decorum finetune --help)")
        return EXIT_OK
    if args.models_command == "show":
        m = reg.get(args.name, args.version)
        data = {**m.summary(), "card": m.card, "history": reg.history(m.name)}
        if args.json:
            print(json.dumps(data))
        else:
            card_md = m.path / "MODEL_CARD.md"
            print(json.dumps(m.summary(), indent=2))
            print(f"history: {json.dumps(data['history'], indent=2)}")
            if card_md.exists():
                print(f"\nmodel card: {card_md}")
        return EXIT_OK
    from decorum.settings import local_actor

    actor = local_actor(args.actor)
    if args.models_command == "promote":
        m = reg.promote(args.name, args.version, actor=actor, reason=args.reason)
    else:
        m = reg.retire(args.name, args.version, actor=actor, reason=args.reason)
    if args.json:
        print(json.dumps(m.summary()))
    else:
        print(f"{m.ref} is now {m.stage}")
    return EXIT_OK


def _users(args: argparse.Namespace) -> int:
    from decorum.access import local_admin
    from decorum.bot.runtime import Runtime
    from decorum.errors import UsageError
    from decorum.settings import local_actor

    access = Runtime.open().access
    if args.users_command == "add":
        user, token = access.add_user(args.name, args.role, by=local_admin(local_actor(args.actor)))
        if args.json:
            print(json.dumps({**user, "token": token}))
        else:
            print(f"user {user['name']} added with role {user['role']}. Their token (shown once, keep it secret):")
            print(token)
        return EXIT_OK
    if args.users_command == "revoke":
        user = access.revoke_user(args.name, by=local_admin(local_actor(args.actor)))
        print(json.dumps(user) if args.json else f"user {user['name']} revoked at {user['revoked_at']}")
        return EXIT_OK
    if args.users_command == "events":
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        events = access.events(limit=args.limit)
        if args.json:
            print(json.dumps(events))
        else:
            for e in events:
                print(f"{e['at']}  {e['outcome']:<10} {e['action']:<18} {e['actor']} via {e['via']} "
                      f"on {e['surface']} {e['target']}")
        return EXIT_OK
    # No part of a token, not even the stored first characters: a user has one token, so the name tells them apart.
    users = [{k: v for k, v in u.items() if k != "token_hint"} for u in access.list_users()]
    if args.json:
        print(json.dumps(users))
    else:
        for u in users:
            state = "active" if u["active"] else f"revoked {u['revoked_at']}"
            print(f"{u['name']:<20} {u['role']:<10} {state:<32} last used {u['last_used_at'] or 'never'}")
        if not users:
            print("no users (decorum users add NAME --role admin)")
    return EXIT_OK


def _route(args: argparse.Namespace) -> int:
    from decorum.bot.router import RouteContext
    from decorum.bot.runtime import Runtime
    from decorum.errors import UsageError

    text = read_stdin_text() if args.text == ["-"] else " ".join(args.text)
    if not text.strip():
        raise UsageError("the question is empty")
    rt = Runtime.open()
    out = rt.router.explain(RouteContext(question=text, surface=args.surface, team=args.team, channel=args.channel))
    if args.json:
        print(json.dumps(out))
        return EXIT_OK
    r = out["route"]
    why = r["reason"] + (f" (rule {r['rule']})" if r.get("rule") else "")
    if r.get("band") is not None:
        why += (f" (score {r['score']} passes threshold {r['threshold']} by less than routing.uncertain_band "
                f"{r['band']}: kept on the default template, {r.get('router')})")
    elif r.get("score") is not None:
        why += f" (score {r['score']} >= threshold {r['threshold']}, {r.get('router')})"
    print(f"strategy {r['strategy']}, template {out['template']}"
          + (f", adapter {out['adapter']['name']}@{out['adapter']['version']}" if out["adapter"] else "")
          + f": {why}")
    for s in out["semantic"]:
        verdict = "passes" if s["score"] >= s["threshold"] else "below"
        print(f"  semantic {s['domain']}: score {s['score']} {verdict} threshold {s['threshold']} ({s['router']})")
    for rule in out["rules"]:
        print(f"  rule {rule['rule']}: {'matched' if rule['matched'] else 'no match'}")
    return EXIT_OK


def _prompts(args: argparse.Namespace) -> int:
    from pathlib import Path

    from decorum.access import local_admin
    from decorum.errors import UsageError
    from decorum.prompts.base import PRODUCTION, TemplateRef
    from decorum.prompts.registry import Registry
    from decorum.prompts.yaml_format import load_template_file
    from decorum.settings import local_actor

    def plain(spec: str) -> str:
        ref = TemplateRef.parse(spec)
        if ref.version is not None:
            raise UsageError(f"{spec!r}: expected a template NAME without @VERSION here")
        return ref.name

    rt = _runtime()
    store = rt.templates
    cmd = args.prompts_command
    if cmd == "list":
        rows = store.overview()
        if args.json:
            print(json.dumps(rows))
        else:
            for r in rows:
                prod = f"production v{r['production']}" if r["production"] else "unpublished"
                others = " ".join(f"{k} v{v}" for k, v in r["labels"].items() if k != PRODUCTION)
                print(f"{r['name']:<16} {prod:<14} latest v{r['latest']:<3} {others + '  ' if others else ''}"
                      f"{r['description']}")
        return EXIT_OK
    if cmd == "show":
        ref = TemplateRef.parse(args.ref)
        version = ref.version or store.labels(ref.name).get(PRODUCTION)
        tpl = store.get(ref.name, version) if version else store.latest(ref.name)
        info = next(v for v in store.version_info(tpl.name) if v["version"] == tpl.version)
        labels = [k for k, v in store.labels(tpl.name).items() if v == tpl.version]
        data = {"name": tpl.name, "version": tpl.version, "sha256": tpl.sha256, **tpl.body(),
                "description": tpl.description, "author": info["author"], "created_at": info["created_at"],
                "message": info["message"], "labels": labels, "checks": info["checks"],
                "archived_at": info["archived_at"], "tests": (store.test_runs(tpl.name, tpl.version) or [None])[-1]}
        print(json.dumps(data, indent=None if args.json else 2))
        return EXIT_OK
    if cmd == "history":
        hist = Registry(store, rt.audit).history(plain(args.name))
        if args.json:
            print(json.dumps(hist))
            return EXIT_OK
        labels = hist["labels"]
        for v in hist["versions"]:
            at = [k for k, n in labels.items() if n == v["version"]]
            checks = v["checks"]
            state = "unchecked" if checks is None else ("checks ok" if checks["passed"] else "checks FAILED")
            if v.get("archived_at"):
                state += ", archived"
            print(f"v{v['version']:<3} {v['created_at']}  {v['author']:<20} {state:<13} sha256 {v['sha256'][:12]}  "
                  f"{'[' + ', '.join(at) + '] ' if at else ''}{v['message']}")
        for e in hist["events"]:
            if e["action"] in ("test", "archive"):
                why = f": {e['reason']}" if e["reason"] else ""
                print(f"{e['at']}  {e['action']:<8} v{e['version']} by {e['actor']} {e['message']}{why}".rstrip())
                continue
            if e["label"] is None:
                continue
            move = f"{e['label']} v{e['from_version']} -> v{e['version']}" if e["from_version"] \
                else f"{e['label']} -> v{e['version']}"
            why = f": {e['reason']}" if e["reason"] else ""
            print(f"{e['at']}  {e['action']:<8} {move} by {e['actor']}{' (override)' if e['override'] else ''}{why}")
        return EXIT_OK
    if cmd == "diff":
        a, b = TemplateRef.parse(args.a), TemplateRef.parse(args.b)
        if a.version is None or b.version is None:
            raise UsageError("diff takes two versions: NAME@A NAME@B")
        ta, tb = store.get(a.name, a.version), store.get(b.name, b.version)
        text = Registry(store, rt.audit).diff(ta, tb)
        print(text if text else f"{ta.ref} and {tb.ref} have the same content", end="" if text else "\n")
        return EXIT_OK

    by = local_admin(local_actor(getattr(args, "actor", None)))  # the CLI acts as the local admin
    reg = rt.template_registry("cli")
    if cmd in ("create", "edit"):
        name = plain(args.name)
        if not args.message.strip() or len(args.message) > 1000:
            raise UsageError("--message takes 1 to 1000 characters")
        if args.file:
            tpl, _ = load_template_file(Path(args.file), name=name)
        else:
            tpl = _edit_in_editor(store.latest(name))
        stored = reg.save(tpl, action=cmd, by=by, message=args.message.strip())
        info = store.version_info(name)[-1]
        checks = info["checks"] or {"passed": True, "results": []}
        print(f"saved {stored.ref} (sha256 {stored.sha256[:12]}); not published: "
              f"decorum prompts publish {stored.ref}")
        if not checks["passed"]:
            for r in checks["results"]:
                if not r["passed"]:
                    print(f"  checks FAILED: {r['check']} on {r['field']}: {r['explanation']}")
            print("  a draft: publish refuses it unless --override --reason TEXT")
        return EXIT_OK
    if cmd == "publish":
        ref = TemplateRef.parse(args.ref)
        if ref.version is None:
            raise UsageError("publish takes NAME@VERSION")
        tpl = reg.publish(ref.name, ref.version, by=by, label=args.label, reason=args.reason,
                          override=args.override)
        print(f"{args.label} -> {tpl.ref}" + (" (checks overridden)" if args.override else ""))
        return EXIT_OK
    if cmd == "test":
        ref = TemplateRef.parse(args.ref)
        run = reg.run_tests(ref.name, ref.version, by=by)
        if args.json:
            print(json.dumps(run))
        else:
            tpl_ref = f"{run['name']}@{run['version']}"
            if not run["results"]:
                print(f"{tpl_ref} has no test cases (add test_cases to its file)")
            for r in run["results"]:
                state = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failures"])
                print(f"case {r['case']} [{r['verdict']}, {r['strategy']}, note {r['note_id']}] {state}")
            print(f"{tpl_ref}: {sum(r['passed'] for r in run['results'])}/{len(run['results'])} cases passed "
                  f"(run {run['id']} stored with the version)")
        return EXIT_OK if run["passed"] else EXIT_FAIL
    if cmd == "archive":
        ref = TemplateRef.parse(args.ref)
        if ref.version is None:
            raise UsageError("archive takes NAME@VERSION")
        tpl = reg.archive(ref.name, ref.version, by=by, reason=args.reason)
        print(f"archived {tpl.ref}")
        return EXIT_OK
    if cmd == "rollback":
        tpl = reg.rollback(plain(args.name), by=by, label=args.label, reason=args.reason)
        print(f"{args.label} -> {tpl.ref} (rolled back)")
        return EXIT_OK
    if cmd == "export":
        paths = reg.export(Path(args.dir))
        print(f"exported {len(paths)} templates to {args.dir}")
        return EXIT_OK
    if cmd == "import":
        report = reg.import_dir(Path(args.dir), by=by)
        for ref in report.created:
            print(f"new version {ref}")
        for ref in report.unchanged:
            print(f"unchanged {ref}")
        for line in report.labelled:
            print(f"label {line}")
        for line in report.skipped:
            print(f"label skipped: {line}")
        if report.refused:
            raise UsageError(f"{len(report.refused)} label(s) refused: " + "; ".join(report.refused))
        return EXIT_OK
    raise AssertionError(cmd)


def _policy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from decorum.access import local_admin
    from decorum.bot.live_config import set_value
    from decorum.errors import UsageError
    from decorum.prompts.yaml_format import dump_yaml, read_yaml_file
    from decorum.settings import local_actor

    rt = _runtime()
    live = rt.live_config("cli")
    cmd = args.policy_command
    if cmd == "show":
        eff = live.effective()
        if args.json:
            print(json.dumps(eff))
        else:
            print(f"live configuration: {'v' + str(eff['version']) if eff['version'] else 'none (the file alone)'}; "
                  f"policy {eff['policy_ref']}")
            print(dump_yaml({"policy": eff["policy"], "routing": eff["routing"]}), end="")
        return EXIT_OK
    if cmd == "history":
        hist = live.history()
        if args.json:
            print(json.dumps(hist))
            return EXIT_OK
        for v in hist["versions"]:
            tests = v["tests"][-1]["summary"] + (" ok" if v["tests"][-1]["passed"] else " FAILED") if v["tests"] \
                else "untested"
            active = " [active]" if v["version"] == hist["active"] else ""
            print(f"v{v['version']:<3} {v['created_at']}  {v['author']:<20} {tests:<26} sha256 {v['sha256'][:12]}"
                  f"{active}  {v['message']}")
        for e in hist["events"]:
            if e["action"] in ("publish", "rollback"):
                frm = f"v{e['from_version']}" if e["from_version"] else "file"
                to = f"v{e['version']}" if e["version"] else "file"
                why = f": {e['reason']}" if e["reason"] else ""
                print(f"{e['at']}  {e['action']:<8} {frm} -> {to} by {e['actor']}"
                      f"{' (override)' if e['override'] else ''}{why}")
        return EXIT_OK
    if cmd == "diff":
        text = live.diff(args.a, args.b)
        print(text if text else f"live@{args.a} and live@{args.b} have the same content", end="" if text else "\n")
        return EXIT_OK

    by = local_admin(local_actor(getattr(args, "actor", None)))
    if cmd in ("edit", "set"):
        active = live.active()
        base = active["overlay"] if active else {}
        if cmd == "set":
            overlay = base
            for item in args.assignments:
                key, sep, value = item.partition("=")
                if not sep:
                    raise UsageError(f"{item!r}: expected KEY=VALUE")
                overlay = set_value(overlay, key.strip(), value)
        elif args.file:
            overlay = read_yaml_file(Path(args.file))
        else:
            overlay = _yaml_in_editor("live-config", dump_yaml(base or {"policy": {}, "routing": {}}))
        v = live.save(overlay, by=by, message=args.message)
        print(f"saved live@{v['version']} (sha256 {v['sha256'][:12]}); not active: "
              f"decorum policy publish {v['version']}")
        return EXIT_OK
    if cmd == "test":
        version = args.version or (live.versions() or [{"version": None}])[-1]["version"]
        if version is None:
            raise UsageError("no live configuration version yet: decorum policy set KEY=VALUE --message TEXT")
        run = live.run_tests(version, by=by)
        if args.json:
            print(json.dumps(run))
        else:
            for r in run["results"]:
                state = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failures"])
                print(f"{r['template']} case {r['case']} [{r['verdict']}, {r['strategy']}] {state}")
            print(f"live@{version}: {run['summary']}")
        return EXIT_OK if run["passed"] else EXIT_FAIL
    if cmd == "publish":
        live.publish(args.version, by=by, reason=args.reason, override=args.override)
        print(f"live@{args.version} active" + (" (test gate overridden)" if args.override else ""))
        return EXIT_OK
    if cmd == "rollback":
        now = live.rollback(by=by, reason=args.reason)
        print(f"live@{now['version']} active (rolled back)" if now else "the configuration file alone (rolled back)")
        return EXIT_OK
    raise AssertionError(cmd)


def _yaml_in_editor(name: str, text: str) -> Any:
    """``text`` opened in ``$VISUAL``/``$EDITOR``; what the editor saved, parsed as YAML."""
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    from decorum.errors import UsageError
    from decorum.prompts.yaml_format import read_yaml_file

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise UsageError("edit needs --file FILE.yaml, or $EDITOR (or $VISUAL) set to an editor")
    with tempfile.TemporaryDirectory(prefix="decorum-edit-") as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as exc:
            raise UsageError(f"could not start the editor {editor!r}: {exc.strerror}") from exc
        if done.returncode != 0:
            raise UsageError(f"the editor exited with status {done.returncode}; nothing saved")
        return read_yaml_file(path)


def _edit_in_editor(latest: Any) -> Any:
    """The template ``latest`` opened as a file in ``$VISUAL``/``$EDITOR``; what the editor saved, parsed."""
    from dataclasses import replace

    from decorum.prompts.yaml_format import dump_template, template_from_data

    data = _yaml_in_editor(latest.name, dump_template(replace(latest, legacy=False)))
    tpl, _ = template_from_data(data, f"{latest.name}.yaml", name=latest.name)
    return tpl


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
