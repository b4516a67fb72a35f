"""Templates in the project's database; seeds from the package fill an empty store."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from decorum.errors import TemplateInvalid, TemplateNotFound
from decorum.prompts.base import NAME_RE, PRODUCTION, Template
from decorum.prompts.render import validate
from decorum.prompts.yaml_format import load_template_file
from decorum.store import Database
from decorum.store.tables import (
    RegistryRevisionRow,
    TemplateEventRow,
    TemplateLabelRow,
    TemplateRow,
    TemplateTestRunRow,
    TemplateVersionRow,
)

logger = logging.getLogger(__name__)

SEEDS = Path(__file__).parent / "seeds"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


REVISION = "templates"


def bump_revision(s: Any, name: str = REVISION) -> None:
    """Raise the registry's revision counter inside session ``s`` (the change's own transaction)."""
    row = s.get(RegistryRevisionRow, name, with_for_update=True)
    if row is None:
        s.add(RegistryRevisionRow(name=name, value=1))
    else:
        row.value = row.value + 1


def read_revision(db: Database, name: str = REVISION) -> int:
    with db.session() as s:
        value = s.execute(select(RegistryRevisionRow.value).where(RegistryRevisionRow.name == name)).scalar()
    return int(value or 0)


class SqlTemplateStore:
    """``TemplateStore`` over SQLAlchemy, with a read cache that other processes' changes invalidate.

    ``get`` caches what it returns. An exact version never changes, so it stays cached; what a label points
    at may move in any process sharing the database, so label lookups are dropped whenever the registry's
    revision counter (raised in the transaction of every change, ``registry_revision``) differs from the
    one last read. The counter is read at most every ``cache_check_s`` seconds (one indexed row), so a
    publish elsewhere is served here within ``cache_check_s`` plus one request; this process's own changes
    clear the cache at once. ``cache_check_s=0`` reads the database every time.
    """

    def __init__(self, db: Database, *, cache_check_s: float = 1.0) -> None:
        self.db = db
        self.cache_check_s = cache_check_s
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, int], Template] = {}
        self._labels: dict[tuple[str, str], int] = {}
        self._revision: int | None = None
        self._checked_at = float("-inf")
        self._epoch = 0  # raised whenever the label cache is emptied

    def _fresh_labels(self) -> dict[tuple[str, str], int]:
        """The label cache, emptied first when another process changed the registry since the last look."""
        now = time.monotonic()
        if now - self._checked_at >= self.cache_check_s:
            revision = self.revision()
            with self._lock:
                self._checked_at = now
                if revision != self._revision:
                    self._labels.clear()
                    self._epoch += 1
                    self._revision = revision
        return self._labels

    def invalidate(self) -> None:
        """Forget cached labels (after a change made through this store)."""
        with self._lock:
            self._labels.clear()
            self._epoch += 1
            self._revision = None
            self._checked_at = float("-inf")

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.execute(select(TemplateRow.name).order_by(TemplateRow.name)).scalars())

    def get(self, name: str, version: int | None = None, *, label: str = PRODUCTION) -> Template:
        if self.cache_check_s <= 0:
            return self._read(name, version, label)
        if version is None:
            version = self._fresh_labels().get((name, label))
            if version is None:
                epoch = self._epoch
                tpl = self._read(name, None, label)
                with self._lock:
                    if epoch == self._epoch:  # not emptied meanwhile: what was read may predate a change
                        self._labels[(name, label)] = tpl.version
                    self._versions[(name, tpl.version)] = tpl
                return tpl
        cached = self._versions.get((name, version))
        if cached is None:
            cached = self._read(name, version, label)
            with self._lock:
                self._versions[(name, version)] = cached
        return cached

    def _read(self, name: str, version: int | None, label: str) -> Template:
        with self.db.session() as s:
            tpl = s.execute(select(TemplateRow).where(TemplateRow.name == name)).scalar_one_or_none()
            if tpl is None:
                known = ", ".join(s.execute(select(TemplateRow.name).order_by(TemplateRow.name)).scalars()) or "none"
                raise TemplateNotFound(f"unknown template {name!r}; available: {known}")
            if version is None:
                lab = s.get(TemplateLabelRow, (tpl.id, label))
                if lab is None:
                    raise TemplateNotFound(f"template {name!r} has no {label!r} version")
                version = lab.version
            row = s.execute(select(TemplateVersionRow).where(
                TemplateVersionRow.template_id == tpl.id, TemplateVersionRow.version == version
            )).scalar_one_or_none()
            if row is None:
                latest = s.execute(select(func.max(TemplateVersionRow.version))
                                   .where(TemplateVersionRow.template_id == tpl.id)).scalar_one()
                raise TemplateNotFound(f"template {name!r} has no version {version}; latest is {latest}")
            return _from_row(tpl, row)

    def versions(self, name: str) -> list[int]:
        with self.db.session() as s:
            return list(s.execute(
                select(TemplateVersionRow.version).join(TemplateRow)
                .where(TemplateRow.name == name).order_by(TemplateVersionRow.version)
            ).scalars())

    def add_version(self, template: Template, *, author: str, comment: str = "",
                    checks: dict[str, Any] | None = None, event: dict[str, Any] | None = None) -> Template:
        """Store ``template``'s content as the next version of its name (creating the name).

        ``checks``: the template checks' results, kept with the version (``publish`` reads them).
        ``event``: a ``TemplateEventRow``'s fields (action, actor, ...), recorded in the same transaction.
        """
        if not NAME_RE.match(template.name):
            raise TemplateInvalid(f"invalid template name {template.name!r}")
        validate(template)
        body = json.dumps(template.body(), sort_keys=True, separators=(",", ":"))
        for _ in range(5):
            try:
                with self.db.session() as s:
                    tpl = s.execute(select(TemplateRow).where(TemplateRow.name == template.name)).scalar_one_or_none()
                    if tpl is None:
                        tpl = TemplateRow(name=template.name, description=template.description, created_at=_now())
                        s.add(tpl)
                        s.flush()
                    else:
                        tpl.description = template.description
                    latest = s.execute(select(func.max(TemplateVersionRow.version))
                                       .where(TemplateVersionRow.template_id == tpl.id)).scalar_one()
                    version = (latest or 0) + 1
                    s.add(TemplateVersionRow(template_id=tpl.id, version=version, body=body,
                                             sha256=template.sha256, author=author, comment=comment,
                                             created_at=_now(),
                                             checks=None if checks is None else json.dumps(checks)))
                    if event is not None:
                        s.add(TemplateEventRow(name=template.name, version=version, at=_now(), **event))
                    bump_revision(s)
                self.invalidate()
                return self.get(template.name, version)
            except IntegrityError:
                continue  # a concurrent writer took the number; take the next
        raise TemplateInvalid(f"could not allocate a version for {template.name!r}")

    def set_label(self, name: str, version: int, label: str = PRODUCTION, *,
                  event: dict[str, Any] | None = None) -> int | None:
        """Point ``label`` at ``version``; returns the version it pointed at before (None: a new label).

        ``event``: a ``TemplateEventRow``'s fields (action, actor, ...), recorded with ``from_version`` in the same
        transaction as the move.
        """
        self.get(name, version)  # raises for unknown name/version
        with self.db.session() as s:
            tpl = s.execute(select(TemplateRow).where(TemplateRow.name == name)).scalar_one()
            row = s.get(TemplateLabelRow, (tpl.id, label))
            before = None if row is None else row.version
            if row is None:
                s.add(TemplateLabelRow(template_id=tpl.id, label=label, version=version, updated_at=_now()))
            else:
                row.version, row.updated_at = version, _now()
            if event is not None:
                s.add(TemplateEventRow(name=name, version=version, label=label, from_version=before, at=_now(),
                                       **event))
            bump_revision(s)
        self.invalidate()
        return before

    def revision(self) -> int:
        """The registry's change counter (raised by every saved version, moved label and archive)."""
        return read_revision(self.db)

    def archive(self, name: str, version: int, *, event: dict[str, Any]) -> None:
        """Mark ``name@version`` archived (with its event, in one transaction); its content stays."""
        self.get(name, version)
        with self.db.session() as s:
            row = s.execute(select(TemplateVersionRow).join(TemplateRow).where(
                TemplateRow.name == name, TemplateVersionRow.version == version)).scalar_one()
            row.archived_at = _now()
            s.add(TemplateEventRow(name=name, version=version, at=_now(), **event))
            bump_revision(s)
        self.invalidate()

    def add_test_run(self, name: str, version: int, sha256: str, *, actor: str, passed: bool,
                     results: list[dict[str, Any]], event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store one test run of ``name@version`` (its ``event`` in the same transaction)."""
        at = _now()
        with self.db.session() as s:
            row = TemplateTestRunRow(name=name, version=version, sha256=sha256, actor=actor, passed=passed,
                                     results=json.dumps(results), at=at)
            s.add(row)
            if event is not None:
                s.add(TemplateEventRow(name=name, version=version, at=at, **event))
            s.flush()
            return _test_run(row)

    def test_runs(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Test runs of ``name`` (of one version when given), oldest first."""
        with self.db.session() as s:
            q = select(TemplateTestRunRow).where(TemplateTestRunRow.name == name)
            if version is not None:
                q = q.where(TemplateTestRunRow.version == version)
            return [_test_run(r) for r in s.execute(q.order_by(TemplateTestRunRow.id)).scalars()]

    def latest(self, name: str) -> Template:
        """The newest version of ``name`` (whatever its labels)."""
        versions = self.versions(name)
        if not versions:
            self.get(name, 1)  # raises TemplateNotFound naming what exists
        return self.get(name, versions[-1])

    def labels(self, name: str) -> dict[str, int]:
        """``{label: version}`` of ``name``."""
        with self.db.session() as s:
            rows = s.execute(select(TemplateLabelRow.label, TemplateLabelRow.version).join(
                TemplateRow, TemplateRow.id == TemplateLabelRow.template_id).where(TemplateRow.name == name)
                .order_by(TemplateLabelRow.label)).all()
        return {label: version for label, version in rows}

    def overview(self) -> list[dict[str, Any]]:
        """One row per template (``prompts list --json`` and ``GET /api/templates``): production (``None`` while
        unpublished), latest version, labels, versions, description."""
        rows = []
        for name in self.names():
            latest = self.latest(name)
            labels = self.labels(name)
            archived = [v["version"] for v in self.version_info(name) if v["archived_at"]]
            rows.append({"name": name, "production": labels.get(PRODUCTION), "latest": latest.version,
                         "labels": labels, "versions": self.versions(name), "archived": archived,
                         "description": latest.description})
        return rows

    def version_info(self, name: str) -> list[dict[str, Any]]:
        """Each version's record: author, time, message, hash and the checks run when it was saved."""
        with self.db.session() as s:
            rows = s.execute(select(TemplateVersionRow).join(TemplateRow).where(TemplateRow.name == name)
                             .order_by(TemplateVersionRow.version)).scalars().all()
            return [{"version": r.version, "author": r.author, "created_at": r.created_at, "message": r.comment,
                     "sha256": r.sha256, "checks": None if r.checks is None else json.loads(r.checks),
                     "archived_at": r.archived_at} for r in rows]

    def events(self, name: str, label: str | None = None) -> list[dict[str, Any]]:
        """``name``'s changes, oldest first (only the moves of ``label`` when given)."""
        with self.db.session() as s:
            q = select(TemplateEventRow).where(TemplateEventRow.name == name)
            if label is not None:
                q = q.where(TemplateEventRow.label == label)
            return [_event(r) for r in s.execute(q.order_by(TemplateEventRow.id)).scalars()]

    def seed(self) -> list[str]:
        """Add each packaged seed template that the store does not have yet; returns the names added."""
        present = set(self.names())
        added = []
        for path in sorted(SEEDS.glob("*.yaml")):
            tpl, _ = load_template_file(path)
            if tpl.name in present:
                continue
            try:
                stored = self.add_version(tpl, author="seed", comment=f"seeded from {path.name}")
                self.set_label(tpl.name, stored.version)
                added.append(tpl.name)
            except IntegrityError:
                continue  # another process seeded it first
        if added:
            logger.info("seeded templates %s", added)
        return added


def _from_row(tpl: TemplateRow, row: TemplateVersionRow) -> Template:
    body = json.loads(row.body)
    if "description" in body:  # saved with the registry's fields
        return Template(name=tpl.name, version=row.version, **body)
    return Template(name=tpl.name, version=row.version, description=tpl.description, legacy=True, **body)


def _test_run(row: TemplateTestRunRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "version": row.version, "sha256": row.sha256, "actor": row.actor,
            "passed": row.passed, "results": json.loads(row.results), "at": row.at}


def _event(row: TemplateEventRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "version": row.version, "from_version": row.from_version,
            "label": row.label, "action": row.action, "actor": row.actor, "reason": row.reason,
            "message": row.message, "override": row.override, "at": row.at}
