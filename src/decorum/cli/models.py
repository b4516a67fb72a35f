"""``decorum finetune``, ``decorum compare`` and ``decorum models``: train an adapter, compare the strategies,
and the model registry's versions (list, show, promote, retire)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from decorum.cli import base
from decorum.cli.base import EXIT_OK, Lazy, Parser


def add_parser(sub: Any, lazy: Lazy) -> None:
    ft = sub.add_parser("finetune", help="train a LoRA domain adapter on question/answer pairs and register it")
    lazy(ft, "decorum.adapters.finetune.train", "finetune")

    md = sub.add_parser("models", help="the model registry: fine-tuned adapter versions")
    msub = md.add_subparsers(dest="models_command", required=True, parser_class=Parser)
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
    cp = sub.add_parser("compare", help="fine-tuning vs prompt engineering on a test split, per strategy")
    lazy(cp, "decorum.adapters.finetune.compare", "compare")


def run(args: argparse.Namespace) -> int:
    return _models(args) if args.command == "models" else base.run_lazy(args)


def _models(args: argparse.Namespace) -> int:
    from decorum.bot.runtime import Runtime

    rt = Runtime.open()
    reg = rt.models
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

    m, _ = rt.change_model_stage(args.models_command, args.name, args.version, actor=local_actor(args.actor),
                                 reason=args.reason, surface="cli")
    if args.json:
        print(json.dumps(m.summary()))
    else:
        print(f"{m.ref} is now {m.stage}")
    return EXIT_OK
