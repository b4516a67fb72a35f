"""``decorum audit …``: list, show, stats, export, verify, checkpoint, schema, subject, purge, review.

``review list|show|mark|export`` is the console's review queue on the command line; the standing sample
``false-positives`` holds the askers' "This was wrong" reports, and ``review export --false-positives --format
jsonl`` writes the marked ones whose text was kept as labelled rows for ``decorum guardrails calibrate --reports``.

The listing commands share the console's filters (``--since --until --verdict --strategy --template --model
--adapter --engine --check NAME --min-score X --max-score X --action --surface --channel --user --feedback``).
``verify --export FILE`` checks an export offline: it needs the signing key's public half (and, to recompute
keyed hashes, the chain key), not the database.

``verify`` never writes: it opens the database read-only (``Database.open_readonly``: no migration, no seed,
no key made), so it runs on a read-only copy of a data dir. A missing or different chain key while the log
holds records is a failure naming the first keyed seq and the key to restore (``chain_key_problems``); the
checkpoints it checks are the stored ones, the witness file ``DECORUM_AUDIT_WITNESS`` and ``--checkpoints``.
``adopt-chain-key`` gives a log written before chain keys existed its key (the only way a key is made for a
log that holds records).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from decorum.audit.describe import checks_cell, describe, table, what, when
from decorum.cli.base import EXIT_FAIL, EXIT_OK, Lazy, Parser, runtime

FILTERS = ("since", "until", "verdict", "strategy", "template", "model", "adapter", "engine", "check", "min_score",
           "max_score", "action", "surface", "channel", "user", "feedback")


def add_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (all given must hold)")
    g.add_argument("--since", metavar="WHEN", help="from this date/datetime (UTC) or span back (30m, 24h, 7d, 2w)")
    g.add_argument("--until", metavar="WHEN", help="before this datetime; a bare date includes that day")
    g.add_argument("--verdict", help="answered, blocked_input, blocked_output, error, change (comma: any of)")
    g.add_argument("--strategy", help="prompt_engineering or fine_tuned (comma: any of)")
    g.add_argument("--template", metavar="NAME[@VERSION]", help="a template (every version) or one version")
    g.add_argument("--model", help="the base model's name")
    g.add_argument("--adapter", metavar="NAME[@VERSION]", help="a domain adapter (every version) or one version")
    g.add_argument("--engine", help="the generation engine (comma: any of)")
    g.add_argument("--check", metavar="NAME", help="records with this guardrail check (with --min/--max-score)")
    g.add_argument("--min-score", type=float, metavar="X", help="a check's score at least X (0..1)")
    g.add_argument("--max-score", type=float, metavar="X", help="a check's score at most X (0..1)")
    g.add_argument("--action", help="allow, regenerated, fallback, block, error ... (comma: any of)")
    g.add_argument("--surface", help="slack, web, cli (comma: any of)")
    g.add_argument("--channel", help="a Slack channel id")
    g.add_argument("--user", help="a pseudonym (hmac:...) as notes show it")
    g.add_argument("--feedback", choices=["up", "down", "any", "none"], help="records with this feedback")


def add_parser(sub: Any, lazy: Lazy) -> None:
    audit = sub.add_parser("audit", help="read, filter, export and verify the audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True, parser_class=Parser)
    al = asub.add_parser("list", help="notes matching the filters, newest first, a page at a time")
    al.add_argument("--json", action="store_true", help="a JSON list of the notes (with seq and hash)")
    al.add_argument("--limit", type=int, default=20, help="records per page (1..500, default 20)")
    al.add_argument("--before", type=int, metavar="SEQ", help="the page older than SEQ (the cursor printed last)")
    add_filters(al)
    ash = asub.add_parser("show", help="one whole note")
    ash.add_argument("id")
    ash.add_argument("--json", action="store_true")
    ast = asub.add_parser("stats", help="figures over the matching notes: verdicts, strategies, scores, feedback")
    ast.add_argument("--json", action="store_true")
    add_filters(ast)
    av = asub.add_parser("verify", help="check the chain key, the hash chain and every signed checkpoint (stored, "
                                        "the witness file DECORUM_AUDIT_WITNESS, --checkpoints); exit 0 when all "
                                        "hold. Reads only: works on a read-only copy")
    av.add_argument("--checkpoints", metavar="FILE", help="also check the checkpoints in FILE (outside witnesses)")
    av.add_argument("--export", metavar="FILE", help="check an export offline instead of the database")
    av.add_argument("--manifest", metavar="FILE", help="the export's manifest (default FILE.manifest.json)")
    av.add_argument("--public-key", metavar="PEM", help="the signing key's public half (default: this data dir's)")
    av.add_argument("--chain-key", metavar="FILE", help="the chain key, to recompute keyed record hashes too")
    ac = asub.add_parser("checkpoint", help="sign the log's head (seq, count, head hash, time) with the audit key; "
                                            "appended to the witness file DECORUM_AUDIT_WITNESS when set")
    ac.add_argument("--out", metavar="FILE", help="also append the checkpoint to FILE (one JSON line)")
    ac.add_argument("--json", action="store_true")
    ak = asub.add_parser("adopt-chain-key", help="key a log written before chain keys existed from its next record "
                                                 "on (recorded in the log); refused where the log was keyed")
    ak.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    ae = asub.add_parser("export", help="matching notes as CSV or JSONL, with a signed manifest")
    ae.add_argument("--format", required=True, choices=["jsonl", "csv"])
    ae.add_argument("--out", metavar="FILE", help="write here (and FILE.manifest.json) instead of stdout")
    ae.add_argument("--manifest", metavar="FILE", help="where the manifest goes (default FILE.manifest.json)")
    ae.add_argument("--as", dest="actor", default=None, help="who exports (recorded); default: the OS user")
    add_filters(ae)
    asub.add_parser("schema", help="the transparency note's JSON Schema (versioned)")
    ap = asub.add_parser("purge", help="delete kept question/answer texts past their retention (verify stays green)")
    ap.add_argument("--older-than", type=int, metavar="DAYS", help="default: audit.text_retention_days")
    ap.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    asu = asub.add_parser("subject", help="one person's records (access or erasure request), every pseudonym key")
    asu.add_argument("user_id", help="the person's Slack user id (U…) or web user name")
    asu.add_argument("--texts", action="store_true", help="include the texts still kept (access request)")
    asu.add_argument("--erase", action="store_true", help="delete their kept texts (the notes hold no text)")
    asu.add_argument("--json", action="store_true")
    asu.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    ar = asub.add_parser("rotate-pseudonym-key", help="retire the pseudonym key and make a new one (restart after)")
    ar.add_argument("--as", dest="actor", default=None, help="who acts (recorded); default: the OS user")
    rv = asub.add_parser("review", help="the review queue: samples, marks, false-positive reports, exports")
    rsub = rv.add_subparsers(dest="review_command", required=True, parser_class=Parser)
    rl = rsub.add_parser("list", help="review samples, newest first (false-positives: the askers' reports)")
    rl.add_argument("--json", action="store_true")
    rs = rsub.add_parser("show", help="one sample's items with their checks and marks (reports: kept text too)")
    rs.add_argument("sample", help="a sample id, or false-positives")
    rs.add_argument("--json", action="store_true")
    rm = rsub.add_parser("mark", help="mark an item: agree (the guardrails decided right) or disagree (they were "
                                      "wrong: for a report, the block was a false positive)")
    rm.add_argument("sample")
    rm.add_argument("note_id")
    rm.add_argument("mark", choices=["agree", "disagree"])
    rm.add_argument("--comment", default="", help="your own words (kept in the review table, hashed in the log)")
    rm.add_argument("--as", dest="actor", default=None, help="who marks (recorded); default: the OS user")
    rm.add_argument("--json", action="store_true")
    rx = rsub.add_parser("export", help="marks as CSV; with --false-positives the marked reports whose text was "
                                        "kept, as labelled JSONL {text, check, stage, label, ...}")
    rx.add_argument("--sample", help="only this sample's marks (CSV; default every sample)")
    rx.add_argument("--false-positives", action="store_true", help="the labelled reports (needs --format jsonl)")
    rx.add_argument("--format", choices=["csv", "jsonl"], default=None, help="csv (marks) or jsonl (reports)")
    rx.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    rx.add_argument("--as", dest="actor", default=None, help="who exports (recorded); default: the OS user")


def _filter(args: argparse.Namespace) -> Any:
    from decorum.audit.query import AuditFilter

    return AuditFilter.parse({k: getattr(args, k, None) for k in FILTERS})


def run(args: argparse.Namespace) -> int:
    cmd = args.audit_command
    if cmd == "schema":
        from decorum.guardrails.note_schema import note_json_schema

        print(json.dumps(note_json_schema(), indent=2, ensure_ascii=False))
        return EXIT_OK
    if cmd == "verify" and args.export:
        return _verify_export(args)
    if cmd == "verify":
        return _verify(args)  # read-only: never Runtime.open (it migrates, seeds and makes keys)
    rt = runtime()
    if cmd == "list":
        return _list(rt, args)
    if cmd == "show":
        note = rt.audit.get(args.id)
        print(json.dumps(note, ensure_ascii=False) if args.json else "\n".join(describe(note)))
        return EXIT_OK
    if cmd == "stats":
        return _stats(rt, args)
    if cmd == "checkpoint":
        return _checkpoint(rt, args)
    if cmd == "adopt-chain-key":
        return _adopt_chain_key(rt, args)
    if cmd == "export":
        return _export(rt, args)
    if cmd == "purge":
        return _purge(rt, args)
    if cmd == "subject":
        return _subject(rt, args)
    if cmd == "rotate-pseudonym-key":
        return _rotate(rt, args)
    if cmd == "review":
        return _review(rt, args)
    raise AssertionError(cmd)


def _review(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit import review
    from decorum.errors import UsageError
    from decorum.settings import local_actor

    sub = args.review_command
    if sub == "list":
        found = review.samples(rt.db)
        if args.json:
            print(json.dumps(found, ensure_ascii=False))
            return EXIT_OK
        for x in found:
            print(f"{x['sample']}  drawn {x['drawn_at']}  {x['size']} items, {x['marked']} marked ({x['agree']} agree, "
                  f"{x['disagree']} disagree)" + (f"  by {', '.join(x['reviewers'])}" if x["reviewers"] else ""))
        return EXIT_OK
    if sub == "show":
        items = review.sample_items(rt.db, args.sample)
        if args.json:
            print(json.dumps({"sample": args.sample, "items": items, "summary": review.summary(items)},
                             ensure_ascii=False))
            return EXIT_OK
        for i in items:
            failed = ", ".join(f"{c['stage']}:{c['check']} {c['score']}" for c in i["checks"] if c["passed"] is False)
            line = (f"{i['created_at']}  {i['note_id']}  {i['verdict']}  {failed or '-'}  "
                    f"{i['mark'] or 'unmarked'}" + (f" by {i['reviewer']}" if i["reviewer"] else ""))
            report = i.get("report")
            if report:
                line += f"  reported via {report['surface']}, text {'kept' if report['text_kept'] else 'not kept'}"
            print(line)
            if report and report.get("text"):
                print(f"      text: {report['text']}")
        return EXIT_OK
    if sub == "mark":
        item = review.mark(rt.db, rt.audit, args.sample, args.note_id, args.mark, args.comment,
                           by=local_actor(args.actor), surface="cli")
        print(json.dumps(item, ensure_ascii=False) if args.json else f"marked {args.note_id}: {item['mark']}")
        return EXIT_OK
    fmt = args.format or ("jsonl" if args.false_positives else "csv")
    if args.false_positives:
        if fmt != "jsonl" or args.sample:
            raise UsageError("--false-positives exports labelled JSONL: give --format jsonl and no --sample")
        text = review.export_reports(rt.db, rt.audit, by=local_actor(args.actor), surface="cli")
        what = f"{text.count(chr(10))} labelled rows"
    else:
        if fmt != "csv":
            raise UsageError("marks export as CSV; labelled JSONL is --false-positives --format jsonl")
        text = review.export_reviews(rt.db, args.sample)
        what = f"{max(0, text.count(chr(10)) - 1)} marks"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
        print(f"exported {what} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return EXIT_OK


def _purge(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.retention import purge_texts
    from decorum.settings import local_actor

    days = rt.config.audit.text_retention_days if args.older_than is None else args.older_than
    report = purge_texts(rt.db, rt.audit, older_than_days=days, actor=local_actor(args.actor), dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report))
    elif args.dry_run:
        print(f"would purge {report['would_purge']} kept texts stored before {report['cutoff']} ({days} days); "
              f"{report['kept']} kept")
    else:
        print(f"purged {report['purged']} kept texts stored before {report['cutoff']} ({days} days retention); "
              f"{report['kept']} kept; recorded as {report['record']}")
    return EXIT_OK


def _subject(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.retention import erase_texts, record_subject_request, subject
    from decorum.settings import local_actor

    actor = local_actor(args.actor)
    found = subject(rt.db, rt.pseudonymiser, args.user_id, with_texts=args.texts)
    erased = erase_texts(rt.db, [r["id"] for r in found["records"]]) if args.erase else 0
    record = record_subject_request(rt.audit, found["pseudonyms"], action="erase" if args.erase else "lookup",
                                    actor=actor, count=len(found["records"]))
    found.update(erased=erased, record=record["id"])
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return EXIT_OK
    print(f"{len(found['records'])} records, {len(found['feedback'])} feedback votes, {found['texts_kept']} kept "
          f"texts under pseudonyms {', '.join(found['pseudonyms'])} (keys {', '.join(found['keys'])})")
    for r in found["records"]:
        kept = f" kept: {', '.join(r['texts_kept'])}" if r["texts_kept"] else ""
        print(f"  {r['created_at']}  seq {r['seq']}  {r['verdict']}  {r['surface']}  id {r['id']}{kept}")
        for name, text in (r.get("texts") or {}).items():
            print(f"      {name}: {text}")
    if args.erase:
        print(f"erased {erased} kept texts (the notes hold only pseudonyms and keyed hashes)")
    print(f"this request is recorded as {record['id']}", file=sys.stderr)
    return EXIT_OK


def _rotate(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.pseudonyms import Pseudonymiser
    from decorum.settings import local_actor

    secret = rt.settings.audit_key.get_secret_value() if rt.settings.audit_key else None
    old, new = Pseudonymiser.rotate(secret, rt.settings.data_dir)
    record = rt.audit.append_change("audit.key_rotation", actor=local_actor(args.actor), surface="cli",
                                    message=f"pseudonym key {old} retired, {new} in use after restart")
    print(f"pseudonym key rotated: {old} retired (kept for lookups), {new} in use once Decorum restarts; "
          f"recorded as {record['id']}")
    return EXIT_OK


def _list(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.query import PAGE_MAX, search
    from decorum.errors import UsageError

    if not 1 <= args.limit <= PAGE_MAX:
        raise UsageError(f"--limit must be between 1 and {PAGE_MAX}")
    page = search(rt.db, _filter(args), limit=args.limit, before=args.before)
    if args.json:
        print(json.dumps(page.records, ensure_ascii=False))
        return EXIT_OK
    if not page.records:
        print("no records match" if _filter(args).active() or args.before else "no records yet", file=sys.stderr)
        return EXIT_OK
    print(table(["ID", "CREATED (UTC)", "VERDICT", "SURFACE", "WHAT", "CHECKS"],
                [[str(n["id"]), when(n.get("created_at")), str(n["verdict"]), str(n.get("surface") or "-"),
                  what(n), checks_cell(n)] for n in page.records]))
    if page.next_before is not None:
        print(f"(more: add --before {page.next_before})", file=sys.stderr)
    return EXIT_OK


def _stats(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.query import stats

    figures = stats(rt.db, _filter(args))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
        return EXIT_OK
    total = figures["total"]
    print(f"{total} records" + (f" matching {json.dumps(figures['filter'])}" if figures["filter"] else ""))

    def line(title: str, counts: dict[str, int]) -> None:
        if counts:
            print(f"  {title}: " + ", ".join(f"{k} {v} ({v / max(total, 1):.0%})" for k, v in counts.items()))

    line("verdicts", figures["verdicts"])
    line("strategies", figures["strategies"])
    line("surfaces", figures["surfaces"])
    line("actions", figures["actions"])
    for t in figures["templates"][:10]:
        print(f"  template {t['template']}: {t['total']} answers, {t['blocked']} blocked ({t['block_rate']:.1%})")
    for s in figures["scores"]:
        print(f"  {s['stage']} {s['check']}: {sum(s['bins'])} scored, {s['failed']} failed; "
              f"histogram 0..1 {s['bins']}")
    for strategy, fb in figures["feedback"].items():
        print(f"  feedback {strategy}: {fb['up']} up, {fb['down']} down")
    return EXIT_OK


def _checkpoint(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.checkpoints import Signer, append_witness, checkpoint_line, create_checkpoint

    chain_key = rt.audit.chain_key  # refused first where the log holds records without its chain key
    cp = create_checkpoint(rt.db, Signer.open(rt.settings.audit_signing_key_path, create=True), chain_key=chain_key)
    line = checkpoint_line(cp)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    witness = rt.settings.audit_witness
    witness_error = None
    if witness is not None:
        try:
            append_witness(witness, cp)
        except OSError as exc:
            witness_error = exc.strerror or exc.__class__.__name__
    p = cp["payload"]
    print(line if args.json else f"checkpoint signed: seq {p['seq']}, {p['count']} records, head "
                                 f"{p['head_hash'][:16]}…, key {p['key_id']}"
                                 + (f" (appended to {args.out})" if args.out else "")
                                 + (f" (witness {witness})" if witness is not None and not witness_error else ""))
    if witness_error:
        print(f"decorum: failed: the checkpoint is stored, but not appended to the witness file {witness} "
              f"(DECORUM_AUDIT_WITNESS): {witness_error}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _adopt_chain_key(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.chain_key import adopt_chain_key
    from decorum.settings import local_actor

    path = rt.settings.audit_chain_key_path
    key, record = adopt_chain_key(path, rt.db, actor=local_actor(args.actor))
    print(f"chain key {key.key_id} adopted ({path}): records from seq {key.keyed_from_seq} on are keyed, the ones "
          f"before keep plain SHA-256 hashes; recorded as {record['id']}. Keep a copy of the key file outside the "
          "database's backups")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    """``audit verify`` on the configured database, opened read-only; writes nothing anywhere."""
    from decorum.settings import Settings
    from decorum.store import Database

    settings = Settings()
    url = settings.resolved_database_url
    from decorum.store.db import sqlite_path

    path = sqlite_path(url) if url.startswith("sqlite") else None
    if path and path != ":memory:" and not Path(path).exists():
        return _no_log_yet(settings, f"no SQLite database at {path}")
    db = Database.open_readonly(url)
    try:
        return _verify_db(settings, db, args)
    finally:
        db.dispose()


def _no_log_yet(settings: Any, what: str) -> int:
    """Verify where no audit log exists yet (``what``: no database file, or no schema in the database): a clean
    log of 0 records, unless something says a log existed (its chain key, or a witness holding checkpoints):
    then it was deleted or the configuration points elsewhere."""
    witness = settings.audit_witness
    traces = [str(settings.audit_chain_key_path)] if settings.audit_chain_key_path.exists() else []
    if witness is not None and witness.is_file() and witness.stat().st_size:
        traces.append(str(witness))
    if traces:
        print(f"audit log missing: {what}, but {' and '.join(traces)} say a log existed (restore the database, "
              "or point DECORUM_DATABASE_URL at it)", file=sys.stderr)
        return EXIT_FAIL
    print(f"0 records: no audit log yet ({what}; nothing has been recorded)")
    return EXIT_OK


def _verify_db(settings: Any, db: Any, args: argparse.Namespace) -> int:
    from sqlalchemy import func, inspect, select
    from sqlalchemy.exc import SQLAlchemyError

    from decorum.audit.chain_key import ChainKey, chain_key_problems, log_extent
    from decorum.audit.checkpoints import (
        check_checkpoints,
        load_public_key,
        read_checkpoint_file,
        signed_payloads,
        stored_checkpoints,
    )
    from decorum.audit.log import SqlAuditLog
    from decorum.audit.pseudonyms import Pseudonymiser
    from decorum.audit.retention import check_texts
    from decorum.errors import StoreError
    from decorum.store.db import describe_url
    from decorum.store.tables import AuditTextRow

    if not inspect(db.engine).has_table("audit_record"):
        return _no_log_yet(settings, f"no audit schema in {describe_url(settings.resolved_database_url)}")
    try:
        log_extent(db)
    except SQLAlchemyError as exc:
        raise StoreError(f"the audit log in {describe_url(settings.resolved_database_url)} cannot be read: "
                         f"{exc.__class__.__name__}") from exc
    key_path = settings.audit_chain_key_path
    key = ChainKey.load(key_path)
    sources: list[tuple[str, list[dict[str, Any]]]] = [("stored", stored_checkpoints(db))]
    witness = settings.audit_witness
    if witness is not None:
        if witness.is_file():
            sources.append((f"witness {witness}", read_checkpoint_file(witness, torn_tail_ok=True)))
        else:
            print(f"audit verify: the witness file {witness} (DECORUM_AUDIT_WITNESS) does not exist: no checkpoint "
                  "witnessed outside the database was checked", file=sys.stderr)
    if args.checkpoints:
        sources.append((str(args.checkpoints), read_checkpoint_file(Path(args.checkpoints))))
    count = sum(len(cps) for _, cps in sources)
    public = load_public_key(settings.audit_signing_key_path) if count else None
    witnessed = [(src, p) for src, cps in sources for p in signed_payloads(public, cps)] if public is not None else []
    checkpoint_problems = [line for src, cps in sources
                           for line in check_checkpoints(db, public, cps, source=src)] if public is not None else []

    failed = False
    for line in chain_key_problems(db, key_path, key, witnessed):
        print(f"audit chain key fails: {line}", file=sys.stderr)
        failed = True
    if not failed:
        result = SqlAuditLog(db, chain_key=key).verify()
        if not result.ok:
            hint = ""
            if key is not None and result.first_bad_seq is not None and key.for_seq(result.first_bad_seq) \
                    and "keyed with the chain key" in result.reason:
                hint = (f" ({key_path} holds chain key id {key.key_id}, keyed from seq {key.keyed_from_seq}: a "
                        "record changed, or a different key; restore the original if the file was replaced)")
            print(f"audit chain broken at record {result.first_bad_id} (seq {result.first_bad_seq}): "
                  f"{result.reason}{hint}; {result.checked} records before it hold", file=sys.stderr)
            print(result.first_bad_id)
            failed = True
    for line in checkpoint_problems:
        print(f"audit log fails a signed checkpoint: {line}", file=sys.stderr)
        failed = True
    if failed:
        return EXIT_FAIL

    secret = settings.audit_key.get_secret_value() if settings.audit_key else None
    pseudonymiser = Pseudonymiser.load(secret, settings.data_dir)
    texts, problems = 0, []
    if pseudonymiser is not None:
        texts, problems = check_texts(db, pseudonymiser)
    else:
        with db.session() as s:
            kept = int(s.execute(select(func.count()).select_from(AuditTextRow)).scalar_one())
        if kept:
            problems = [f"{kept} kept texts cannot be checked: no pseudonym key (DECORUM_AUDIT_KEY or "
                        f"{settings.data_dir / 'audit.key'})"]
    if problems:
        for line in problems[:50]:
            print(f"audit log fails: {line}", file=sys.stderr)
        return EXIT_FAIL
    witnessed_outside = sum(len(cps) for src, cps in sources if src != "stored")
    print(f"audit chain holds: {result.checked} records verified"
          + (f", {count} signed checkpoints hold" if count else "")
          + (f" ({witnessed_outside} from outside witnesses)" if witnessed_outside else "")
          + (f", {texts} kept texts match their notes" if texts else ""))
    return EXIT_OK


def _export(rt: Any, args: argparse.Namespace) -> int:
    from decorum.audit.checkpoints import Signer
    from decorum.audit.export import (
        build_manifest,
        export_to_file,
        manifest_path,
        start_export,
        stream_export,
    )
    from decorum.progress import ProgressLine
    from decorum.settings import local_actor

    flt = _filter(args)
    signer = Signer.open(rt.settings.audit_signing_key_path, create=True)
    chain_key = rt.audit.chain_key
    if args.out:
        out = Path(args.out)
        with ProgressLine(f"exporting audit records to {out.name}") as bar:
            signed = export_to_file(rt.db, flt, args.format, out, signer=signer, chain_key=chain_key,
                                    manifest_to=Path(args.manifest) if args.manifest else None,
                                    on_record=lambda n, total: bar.update(n / max(total, 1), f"{n}/{total}"))
        m = signed["manifest"]
        rt.audit.append_change("audit.export", actor=local_actor(args.actor), surface="cli", format=args.format,
                               upto=m["upto_seq"], filter=flt.active(), sha256=m["sha256"])
        print(f"exported {m['count']} records to {out} (up to seq {m['upto_seq']}, sha256 {m['sha256'][:16]}…); "
              f"manifest {args.manifest or manifest_path(out)}", file=sys.stderr)
        return EXIT_OK
    checkpoint = start_export(rt.db, signer)
    rt.audit.append_change("audit.export", actor=local_actor(args.actor), surface="cli", format=args.format,
                           upto=int(checkpoint["payload"]["seq"]), filter=flt.active())
    for chunk in stream_export(rt.db, flt, args.format, upto=int(checkpoint["payload"]["seq"])):
        sys.stdout.write(chunk)
    sys.stdout.flush()
    if args.manifest:
        signed = build_manifest(rt.db, flt, args.format, checkpoint=checkpoint, signer=signer, chain_key=chain_key)
        Path(args.manifest).write_text(json.dumps(signed, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        print("no manifest written (give --manifest FILE, or --out FILE)", file=sys.stderr)
    return EXIT_OK


def _verify_export(args: argparse.Namespace) -> int:
    from decorum.audit.chain_key import ChainKey
    from decorum.audit.checkpoints import load_public_key
    from decorum.audit.export import verify_export
    from decorum.errors import UsageError
    from decorum.settings import Settings

    if not Path(args.export).is_file():
        raise UsageError(f"{args.export}: no such export file")
    settings = Settings()
    public = load_public_key(Path(args.public_key) if args.public_key else settings.audit_signing_key_path)
    chain_key = None
    key_path = Path(args.chain_key) if args.chain_key else settings.audit_chain_key_path
    if args.chain_key or key_path.exists():
        chain_key = ChainKey.load(key_path)
        if chain_key is None:
            raise UsageError(f"{key_path}: no such chain key")
    problems, facts = verify_export(Path(args.export), public_key=public,
                                    manifest=Path(args.manifest) if args.manifest else None, chain_key=chain_key)
    if problems:
        for line in problems:
            print(f"export fails: {line}", file=sys.stderr)
        return EXIT_FAIL
    what = "the whole log" if facts["whole_log"] else f"filter {json.dumps(facts['filter'])}"
    print(f"export holds: {facts['count']} records ({what}, up to seq {facts['upto_seq']}), signed manifest and "
          f"checkpoint verify" + (f", {facts['hashes_recomputed']} record hashes recomputed with the chain key"
                                  if facts["hashes_recomputed"] else "; record hashes not recomputed (no chain key)"))
    return EXIT_OK
