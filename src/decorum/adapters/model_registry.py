"""The model registry: fine-tuned adapter versions, their stage and every change of it.

A version is registered by ``decorum finetune`` as a ``candidate``; ``promote`` makes it the ``production``
version of its name (the one routing uses; the previous one becomes ``archived``); ``retire`` withdraws
a version for good. Each change is recorded with who, when and why. The adapters shipped in the package
(``adapters/models/<name>``) are registered once as version 1 in production, their SHA-256 pinned here in
code, never in a file beside them.

Example::

    reg = ModelRegistry(db)
    reg.production()                         # [ModelVersion(name="helpdesk-lora", version=1, ...)]
    reg.promote("helpdesk-lora", 2, actor="ana", reason="beats v1 on the test split")
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from decorum.adapters.base import AdapterRef
from decorum.errors import ModelLoadError, UsageError
from decorum.store import Database
from decorum.store.tables import ModelEventRow, ModelVersionRow

SHIPPED_DIR = Path(__file__).parent / "models"
# Adapters shipped in the package and the digest each must have (adapter_config.json + weights).
SHIPPED: dict[str, str] = {
    "helpdesk-lora": "a8afabaf2653a7b68a870b5b893080636ddfc4258cda3e2f69efee0d1405324f",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
STAGES = ("candidate", "production", "archived", "retired")
CACHE_S = 2.0  # how stale a process's view of production versions may be (other processes promote too)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    domain: str
    stage: str
    path: Path
    sha256: str
    card: dict[str, Any]
    created_by: str
    created_at: str
    updated_at: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def template(self) -> str:
        """``NAME@VERSION`` of the template it was trained under (an edit of that template does not move it)."""
        tpl = self.card.get("template") or {}
        name = str(tpl.get("name") or "general")
        return f"{name}@{tpl['version']}" if tpl.get("version") else name

    def adapter(self) -> AdapterRef:
        return AdapterRef(name=self.name, version=self.version, path=self.path, sha256=self.sha256)

    def summary(self) -> dict[str, Any]:
        card = self.card
        return {"name": self.name, "version": self.version, "domain": self.domain, "stage": self.stage,
                "sha256": self.sha256, "path": str(self.path), "template": self.template,
                "base": card.get("base", {}).get("name"), "train_pairs": card.get("data", {}).get("train_pairs"),
                "eval_loss": card.get("training", {}).get("best_eval_loss"),
                "router_threshold": card.get("router", {}).get("threshold"),
                "created_by": self.created_by, "created_at": self.created_at, "updated_at": self.updated_at}


def resolve_path(stored: str) -> Path:
    if stored.startswith("package:"):
        return SHIPPED_DIR / stored.split(":", 1)[1]
    return Path(stored)


class ModelRegistry:
    """Adapter versions in the database (shared by every replica)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: tuple[float, list[ModelVersion]] | None = None
        self._lock = threading.Lock()

    # reading
    def list(self, name: str | None = None) -> list[ModelVersion]:
        q = select(ModelVersionRow).order_by(ModelVersionRow.name, ModelVersionRow.version)
        if name is not None:
            q = q.where(ModelVersionRow.name == name)
        with self.db.session() as s:
            return [_from_row(r) for r in s.scalars(q)]

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """An exact version, or (``version=None``) the production one. Unknown: ``UsageError``."""
        rows = self.list(name)
        if not rows:
            known = ", ".join(sorted({m.name for m in self.list()})) or "none registered"
            raise UsageError(f"unknown model {name!r}; registered: {known}")
        for m in rows:
            if (version is None and m.stage == "production") or m.version == version:
                return m
        if version is None:
            raise UsageError(f"model {name!r} has no production version; promote one "
                             f"(versions: {', '.join(f'v{m.version} {m.stage}' for m in rows)})")
        raise UsageError(f"model {name!r} has no version {version}; versions: {[m.version for m in rows]}")

    def production(self) -> list[ModelVersion]:
        """The production version of every name (cached for ``CACHE_S``)."""
        with self._lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < CACHE_S:
                return self._cache[1]
        with self.db.session() as s:
            rows = [_from_row(r) for r in s.scalars(select(ModelVersionRow).where(
                ModelVersionRow.stage == "production").order_by(ModelVersionRow.name))]
        with self._lock:
            self._cache = (time.monotonic(), rows)
        return rows

    def history(self, name: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(select(ModelEventRow).where(ModelEventRow.name == name).order_by(ModelEventRow.id))
            return [{"version": r.version, "action": r.action, "actor": r.actor, "reason": r.reason, "at": r.at}
                    for r in rows]

    def next_version(self, name: str) -> int:
        with self.db.session() as s:
            top = s.scalar(select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name))
        return int(top or 0) + 1

    # changing
    def register(self, *, name: str, version: int, domain: str, path: Path | str, sha256: str,
                 card: dict[str, Any], actor: str, stage: str = "candidate") -> ModelVersion:
        """Record a version; ``sha256`` (``adapter_sha256`` of its folder) is what every load is checked against."""
        if not _SHA256.fullmatch(sha256 or ""):
            raise UsageError(f"{name}@{version}: sha256 must be the adapter's 64-hex-digit digest, not {sha256!r}")
        now = _now()
        with self.db.session() as s:
            s.add(ModelVersionRow(name=name, version=version, domain=domain, stage=stage, path=str(path),
                                  sha256=sha256, card=json.dumps(card, sort_keys=True), created_by=actor,
                                  created_at=now, updated_at=now))
            s.add(ModelEventRow(name=name, version=version, action="register", actor=actor,
                                reason=f"registered as {stage}", at=now))
        self._cache = None
        return self.get(name, version)

    def promote(self, name: str, version: int, *, actor: str, reason: str) -> ModelVersion:
        """Make ``version`` the production one. A unique index allows one production row per name, so of two
        concurrent promotes one fails (``IntegrityError``) instead of leaving two."""
        target = self.get(name, version)
        if target.stage == "retired":
            raise UsageError(f"{target.ref} is retired; register a new version instead")
        if target.stage == "production":
            return target
        now = _now()
        try:
            self._promote(name, version, actor=actor, reason=reason, now=now, ref=target.ref)
        except IntegrityError as exc:
            raise UsageError(f"{name} was promoted by someone else at the same moment; check "
                             f"`decorum models list` and try again") from exc
        self._cache = None
        return self.get(name, version)

    def _promote(self, name: str, version: int, *, actor: str, reason: str, now: str, ref: str) -> None:
        with self.db.session() as s:
            old = s.scalars(select(ModelVersionRow).where(ModelVersionRow.name == name,
                                                          ModelVersionRow.stage == "production")).all()
            for row in old:
                row.stage, row.updated_at = "archived", now
                s.add(ModelEventRow(name=name, version=row.version, action="archive", actor=actor,
                                    reason=f"replaced by v{version}", at=now))
            done = s.execute(update(ModelVersionRow).where(
                ModelVersionRow.name == name, ModelVersionRow.version == version, ModelVersionRow.stage != "retired")
                .values(stage="production", updated_at=now))
            if done.rowcount != 1:  # retired meanwhile by someone else
                raise UsageError(f"{ref} was retired meanwhile; not promoted")
            s.add(ModelEventRow(name=name, version=version, action="promote", actor=actor, reason=reason, at=now))

    def retire(self, name: str, version: int, *, actor: str, reason: str) -> ModelVersion:
        target = self.get(name, version)
        if target.stage == "retired":
            return target
        now = _now()
        with self.db.session() as s:
            s.execute(update(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version)
                      .values(stage="retired", updated_at=now))
            s.add(ModelEventRow(name=name, version=version, action="retire", actor=actor, reason=reason, at=now))
        self._cache = None
        return self.get(name, version)

    def attach_compare(self, name: str, version: int, report: dict[str, Any], *, actor: str) -> ModelVersion:
        """Keep a ``decorum compare --register`` report with the version it measured (``card["compare"]``: its
        figures and examples, not every answer), for the console's Models page. A later report replaces it."""
        target = self.get(name, version)
        if not isinstance(report.get("strategies"), dict) or not report["strategies"]:
            raise UsageError("a compare report needs its strategies' figures (decorum compare --json)")
        now = _now()
        kept = {k: v for k, v in report.items() if k != "answers"} | {"stored_at": now}
        questions = (report.get("test") or {}).get("questions")
        with self.db.session() as s:
            s.execute(update(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version)
                      .values(card=json.dumps({**target.card, "compare": kept}, sort_keys=True), updated_at=now))
            s.add(ModelEventRow(name=name, version=version, action="compare", actor=actor,
                                reason=f"compare report: {len(report['strategies'])} strategies on {questions} "
                                       "questions", at=now))
        self._cache = None
        return self.get(name, version)

    def seed(self) -> list[str]:
        """Register each shipped adapter (as v1, production) under a name the registry does not know yet."""
        added = []
        known = {m.name for m in self.list()}
        for name, digest in SHIPPED.items():
            folder = SHIPPED_DIR / name
            if name in known or not digest or not (folder / "finetune.json").exists():
                continue
            card = json.loads((folder / "finetune.json").read_text(encoding="utf-8"))
            try:
                self.register(name=name, version=1, domain=str(card["domain"]), path=f"package:{name}",
                              sha256=digest, card=card, actor="seed", stage="production")
                added.append(name)
            except IntegrityError:
                continue  # another process seeded it first
        return added


def _from_row(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(name=row.name, version=row.version, domain=row.domain, stage=row.stage,
                        path=resolve_path(row.path), sha256=row.sha256, card=json.loads(row.card),
                        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at)


def load_router_index(version: ModelVersion) -> Any:
    """The version's router index (``router.safetensors``): ``{"questions": ..., "general": ...}`` tensors.

    Loaded only against the digest registered with the version (``card["router"]["sha256"]``), from the
    bytes that were hashed. Missing digest, missing file or mismatch: ``ModelLoadError``.
    """
    import hashlib

    from safetensors.torch import load

    path = version.path / "router.safetensors"
    expected = (version.card.get("router") or {}).get("sha256")
    if not _SHA256.fullmatch(str(expected)):
        raise ModelLoadError(f"{version.ref} has no router sha256 registered with it; its router index is not loaded")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{version.ref} has no router index at {path}") from exc
    if hashlib.sha256(data).hexdigest() != expected:
        raise ModelLoadError(f"{version.ref}: {path} does not match the sha256 registered with the version")
    tensors = load(data)
    if set(tensors) != {"questions", "general"}:
        raise ModelLoadError(f"{path}: expected the tensors 'questions' and 'general', found {sorted(tensors)}")
    return {k: v.float() for k, v in tensors.items()}
