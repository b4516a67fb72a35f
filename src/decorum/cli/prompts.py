"""``decorum prompts``: prompt templates as versioned admin data (list, show, create, edit, history, diff,
publish, test, archive, rollback, export, import)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from decorum.cli import base
from decorum.cli.base import EXIT_FAIL, EXIT_OK, Lazy, Parser


def add_parser(sub: Any, lazy: Lazy) -> None:
    pr = sub.add_parser("prompts", help="prompt templates: versions, labels, review and files")
    psub = pr.add_subparsers(dest="prompts_command", required=True, parser_class=Parser)
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


def run(args: argparse.Namespace) -> int:
    return _prompts(args)


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

    rt = base.runtime()
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
            tpl = base.edit_in_editor(store.latest(name))
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
