"""OAuth (multi-workspace) installation data in the project's database, shared by every replica.

Bot-only: one row per workspace (or org, for an org-wide install). ``app_uninstalled`` and
``tokens_revoked`` delete it through Bolt's token-revocation listeners.

The installation (bot token, refresh token, webhook URL) is stored encrypted with Fernet under
``DECORUM_ENCRYPTION_KEY``. A comma-separated list of keys rotates: the first encrypts, every one
decrypts, and ``migrate`` re-encrypts older rows (and rows stored in plaintext by earlier versions)
under the first.

Example::

    store = SqlInstallationStore(db, "<fernet key>")
    store.migrate()                                   # at start
    await store.async_save(installation)
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from datetime import datetime
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from decorum.bot.note import utc_now
from decorum.errors import ConfigError
from decorum.store import Database
from decorum.store.tables import SlackInstallationRow, SlackOAuthStateRow

logger = logging.getLogger(__name__)

MAKE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
PREFIX = "fernet:"


class UnreadableInstallation(Exception):
    """Stored installation data that no configured key decrypts."""


class InstallationCipher:
    """Fernet over installation JSON; ``keys`` is comma-separated, the first encrypts and all decrypt."""

    def __init__(self, keys: str | None) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not parts:
            raise ConfigError("OAuth install (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET) keeps each workspace's bot token "
                              "encrypted: set DECORUM_ENCRYPTION_KEY to a Fernet key. Make one with: " + MAKE_KEY)
        fernets = []
        for n, key in enumerate(parts, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise ConfigError(f"DECORUM_ENCRYPTION_KEY: key {n} of {len(parts)} is not a Fernet key (32 bytes, "
                                  f"url-safe base64). Make one with: {MAKE_KEY}") from None
        self._first = fernets[0]
        self._all = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._first.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, stored: str) -> str:
        """The JSON; a row from before encryption (plain JSON) is returned as it is."""
        from cryptography.fernet import InvalidToken

        if not stored.startswith(PREFIX):
            if stored.lstrip().startswith("{"):
                return stored
            raise UnreadableInstallation("neither encrypted nor JSON")
        try:
            return self._all.decrypt(stored[len(PREFIX):].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise UnreadableInstallation("no key in DECORUM_ENCRYPTION_KEY decrypts it") from None

    def upgrade(self, stored: str) -> str | None:
        """``stored`` encrypted under the first key, or None when it already is."""
        from cryptography.fernet import InvalidToken

        if stored.startswith(PREFIX):
            token = stored[len(PREFIX):].encode("ascii")
            try:
                self._first.decrypt(token)
                return None
            except InvalidToken:
                pass
        return self.encrypt(self.decrypt(stored))


def workspace_key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> str:
    """``<enterprise>:<team>``; an org-wide install is the org's alone (``E1:-``)."""
    team = None if is_enterprise_install else team_id
    return f"{enterprise_id or '-'}:{team or '-'}"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in an installation")


class SqlInstallationStore(AsyncInstallationStore):
    """``AsyncInstallationStore`` over the ``slack_installation`` table (database calls run in a thread).

    ``encryption_key`` is ``DECORUM_ENCRYPTION_KEY``: one Fernet key, or several comma-separated (rotation).
    """

    def __init__(self, db: Database, encryption_key: str | None) -> None:
        self.db = db
        self.cipher = InstallationCipher(encryption_key)
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def _save(self, installation: Installation) -> None:
        key = workspace_key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        data = self.cipher.encrypt(json.dumps(installation.to_dict_for_copying(), default=_json_default))
        for _attempt in range(3):
            with self.db.session() as s:
                row = s.execute(select(SlackInstallationRow).where(SlackInstallationRow.workspace == key)
                                ).scalar_one_or_none()
                if row is not None:
                    row.data, row.installed_at = data, utc_now()
                    return
            try:
                with self.db.session() as s:
                    s.add(SlackInstallationRow(workspace=key, enterprise_id=installation.enterprise_id,
                                               team_id=installation.team_id,
                                               is_enterprise_install=bool(installation.is_enterprise_install),
                                               data=data, installed_at=utc_now()))
                break
            except IntegrityError:  # another replica saved it first: update that row
                continue
        logger.info("slack installation saved workspace=%s", key)

    def _find(self, enterprise_id: str | None, team_id: str | None,
              is_enterprise_install: bool | None) -> Installation | None:
        keys = [workspace_key(enterprise_id, team_id, is_enterprise_install)]
        if enterprise_id and not is_enterprise_install:
            keys.append(workspace_key(enterprise_id, None, True))  # an org-wide install covers its workspaces
        with self.db.session() as s:
            for key in keys:
                data = s.execute(select(SlackInstallationRow.data).where(SlackInstallationRow.workspace == key)
                                 ).scalar_one_or_none()
                if data is not None:
                    return self._load(key, data)
        return None

    def _load(self, key: str, data: str) -> Installation | None:
        try:
            return Installation(**json.loads(self.cipher.decrypt(data)))
        except UnreadableInstallation as exc:
            logger.error("slack installation workspace=%s unreadable: %s (was the key changed? list the old key "
                         "after the new one, comma-separated, or reinstall the app)", key, exc)
            return None

    def migrate(self) -> int:
        """Encrypt plaintext rows and re-encrypt rows under an older key with the first; returns rows changed.

        Raises ``ConfigError`` when a row cannot be decrypted with any configured key.
        """
        with self.db.session() as s:
            rows = s.execute(select(SlackInstallationRow.workspace, SlackInstallationRow.data)).all()
        changed, unreadable = 0, []
        for workspace, data in rows:
            try:
                new = self.cipher.upgrade(data)
            except UnreadableInstallation:
                unreadable.append(workspace)
                continue
            if new is None:
                continue
            with self.db.session() as s:  # only if unchanged since read: a concurrent save wins
                res = s.execute(update(SlackInstallationRow).where(SlackInstallationRow.workspace == workspace,
                                                                   SlackInstallationRow.data == data)
                                .values(data=new))
            changed += int(getattr(res, "rowcount", 0) or 0)
        if changed:
            logger.info("slack installations re-encrypted: %s", changed)
        if unreadable:
            raise ConfigError(f"DECORUM_ENCRYPTION_KEY decrypts none of the stored Slack installations of "
                              f"{len(unreadable)} workspace(s) ({', '.join(sorted(unreadable)[:5])}): was the key "
                              "changed? Put the old key after the new one, comma-separated, to rotate; or delete those "
                              "installations and reinstall the app there.")
        return changed

    def _delete(self, enterprise_id: str | None, team_id: str | None) -> int:
        key = workspace_key(enterprise_id, team_id, False)  # no team: the org-wide install ("E1:-")
        with self.db.session() as s:
            res = s.execute(delete(SlackInstallationRow).where(SlackInstallationRow.workspace == key))
        n = int(getattr(res, "rowcount", 0) or 0)
        logger.info("slack installation deleted workspace=%s rows=%s", key, n)
        return n

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self._save, installation)

    async def async_save_bot(self, bot: Bot) -> None:  # bot-only store: saved with its installation
        return None

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        return await asyncio.to_thread(self._find, enterprise_id, team_id, is_enterprise_install)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        found = await asyncio.to_thread(self._find, enterprise_id, team_id, is_enterprise_install)
        return found.to_bot() if found is not None and found.bot_token else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(self._delete, enterprise_id, team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is not None:  # a person's user token was revoked: no user tokens are kept here
            return
        await asyncio.to_thread(self._delete, enterprise_id, team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(self._delete, enterprise_id, team_id)


class SqlOAuthStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values in the database, so any replica can finish an install another one started."""

    def __init__(self, db: Database, *, expiration_seconds: int = 600) -> None:
        self.db = db
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return logger

    def _issue(self) -> str:
        state = secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(SlackOAuthStateRow(state=state, expires_at=int(time.time()) + self.expiration_seconds))
        return state

    def _consume(self, state: str) -> bool:
        with self.db.session() as s:
            res = s.execute(delete(SlackOAuthStateRow).where(SlackOAuthStateRow.state == state[:64],
                                                             SlackOAuthStateRow.expires_at >= int(time.time())))
            s.execute(delete(SlackOAuthStateRow).where(SlackOAuthStateRow.expires_at < int(time.time())))
        return int(getattr(res, "rowcount", 0) or 0) == 1

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self._issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self._consume, state)
