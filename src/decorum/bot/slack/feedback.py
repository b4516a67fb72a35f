"""👍 / 👎 on answers, stored in the ``feedback`` table with the note id: one vote per person per note.

Example::

    votes = FeedbackStore(db)
    votes.vote("01J...", "hmac:3f2a...", +1)   # a second click updates the vote
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from decorum.bot.note import utc_now
from decorum.errors import UsageError
from decorum.store import Database
from decorum.store.tables import FeedbackRow


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def vote(self, note_id: str, user: str, value: int) -> None:
        """Record ``user``'s vote (+1 or -1) on the note; a later vote replaces the earlier one."""
        if value not in (1, -1):
            raise UsageError(f"a vote is +1 or -1, not {value!r}")
        for _attempt in range(3):  # insert, or update when the person voted before (two clicks may race)
            with self.db.session() as s:
                res = s.execute(update(FeedbackRow).where(FeedbackRow.note_id == note_id, FeedbackRow.user == user)
                                .values(value=value, created_at=utc_now()))
                if getattr(res, "rowcount", 0):
                    return
            try:
                with self.db.session() as s:
                    s.add(FeedbackRow(note_id=note_id, user=user, value=value, created_at=utc_now()))
                return
            except IntegrityError:
                continue

    def votes(self, note_id: str) -> dict[str, int]:
        """``{pseudonymised user: vote}`` for one note."""
        with self.db.session() as s:
            rows = s.execute(select(FeedbackRow.user, FeedbackRow.value).where(FeedbackRow.note_id == note_id))
            return {u: v for u, v in rows}
