"""Knowledge entries in the project's database; the package's helpdesk facts seed an empty store.

Versions are immutable rows; ``published`` on the entry says which one retrieval serves. Every change raises
the ``knowledge`` counter of ``registry_revision`` in its own transaction, so a process holding an index
(``decorum.knowledge.index``) sees another process's publish within its check interval.

Example::

    store = KnowledgeStore(db)
    store.seed()                                  # facts.jsonl as v1, published, when the store is empty
    store.published("helpdesk")                   # [Entry, ...]
"""

from __future__ import annotations

import difflib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from decorum.errors import UsageError
from decorum.knowledge.base import Entry, load_entries_file
from decorum.prompts.sql_store import bump_revision, read_revision
from decorum.store import Database
from decorum.store.tables import KnowledgeEntryRow, KnowledgeEventRow, KnowledgeVersionRow

logger = logging.getLogger(__name__)

REVISION = "knowledge"
SEED_FILES = {"helpdesk": Path(__file__).resolve().parents[1] / "adapters" / "finetune" / "domains" / "helpdesk"
              / "facts.jsonl"}


class EntryNotFound(UsageError):
    """No such knowledge entry or version."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _entry(row: KnowledgeVersionRow, domain: str) -> Entry:
    return Entry(id=row.entry_id, title=row.title, body=row.body, domain=domain, topic=row.topic,
                 version=row.version)


class KnowledgeStore:
    """Reads and writes of the knowledge tables (no checks, roles or audit: ``KnowledgeRegistry`` adds them)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def revision(self) -> int:
        return read_revision(self.db, REVISION)

    def ids(self) -> list[str]:
        with self.db.session() as s:
            return list(s.execute(select(KnowledgeEntryRow.id).order_by(KnowledgeEntryRow.id)).scalars())

    def overview(self, domain: str | None = None) -> list[dict[str, Any]]:
        """One row per entry: id, domain, title and topic of its latest version, latest and published."""
        with self.db.session() as s:
            latest = (select(KnowledgeVersionRow.entry_id, func.max(KnowledgeVersionRow.version).label("v"))
                      .group_by(KnowledgeVersionRow.entry_id).subquery())
            q = (select(KnowledgeEntryRow, KnowledgeVersionRow)
                 .join(latest, latest.c.entry_id == KnowledgeEntryRow.id)
                 .join(KnowledgeVersionRow, (KnowledgeVersionRow.entry_id == KnowledgeEntryRow.id)
                       & (KnowledgeVersionRow.version == latest.c.v)))
            if domain:
                q = q.where(KnowledgeEntryRow.domain == domain)
            rows = s.execute(q.order_by(KnowledgeEntryRow.id)).all()
            return [{"id": e.id, "domain": e.domain, "title": v.title, "topic": v.topic, "latest": v.version,
                     "published": e.published, "updated_at": e.updated_at} for e, v in rows]

    def domain_of(self, entry_id: str) -> str:
        with self.db.session() as s:
            row = s.get(KnowledgeEntryRow, entry_id)
            domain = row.domain if row is not None else None
        if domain is None:
            raise self._missing(entry_id)  # outside the session: it reads again
        return domain

    def _missing(self, entry_id: str, version: int | None = None) -> EntryNotFound:
        if version is not None and entry_id in self.ids():
            have = self.versions(entry_id)
            return EntryNotFound(f"knowledge entry {entry_id!r} has no version {version} "
                                 f"(versions {have[0]}-{have[-1]})")
        ids = self.ids()
        near = difflib.get_close_matches(entry_id, ids, n=5, cutoff=0.6)
        hint = f"; similar: {', '.join(near)}" if near else (f"; {len(ids)} entries (`decorum knowledge list`)"
                                                             if ids else "; the knowledge base is empty")
        return EntryNotFound(f"no knowledge entry {entry_id!r}{hint}")

    def get(self, entry_id: str, version: int | None = None, *, published: bool = False) -> Entry:
        """``version`` of the entry; None: the published one when ``published``, else the latest."""
        found: Entry | None = None
        with self.db.session() as s:
            head = s.get(KnowledgeEntryRow, entry_id)
            if head is not None:
                if version is None:
                    if published and head.published is None:
                        raise EntryNotFound(f"knowledge entry {entry_id!r} has no published version")
                    version = head.published if published else s.execute(
                        select(func.max(KnowledgeVersionRow.version))
                        .where(KnowledgeVersionRow.entry_id == entry_id)).scalar_one()
                row = s.get(KnowledgeVersionRow, (entry_id, version))
                found = _entry(row, head.domain) if row is not None else None
        if found is None:
            raise self._missing(entry_id, version)  # outside the session: it reads again
        return found

    def versions(self, entry_id: str) -> list[int]:
        with self.db.session() as s:
            return list(s.execute(select(KnowledgeVersionRow.version).where(KnowledgeVersionRow.entry_id == entry_id)
                                  .order_by(KnowledgeVersionRow.version)).scalars())

    def version_info(self, entry_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(KnowledgeVersionRow).where(KnowledgeVersionRow.entry_id == entry_id)
                             .order_by(KnowledgeVersionRow.version)).scalars()
            return [{"version": r.version, "title": r.title, "sha256": r.sha256, "author": r.author,
                     "message": r.message, "created_at": r.created_at,
                     "checks": json.loads(r.checks) if r.checks else None} for r in rows]

    def published_version(self, entry_id: str) -> int | None:
        with self.db.session() as s:
            head = s.get(KnowledgeEntryRow, entry_id)
            exists, published = head is not None, head.published if head is not None else None
        if not exists:
            raise self._missing(entry_id)
        return published

    def published(self, domain: str | None = None) -> list[Entry]:
        """Every published entry (of ``domain``), by id."""
        with self.db.session() as s:
            q = (select(KnowledgeVersionRow, KnowledgeEntryRow.domain)
                 .join(KnowledgeEntryRow, (KnowledgeEntryRow.id == KnowledgeVersionRow.entry_id)
                       & (KnowledgeEntryRow.published == KnowledgeVersionRow.version)))
            if domain:
                q = q.where(KnowledgeEntryRow.domain == domain)
            return [_entry(v, d) for v, d in s.execute(q.order_by(KnowledgeVersionRow.entry_id)).all()]

    def add_version(self, entry: Entry, *, author: str, message: str, checks: dict[str, Any] | None,
                    action: str) -> Entry:
        """Store ``entry`` as its next version (creating the entry for version 1) with its event."""
        now = _now()
        with self.db.session() as s, s.begin():
            head = s.get(KnowledgeEntryRow, entry.id, with_for_update=True)
            if head is None:
                head = KnowledgeEntryRow(id=entry.id, domain=entry.domain, created_at=now, published=None,
                                         updated_at=now)
                s.add(head)
                s.flush()
                version = 1
            else:
                head.domain = entry.domain
                head.updated_at = now
                version = (s.execute(select(func.max(KnowledgeVersionRow.version))
                                     .where(KnowledgeVersionRow.entry_id == entry.id)).scalar() or 0) + 1
            s.add(KnowledgeVersionRow(entry_id=entry.id, version=version, title=entry.title, topic=entry.topic,
                                      body=entry.body, sha256=entry.sha256, author=author, message=message,
                                      created_at=now, checks=json.dumps(checks) if checks is not None else None))
            s.add(KnowledgeEventRow(entry_id=entry.id, version=version, from_version=None, action=action,
                                    actor=author, message=message, at=now))
            bump_revision(s, REVISION)
        return Entry(id=entry.id, title=entry.title, body=entry.body, domain=entry.domain, topic=entry.topic,
                     version=version)

    def set_published(self, entry_id: str, version: int, *, actor: str, action: str, reason: str = "",
                      override: bool = False) -> int | None:
        """Serve ``version`` of the entry from now on; returns the version served before (None: none)."""
        now = _now()
        with self.db.session() as s, s.begin():
            head = s.get(KnowledgeEntryRow, entry_id, with_for_update=True)
            if head is None or s.get(KnowledgeVersionRow, (entry_id, version)) is None:
                raise EntryNotFound(f"no knowledge entry {entry_id}@{version}")
            before = head.published
            head.published = version
            head.updated_at = now
            s.add(KnowledgeEventRow(entry_id=entry_id, version=version, from_version=before, action=action,
                                    actor=actor, reason=reason, override=override, at=now))
            bump_revision(s, REVISION)
        return before

    def events(self, entry_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(KnowledgeEventRow).where(KnowledgeEventRow.entry_id == entry_id)
                             .order_by(KnowledgeEventRow.id)).scalars()
            return [{"id": r.id, "version": r.version, "from_version": r.from_version, "action": r.action,
                     "actor": r.actor, "reason": r.reason, "message": r.message, "override": r.override,
                     "at": r.at} for r in rows]

    def seed(self) -> list[str]:
        """When the store holds no entry: each packaged domain's facts as version 1, published (author seed).

        One transaction for all of them (every ``Runtime.open`` on an empty database seeds: 156 transactions
        took about 0.45 s on PostgreSQL); another process seeding at the same time makes this one's insert fail
        on the primary key, and it leaves the seeding to that one.
        """
        if self.ids():
            return []
        now = _now()
        added: list[str] = []
        try:
            with self.db.session() as s, s.begin():
                for domain, path in SEED_FILES.items():
                    if not path.exists():
                        continue
                    for entry, _ in load_entries_file(path):
                        s.add(KnowledgeEntryRow(id=entry.id, domain=domain, created_at=now, published=1,
                                                updated_at=now))
                        seeded = Entry(id=entry.id, title=entry.title, body=entry.body, domain=domain,
                                       topic=entry.topic)
                        s.add(KnowledgeVersionRow(entry_id=entry.id, version=1, title=entry.title, topic=entry.topic,
                                                  body=entry.body, sha256=seeded.sha256, author="seed",
                                                  message=f"seeded from {path.name}", created_at=now, checks=None))
                        s.add(KnowledgeEventRow(entry_id=entry.id, version=1, from_version=None, action="seed",
                                                actor="seed", message=f"seeded from {path.name}", at=now))
                        s.add(KnowledgeEventRow(entry_id=entry.id, version=1, from_version=None, action="publish",
                                                actor="seed", at=now))
                        added.append(entry.id)
                if added:
                    bump_revision(s, REVISION)
        except IntegrityError:
            return []  # another process seeded first
        if added:
            logger.info("seeded %d knowledge entries", len(added))
        return added
