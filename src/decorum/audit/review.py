"""The audit review queue: draw a random sample of answer records, mark each one, export the marks.

An auditor draws a sample of up to ``MAX_SAMPLE`` records matching an ``AuditFilter`` (answer records only:
``change`` records, the review's own included, are never drawn) and then marks each record *agree* (the
guardrails decided right) or *disagree*, with an optional comment. Samples and marks live in ``audit_review``
(one row per record drawn); each draw and each mark is itself audited, as a ``change`` record of kind
``review.sample`` (actor, sample id, size, the filter) or ``review.mark`` (actor, sample id, note id, mark,
the previous mark). The comment is the reviewer's own text and stays in the review table; the audit record
holds its length and SHA-256 only, so the chain proves which comment was given without repeating it.

Re-marking: the reviewer who marked a record may change their mark and comment (the row is updated; each
change is a new ``review.mark`` record naming the previous mark, so the log keeps every version). Another
reviewer cannot overwrite it (``ReviewConflict``): a second opinion is a new sample.

False-positive reports ("This was wrong"): the person a refusal was for may report it once (``file_report``; a
second report of the same note changes nothing). Each report is a row of ``false_positive_report`` and an item
of the standing sample ``false-positives`` (``REPORTS_SAMPLE``), marked like any other item: *agree* (the block
was right) or *disagree* (the block was wrong, a false positive). Every report is a ``review.report`` record
(the reporter's pseudonym, the note, the check that blocked, its score and threshold, whether the text was kept).
The refused text is kept only when the person opts in, only when this process still holds it
(``RefusedTexts``: refused questions held in memory for ``REFUSED_TEXT_TTL_S``, never written unless they opt
in) and only when it matches the note's keyed hash of the question; it goes to ``audit_text`` as the
note's ``question``, so the retention purge deletes it after ``audit.text_retention_days`` and ``audit verify``
checks it against its note. ``export_reports`` turns the marked reports whose text was kept into labelled rows
for ``decorum guardrails calibrate --reports``.

Example::

    sample = draw_sample(db, audit, AuditFilter(verdict="blocked_input"), 20, by="ana")
    mark(db, audit, sample, sample_items(db, sample)[0]["note_id"], "disagree", "harmless idiom", by="ana")
    csv_text = export_reviews(db, sample)

    report = file_report(db, audit, pseudonymiser, "01J...", asker="U024BE7LH", surface="slack", keep_text=True,
                         text=refused.get("01J..."))
    mark(db, audit, REPORTS_SAMPLE, report.note_id, "disagree", by="ana")   # the block was wrong
    jsonl = export_reports(db, audit, by="ana")  # {"text", "check", "stage", "label": "false_positive", ...}
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import random
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from decorum import metrics
from decorum.audit.log import SqlAuditLog
from decorum.audit.pseudonyms import Pseudonymiser
from decorum.audit.query import AuditFilter, iso
from decorum.errors import Forbidden, UsageError
from decorum.ids import new_id, utc_now
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, AuditReviewRow, AuditTextRow, FalsePositiveReportRow

MAX_SAMPLE = 200
MAX_COMMENT = 2000
MARKS = ("agree", "disagree")
CSV_FIELDS = ("sample", "note_id", "seq", "record_created_at", "verdict", "action", "strategy", "template",
              "failed_checks", "drawn_at", "reviewer", "mark", "comment", "marked_at")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
REPORTS_SAMPLE = "false-positives"  # the standing sample of "This was wrong" reports
REPORT_LABELS = {"agree": "blocked_correctly", "disagree": "false_positive"}  # the auditor's mark -> label
REFUSED = ("blocked_input", "blocked_output")
REFUSED_TEXT_TTL_S = 1800.0  # how long this process holds a refused question for its asker to keep (30 min)


class ReviewNotFound(UsageError):
    """No such sample, or the record is not in it (HTTP 404)."""


class ReviewConflict(UsageError):
    """The record was marked by another reviewer (HTTP 409)."""


class ReportRefused(Forbidden):
    """Only the person a refusal was for may report it (HTTP 403)."""


def _now() -> str:
    return utc_now()


def draw_sample(db: Database, audit: SqlAuditLog, flt: AuditFilter, n: int, *, by: str, seed: int | None = None,
                surface: str = "console") -> str:
    """Draw ``n`` (1..200) random answer records matching ``flt`` into a new sample; returns its id.

    Fewer match: the sample holds them all; none match: ``UsageError``. ``seed`` makes the draw repeatable
    (tests); without it the draw uses the system's randomness. Memory stays at ``n`` whatever the log's size
    (reservoir sampling over the matching seqs, read in chain order).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLE:
        raise UsageError(f"a review sample holds 1 to {MAX_SAMPLE} records, not {n!r}")
    r = AuditRecordRow
    rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
    picked: list[int] = []
    matched = 0
    with db.session() as s:
        seqs = s.execute(select(r.seq).where(r.verdict != "change", *flt.where()).order_by(r.seq)
                         .execution_options(yield_per=5000)).scalars()
        for seq in seqs:
            if matched < n:
                picked.append(seq)
            else:
                j = rng.randrange(matched + 1)
                if j < n:
                    picked[j] = seq
            matched += 1
    if not picked:
        raise UsageError("no answer records match this filter: nothing to review (change records are never drawn)")
    sample, now = new_id(), _now()
    with db.session() as s:
        ids = s.execute(select(r.id).where(r.seq.in_(picked)).order_by(r.seq)).scalars().all()
        s.add_all([AuditReviewRow(sample=sample, note_id=i, created_at=now, comment="") for i in ids])
    try:
        audit.append_change("review.sample", actor=by, surface=surface, sample=sample, size=len(ids), requested=n,
                            matched=matched, filter=flt.active())
    except Exception:
        with db.session() as s:  # an unrecorded draw must not stay behind
            s.query(AuditReviewRow).filter(AuditReviewRow.sample == sample).delete()
        raise
    return sample


def _checks(note: dict[str, Any]) -> list[dict[str, Any]]:
    guard = note.get("guardrails") if isinstance(note.get("guardrails"), dict) else {}
    out = []
    for stage in ("input", "first_output", "output"):
        for c in guard.get(stage) or []:
            if isinstance(c, dict):
                out.append({"stage": stage, "check": c.get("check"), "score": c.get("score"),
                            "threshold": c.get("threshold"), "passed": c.get("passed")})
    return out


def _item(row: AuditReviewRow, rec: AuditRecordRow | None) -> dict[str, Any]:
    note: dict[str, Any] = {}
    if rec is not None:
        try:
            note = json.loads(rec.note)
        except ValueError:
            note = {}
    return {"sample": row.sample, "note_id": row.note_id, "drawn_at": row.created_at,
            "seq": rec.seq if rec else None, "created_at": rec.created_at if rec else None,
            "verdict": rec.verdict if rec else None, "action": rec.action if rec else None,
            "strategy": rec.strategy if rec else None, "template": rec.template if rec else None,
            "checks": _checks(note), "reviewer": row.reviewer, "mark": row.mark, "comment": row.comment or "",
            "marked_at": row.marked_at}


def sample_items(db: Database, sample: str) -> list[dict[str, Any]]:
    """The sample's records in chain order, each with its verdict, action, checks and mark (``None``: unmarked)."""
    with db.session() as s:
        rows = s.execute(select(AuditReviewRow, AuditRecordRow)
                         .join(AuditRecordRow, AuditRecordRow.id == AuditReviewRow.note_id, isouter=True)
                         .where(AuditReviewRow.sample == sample)
                         .order_by(AuditRecordRow.seq, AuditReviewRow.id)).all()
        items = [_item(row, rec) for row, rec in rows]
    if not items:
        raise ReviewNotFound(f"no review sample {sample!r}")
    if sample == REPORTS_SAMPLE:
        reports = _reports(db, [i["note_id"] for i in items])
        for i in items:
            i["report"] = reports.get(i["note_id"])
    return items


def summary(items: list[dict[str, Any]]) -> dict[str, int]:
    marks = [i["mark"] for i in items]
    return {"size": len(items), "marked": sum(m is not None for m in marks), "agree": marks.count("agree"),
            "disagree": marks.count("disagree")}


def samples(db: Database, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest samples: id, when drawn, size, how many marked (agree/disagree), the reviewers."""
    a = AuditReviewRow
    with db.session() as s:
        rows = s.execute(select(a.sample, func.min(a.created_at), func.count(), func.count(a.mark),
                                func.sum(case((a.mark == "agree", 1), else_=0)),
                                func.sum(case((a.mark == "disagree", 1), else_=0)))
                         .group_by(a.sample).order_by(func.min(a.created_at).desc(), a.sample.desc())
                         .limit(limit)).all()
        ids = [r[0] for r in rows]
        who: dict[str, set[str]] = {}
        if ids:
            for sid, reviewer in s.execute(select(a.sample, a.reviewer).where(a.sample.in_(ids),
                                                                              a.reviewer.is_not(None)).distinct()):
                who.setdefault(sid, set()).add(reviewer)
    return [{"sample": sid, "drawn_at": at, "size": int(size), "marked": int(marked), "agree": int(agree or 0),
             "disagree": int(disagree or 0), "reviewers": sorted(who.get(sid, ()))}
            for sid, at, size, marked, agree, disagree in rows]


def mark(db: Database, audit: SqlAuditLog, sample: str, note_id: str, mark: str, comment: str = "", *, by: str,
         surface: str = "console") -> dict[str, Any]:
    """Mark one record of a sample ``agree`` or ``disagree`` with an optional comment (at most 2,000 characters).

    ``ReviewNotFound`` for an unknown sample or a record outside it; ``ReviewConflict`` when another reviewer
    marked it. The mark is stored, then audited (``review.mark``); when the audit record cannot be written the
    mark is undone, so the table never holds a mark the log does not.
    """
    if mark not in MARKS:
        raise UsageError(f'"mark" must be one of {", ".join(MARKS)}, got {json.dumps(mark)}')
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise UsageError('"comment" must be a string')
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise UsageError(f'"comment" has {len(comment)} characters; the limit is {MAX_COMMENT}')
    a = AuditReviewRow
    now = _now()
    with db.session() as s:
        if s.execute(select(a.id).where(a.sample == sample).limit(1)).first() is None:
            raise ReviewNotFound(f"no review sample {sample!r}")
        row = s.execute(select(a).where(a.sample == sample, a.note_id == note_id)).scalar_one_or_none()
        if row is None:
            raise ReviewNotFound(f"record {note_id!r} is not in review sample {sample!r}")
        if row.reviewer is not None and row.reviewer != by:
            raise ReviewConflict(f"record {note_id} was marked {row.mark} by {row.reviewer}; only they can change "
                                 "that mark (draw a new sample for a second opinion)")
        before = {"reviewer": row.reviewer, "mark": row.mark, "comment": row.comment or "", "marked_at": row.marked_at}
        done = s.execute(update(a).where(a.id == row.id, or_(a.reviewer.is_(None), a.reviewer == by))
                         .values(reviewer=by, mark=mark, comment=comment, marked_at=now))
        if done.rowcount != 1:  # another reviewer got there between the read and the write
            raise ReviewConflict(f"record {note_id} was just marked by another reviewer")
    try:
        audit.append_change("review.mark", actor=by, surface=surface, sample=sample, note_id=note_id, mark=mark,
                            previous=before["mark"], comment_chars=len(comment),
                            comment_sha256=hashlib.sha256(comment.encode("utf-8", "surrogatepass")).hexdigest())
    except Exception:
        with db.session() as s:
            s.execute(update(a).where(and_(a.sample == sample, a.note_id == note_id, a.reviewer == by,
                                           a.marked_at == now)).values(**before))
        raise
    with db.session() as s:
        row, rec = s.execute(select(a, AuditRecordRow)
                             .join(AuditRecordRow, AuditRecordRow.id == a.note_id, isouter=True)
                             .where(a.sample == sample, a.note_id == note_id)).one()
        return _item(row, rec)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (free text starting ``=``, ``+``, ``-``, ``@``)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def export_reviews(db: Database, sample: str | None = None) -> str:
    """The marks of one sample (or of every sample) as CSV text, a row per record drawn, header first.

    Reviewer and comment cells that start like a spreadsheet formula get a leading ``'``.
    """
    a = AuditReviewRow
    q = (select(a, AuditRecordRow).join(AuditRecordRow, AuditRecordRow.id == a.note_id, isouter=True)
         .order_by(a.created_at, a.sample, AuditRecordRow.seq, a.id))
    if sample is not None:
        q = q.where(a.sample == sample)
    with db.session() as s:
        items = [_item(row, rec) for row, rec in s.execute(q).all()]
    if sample is not None and not items:
        raise ReviewNotFound(f"no review sample {sample!r}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for i in items:
        failed = " ".join(f"{c['stage']}:{c['check']}" for c in i["checks"] if c["passed"] is False)
        writer.writerow([i["sample"], i["note_id"], i["seq"], i["created_at"], i["verdict"], i["action"],
                         i["strategy"], i["template"], failed, i["drawn_at"], _cell(i["reviewer"]), i["mark"] or "",
                         _cell(i["comment"]), i["marked_at"] or ""])
    return buf.getvalue()


# -- false-positive reports ("This was wrong") -------------------------------------------------------------


class RefusedTexts:
    """Refused questions held in this process's memory for ``ttl_s`` (at most ``max_items``), by note id.

    This is how a report can keep the text without the text travelling through Slack's ``private_metadata``
    or the browser: the surface that refused the question holds it briefly; a report filed within that time,
    by the asker who opts in, takes it from here. Nothing here is written anywhere; a process restart, or a
    report handled by another replica, finds nothing (the report is then filed without the text, and says so).
    """

    def __init__(self, ttl_s: float = REFUSED_TEXT_TTL_S, max_items: int = 1000) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, note_id: str, text: str) -> None:
        with self._lock:
            self._expire()
            self._items[note_id] = (time.monotonic() + self.ttl_s, text)
            self._items.move_to_end(note_id)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get(self, note_id: str) -> str | None:
        with self._lock:
            self._expire()
            found = self._items.get(note_id)
            return found[1] if found else None

    def forget(self, note_id: str) -> None:
        with self._lock:
            self._items.pop(note_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._items:
            first = next(iter(self._items.values()))
            if first[0] > now:
                return
            self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Report:
    """A filed report. ``created`` is False when the note had been reported already (nothing changed)."""

    note_id: str
    surface: str
    stage: str
    check: str
    score: float | None
    threshold: float | None
    text_kept: bool
    created_at: str
    record_id: str | None
    created: bool = True

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def blocking_result(note: dict[str, Any]) -> dict[str, Any] | None:
    """The check that refused ``note`` (the failed one with the highest score at the refused stage), or None."""
    stage = {"blocked_input": "input", "blocked_output": "output"}.get(str(note.get("verdict")))
    guard = note.get("guardrails") if isinstance(note.get("guardrails"), dict) else {}
    if stage is None:
        return None
    failed = [r for r in guard.get(stage) or [] if isinstance(r, dict) and r.get("passed") is False]
    if not failed:
        return {"stage": stage, "check": "unknown", "score": None, "threshold": None, "label": None}

    def score(r: dict[str, Any]) -> float:
        return float(r["score"]) if isinstance(r.get("score"), int | float) else 0.0

    top = max(failed, key=score)
    return {"stage": stage, "check": str(top.get("check") or "unknown")[:40],
            "score": float(top["score"]) if isinstance(top.get("score"), int | float) else None,
            "threshold": float(top["threshold"]) if isinstance(top.get("threshold"), int | float) else None,
            "label": top.get("label") if isinstance(top.get("label"), str) else None}


def asker_of(note: dict[str, Any]) -> str | None:
    """The pseudonym of the person the note answered (Slack: ``slack.user``; console and CLI: ``user``)."""
    slack = note.get("slack") if isinstance(note.get("slack"), dict) else {}
    who = slack.get("user") or note.get("user")
    return str(who) if who else None


def is_asker(pseudonymiser: Pseudonymiser, note: dict[str, Any], user_id: str) -> bool:
    """Whether ``user_id`` (a raw Slack id, or ``web:NAME``) is the note's asker, under the note's pseudonym key."""
    who = asker_of(note)
    if not who or not user_id:
        return False
    key = pseudonymiser.for_key(note.get("pseudonym_key")) or pseudonymiser
    return hmac.compare_digest(key.user(user_id), who)


def refusal_note(audit: SqlAuditLog, note_id: str) -> dict[str, Any]:
    """The refusal ``note_id``; ``ReviewNotFound`` when there is none, ``UsageError`` when it is not a refusal."""
    if not isinstance(note_id, str) or not note_id or len(note_id) > 32:
        raise ReviewNotFound(f"no refusal with reference {str(note_id)[:40]!r}")
    try:
        note = audit.get(note_id)
    except UsageError:
        raise ReviewNotFound(f"no refusal with reference {note_id!r}") from None
    if note.get("verdict") not in REFUSED:
        raise UsageError(f"record {note_id} is not a refusal (verdict {note.get('verdict')}): only refusals can be "
                         "reported as wrong")
    return note


def find_report(db: Database, note_id: str) -> Report | None:
    """The report on ``note_id`` (``created`` False), or None when it was never reported."""
    with db.session() as s:
        row = s.get(FalsePositiveReportRow, note_id)
        return _as_report(row, created=False) if row is not None else None


def _as_report(row: FalsePositiveReportRow, *, created: bool) -> Report:
    return Report(note_id=row.note_id, surface=row.surface, stage=row.stage, check=row.check, score=row.score,
                  threshold=row.threshold, text_kept=bool(row.text_kept), created_at=row.created_at,
                  record_id=row.record_id, created=created)


def file_report(db: Database, audit: SqlAuditLog, pseudonymiser: Pseudonymiser, note_id: str, *, asker: str,
                surface: str, keep_text: bool = False, text: str | None = None) -> Report:
    """File the asker's "This was wrong" on the refusal ``note_id`` into the review queue; one report per note.

    ``asker`` is the raw id of whoever reports (Slack ``U…``, or ``web:NAME``): ``ReportRefused`` unless it is
    the person the refusal was for. A second report returns the first (``created`` False) and changes nothing.
    ``text`` is kept only with ``keep_text`` and only when it is the refused question (its keyed hash matches
    the note's); it is stored as the note's kept ``question`` under the retention purge. The report is
    stored, then audited (``review.report``); when the audit record cannot be written it is undone.
    """
    note = refusal_note(audit, note_id)
    if not is_asker(pseudonymiser, note, asker):
        raise ReportRefused("only the person this refusal was for can report it")
    existing = find_report(db, note_id)
    if existing is not None:
        return existing
    blocking = blocking_result(note) or {}
    key = pseudonymiser.for_key(note.get("pseudonym_key")) or pseudonymiser
    want = str((note.get("request") if isinstance(note.get("request"), dict) else {}).get("hmac_sha256") or "")
    keep = text if (keep_text and isinstance(text, str) and text and want
                    and hmac.compare_digest(key.fingerprint(text)["hmac_sha256"], want)) else None
    reporter = str(asker_of(note))
    now = _now()
    stored_text = False
    try:
        with db.session() as s:
            s.add(FalsePositiveReportRow(
                note_id=note_id, reporter=reporter, surface=surface[:16], stage=blocking.get("stage") or "input",
                check=blocking.get("check") or "unknown", score=blocking.get("score"),
                threshold=blocking.get("threshold"), text_kept=keep is not None, created_at=now))
            s.add(AuditReviewRow(sample=REPORTS_SAMPLE, note_id=note_id, created_at=now, comment=""))
            if keep is not None and s.get(AuditTextRow, (note_id, "question")) is None:
                s.add(AuditTextRow(note_id=note_id, field="question", text=keep, stored_at=now))
                stored_text = True
    except IntegrityError:  # two presses raced: the other one filed it
        existing = find_report(db, note_id)
        if existing is not None:
            return existing
        raise
    try:
        record = audit.append_change("review.report", actor=reporter, surface=surface, sample=REPORTS_SAMPLE,
                                     note_id=note_id, stage=blocking.get("stage"), check=blocking.get("check"),
                                     score=blocking.get("score"), threshold=blocking.get("threshold"),
                                     text_kept=keep is not None)
    except Exception:
        with db.session() as s:  # an unrecorded report must not stay behind
            s.execute(delete(FalsePositiveReportRow).where(FalsePositiveReportRow.note_id == note_id))
            s.execute(delete(AuditReviewRow).where(AuditReviewRow.sample == REPORTS_SAMPLE,
                                                   AuditReviewRow.note_id == note_id))
            if stored_text:
                s.execute(delete(AuditTextRow).where(AuditTextRow.note_id == note_id, AuditTextRow.field == "question"))
        raise
    with db.session() as s:
        s.execute(update(FalsePositiveReportRow).where(FalsePositiveReportRow.note_id == note_id)
                  .values(record_id=record["id"]))
        row = s.get(FalsePositiveReportRow, note_id)
        report = _as_report(row, created=True) if row is not None else None
    metrics.count_false_positive_report(blocking.get("check"))
    assert report is not None
    return report


def _reports(db: Database, note_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The report facts of these items, with the kept text where the asker opted in and it is still kept."""
    out: dict[str, dict[str, Any]] = {}
    with db.session() as s:
        for i in range(0, len(note_ids), 500):
            chunk = note_ids[i:i + 500]
            rows = s.execute(select(FalsePositiveReportRow, AuditTextRow.text)
                             .join(AuditTextRow, and_(AuditTextRow.note_id == FalsePositiveReportRow.note_id,
                                                      AuditTextRow.field == "question"), isouter=True)
                             .where(FalsePositiveReportRow.note_id.in_(chunk))).all()
            for row, text in rows:
                out[row.note_id] = {"surface": row.surface, "reported_at": row.created_at, "stage": row.stage,
                                    "check": row.check, "score": row.score, "threshold": row.threshold,
                                    "text_kept": bool(row.text_kept and text is not None),
                                    "text": text if row.text_kept else None}
    return out


def report_rows(db: Database) -> list[dict[str, Any]]:
    """The marked reports as labelled rows: ``{"text", "check", "stage", "label", "scored_label", "score",
    "threshold"}``, ``label`` being ``false_positive`` (the block was wrong) or ``blocked_correctly``.

    Only input-stage reports whose asker kept the text (and it is still kept): an output refusal's check scored
    the unshown draft answer, not the question, so its question would be a wrongly labelled row.
    """
    r, a, t = FalsePositiveReportRow, AuditReviewRow, AuditTextRow
    q = (select(r, a.mark, t.text, AuditRecordRow.note)
         .join(a, and_(a.note_id == r.note_id, a.sample == REPORTS_SAMPLE))
         .join(t, and_(t.note_id == r.note_id, t.field == "question"))
         .join(AuditRecordRow, AuditRecordRow.id == r.note_id)
         .where(r.text_kept.is_(True), r.stage == "input", a.mark.is_not(None))
         .order_by(r.created_at, r.note_id))
    out = []
    with db.session() as s:
        for row, mark_, text, note_json in s.execute(q).all():
            try:
                scored = (blocking_result(json.loads(note_json)) or {}).get("label")
            except ValueError:
                scored = None
            out.append({"text": text, "check": row.check, "stage": row.stage, "label": REPORT_LABELS[mark_],
                        "scored_label": scored or row.check, "score": row.score, "threshold": row.threshold})
    return out


def export_reports(db: Database, audit: SqlAuditLog, *, by: str, surface: str = "console") -> str:
    """``report_rows`` as JSONL (one object a line); the export is audited (``review.export``: count, SHA-256)."""
    rows = report_rows(db)
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    audit.append_change("review.export", actor=by, surface=surface, sample=REPORTS_SAMPLE, rows=len(rows),
                        sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    return text


__all__ = ["MARKS", "MAX_COMMENT", "MAX_SAMPLE", "REPORTS_SAMPLE", "REPORT_LABELS", "RefusedTexts", "Report",
           "ReportRefused", "ReviewConflict", "ReviewNotFound", "blocking_result", "draw_sample", "export_reports",
           "export_reviews", "file_report", "find_report", "is_asker", "mark", "refusal_note", "report_rows",
           "sample_items", "samples", "summary"]


def reveal_texts(db: Database, audit: SqlAuditLog, note_id: str, *, by: str, retention_days: int,
                 surface: str = "console", now: datetime | None = None) -> dict[str, Any]:
    """The kept question and answer of one record, for an auditor to judge: the reveal is itself a record.

    Only texts kept within ``retention_days`` are shown. Each reveal appends an ``audit.text_read`` change
    (who, which record, which fields; never the text) before the text is returned, so a reveal that could
    not be recorded shows nothing. ``ReviewNotFound`` when the record keeps no text (never kept, or purged).

    Example::

        shown = reveal_texts(db, audit, "01J...", by="ana", retention_days=30)
        shown["texts"]["question"], shown["record"]   # the text, and the id of the audit record of this reveal
    """
    cutoff = iso((now or datetime.now(UTC)) - timedelta(days=retention_days))
    with db.session() as s:
        rows = s.execute(select(AuditTextRow.field, AuditTextRow.text, AuditTextRow.stored_at)
                         .where(AuditTextRow.note_id == note_id, AuditTextRow.stored_at >= cutoff)
                         .order_by(AuditTextRow.field)).all()
    if not rows:
        raise ReviewNotFound(f"record {note_id} keeps no question or answer text (text keeping was off, or the "
                             f"text is past its {retention_days}-day retention)")
    texts = {str(name): str(text) for name, text, _ in rows}
    record = audit.append_change("audit.text_read", actor=by, surface=surface, note_id=note_id,
                                 fields=sorted(texts))
    return {"note_id": note_id, "texts": texts, "stored_at": min(str(at) for _, _, at in rows),
            "retention_days": retention_days, "record": record["id"]}
