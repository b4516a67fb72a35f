"""``decorum policy``: routing rules and guardrail thresholds as live, versioned admin data."""

from __future__ import annotations

import argparse
import json
from typing import Any

from decorum.cli import base
from decorum.cli.base import EXIT_FAIL, EXIT_OK, Lazy, Parser


def add_parser(sub: Any, lazy: Lazy) -> None:
    po = sub.add_parser("policy", help="routing rules and guardrail thresholds as live, versioned admin data")
    posub = po.add_subparsers(dest="policy_command", required=True, parser_class=Parser)
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


def run(args: argparse.Namespace) -> int:
    return _policy(args)


def _policy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from decorum.access import local_admin
    from decorum.bot.live_config import set_value
    from decorum.errors import UsageError
    from decorum.prompts.yaml_format import dump_yaml, read_yaml_file
    from decorum.settings import local_actor

    rt = base.runtime()
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
        current = active["overlay"] if active else {}
        if cmd == "set":
            overlay = current
            for item in args.assignments:
                key, sep, value = item.partition("=")
                if not sep:
                    raise UsageError(f"{item!r}: expected KEY=VALUE")
                overlay = set_value(overlay, key.strip(), value)
        elif args.file:
            overlay = read_yaml_file(Path(args.file))
        else:
            overlay = base.yaml_in_editor("live-config", dump_yaml(current or {"policy": {}, "routing": {}}))
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
