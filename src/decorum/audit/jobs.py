"""Periodic audit jobs while ``decorum serve`` runs: signed checkpoints (appended to outside witnesses) and the
weekly summary.

* **checkpoint**, every ``audit.checkpoint_every_s`` seconds (default 600; 0: off), and once more when the server
  stops (``stop``): sign the log's head (``checkpoints.create_checkpoint``, naming the chain key's id) and append it
  to the witnesses: the file ``DECORUM_AUDIT_WITNESS`` (one JSON line, ``checkpoints.append_witness``; ``decorum
  audit verify`` reads it without being told) and, with ``audit.witness_channel`` and a Slack bot token, the channel:
  a one-line summary and the checkpoint's JSON line in a code block, the line ``decorum audit verify --checkpoints
  FILE`` reads. Nothing is signed while the log has not grown since the last checkpoint (a checkpoint that was
  signed but never reached a witness is appended or posted then); nothing is signed over a log that fails the last
  checkpoint (records removed or rewritten): that is logged as an error for ``decorum audit verify`` to name.
* **purge**, once a day while texts are kept (``audit.store_question``/``store_answer``): delete kept texts older
  than ``audit.text_retention_days`` (``retention.purge_texts``; an ``audit.purge`` record says how many).
* **summary**, at ``audit.summary_weekday`` ``audit.summary_hour_utc`` (UTC) with ``audit.summary_channel``: the
  7 days to that hour against the 7 before (``summary.weekly_summary``), posted with ``chat.postMessage``.
  A server that was down at that hour posts it when it comes back, up to ``SUMMARY_LATE_S`` late.

Replicas share the work through the database: each job and period is one ``audit_job_run`` row whose unique key
is the claim, so one replica signs or posts per period. A run that failed is taken again after
``RETRY_AFTER_S``, at most ``MAX_ATTEMPTS`` times; one left ``claimed`` by a process that died, after ``STALE_S``.
Errors are logged (job, period and the error's class: never a text) and the loop goes on.

Each job is one call with the time given (``checkpoint_once(now)``, ``summary_once(now)``), so tests drive it
with their own clock; ``start``/``stop`` run the loop in the server's lifespan, and ``stop`` signs the shutdown
checkpoint (``final_checkpoint``, at most ``STOP_CHECKPOINT_S``).

Example::

    jobs = AuditJobs(db, config.audit, settings.audit_signing_key_path, post=slack_poster(client),
                     witness=settings.audit_witness, audit=runtime.audit)
    await jobs.checkpoint_once(datetime.now(UTC))     # "posted", "signed", "unchanged", "taken", ...
    jobs.start()                                       # ... await jobs.stop(): the shutdown checkpoint too
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from decorum.audit.checkpoints import (
    Signer,
    append_witness,
    check_checkpoints,
    checkpoint_line,
    create_checkpoint,
    key_id,
)
from decorum.audit.config import WEEKDAYS, AuditConfig
from decorum.audit.query import iso
from decorum.audit.summary import summary_blocks, summary_text, weekly_summary
from decorum.store import Database
from decorum.store.tables import AuditCheckpointRow, AuditJobRunRow, AuditRecordRow

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from decorum.audit.log import SqlAuditLog

logger = logging.getLogger(__name__)

# (channel, notification text, blocks) -> posted; raises when it was not
Poster = Callable[[str, str, list[dict[str, Any]]], Awaitable[None]]
Clock = Callable[[], datetime]

CHECKPOINT, SUMMARY, PURGE = "checkpoint", "summary", "purge"
TICK_S = 60.0  # how often the loop looks whether a job is due
RETRY_AFTER_S = 300.0  # a failed run is taken again after this long ...
MAX_ATTEMPTS = 5  # ... this many times in all
STALE_S = 900.0  # a run left "claimed" this long: its process died
SUMMARY_LATE_S = 86400.0  # a weekly summary is still posted this long after its hour, not later
STOP_CHECKPOINT_S = 15.0  # the shutdown checkpoint (signing, the witness file and channel) may take this long
DONE = ("posted", "signed", "unchanged", "empty", "refused", "off")


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


class JobRuns:
    """The ``audit_job_run`` table: who runs which job for which period, and how it ended."""

    def __init__(self, db: Database, *, owner: str | None = None) -> None:
        self.db = db
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"[:80]

    def claim(self, job: str, period: str, now: datetime) -> bool:
        """True when this call may run ``job`` for ``period``: it inserted the row, or took over a failed or
        abandoned run (compare-and-set: of several replicas one wins)."""
        stamp = iso(now)
        with self.db.session() as s:
            row = s.execute(select(AuditJobRunRow).where(AuditJobRunRow.job == job,
                                                         AuditJobRunRow.period == period)).scalar_one_or_none()
        if row is None:
            try:
                with self.db.session() as s:
                    s.add(AuditJobRunRow(job=job, period=period, status="claimed", detail="", attempts=1,
                                         owner=self.owner, claimed_at=stamp, updated_at=stamp))
            except IntegrityError:
                return False  # another replica inserted it first
            return True
        wait = {"failed": RETRY_AFTER_S, "claimed": STALE_S}.get(row.status)
        if wait is None or row.attempts >= MAX_ATTEMPTS or row.updated_at > iso(now - timedelta(seconds=wait)):
            return False
        with self.db.session() as s:
            res = s.execute(update(AuditJobRunRow).where(
                AuditJobRunRow.id == row.id, AuditJobRunRow.status == row.status,
                AuditJobRunRow.updated_at == row.updated_at, AuditJobRunRow.attempts == row.attempts)
                .values(status="claimed", attempts=row.attempts + 1, owner=self.owner, updated_at=stamp))
        return getattr(res, "rowcount", 0) == 1

    def finish(self, job: str, period: str, status: str, now: datetime, detail: str = "") -> None:
        with self.db.session() as s:
            s.execute(update(AuditJobRunRow).where(AuditJobRunRow.job == job, AuditJobRunRow.period == period)
                      .values(status=status[:16], detail=detail[:200], updated_at=iso(now)))

    def get(self, job: str, period: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.execute(select(AuditJobRunRow).where(AuditJobRunRow.job == job,
                                                         AuditJobRunRow.period == period)).scalar_one_or_none()
        return None if row is None else {c: getattr(row, c) for c in ("job", "period", "status", "detail",
                                                                       "attempts", "owner", "updated_at")}

    def posted(self, job: str, detail: str) -> bool:
        """Whether a run of ``job`` with this ``detail`` (a checkpoint's seq and time) reached the channel."""
        with self.db.session() as s:
            return s.execute(select(AuditJobRunRow.id).where(
                AuditJobRunRow.job == job, AuditJobRunRow.status == "posted",
                AuditJobRunRow.detail == detail[:200]).limit(1)).first() is not None


# --- periods ---------------------------------------------------------------------------------------------------


def checkpoint_period(now: datetime, every_s: int) -> datetime:
    """The start of the checkpoint period holding ``now`` (periods of ``every_s`` seconds from the epoch)."""
    ts = int(_utc(now).timestamp())
    return datetime.fromtimestamp(ts - ts % every_s, UTC)


def summary_period(now: datetime, weekday: str, hour_utc: int) -> datetime:
    """The latest ``weekday`` ``hour_utc``:00 UTC at or before ``now``: the end of the week a summary covers."""
    now = _utc(now)
    day = now.replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    day -= timedelta(days=(day.weekday() - WEEKDAYS.index(weekday)) % 7)
    return day if day <= now else day - timedelta(days=7)


# --- what is posted --------------------------------------------------------------------------------------------


def checkpoint_message(cp: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(text, blocks) of a checkpoint post: a one-line summary, then the JSON line in a code block."""
    p = cp["payload"]
    summary = (f"Audit checkpoint: seq {p['seq']}, {p['count']} records, head {str(p['head_hash'])[:16]}…, "
               f"key {p['key_id']}, signed at {p['at']}")
    line = checkpoint_line(cp).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return summary, [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":lock: {summary}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{line}\n```"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "An outside witness of the audit log: save the line to a file and run "
            "`decorum audit verify --checkpoints FILE`.")}]},
    ]


def slack_poster(client: AsyncWebClient) -> Poster:
    """Post with ``chat.postMessage`` (the client's retries apply); a Slack error raises."""
    async def post(channel: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)

    return post


def _posting_error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None and hasattr(response, "get") else None
    return f"{exc.__class__.__name__}{':' + str(error)[:40] if error else ''}"


# --- the jobs ------------------------------------------------------------------------------------------------


class AuditJobs:
    """The periodic audit jobs of one process; ``post`` is None when Slack is not configured (nothing is posted)."""

    def __init__(self, db: Database, config: AuditConfig, signing_key_path: Path, *, post: Poster | None = None,
                 clock: Clock | None = None, tick_s: float = TICK_S, owner: str | None = None,
                 audit: SqlAuditLog | None = None, witness: Path | None = None) -> None:
        self.db = db
        self.audit = audit
        self.witness = witness  # DECORUM_AUDIT_WITNESS: each checkpoint is appended there
        self.config = config
        self.signing_key_path = signing_key_path
        self.post = post
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tick_s = min(tick_s, config.checkpoint_every_s) if config.checkpoint_every_s else tick_s
        self.runs = JobRuns(db, owner=owner)
        self._signer: Signer | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False

    @property
    def enabled(self) -> bool:
        return bool(self.config.checkpoint_every_s or (self.config.summary_channel and self.post is not None)
                    or self._keeps_texts)

    @property
    def _keeps_texts(self) -> bool:
        return self.audit is not None and (self.config.store_question or self.config.store_answer)

    def _open_signer(self) -> Signer:
        if self._signer is None:
            self._signer = Signer.open(self.signing_key_path, create=True)
        return self._signer

    # -- checkpoint ------------------------------------------------------------------------------------------

    async def checkpoint_once(self, now: datetime | None = None) -> str:
        """Sign (and witness) a checkpoint for the period holding ``now`` unless one was done; returns what
        happened: ``off``, ``taken`` (another run has this period), ``empty``, ``unchanged``, ``refused``,
        ``signed``, ``posted`` or ``failed``."""
        every = self.config.checkpoint_every_s
        if not every:
            return "off"
        now = _utc(now or self.clock())
        return await self._run_checkpoint(iso(checkpoint_period(now, every)), now)

    async def final_checkpoint(self, now: datetime | None = None) -> str:
        """The shutdown checkpoint: sign (and witness) the log's head unless no record arrived since the last
        checkpoint; its own period (``<time>/stop``), so it never waits for the periodic one's."""
        if not self.config.checkpoint_every_s:
            return "off"
        now = _utc(now or self.clock())
        return await self._run_checkpoint(f"{iso(now)}/stop", now)

    async def _run_checkpoint(self, period: str, now: datetime) -> str:
        if not await asyncio.to_thread(self.runs.claim, CHECKPOINT, period, now):
            return "taken"
        try:
            status, detail, cp = await asyncio.to_thread(self._checkpoint, now)
            if cp is not None and self.witness is not None:
                try:
                    await asyncio.to_thread(append_witness, self.witness, cp)
                except OSError as exc:
                    logger.error("audit checkpoint %s not appended to the witness file %s: %s", detail, self.witness,
                                 exc.strerror or exc.__class__.__name__)
                    status = "failed"  # taken again later: the log has not grown, so this checkpoint is appended
            channel = self.config.witness_channel
            if cp is not None and channel and self.post is not None and not await asyncio.to_thread(
                    self.runs.posted, CHECKPOINT, detail):
                try:
                    text, blocks = checkpoint_message(cp)
                    await self.post(channel, text, blocks)
                    status = "posted" if status != "failed" else status
                except Exception as exc:
                    logger.error("audit checkpoint %s not posted to the witness channel: %s", detail,
                                 _posting_error(exc))
                    status = "failed"  # taken again later: the log has not grown, so this checkpoint is posted
        except Exception as exc:
            logger.error("audit checkpoint job failed period=%s: %s", period, exc.__class__.__name__)
            status, detail = "failed", exc.__class__.__name__
        await asyncio.to_thread(self.runs.finish, CHECKPOINT, period, status, now, detail)
        if status in ("signed", "posted"):
            logger.info("audit checkpoint %s %s", detail, status)
        return status

    def _checkpoint(self, now: datetime) -> tuple[str, str, dict[str, Any] | None]:
        """(status, detail, the checkpoint to witness or None): a new one when the log grew, else the last one."""
        with self.db.session() as s:
            head = s.execute(select(AuditRecordRow.seq, AuditRecordRow.hash)
                             .order_by(AuditRecordRow.seq.desc()).limit(1)).first()
            last = s.execute(select(AuditCheckpointRow).order_by(AuditCheckpointRow.id.desc()).limit(1)).scalar()
        if head is None:
            return "empty", "", None  # nothing to pin yet
        signer = self._open_signer()
        if last is not None:
            previous = {"payload": json.loads(last.payload), "signature": last.signature}
            if int(last.seq) == int(head[0]) and last.head_hash == head[1]:
                return "unchanged", _detail(previous), previous
            if last.key_id == key_id(signer.public_key):  # a checkpoint of an earlier key: its .pub may be gone
                problems = check_checkpoints(self.db, signer.public_key, [previous])
                if problems:
                    logger.error("audit log fails its last signed checkpoint (seq %s): not signing over it; "
                                 "`decorum audit verify` names the problem", last.seq)
                    return "refused", f"seq={last.seq}", None
        cp = create_checkpoint(self.db, signer, at=iso(now),
                               chain_key=self.audit.chain_key if self.audit is not None else None)
        return "signed", _detail(cp), cp

    # -- weekly summary --------------------------------------------------------------------------------------

    async def summary_once(self, now: datetime | None = None) -> str:
        """Post the weekly summary of the period holding ``now`` unless it was posted; returns ``off``, ``late``,
        ``taken``, ``posted`` or ``failed``."""
        channel = self.config.summary_channel
        if not channel or self.post is None:
            return "off"
        now = _utc(now or self.clock())
        end = summary_period(now, self.config.summary_weekday, self.config.summary_hour_utc)
        if (now - end).total_seconds() > SUMMARY_LATE_S:
            return "late"
        period = iso(end)
        if not await asyncio.to_thread(self.runs.claim, SUMMARY, period, now):
            return "taken"
        try:
            summary = await asyncio.to_thread(weekly_summary, self.db, end)
            detail = (f"volume={summary['this_week']['volume']} blocked={summary['this_week']['blocked']} "
                      f"flagged={len(summary['flagged'])}")
            await self.post(channel, summary_text(summary), summary_blocks(summary))
            status = "posted"
        except Exception as exc:
            logger.error("audit weekly summary failed period=%s: %s", period, _posting_error(exc))
            status, detail = "failed", exc.__class__.__name__
        await asyncio.to_thread(self.runs.finish, SUMMARY, period, status, now, detail)
        if status == "posted":
            logger.info("audit weekly summary posted period=%s %s", period, detail)
        return status

    # -- retention -------------------------------------------------------------------------------------------

    async def purge_once(self, now: datetime | None = None) -> str:
        """Delete kept texts past retention, once per UTC day; returns ``off``, ``taken``, ``signed`` (done)
        or ``failed``."""
        from decorum.audit.retention import purge_texts

        if not self._keeps_texts or self.audit is None:
            return "off"
        now = _utc(now or self.clock())
        period = iso(now.replace(hour=0, minute=0, second=0, microsecond=0))
        if not await asyncio.to_thread(self.runs.claim, PURGE, period, now):
            return "taken"
        audit = self.audit
        try:
            report = await asyncio.to_thread(purge_texts, self.db, audit, now=now, actor="decorum:retention",
                                             older_than_days=self.config.text_retention_days)
            status, detail = "signed", f"purged={report['purged']} kept={report['kept']}"
        except Exception as exc:
            logger.error("audit purge job failed period=%s: %s", period, exc.__class__.__name__)
            status, detail = "failed", exc.__class__.__name__
        await asyncio.to_thread(self.runs.finish, PURGE, period, status, now, detail)
        if status != "failed":
            logger.info("audit retention purge %s", detail)
        return status

    # -- the loop --------------------------------------------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> dict[str, str]:
        """Run every job that is due at ``now``; a job's error is logged and the others still run."""
        now = _utc(now or self.clock())
        out = {}
        for name, job in ((CHECKPOINT, self.checkpoint_once), (SUMMARY, self.summary_once),
                          (PURGE, self.purge_once)):
            try:
                out[name] = await job(now)
            except Exception as exc:  # e.g. the database is away: try again at the next tick
                logger.error("audit job %s failed: %s", name, exc.__class__.__name__)
                out[name] = "failed"
        return out

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.tick_s)

    def start(self) -> None:
        if self._task is None and self.enabled:
            self._started = True
            self._task = asyncio.get_running_loop().create_task(self.run(), name="decorum-audit-jobs")
            logger.info("audit jobs started: checkpoint every %ss%s%s, weekly summary %s",
                        self.config.checkpoint_every_s,
                        " (appended to the witness file)" if self.witness else "",
                        " (posted to the witness channel)" if self.config.witness_channel and self.post else "",
                        f"{self.config.summary_weekday} {self.config.summary_hour_utc}:00 UTC"
                        if self.config.summary_channel and self.post else "off")

    async def stop(self, now: datetime | None = None) -> str | None:
        """Stop the loop, then sign the shutdown checkpoint (``final_checkpoint``; skipped when no record arrived
        since the last one) if the loop ran; returns its status (None when there was none)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not self._started:
            return None
        self._started = False
        try:
            return await asyncio.wait_for(self.final_checkpoint(now), timeout=STOP_CHECKPOINT_S)
        except TimeoutError:
            logger.error("audit shutdown checkpoint not done within %ss", STOP_CHECKPOINT_S)
        except Exception as exc:
            logger.error("audit shutdown checkpoint failed: %s", exc.__class__.__name__)
        return "failed"


def _detail(cp: dict[str, Any]) -> str:
    p = cp["payload"]
    return f"seq={p['seq']} at={p['at']}"


__all__ = ["AuditJobs", "JobRuns", "checkpoint_line", "checkpoint_message", "checkpoint_period",
           "slack_poster", "summary_period"]
