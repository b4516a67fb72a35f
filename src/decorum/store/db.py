"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL.

``Database.open`` migrates and writes; ``Database.open_readonly`` (what ``decorum audit verify`` uses) never
writes: SQLite opens the file with ``mode=ro`` (``immutable=1`` where even that cannot open it, a read-only
copy without a write-ahead log), PostgreSQL runs every transaction ``READ ONLY``. Errors name the SQLite file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

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

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
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

    @classmethod
    def open_readonly(cls, url: str) -> Database:
        """Connect to ``url`` without the right to write: no migration, no file or folder made, nothing changed.

        SQLite: the file must exist; it is opened ``mode=ro`` (a read-only copy of a data dir works), or
        ``immutable=1`` when only that opens it and no write-ahead log is beside it. PostgreSQL: every
        transaction is ``READ ONLY``. A database that cannot be opened is a ``StoreError`` naming the file.
        """
        if url.startswith("sqlite"):
            engine = _sqlite_readonly_engine(url)
        else:
            engine = _create_engine(url, create_dirs=False)
            _postgres_read_only(engine)
        db = cls(engine, read_only=True)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the database {describe_url(url)} read-only: "
                             f"{_reason(exc)}") from exc
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
                where = describe_url(self.engine.url.render_as_string(hide_password=True))
                hint = ""
                if self.dialect == "sqlite" and ("unable to open" in str(exc) or "readonly" in str(exc)):
                    hint = " (the file and its folder must be writable: SQLite keeps its journal beside the file)"
                raise StoreError(f"database migration failed on {where}: {exc.__class__.__name__}: "
                                 f"{_reason(exc)}{hint}") from exc

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


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///PATH`` URL ('' or ':memory:' for an in-memory database)."""
    path = url.split("///", 1)[1] if "///" in url else ""
    return path.split("?", 1)[0]


def describe_url(url: str) -> str:
    """What an error names: a SQLite database's file, or the URL without its password."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        return f"SQLite file {path}" if path and path != ":memory:" else "in-memory SQLite"
    return _redact(url)


def _reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _create_engine(url: str, *, create_dirs: bool = True) -> Engine:
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path and path != ":memory:" and create_dirs:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of the SQLite file {path}: {exc.strerror}") from exc
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


def _sqlite_sessions(engine: Engine, pragmas: tuple[str, ...], begin: str) -> None:
    """Each new SQLite connection runs ``pragmas`` (autocommit off in the driver: SQLAlchemy's transactions start
    with ``begin``)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def _sqlite_serialised_writes(engine: Engine) -> None:
    """WAL journal and BEGIN IMMEDIATE, so concurrent writers queue instead of failing mid-transaction."""
    _sqlite_sessions(engine, ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=30000"),
                     "BEGIN IMMEDIATE")


def _sqlite_readonly_engine(url: str) -> Engine:
    path = sqlite_path(url)
    if not path or path == ":memory:":
        raise StoreError("an in-memory SQLite database cannot be opened read-only (it holds nothing)")
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"no SQLite database at {file} (nothing to read; a read-only open creates none)")
    uri = "file:" + quote(str(file.resolve()))
    wal = file.with_name(file.name + "-wal")

    def connect() -> sqlite3.Connection:
        try:
            return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            # A read-only folder can refuse even a read-only open of a WAL database (no -shm to map). Without a
            # write-ahead log beside it, the file alone is the whole database: open it as immutable.
            if (wal.exists() and wal.stat().st_size) or os.access(file.parent, os.W_OK):
                raise sqlite3.OperationalError(f"{exc} ({file})") from exc
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect, future=True)
    # a deferred BEGIN: a read transaction, one snapshot per session
    _sqlite_sessions(engine, ("PRAGMA query_only=1", "PRAGMA busy_timeout=30000"), "BEGIN")

    _open.add(engine)
    return engine


def _postgres_read_only(engine: Engine) -> None:
    """Every transaction of every connection READ ONLY (a write fails: ``cannot execute ... in a read-only
    transaction``)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cur.close()
        dbapi_conn.commit()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
