"""Exactly-once answers: a Slack message is answered by the process whose INSERT of its key wins.

Slack re-sends an event it thinks was not acknowledged (``X-Slack-Retry-Num``), sends a mention in a thread
twice (``app_mention`` and ``message``), and several ``decorum serve`` replicas may receive them. Every
path claims the same key before doing any work; the database's unique constraint decides, so the
guarantee holds across processes without any other lock. A claim is finished with its outcome; a claim
left open (``claimed``/``answering``) by a process that died is found by ``take_stale`` so the asker gets an apology.

Example::

    claims = EventClaims(db)
    if claims.claim(message_key("C1", "1700000000.000100"), kind="app_mention", channel="C1", ...):
        ...  # this process answers
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from decorum.bot.note import utc_now
from decorum.store import Database
from decorum.store.tables import SlackEventRow

logger = logging.getLogger(__name__)

ANSWERING_KINDS = ("app_mention", "message", "assistant")
OPEN = ("claimed", "answering")  # a process owns it; ``answering``: it got a slot (and is alive)


def message_key(channel: str, ts: str) -> str:
    """A person's message, however it reached us (mention, message event, retry, another replica)."""
    return f"msg:{channel}:{ts}"


def event_key(event_id: str) -> str:
    return f"event:{event_id}"


def command_key(trigger_id: str) -> str:
    return f"cmd:{trigger_id}"


@dataclass(frozen=True, slots=True)
class StaleClaim:
    key: str
    kind: str
    team: str | None
    channel: str | None
    thread_ts: str | None


class EventClaims:
    """The ``slack_event`` table: claims, outcomes, and which threads the bot takes part in."""

    def __init__(self, db: Database, *, owner: str | None = None) -> None:
        self.db = db
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"[:80]

    def claim(self, key: str, *, kind: str, event_id: str | None = None, team: str | None = None,
              channel: str | None = None, thread_ts: str | None = None) -> bool:
        """True when this call claimed ``key``; False when anyone (any process) claimed it before."""
        now = utc_now()
        try:
            with self.db.session() as s:
                s.add(SlackEventRow(key=key[:200], event_id=event_id, kind=kind, team=team, channel=channel,
                                    thread_ts=thread_ts, status="claimed", owner=self.owner, claimed_at=now,
                                    updated_at=now))
        except IntegrityError:
            return False
        return True

    def finish(self, key: str, status: str, note_id: str | None = None) -> None:
        """Record the outcome (``answered``, ``refused``, ``error``, ``help``, ...)."""
        with self.db.session() as s:
            s.execute(update(SlackEventRow).where(SlackEventRow.key == key)
                      .values(status=status[:16], note_id=note_id, updated_at=utc_now()))

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

    def take_stale(self, older_than_s: float, *, limit: int = 100) -> list[StaleClaim]:
        """Claims of messages untouched longer than ``older_than_s`` (their process died); each is taken once."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=older_than_s)).isoformat(timespec="milliseconds")
        cutoff = cutoff.replace("+00:00", "Z")
        with self.db.session() as s:
            rows = s.execute(select(SlackEventRow).where(
                SlackEventRow.status.in_(OPEN), SlackEventRow.updated_at < cutoff,
                SlackEventRow.kind.in_(ANSWERING_KINDS)).order_by(SlackEventRow.id).limit(limit)).scalars().all()
        taken = []
        for row in rows:
            with self.db.session() as s:  # compare-and-set: only one process apologises
                res = s.execute(update(SlackEventRow).where(SlackEventRow.key == row.key,
                                                            SlackEventRow.status == row.status,
                                                            SlackEventRow.updated_at == row.updated_at)
                                .values(status="abandoned", owner=self.owner, updated_at=utc_now()))
            if getattr(res, "rowcount", 0) == 1:
                taken.append(StaleClaim(row.key, row.kind, row.team, row.channel, row.thread_ts))
        return taken

    def prune(self, older_than_days: float) -> int:
        """Forget finished claims older than ``older_than_days`` (Slack retries within minutes; threads go quiet)."""
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="milliseconds")
        with self.db.session() as s:
            res = s.execute(delete(SlackEventRow).where(SlackEventRow.updated_at < cutoff.replace("+00:00", "Z"),
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
