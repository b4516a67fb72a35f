"""``decorum knowledge ...``: the knowledge base from the command line (the CLI acts as the local admin).

Reading commands (list, show, history, diff, export) load no model; saving (add, edit, import) runs the
guardrail checks on the entry, so it loads the classifier.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from decorum.errors import UsageError

EXIT_OK = 0
_REF = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]{0,63})(?:@(?P<version>[0-9]{1,9}))?$")


def add_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    kn = sub.add_parser("knowledge", help="the knowledge base: entries that answers cite and are checked against")
    ksub = kn.add_subparsers(dest="knowledge_command", required=True, parser_class=parser_class)

    def actor(p: argparse.ArgumentParser) -> None:
        p.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
        p.add_argument("--json", action="store_true", help="print the result as JSON")

    def override(p: argparse.ArgumentParser) -> None:
        p.add_argument("--override", action="store_true", help="save or publish over failed checks (admin; "
                                                               "needs --reason)")
        p.add_argument("--reason", default="", help="why (recorded; required with --override)")

    kl = ksub.add_parser("list", help="every entry: id, published and latest version, title")
    kl.add_argument("--domain", help="only this domain's entries")
    kl.add_argument("--json", action="store_true")
    ks = ksub.add_parser("show", help="one entry (ID: the published version, else the latest; ID@N: version N)")
    ks.add_argument("ref", metavar="ID[@N]")
    ks.add_argument("--json", action="store_true")
    ka = ksub.add_parser("add", help="a new entry (version 1, a draft until published); checked by the guardrails")
    ka.add_argument("--file", metavar="FILE.yaml", help="the entry as YAML or JSON {id, title, body, topic, domain}")
    ka.add_argument("--id", dest="entry_id", help="the entry id (without --file)")
    ka.add_argument("--title")
    ka.add_argument("--body")
    ka.add_argument("--topic", default="")
    ka.add_argument("--domain", default=None, help="default helpdesk")
    ka.add_argument("--message", default="", help="what and why (recorded)")
    ka.add_argument("--publish", action="store_true", help="publish it at once (needs the publisher role)")
    actor(ka)
    override(ka)
    ke = ksub.add_parser("edit", help="a new version of an entry (from --file, or --title/--body/--topic changes)")
    ke.add_argument("entry_id", metavar="ID")
    ke.add_argument("--file", metavar="FILE.yaml")
    ke.add_argument("--title")
    ke.add_argument("--body")
    ke.add_argument("--topic")
    ke.add_argument("--message", default="", help="what and why (recorded)")
    ke.add_argument("--publish", action="store_true", help="publish the new version at once")
    actor(ke)
    override(ke)
    kh = ksub.add_parser("history", help="versions (author, time, message, checks) and every publish and rollback")
    kh.add_argument("entry_id", metavar="ID")
    kh.add_argument("--json", action="store_true")
    kd = ksub.add_parser("diff", help="a unified diff of two versions: ID@A ID@B")
    kd.add_argument("a", metavar="ID@A")
    kd.add_argument("b", metavar="ID@B")
    kp = ksub.add_parser("publish", help="serve a version (default: the latest) in every process")
    kp.add_argument("ref", metavar="ID[@N]")
    actor(kp)
    override(kp)
    kr = ksub.add_parser("rollback", help="serve the version published before the latest publish again")
    kr.add_argument("entry_id", metavar="ID")
    kr.add_argument("--reason", default="", help="why (recorded)")
    actor(kr)
    ki = ksub.add_parser("import", help="entries from a YAML file ({entries: [...]}) or JSON lines (*.jsonl)")
    ki.add_argument("file", metavar="FILE")
    ki.add_argument("--publish", action="store_true", help="publish every new or changed entry")
    ki.add_argument("--message", default="", help="the change message of each new version")
    actor(ki)
    kx = ksub.add_parser("export", help="every entry's latest version (and what is published) as one YAML file")
    kx.add_argument("file", metavar="FILE.yaml")
    kx.add_argument("--domain", help="only this domain's entries")
    kx.add_argument("--json", action="store_true")


def _ref(spec: str) -> tuple[str, int | None]:
    m = _REF.match(spec)
    if not m:
        raise UsageError(f"{spec!r} is not an entry reference: ID or ID@VERSION (ids are lower-case letters, "
                         f"digits and '-')")
    return m["id"], int(m["version"]) if m["version"] else None


def _entry_json(entry: Any, **extra: Any) -> dict[str, Any]:
    return {"id": entry.id, "version": entry.version, "title": entry.title, "topic": entry.topic,
            "domain": entry.domain, "body": entry.body, "sha256": entry.sha256, **extra}


def run(args: argparse.Namespace) -> int:
    from decorum.access import local_admin
    from decorum.bot.runtime import Runtime
    from decorum.settings import local_actor

    rt = Runtime.open()
    store = rt.knowledge
    cmd = args.knowledge_command
    if cmd == "list":
        rows = store.overview(args.domain)
        if args.json:
            print(json.dumps(rows))
            return EXIT_OK
        print(f"{'ID':<28} {'PUBLISHED':<10} {'LATEST':<7} {'DOMAIN':<10} TITLE")
        for r in rows:
            pub = f"v{r['published']}" if r["published"] else "draft"
            print(f"{r['id']:<28} {pub:<10} v{r['latest']:<6} {r['domain']:<10} {r['title']}")
        print(f"{len(rows)} entries")
        return EXIT_OK
    if cmd == "show":
        eid, version = _ref(args.ref)
        published = store.published_version(eid)
        entry = store.get(eid, version if version is not None else published)
        info = next(v for v in store.version_info(eid) if v["version"] == entry.version)
        data = _entry_json(entry, published=published, author=info["author"], created_at=info["created_at"],
                           message=info["message"], checks=info["checks"])
        if args.json:
            print(json.dumps(data))
            return EXIT_OK
        state = "published" if published == entry.version else ("draft" if published is None or
                                                                  entry.version > published else "earlier version")
        print(f"{entry.title}\n{entry.id} v{entry.version} ({state}; published: "
              f"{'v' + str(published) if published else 'none'})  domain {entry.domain}"
              f"{'  topic ' + entry.topic if entry.topic else ''}\n"
              f"by {info['author']} at {info['created_at']}{': ' + info['message'] if info['message'] else ''}\n"
              f"checks: {_checks_state(info['checks'])}  sha256 {entry.sha256[:12]}\n\n{entry.body}")
        return EXIT_OK
    if cmd == "history":
        from decorum.knowledge.registry import KnowledgeRegistry

        _ref(args.entry_id)
        hist = KnowledgeRegistry(store, rt.audit, guard=None).history(args.entry_id)
        if args.json:
            print(json.dumps(hist))
            return EXIT_OK
        for v in hist["versions"]:
            mark = " [published]" if v["version"] == hist["published"] else ""
            print(f"v{v['version']:<3} {v['created_at']}  {v['author']:<20} {_checks_state(v['checks']):<13} "
                  f"sha256 {v['sha256'][:12]}{mark}  {v['message']}".rstrip())
        for e in hist["events"]:
            if e["action"] in ("publish", "rollback"):
                move = f"v{e['from_version']} -> v{e['version']}" if e["from_version"] else f"-> v{e['version']}"
                why = f": {e['reason']}" if e["reason"] else ""
                print(f"{e['at']}  {e['action']:<8} {move} by {e['actor']}{' (override)' if e['override'] else ''}"
                      f"{why}")
        return EXIT_OK
    if cmd == "diff":
        (ia, va), (ib, vb) = _ref(args.a), _ref(args.b)
        if va is None or vb is None:
            raise UsageError("diff takes two versions: ID@A ID@B")
        from decorum.knowledge.registry import KnowledgeRegistry

        a, b = store.get(ia, va), store.get(ib, vb)
        text = KnowledgeRegistry(store, rt.audit, guard=None).diff(a, b)
        print(text if text else f"{a.ref} and {b.ref} have the same content", end="" if text else "\n")
        return EXIT_OK
    if cmd == "export":
        from decorum.knowledge.registry import KnowledgeRegistry

        n = KnowledgeRegistry(store, rt.audit, guard=None).export(Path(args.file), domain=args.domain)
        print(json.dumps({"file": args.file, "entries": n}) if args.json else f"wrote {n} entries to {args.file}")
        return EXIT_OK

    by = local_admin(local_actor(getattr(args, "actor", None)))
    reg = rt.knowledge_registry("cli")
    if cmd in ("add", "edit"):
        entry, message = _entry_from_args(args, store)
        stored = reg.save(entry, action=cmd, by=by, message=args.message or message,
                          override=args.override, reason=args.reason)
        published = None
        if args.publish:
            try:
                published = reg.publish(stored.id, stored.version, by=by, reason=args.reason, override=args.override)
            except UsageError as exc:
                raise UsageError(f"saved {stored.ref} as a draft, but publishing it was refused: {exc}") from exc
        if args.json:
            print(json.dumps(_entry_json(stored, published=published.version if published else None)))
        else:
            print(f"saved {stored.ref}" + (" and published it" if published else
                                           f" (a draft: `decorum knowledge publish {stored.id}@{stored.version}`)"))
        return EXIT_OK
    if cmd == "publish":
        eid, version = _ref(args.ref)
        entry = reg.publish(eid, version, by=by, reason=args.reason, override=args.override)
        print(json.dumps(_entry_json(entry)) if args.json else
              f"published {entry.ref}: answers cite it within {rt.config.prompts.cache_check_s:g} s in every process")
        return EXIT_OK
    if cmd == "rollback":
        _ref(args.entry_id)
        entry = reg.rollback(args.entry_id, by=by, reason=args.reason)
        print(json.dumps(_entry_json(entry)) if args.json else f"rolled back: {entry.ref} is published again")
        return EXIT_OK
    if cmd == "import":
        report = reg.import_file(Path(args.file), by=by, publish=args.publish, message=args.message)
        if args.json:
            print(json.dumps(report.as_dict()))
        else:
            print(f"created {len(report.created)}, unchanged {len(report.unchanged)}, published "
                  f"{len(report.published)}, refused {len(report.refused)}")
            for line in report.refused:
                print(f"refused: {line}")
        return 2 if report.refused else EXIT_OK
    raise AssertionError(cmd)


def _checks_state(checks: dict[str, Any] | None) -> str:
    if checks is None:
        return "unchecked"
    return "checks ok" if checks.get("passed") else "checks FAILED"


def _entry_from_args(args: argparse.Namespace, store: Any) -> tuple[Any, str]:
    from dataclasses import replace

    from decorum.knowledge.base import entry_from_mapping, load_entry_file

    fields = {k: getattr(args, k) for k in ("title", "body", "topic") if getattr(args, k, None) is not None}
    if args.knowledge_command == "add":
        if args.file:
            if args.entry_id or fields.get("title") or fields.get("body"):
                raise UsageError("give --file, or --id, --title and --body; not both")
            return load_entry_file(Path(args.file))
        row = {"id": args.entry_id, **fields, "domain": args.domain}
        if not args.entry_id:
            raise UsageError("add needs --file FILE.yaml, or --id, --title and --body")
        return entry_from_mapping(row)
    _ref(args.entry_id)
    if args.file:
        if fields:
            raise UsageError("give --file, or --title/--body/--topic changes; not both")
        return load_entry_file(Path(args.file), entry_id=args.entry_id)
    if not fields:
        raise UsageError("edit needs --file FILE.yaml, or at least one of --title, --body, --topic")
    latest = store.get(args.entry_id)
    row = {"id": latest.id, "title": latest.title, "body": latest.body, "topic": latest.topic,
           "domain": latest.domain, **fields}
    entry, _ = entry_from_mapping(row)
    return replace(entry, version=0), ""
