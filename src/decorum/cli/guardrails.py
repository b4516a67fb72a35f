"""``decorum guardrails``: score JSONL, and the trainers, evaluations and reports of the guardrail classifiers
(their modules are imported only for the command named)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from decorum.cli import base
from decorum.cli.base import EXIT_OK, EXIT_USAGE, Lazy, Parser


def add_parser(sub: Any, lazy: Lazy) -> None:
    g = sub.add_parser("guardrails", help="score, train and evaluate the guardrail classifier")
    gsub = g.add_subparsers(dest="guardrails_command", required=True, parser_class=Parser)
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


def run(args: argparse.Namespace) -> int:
    if args.guardrails_command == "score":
        return _score(args)
    if args.guardrails_command == "answer-bias":
        return _answer_bias(args)
    if args.guardrails_command == "eval":
        from decorum.bot.runtime import Runtime
        from decorum.guardrails.training import evaluate

        return int(evaluate.run(args, Runtime.open().guardrails))
    return base.run_lazy(args)


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
    served = base.runtime()
    drafts = answer_bias.DraftRecorder(served.generator)  # the raw generations, before the output checks act
    rt = Runtime(served.settings, served.config, served.db, classifier=served.classifier, generator=drafts)

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
