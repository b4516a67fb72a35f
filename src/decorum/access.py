"""Who may do what: users with cumulative roles, their tokens and console sessions, and the one check.

Every admin feature (templates, models, audit, users) asks ``AccessControl.require(principal, permission)``;
nothing else decides. Roles are cumulative, each one adding to the one before:

========== ================================================================================
viewer     templates, models, routing, metrics, the playground
auditor    + the audit log, exports, reviews
editor     + template drafts
publisher  + publish, rollback, promote
admin      + users, policy, overrides
========== ================================================================================

A web or API caller is a user created with ``decorum users add NAME --role ROLE``: the token is printed
once and only its SHA-256 is stored (tokens are 256 random bits, so a plain hash is enough). A Slack user
gets a role by user id (``access.slack_roles`` in the YAML) and, optionally, by being a workspace admin
(``access.slack_workspace_admins``). The CLI acts as a local admin: whoever can read the data dir can read
the database. Asking the bot in Slack needs no role; everything else does. Refusals (401 and 403), logins
and changes to users are recorded in ``access_event`` (names and pseudonyms, never tokens).

Example::

    access = AccessControl(db, AccessConfig())
    user, token = access.add_user("ana", "auditor", by=local_admin("local:root"))
    who = access.authenticate_token(token)
    access.require(who, "audit.read", surface="api", target="/api/audit")   # ok
    access.require(who, "users.manage", surface="api")                      # raises Forbidden
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from decorum import metrics
from decorum.bot.note import utc_now
from decorum.errors import Forbidden, Unauthenticated, UsageError
from decorum.store import Database
from decorum.store.tables import AccessEventRow, UserRow, WebSessionRow

logger = logging.getLogger(__name__)

Role = Literal["viewer", "auditor", "editor", "publisher", "admin"]
ROLES: tuple[str, ...] = ("viewer", "auditor", "editor", "publisher", "admin")

# permission -> the least role that holds it (roles are cumulative)
PERMISSIONS: dict[str, str] = {
    "templates.read": "viewer",
    "knowledge.read": "viewer",
    "models.read": "viewer",
    "routing.read": "viewer",
    "metrics.read": "viewer",
    "playground.ask": "viewer",
    "audit.read": "auditor",
    "audit.export": "auditor",
    "audit.review": "auditor",
    "templates.edit": "editor",
    "templates.publish": "publisher",
    "templates.rollback": "publisher",
    "knowledge.edit": "editor",
    "knowledge.publish": "publisher",
    "knowledge.rollback": "publisher",
    "models.promote": "publisher",
    "users.manage": "admin",
    "policy.edit": "admin",
    "override": "admin",
}

TOKEN_PREFIX = "dcm_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_LAST_USED_EVERY_S = 60


def rank(role: str) -> int:
    """The role's place in the order (viewer 0 ... admin 4); unknown roles are a usage error."""
    try:
        return ROLES.index(role)
    except ValueError:
        raise UsageError(f"unknown role {role!r}; roles: {', '.join(ROLES)}") from None


def permissions_of(role: str) -> list[str]:
    """Every permission a role holds, sorted."""
    r = rank(role)
    return sorted(p for p, least in PERMISSIONS.items() if rank(least) <= r)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Someone acting: a user (via token or console session), a Slack user, or the local CLI admin."""

    name: str
    role: str
    via: Literal["token", "session", "slack", "cli"]

    def can(self, permission: str) -> bool:
        least = PERMISSIONS.get(permission)
        if least is None:
            raise KeyError(f"unknown permission {permission!r}")
        return rank(self.role) >= rank(least)


def local_admin(actor: str) -> Principal:
    """The CLI's principal: the local admin, named by ``--as`` or the OS user."""
    return Principal(name=actor, role="admin", via="cli")


class AccessConfig(BaseModel):
    """The ``access`` section of the YAML configuration."""

    model_config = ConfigDict(extra="forbid")

    # Slack user id -> role, e.g. {"U0ALICE": "auditor"}
    slack_roles: dict[str, Role] = Field(default_factory=dict)
    # When set, Slack workspace admins and owners get at least this role (looked up with users.info).
    slack_workspace_admins: Role | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)

    @field_validator("slack_roles")
    @classmethod
    def _ids(cls, value: dict[str, str]) -> dict[str, str]:
        for uid in value:
            if not re.fullmatch(r"[UW][A-Z0-9]{2,30}", uid):
                raise ValueError(f"{uid!r} is not a Slack user id (U... or W...)")
        return value


@dataclass(frozen=True, slots=True)
class Session:
    """A console login: who, and the CSRF token every state-changing request must echo."""

    principal: Principal
    csrf: str
    expires_at: int


class AccessControl:
    """Users, tokens, sessions and the permission check, over the project's database."""

    def __init__(self, db: Database, config: AccessConfig | None = None) -> None:
        self.db = db
        self.config = config or AccessConfig()

    # --- users ------------------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, *, by: Principal) -> tuple[dict[str, Any], str]:
        """Create a user; returns its summary and the token, which is shown once and never stored."""
        if not _NAME.match(name or ""):
            raise UsageError("a user name is 1-64 characters: letters, digits, '.', '_', '@', '-' "
                             "(starting with a letter or digit)")
        rank(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = UserRow(name=name, role=role, token_hash=_hash(token), token_hint=token[:8], created_by=by.name,
                      created_at=utc_now())
        try:
            with self.db.session() as s:
                s.add(row)
        except IntegrityError:
            raise UsageError(f"user {name!r} exists already (names are never reused, revoked ones included)") from None
        self.record(actor=by.name, via=by.via, action="users.add", outcome="ok", surface=_surface(by),
                    target=f"{name}:{role}")
        return _summary(row), token

    def list_users(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(UserRow).order_by(UserRow.id)).scalars().all()
        return [_summary(r) for r in rows]

    def revoke_user(self, name: str, *, by: Principal) -> dict[str, Any]:
        """Revoke a user's token and end their console sessions. The row stays, for the record."""
        with self.db.session() as s:
            row = s.execute(select(UserRow).where(UserRow.name == name)).scalar_one_or_none()
            if row is None:
                raise UsageError(f"no user named {name!r}")
            if row.revoked_at is not None:
                raise UsageError(f"user {name!r} was revoked already, at {row.revoked_at}")
            row.revoked_at, row.revoked_by = utc_now(), by.name
            s.query(WebSessionRow).filter(WebSessionRow.user_id == row.id).delete()
            out = _summary(row)
        self.record(actor=by.name, via=by.via, action="users.revoke", outcome="ok", surface=_surface(by), target=name)
        return out

    # --- authentication ---------------------------------------------------------------------------------

    def authenticate_token(self, token: str) -> Principal | None:
        """The active user holding ``token``, or ``None``."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        with self.db.session() as s:
            row = s.execute(select(UserRow).where(UserRow.token_hash == _hash(token))).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                return None
            self._touch(s, row)
            return Principal(row.name, row.role, "token")

    def login(self, token: str, *, surface: str = "console") -> tuple[str, Session]:
        """Exchange a token for a console session; returns the cookie secret and the session."""
        who = self.authenticate_token(token)
        if who is None:
            self.record(actor="anonymous", via="none", action="login", outcome="failed", surface=surface)
            raise Unauthenticated("unknown or revoked token")
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = int(time.time() + self.config.session_hours * 3600)
        with self.db.session() as s:
            uid = s.execute(select(UserRow.id).where(UserRow.name == who.name)).scalar_one()
            s.add(WebSessionRow(id_hash=_hash(secret), user_id=uid, csrf=csrf, created_at=utc_now(),
                                expires_at=expires))
            # expired sessions of anyone go at each login: the table stays small
            s.query(WebSessionRow).filter(WebSessionRow.expires_at < int(time.time())).delete()
        self.record(actor=who.name, via="token", action="login", outcome="ok", surface=surface)
        return secret, Session(Principal(who.name, who.role, "session"), csrf, expires)

    def session(self, secret: str) -> Session | None:
        """The live session behind a cookie secret (its user not revoked), or ``None``."""
        if not secret or len(secret) > 200:
            return None
        with self.db.session() as s:
            found = s.execute(select(WebSessionRow, UserRow).join(UserRow, UserRow.id == WebSessionRow.user_id)
                              .where(WebSessionRow.id_hash == _hash(secret))).first()
            if found is None:
                return None
            sess, user = found
            if sess.expires_at < time.time() or user.revoked_at is not None:
                return None
            self._touch(s, user)
            return Session(Principal(user.name, user.role, "session"), sess.csrf, sess.expires_at)

    def logout(self, secret: str) -> None:
        with self.db.session() as s:
            s.query(WebSessionRow).filter(WebSessionRow.id_hash == _hash(secret)).delete()

    def slack_principal(self, user_id: str, *, pseudonym: str, is_workspace_admin: bool = False
                        ) -> Principal | None:
        """A Slack user's role: by user id, or (when configured) as a workspace admin; ``None`` without one."""
        role = self.config.slack_roles.get(user_id)
        if is_workspace_admin and self.config.slack_workspace_admins:
            extra = self.config.slack_workspace_admins
            role = extra if role is None or rank(extra) > rank(role) else role
        return None if role is None else Principal(pseudonym, role, "slack")

    # --- the one check ----------------------------------------------------------------------------------

    def require(self, principal: Principal | None, permission: str, *, surface: str, target: str = "") -> Principal:
        """Return ``principal`` when it holds ``permission``; otherwise record the refusal and raise.

        ``Unauthenticated`` (HTTP 401) without a principal, ``Forbidden`` (HTTP 403) for a role that lacks it.
        """
        least = PERMISSIONS.get(permission)
        if least is None:
            raise KeyError(f"unknown permission {permission!r}")
        if principal is None:
            self.record(actor="anonymous", via="none", action=permission, outcome="denied_401", surface=surface,
                        target=target)
            raise Unauthenticated("login required: send 'Authorization: Bearer <token>' or log in to the console "
                                  "(tokens come from `decorum users add NAME --role ROLE`)")
        if not principal.can(permission):
            self.record(actor=principal.name, via=principal.via, action=permission, outcome="denied_403",
                        surface=surface, target=target)
            raise Forbidden(f"the {principal.role} role cannot do {permission} (it needs {least} or above)")
        return principal

    def record(self, *, actor: str, via: str, action: str, outcome: str, surface: str, target: str = "") -> None:
        """One access event: in the table, as a metric, and as a log line (names and ids only)."""
        metrics.ACCESS_EVENTS.labels(action, outcome).inc()
        logger.info("access actor=%s via=%s action=%s outcome=%s surface=%s", actor, via, action, outcome, surface)
        try:
            with self.db.session() as s:
                s.add(AccessEventRow(at=utc_now(), actor=actor[:128], via=via, action=action[:64], outcome=outcome,
                                     surface=surface, target=target[:200]))
        except Exception as exc:  # a refusal stands even when it cannot be written down
            logger.error("access event not recorded: %s", exc.__class__.__name__)

    def events(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest access events."""
        with self.db.session() as s:
            rows = s.execute(select(AccessEventRow).order_by(AccessEventRow.id.desc()).limit(limit)).scalars().all()
        return [{"at": r.at, "actor": r.actor, "via": r.via, "action": r.action, "outcome": r.outcome,
                 "surface": r.surface, "target": r.target} for r in rows]

    def _touch(self, s: Any, row: UserRow) -> None:
        now = utc_now()
        if row.last_used_at is None or _age_s(row.last_used_at) > _LAST_USED_EVERY_S:
            s.execute(update(UserRow).where(UserRow.id == row.id).values(last_used_at=now))


def _surface(by: Principal) -> str:
    return {"cli": "cli", "slack": "slack"}.get(by.via, "api")


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode(), b.encode())


def _age_s(stamp: str) -> float:
    from datetime import datetime

    try:
        return time.time() - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")


def _summary(row: UserRow) -> dict[str, Any]:
    return {"name": row.name, "role": row.role, "token_hint": row.token_hint + "…", "created_by": row.created_by,
            "created_at": row.created_at, "revoked_at": row.revoked_at, "revoked_by": row.revoked_by,
            "last_used_at": row.last_used_at, "active": row.revoked_at is None}
