"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from decorum.errors import StoreError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()
_open: weakref.WeakSet[Engine] = weakref.WeakSet()


def dispose_all() -> None:
    """Close every pooled connection of this process (before dropping a test schema, at exit)."""
    for engine in list(_open):
        engine.dispose()


class Database:
    """One engine and its session factory. ``Database.open`` migrates the schema to head."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect to ``url`` (creating a SQLite file's folder) and upgrade the schema."""
        engine = _create_engine(url)
        db = cls(engine)
        if migrate:
            db.migrate()
        return db

    def migrate(self) -> None:
        """Run Alembic migrations to head (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with _migrate_lock:
            try:
                with self.engine.begin() as conn:
                    if self.dialect == "postgresql":
                        # Two replicas starting at once must not both create the tables.
                        conn.execute(text("SELECT pg_advisory_xact_lock(731500)"))
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
            except SQLAlchemyError as exc:
                raise StoreError(f"database migration failed: {exc.__class__.__name__}: {exc}") from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str) -> Engine:
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"cannot use database URL {_redact(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _sqlite_serialised_writes(engine)
    _open.add(engine)
    return engine


def _sqlite_serialised_writes(engine: Engine) -> None:
    """WAL journal and BEGIN IMMEDIATE, so concurrent writers queue instead of failing mid-transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
