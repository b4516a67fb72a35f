"""The ``decorum`` command: one module per command group (``ask``, ``guardrails``, ``models``, ``route``, ``users``,
``prompts``, ``policy``, ``audit``; ``knowledge`` lives beside what it manages). Heavy libraries are imported
inside the commands, so ``--help`` is fast.

Exit codes: 0 success (a refused question is a success), 1 internal failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from decorum.cli import ask, audit, base, guardrails, models, policy, prompts, route, users
from decorum.cli.base import EXIT_FAIL, EXIT_OK, EXIT_USAGE, Parser, read_stdin_text

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "read_stdin_text"]

# command -> its group's module (each has add_parser(sub, lazy) and run(args))
GROUPS = {"ask": ask, "chat": ask, "guardrails": guardrails, "finetune": models, "compare": models,
          "models": models, "route": route, "users": users, "prompts": prompts, "policy": policy, "audit": audit}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line. With ``argv``, only the command it names imports the module behind its options
    (the trainers' modules cost a tenth of a second each; ``decorum users list`` needs none of them)."""
    words = list(argv or [])

    def lazy(parser: argparse.ArgumentParser, module: str, *path: str) -> None:
        if argv is None or words[:len(path)] == list(path):
            base.lazy_arguments(parser, module)

    p = Parser(prog="decorum", description="Slack assistant with an ethics guardrail layer.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    ask.add_parser(sub, lazy)

    serve = sub.add_parser("serve", help="public listener (Slack, /healthz) and admin listener (console, API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    from decorum.knowledge.cli import add_parser as add_knowledge_parser

    audit.add_parser(sub, lazy)
    add_knowledge_parser(sub, Parser)
    for group in (guardrails, models, route, users, prompts, policy):
        group.add_parser(sub, lazy)
    return p


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
    if args.command == "serve":
        from decorum.web.server import serve

        return serve(args.host, args.port)
    if args.command == "knowledge":
        from decorum.knowledge.cli import run as run_knowledge

        return run_knowledge(args)
    return GROUPS[args.command].run(args)
