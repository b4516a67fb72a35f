"""Exactly-once answers: a Slack message is answered by the process that holds its claim's lease.

Slack re-sends an event it thinks was not acknowledged (``X-Slack-Retry-Num``), sends a mention in a thread
twice (``app_mention`` and ``message``), and several ``decorum serve`` replicas may receive them. Every
path claims the same key before doing any work; the database's unique constraint decides, so the
guarantee holds across processes without any other lock.

A claim is a lease: it holds for ``lease_s`` seconds and the live process renews it while it works
(``renew``, every third of the lease). A process that dies stops renewing; once the lease has lapsed,
another replica takes the claim over (``take_over``, one compare-and-set UPDATE, so one replica wins),
either when Slack's retry of the event reaches it or when its sweep finds the lapsed claim
(``take_lapsed``), and answers the message itself. A draining process ``release``s the work it has not
started, so another replica can take it at once. A claim is finished with its outcome by its owner only;
a process that finds it lost its lease (``holds``) does not deliver.

Example::

    claims = EventClaims(db, lease_s=30)
    if claims.claim(message_key("C1", "1700000000.000100"), kind="app_mention", channel="C1", ...):
        ...  # this process answers, renewing the lease meanwhile
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from decorum.bot.note import utc_now
from decorum.store import Database
from decorum.store.tables import SlackEventRow

logger = logging.getLogger(__name__)

ANSWERING_KINDS = ("app_mention", "message", "assistant")
# A process owns it: ``claimed`` (queued), ``answering`` (it got a slot), ``released`` (a draining process
# gave it back: anyone may take it now).
OPEN = ("claimed", "answering", "released")
LEGACY_STALE_S = 900.0  # claims made before leases existed (no ``lease_until``) lapse this long after their update


def message_key(channel: str, ts: str) -> str:
    """A person's message, however it reached us (mention, message event, retry, another replica)."""
    return f"msg:{channel}:{ts}"


def event_key(event_id: str) -> str:
    return f"event:{event_id}"


def command_key(trigger_id: str) -> str:
    return f"cmd:{trigger_id}"


def parse_message_key(key: str) -> tuple[str, str] | None:
    """``(channel, ts)`` of a ``message_key``; None for other keys."""
    kind, _, rest = key.partition(":")
    channel, _, ts = rest.partition(":")
    return (channel, ts) if kind == "msg" and channel and ts else None


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StaleClaim:
    """A claim this process took over from one whose lease lapsed; ``attempts`` counts the owners so far."""

    key: str
    kind: str
    team: str | None
    channel: str | None
    thread_ts: str | None
    attempts: int = 1
    previous_owner: str = ""


class EventClaims:
    """The ``slack_event`` table: claims with leases, outcomes, and which threads the bot takes part in."""

    def __init__(self, db: Database, *, owner: str | None = None, lease_s: float = 30.0,
                 max_attempts: int = 3) -> None:
        self.db = db
        # host:pid:random: unique per surface, so two replicas in one process (tests) are two owners too
        self.owner = owner or f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease_s = lease_s
        self.max_attempts = max_attempts

    def _lease_until(self) -> str:
        return _iso(datetime.now(UTC) + timedelta(seconds=self.lease_s))

    def claim(self, key: str, *, kind: str, event_id: str | None = None, team: str | None = None,
              channel: str | None = None, thread_ts: str | None = None) -> bool:
        """True when this call claimed ``key``: it was new, or its owner's lease lapsed (a person's message only)."""
        now = utc_now()
        try:
            with self.db.session() as s:
                s.add(SlackEventRow(key=key[:200], event_id=event_id, kind=kind, team=team, channel=channel,
                                    thread_ts=thread_ts, status="claimed", owner=self.owner, claimed_at=now,
                                    updated_at=now, lease_until=self._lease_until(), attempts=1))
        except IntegrityError:
            # Slack's retry (or the other event of the same message) of a message whose owner died: answer it
            # here, unless it has already had its ``max_attempts`` (the sweep then apologises instead).
            return kind in ANSWERING_KINDS and self.take_over(key[:200], below=self.max_attempts) is not None
        return True

    def _lapsed(self, now: datetime) -> ColumnElement[bool]:
        legacy = _iso(now - timedelta(seconds=LEGACY_STALE_S))
        return and_(SlackEventRow.status.in_(OPEN), SlackEventRow.kind.in_(ANSWERING_KINDS),
                    or_(SlackEventRow.lease_until < _iso(now),
                        and_(SlackEventRow.lease_until.is_(None), SlackEventRow.updated_at < legacy)))

    def take_over(self, key: str, *, below: int | None = None) -> StaleClaim | None:
        """Take ``key`` when its lease has lapsed (compare-and-set: of several replicas one wins); with ``below``,
        only while fewer than ``below`` owners have had it."""
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.execute(select(SlackEventRow).where(SlackEventRow.key == key, self._lapsed(now))
                            ).scalar_one_or_none()
            if row is None or (below is not None and row.attempts >= below):
                return None
            before = (row.owner, row.attempts, row.updated_at)
            res = s.execute(update(SlackEventRow).where(
                SlackEventRow.key == key, SlackEventRow.owner == before[0], SlackEventRow.attempts == before[1],
                SlackEventRow.updated_at == before[2], self._lapsed(now))
                .values(owner=self.owner, status="claimed", lease_until=self._lease_until(),
                        attempts=SlackEventRow.attempts + 1, updated_at=utc_now()))
            if getattr(res, "rowcount", 0) != 1:
                return None
            taken = StaleClaim(row.key, row.kind, row.team, row.channel, row.thread_ts, before[1] + 1, before[0])
        logger.warning("slack claim taken over key=%s from=%s attempt=%s", key, before[0], taken.attempts)
        return taken

    def take_lapsed(self, *, limit: int = 50, skip: Iterable[str] = ()) -> list[StaleClaim]:
        """Claims whose owner stopped renewing (it died or was drained), each taken over by this process;
        ``skip``: keys this process still works on (a job here lost the lease; another replica may take them)."""
        skip = set(skip)
        with self.db.session() as s:
            keys = s.execute(select(SlackEventRow.key).where(self._lapsed(datetime.now(UTC)))
                             .order_by(SlackEventRow.id).limit(limit + len(skip))).scalars().all()
        keys = [k for k in keys if k not in skip][:limit]
        return [taken for key in keys if (taken := self.take_over(key)) is not None]

    def renew(self, keys: Iterable[str]) -> set[str]:
        """Extend this process's leases on ``keys``; returns the keys it still holds (the others were taken)."""
        keys = list(keys)
        if not keys:
            return set()
        mine = (SlackEventRow.key.in_(keys), SlackEventRow.owner == self.owner, SlackEventRow.status.in_(OPEN))
        with self.db.session() as s:
            s.execute(update(SlackEventRow).where(*mine).values(lease_until=self._lease_until()))
            return set(s.execute(select(SlackEventRow.key).where(*mine)).scalars().all())

    def holds(self, key: str) -> bool:
        """Whether this process still owns ``key`` (open, its lease not taken over)."""
        with self.db.session() as s:
            return s.execute(select(SlackEventRow.id).where(
                SlackEventRow.key == key, SlackEventRow.owner == self.owner,
                SlackEventRow.status.in_(OPEN))).first() is not None

    def release(self, key: str) -> bool:
        """Give ``key`` back unanswered (this process is draining): its lease ends now, so any replica may take it."""
        with self.db.session() as s:
            res = s.execute(update(SlackEventRow).where(
                SlackEventRow.key == key, SlackEventRow.owner == self.owner, SlackEventRow.status.in_(OPEN))
                .values(status="released", lease_until=utc_now(), updated_at=utc_now()))
        return getattr(res, "rowcount", 0) == 1

    def finish(self, key: str, status: str, note_id: str | None = None) -> bool:
        """Record the outcome (``answered``, ``refused``, ``error``, ``help``, ...); only while this process owns it."""
        with self.db.session() as s:
            res = s.execute(update(SlackEventRow).where(SlackEventRow.key == key, SlackEventRow.owner == self.owner)
                            .values(status=status[:16], note_id=note_id, updated_at=utc_now()))
        return getattr(res, "rowcount", 0) == 1

    def status(self, key: str) -> str | None:
        with self.db.session() as s:
            return s.execute(select(SlackEventRow.status).where(SlackEventRow.key == key)).scalar_one_or_none()

    def in_thread(self, channel: str, thread_ts: str) -> bool:
        """Whether the bot was asked something in this thread (so replies need no new mention)."""
        with self.db.session() as s:
            row = s.execute(select(SlackEventRow.id).where(
                SlackEventRow.channel == channel, SlackEventRow.thread_ts == thread_ts,
                SlackEventRow.kind.in_(ANSWERING_KINDS)).limit(1)).first()
        return row is not None

    def prune(self, older_than_days: float) -> int:
        """Forget finished claims older than ``older_than_days`` (Slack retries within minutes; threads go quiet)."""
        cutoff = _iso(datetime.now(UTC) - timedelta(days=older_than_days))
        with self.db.session() as s:
            res = s.execute(delete(SlackEventRow).where(SlackEventRow.updated_at < cutoff,
                                                        SlackEventRow.status.not_in(OPEN)))
        return int(getattr(res, "rowcount", 0) or 0)

    def answered(self, channel: str, ts_list: list[str]) -> set[str]:
        """Which of these messages of ``channel`` were answered (not refused) by the bot."""
        if not ts_list:
            return set()
        keys = {message_key(channel, ts): ts for ts in ts_list}
        with self.db.session() as s:
            rows = s.execute(select(SlackEventRow.key).where(SlackEventRow.key.in_(list(keys)),
                                                             SlackEventRow.status == "answered")).scalars().all()
        return {keys[k] for k in rows}
