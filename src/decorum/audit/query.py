"""Filters, pages and figures over the audit log: what the console, the CLI, exports and Slack share.

A filter (``AuditFilter``) is built from CLI flags or query parameters and validated once (unknown or
malformed values are refused with the field named). It becomes SQL over the record's indexed columns and
``audit_score`` rows (copies of the hashed note, checked by ``audit verify``), so a page of a 100,000-record
log is an index walk. Pages are keyset-paginated on ``seq`` (newest first): ``before`` is the cursor.

Example::

    flt = AuditFilter(verdict="blocked_input", check="toxicity", min_score=0.8, since="7d")
    page = search(db, flt, limit=50)            # page.records, page.next_before, page.total
    figures = stats(db, flt)                    # verdicts, strategies, per-day counts, score histograms ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from sqlalchemy import Integer, and_, case, cast, exists, func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from decorum.errors import UsageError
from decorum.store import Database
from decorum.store.tables import AuditRecordRow, AuditScoreRow, FeedbackRow

VERDICTS = ("answered", "blocked_input", "blocked_output", "error", "change")
_RELATIVE = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LIST_FIELDS = ("verdict", "strategy", "surface", "action", "engine")
PAGE_MAX = 500


def iso(dt: datetime) -> str:
    """The notes' timestamp form (UTC, milliseconds, ``Z``), so that string order is time order."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str, *, end: bool = False, now: datetime | None = None) -> str:
    """An ISO date or datetime, or a relative span back from now (``30m``, ``24h``, ``7d``, ``2w``).

    A bare date as an end bound covers that whole day (``--until 2026-11-30`` includes the 30th).
    """
    value = value.strip()
    m = _RELATIVE.match(value)
    if m:
        return iso((now or datetime.now(UTC)) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}))
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            start = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return iso(start + timedelta(days=1) if end else start)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date (2026-11-30), a datetime (2026-11-30T09:00Z) or a span "
                         "back from now (30m, 24h, 7d, 2w)") from None
    return iso(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


class AuditFilter(BaseModel):
    """Which records: every field optional, all given fields must hold. Comma lists for verdict, strategy,
    surface, action and engine mean any of them; ``template`` is ``name`` (every version) or ``name@version``."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    since: str | None = None
    until: str | None = None
    verdict: str | None = None
    strategy: str | None = None
    template: str | None = None
    model: str | None = None
    adapter: str | None = None
    engine: str | None = None
    check: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    action: str | None = None
    surface: str | None = None
    channel: str | None = None
    user: str | None = None
    feedback: Literal["up", "down", "any", "none"] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("since")
    @classmethod
    def _since(cls, value: str | None) -> str | None:
        return parse_time(value) if value else None

    @field_validator("until")
    @classmethod
    def _until(cls, value: str | None) -> str | None:
        return parse_time(value, end=True) if value else None

    @field_validator("verdict")
    @classmethod
    def _verdict(cls, value: str | None) -> str | None:
        if value:
            bad = [v for v in value.split(",") if v.strip() not in VERDICTS]
            if bad:
                raise ValueError(f"unknown verdict {bad[0]!r}; one of {', '.join(VERDICTS)}")
        return value

    @field_validator("min_score", "max_score")
    @classmethod
    def _score(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError("a score bound is between 0 and 1")
        return value

    @field_validator("template", "model", "adapter", "channel", "user", "check", "strategy", "surface", "action",
                     "engine")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 200 or not value.isprintable()):
            raise ValueError("at most 200 printable characters")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> AuditFilter:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise ValueError("min_score is above max_score")
        return self

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> AuditFilter:
        """Build from flags or query parameters; a bad value raises ``UsageError`` naming the field."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "filter"
            msg = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                msg = f"unknown filter; known: {', '.join(cls.model_fields)}"
            raise UsageError(f"audit filter {where}: {msg}") from None

    def active(self) -> dict[str, Any]:
        """The fields that are set (for a manifest, a summary line, a link)."""
        return self.model_dump(exclude_none=True)

    def where(self) -> list[ColumnElement[bool]]:
        r = AuditRecordRow
        clauses: list[ColumnElement[bool]] = []
        if self.since:
            clauses.append(r.created_at >= self.since)
        if self.until:
            clauses.append(r.created_at < self.until)
        for name in _LIST_FIELDS:
            value = getattr(self, name)
            if value:
                values = [v.strip() for v in value.split(",") if v.strip()]
                column = getattr(r, name)
                clauses.append(column == values[0] if len(values) == 1 else column.in_(values))
        if self.template:
            clauses.append(r.template == self.template if "@" in self.template
                           else r.template.like(_like_prefix(self.template + "@"), escape="\\"))
        for name in ("model", "adapter", "channel", "user"):
            value = getattr(self, name)
            if value:
                column = getattr(r, name)
                clauses.append(column == value if name != "adapter" or "@" in value
                               else column.like(_like_prefix(value + "@"), escape="\\"))
        if self.check or self.min_score is not None or self.max_score is not None:
            # Aliased, so that the subquery correlates on the record alone even where the outer query reads
            # audit_score (or feedback) too, as stats' histogram (and feedback) queries do.
            s = aliased(AuditScoreRow, name="score_filter")
            cond = [s.seq == r.seq]
            if self.check:
                cond.append(s.check == self.check)
            if self.min_score is not None:
                cond.append(s.score >= self.min_score)
            if self.max_score is not None:
                cond.append(s.score <= self.max_score)
            clauses.append(exists().where(and_(*cond)))
        if self.feedback:
            f = aliased(FeedbackRow, name="feedback_filter")
            base = [f.note_id == r.id]
            if self.feedback == "up":
                base.append(f.value > 0)
            elif self.feedback == "down":
                base.append(f.value < 0)
            given = exists().where(and_(*base))
            clauses.append(~given if self.feedback == "none" else given)
        return clauses


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class Page:
    """A page of records, newest first; ``next_before`` is the cursor of the next (older) page, None at the end."""

    records: list[dict[str, Any]]
    next_before: int | None
    total: int | None = None
    filter: dict[str, Any] = field(default_factory=dict)


def _row_dict(row: AuditRecordRow) -> dict[str, Any]:
    try:
        note = json.loads(row.note)
    except ValueError:
        note = {"id": row.id, "corrupt": True}
    return {**note, "hash": row.hash, "seq": row.seq}


def search(db: Database, flt: AuditFilter, *, limit: int = 50, before: int | None = None,
           with_total: bool = False) -> Page:
    """One page of matching records (newest first), older than ``before`` (a seq) when given."""
    if not 1 <= limit <= PAGE_MAX:
        raise UsageError(f"a page holds 1 to {PAGE_MAX} records")
    clauses = flt.where()
    q = select(AuditRecordRow).where(*clauses)
    if before is not None:
        q = q.where(AuditRecordRow.seq < before)
    with db.session() as s:
        rows = s.execute(q.order_by(AuditRecordRow.seq.desc()).limit(limit + 1)).scalars().all()
        total = count(db, flt, session=s) if with_total else None
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_row_dict(r) for r in rows], rows[-1].seq if more and rows else None, total, flt.active())


def count(db: Database, flt: AuditFilter, *, session: Any = None, upto: int | None = None) -> int:
    """How many records match; with ``upto``, only those at or before that seq (what an export pinned there holds)."""
    q = select(func.count()).select_from(AuditRecordRow).where(*flt.where())
    if upto is not None:
        q = q.where(AuditRecordRow.seq <= upto)
    if session is not None:
        return int(session.execute(q).scalar_one())
    with db.session() as s:
        return int(s.execute(q).scalar_one())


def stats(db: Database, flt: AuditFilter, *, bins: int = 10) -> dict[str, Any]:
    """Figures over the matching records: counts by verdict, strategy, surface, action and day; block rate per
    template version (``templates``: generated answers only) and per route and template with input blocks as a
    group of their own (``routes``, and ``block_rate`` over every answer record); score histograms per check
    (``bins`` equal bins over 0..1); feedback by strategy."""
    r, s_, f = AuditRecordRow, AuditScoreRow, FeedbackRow
    clauses = flt.where()
    day = func.substr(r.created_at, 1, 10)
    blocked = case((r.verdict.in_(("blocked_input", "blocked_output")), 1), else_=0)
    out: dict[str, Any] = {"filter": flt.active()}
    with db.session() as s:
        def by(column: Any) -> dict[str, int]:
            rows = s.execute(select(column, func.count()).where(*clauses).group_by(column)).all()
            return {str(k): int(n) for k, n in sorted(rows, key=lambda kv: -kv[1]) if k is not None}

        out["verdicts"] = by(r.verdict)
        out["total"] = sum(out["verdicts"].values())
        out["strategies"] = by(r.strategy)
        out["surfaces"] = by(r.surface)
        out["actions"] = by(r.action)
        per_day = s.execute(select(day, r.verdict, func.count()).where(*clauses).group_by(day, r.verdict)
                            .order_by(day)).all()
        days: dict[str, dict[str, int]] = {}
        for d, verdict, n in per_day:
            days.setdefault(str(d), {})[str(verdict)] = int(n)
        out["by_day"] = [{"day": d, **v} for d, v in days.items()]
        tpl = s.execute(select(r.template, func.count(), func.sum(blocked))
                        .where(r.template.is_not(None), r.verdict != "change", *clauses)
                        .group_by(r.template)).all()
        out["templates"] = sorted(({"template": t, "total": int(n), "blocked": int(b or 0),
                                    "block_rate": round(int(b or 0) / int(n), 4)} for t, n, b in tpl),
                                  key=lambda x: -x["total"])
        # Per route and template, every answer record (input blocks too: they have neither, being refused before
        # routing, so they are a group of their own rather than missing from every rate).
        blocked_in = case((r.verdict == "blocked_input", 1), else_=0)
        blocked_out = case((r.verdict == "blocked_output", 1), else_=0)
        routes = s.execute(select(r.strategy, r.template, func.count(), func.sum(blocked_in), func.sum(blocked_out))
                           .where(r.verdict != "change", *clauses).group_by(r.strategy, r.template)).all()
        out["routes"] = sorted(({"route": k, "template": t, "total": int(n), "blocked_input": int(bi or 0),
                                 "blocked_output": int(bo or 0),
                                 "block_rate": round((int(bi or 0) + int(bo or 0)) / int(n), 4)}
                                for k, t, n, bi, bo in routes), key=lambda x: (-x["total"], str(x["template"])))
        answers = sum(x["total"] for x in out["routes"])
        b_in = sum(x["blocked_input"] for x in out["routes"])
        b_out = sum(x["blocked_output"] for x in out["routes"])
        out["block_rate"] = {"answers": answers, "blocked_input": b_in, "blocked_output": b_out,
                             "rate": round((b_in + b_out) / answers, 4) if answers else None}
        raw = func.floor(s_.score * bins) if db.dialect == "postgresql" else cast(s_.score * bins, Integer)
        bucket = case((s_.score >= 1.0, bins - 1), else_=raw)
        hist = s.execute(select(s_.stage, s_.check, bucket.label("b"), func.count(), func.sum(case((s_.passed, 0),
                                                                                                  else_=1)))
                         .join(r, r.seq == s_.seq).where(*clauses).group_by(s_.stage, s_.check, "b")).all()
        scores: dict[str, dict[str, Any]] = {}
        for stage, check, b, n, failed in hist:
            entry = scores.setdefault(f"{stage}:{check}", {"stage": stage, "check": check, "bins": [0] * bins,
                                                            "failed": 0})
            entry["bins"][max(0, min(bins - 1, int(b)))] += int(n)
            entry["failed"] += int(failed or 0)
        out["scores"] = sorted(scores.values(), key=lambda e: (e["stage"], e["check"]))
        fb = s.execute(select(r.strategy, func.sum(case((f.value > 0, 1), else_=0)),
                              func.sum(case((f.value < 0, 1), else_=0)))
                       .join(f, f.note_id == r.id).where(*clauses).group_by(r.strategy)).all()
        out["feedback"] = {str(k or "none"): {"up": int(u or 0), "down": int(d or 0)} for k, u, d in fb}
    return out


def template_changes(db: Database, template: str) -> list[dict[str, Any]]:
    """The change records (edits, publishes, tests ...) of one template version (``name@version``)."""
    with db.session() as s:
        rows = s.execute(select(AuditRecordRow).where(AuditRecordRow.verdict == "change",
                                                      AuditRecordRow.template == template)
                         .order_by(AuditRecordRow.seq)).scalars().all()
    return [_row_dict(r) for r in rows]


def chain_neighbours(db: Database, seq: int) -> dict[str, Any]:
    """A record's place in the chain: its neighbours' ids and hashes, and the log's length."""
    r = AuditRecordRow
    with db.session() as s:
        prev = s.execute(select(r.seq, r.id, r.hash).where(r.seq < seq).order_by(r.seq.desc()).limit(1)).first()
        nxt = s.execute(select(r.seq, r.id, r.hash, r.prev_hash).where(r.seq > seq).order_by(r.seq).limit(1)).first()
        last = s.execute(select(func.max(r.seq))).scalar()
    return {"seq": seq, "last_seq": last,
            "previous": {"seq": prev[0], "id": prev[1], "hash": prev[2]} if prev else None,
            "next": {"seq": nxt[0], "id": nxt[1], "hash": nxt[2], "prev_hash": nxt[3]} if nxt else None}


def kept_texts(db: Database, note_ids: list[str], *, retention_days: int,
               now: datetime | None = None) -> dict[str, list[str]]:
    """Which texts (``question``, ``answer``) are kept for these records and still within retention, never the
    texts themselves: ``{note_id: ["answer", "question"]}``. A text past ``retention_days`` counts as gone even
    before the purge deletes it."""
    from decorum.store.tables import AuditTextRow

    cutoff = iso((now or datetime.now(UTC)) - timedelta(days=retention_days))
    out: dict[str, list[str]] = {}
    with db.session() as s:
        for i in range(0, len(note_ids), 500):
            rows = s.execute(select(AuditTextRow.note_id, AuditTextRow.field)
                             .where(AuditTextRow.note_id.in_(note_ids[i:i + 500]), AuditTextRow.stored_at >= cutoff)
                             .order_by(AuditTextRow.note_id, AuditTextRow.field)).all()
            for note_id, name in rows:
                out.setdefault(str(note_id), []).append(str(name))
    return out
