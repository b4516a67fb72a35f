"""First contact: each person is told once per workspace that they talk to an AI and that answers are logged.

Example::

    notices = FirstContact(db)
    if notices.claim("T1", "hmac:3f2a..."):
        ...  # post the notice; on failure ``release`` so it is posted next time
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from decorum.bot.note import utc_now
from decorum.store import Database
from decorum.store.tables import SlackUserNoticeRow


class FirstContact:
    """The ``slack_user_notice`` table, keyed by workspace and pseudonymised user (unique: one notice)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, team: str, user: str) -> bool:
        """True the first time for ``(team, user)``, across processes."""
        try:
            with self.db.session() as s:
                s.add(SlackUserNoticeRow(team=team, user=user, noticed_at=utc_now()))
        except IntegrityError:
            return False
        return True

    def release(self, team: str, user: str) -> None:
        """Forget a notice that could not be delivered."""
        with self.db.session() as s:
            s.execute(delete(SlackUserNoticeRow).where(SlackUserNoticeRow.team == team,
                                                       SlackUserNoticeRow.user == user))
