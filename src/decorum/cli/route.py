"""``decorum route explain``: which strategy, template and adapter a question would get, and why."""

from __future__ import annotations

import argparse
import json
from typing import Any

from decorum.cli import base
from decorum.cli.base import EXIT_OK, Lazy, Parser


def add_parser(sub: Any, lazy: Lazy) -> None:
    rt = sub.add_parser("route", help="routing decisions")
    rsub = rt.add_subparsers(dest="route_command", required=True, parser_class=Parser)
    rx = rsub.add_parser("explain", help="which strategy, template and adapter a question would get, and why")
    rx.add_argument("text", nargs="+", help="the question ('-' reads it from stdin)")
    rx.add_argument("--surface", default="cli", choices=["cli", "slack", "web"])
    rx.add_argument("--channel")
    rx.add_argument("--team")
    rx.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    return _route(args)


def _route(args: argparse.Namespace) -> int:
    from decorum.bot.router import RouteContext
    from decorum.bot.runtime import Runtime
    from decorum.errors import UsageError

    text = base.read_stdin_text() if args.text == ["-"] else " ".join(args.text)
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
