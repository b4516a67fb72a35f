"""Templates in the project's database; seeds from the package fill an empty store."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from decorum.errors import TemplateInvalid, TemplateNotFound
from decorum.prompts.base import NAME_RE, PRODUCTION, Template
from decorum.prompts.render import validate
from decorum.store import Database
from decorum.store.tables import TemplateLabelRow, TemplateRow, TemplateVersionRow

logger = logging.getLogger(__name__)

SEEDS = Path(__file__).parent / "seeds"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SqlTemplateStore:
    """``TemplateStore`` over SQLAlchemy."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.execute(select(TemplateRow.name).order_by(TemplateRow.name)).scalars())

    def get(self, name: str, version: int | None = None, *, label: str = PRODUCTION) -> Template:
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

    def add_version(self, template: Template, *, author: str, comment: str = "") -> Template:
        """Store ``template``'s content as the next version of its name (creating the name)."""
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
                    latest = s.execute(select(func.max(TemplateVersionRow.version))
                                       .where(TemplateVersionRow.template_id == tpl.id)).scalar_one()
                    version = (latest or 0) + 1
                    s.add(TemplateVersionRow(template_id=tpl.id, version=version, body=body,
                                             sha256=template.sha256, author=author, comment=comment,
                                             created_at=_now()))
                return self.get(template.name, version)
            except IntegrityError:
                continue  # a concurrent writer took the number; take the next
        raise TemplateInvalid(f"could not allocate a version for {template.name!r}")

    def set_label(self, name: str, version: int, label: str = PRODUCTION) -> None:
        self.get(name, version)  # raises for unknown name/version
        with self.db.session() as s:
            tpl = s.execute(select(TemplateRow).where(TemplateRow.name == name)).scalar_one()
            row = s.get(TemplateLabelRow, (tpl.id, label))
            if row is None:
                s.add(TemplateLabelRow(template_id=tpl.id, label=label, version=version, updated_at=_now()))
            else:
                row.version, row.updated_at = version, _now()

    def seed(self) -> list[str]:
        """Add each packaged seed template that the store does not have yet; returns the names added."""
        present = set(self.names())
        added = []
        for path in sorted(SEEDS.glob("*.yaml")):
            tpl = load_template_file(path)
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


def load_template_file(path: Path) -> Template:
    """A template from a YAML file (the seed format, also used by ``decorum prompts``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    allowed = {"name", "description", "system", "user", "safer_system", "defaults", "domain"}
    if not isinstance(data, dict) or set(data) - allowed:
        extra = sorted(set(data) - allowed) if isinstance(data, dict) else []
        raise TemplateInvalid(f"{path.name}: unknown fields {extra}; allowed: {sorted(allowed)}")
    return Template(version=0, **data)


def _from_row(tpl: TemplateRow, row: TemplateVersionRow) -> Template:
    body = json.loads(row.body)
    return Template(name=tpl.name, version=row.version, description=tpl.description, **body)
