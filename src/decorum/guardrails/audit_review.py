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

Example::

    sample = draw_sample(db, audit, AuditFilter(verdict="blocked_input"), 20, by="ana")
    mark(db, audit, sample, sample_items(db, sample)[0]["note_id"], "disagree", "harmless idiom", by="ana")
    csv_text = export_reviews(db, sample)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update

from decorum.errors import UsageError
from decorum.guardrails.audit import SqlAuditLog
from decorum.guardrails.audit_query import AuditFilter
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, AuditReviewRow

MAX_SAMPLE = 200
MAX_COMMENT = 2000
MARKS = ("agree", "disagree")
CSV_FIELDS = ("sample", "note_id", "seq", "record_created_at", "verdict", "action", "strategy", "template",
              "failed_checks", "drawn_at", "reviewer", "mark", "comment", "marked_at")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class ReviewNotFound(UsageError):
    """No such sample, or the record is not in it (HTTP 404)."""


class ReviewConflict(UsageError):
    """The record was marked by another reviewer (HTTP 409)."""


def _now() -> str:
    from decorum.bot.note import utc_now

    return utc_now()


def draw_sample(db: Database, audit: SqlAuditLog, flt: AuditFilter, n: int, *, by: str, seed: int | None = None,
                surface: str = "console") -> str:
    """Draw ``n`` (1..200) random answer records matching ``flt`` into a new sample; returns its id.

    Fewer match: the sample holds them all; none match: ``UsageError``. ``seed`` makes the draw repeatable
    (tests); without it the draw uses the system's randomness. Memory stays at ``n`` whatever the log's size
    (reservoir sampling over the matching seqs, read in chain order).
    """
    from decorum.bot.note import new_id

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


__all__ = ["MARKS", "MAX_COMMENT", "MAX_SAMPLE", "ReviewConflict", "ReviewNotFound", "draw_sample",
           "export_reviews", "mark", "sample_items", "samples", "summary"]
