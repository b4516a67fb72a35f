"""Knowledge-base changes with their guard, events and audit records: the life of a template, for entries.

Saving (``add``, ``edit``, ``import``) runs the product's guardrails on the entry's title and body at the
``template`` stage: an entry the checks fail is biased or hurtful data that retrieval would put in front of
the model, so it is refused and nothing is stored, unless an admin overrides with a reason (recorded). A
saved version is a draft until published; retrieval serves only the published version of each entry.
``prompts.four_eyes`` applies here too. Every change is a version or event row plus a ``change`` record in
the hash-chained audit log (kind ``knowledge.add|edit|import|publish|rollback``).

Roles (``decorum.access``): ``knowledge.edit`` (editor) saves, ``knowledge.publish`` and
``knowledge.rollback`` (publisher) move what is served, ``override`` (admin) saves or publishes over failed
checks.

Example::

    kb = rt.knowledge_registry("cli")
    v = kb.save(entry, action="edit", by=alice, message="new extension")
    kb.publish(entry.id, v.version, by=bob)
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decorum.access import Principal
from decorum.errors import Forbidden, UsageError
from decorum.knowledge.base import Entry, dump_entry, entry_document, load_entries_file
from decorum.knowledge.store import KnowledgeStore

logger = logging.getLogger(__name__)

MAX_REASON = 1000
Guard = Callable[..., Sequence[Sequence[Any]]]  # Guardrails.run(texts, stage="template")


class KnowledgeRefused(UsageError):
    """An entry the guardrails refused at save (nothing stored); ``checks`` holds the results."""

    def __init__(self, message: str, checks: dict[str, Any]) -> None:
        super().__init__(message)
        self.checks = checks


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)    # "id vN"
    unchanged: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)     # entries the checks refused (nothing stored for them)

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "unchanged": self.unchanged, "published": self.published,
                "refused": self.refused}


class KnowledgeRegistry:
    """Guarded, recorded changes to the knowledge base, acting for one surface (cli, console, slack)."""

    def __init__(self, store: KnowledgeStore, audit: Any, *, guard: Guard | None, surface: str = "cli",
                 access: Any = None, four_eyes: bool = False) -> None:
        self.store = store
        self.audit = audit
        self.guard = guard
        self.surface = surface
        self.access = access
        self.four_eyes = four_eyes

    def _require(self, by: Principal, permission: str, target: str) -> str:
        if self.access is not None:
            self.access.require(by, permission, surface=self.surface, target=target)
        elif not by.can(permission):
            raise Forbidden(f"the {by.role} role cannot do {permission}")
        return by.name

    # -- checks -----------------------------------------------------------------------------------------------
    def check(self, entry: Entry) -> dict[str, Any]:
        """The template-stage checks on the entry's title and body."""
        if self.guard is None:
            raise AssertionError("KnowledgeRegistry.check needs a guard")
        texts = [("title", entry.title), ("body", entry.body)]
        per_text = self.guard([t for _, t in texts], stage="template")
        results = [{"field": where, "check": r.check, "score": round(r.score, 4), "threshold": r.threshold,
                    "passed": r.passed, "explanation": r.explanation}
                   for (where, _), checks in zip(texts, per_text, strict=True) for r in checks]
        return {"passed": all(r["passed"] for r in results), "results": results}

    # -- saving -----------------------------------------------------------------------------------------------
    def save(self, entry: Entry, *, action: str, by: Principal, message: str = "", override: bool = False,
             reason: str = "") -> Entry:
        """A new version of ``entry.id`` (``action`` add, edit or import); refused when the checks fail."""
        if action not in ("add", "edit", "import"):
            raise AssertionError(action)
        actor = self._require(by, "knowledge.edit", entry.id)
        if override:
            self._require(by, "override", entry.id)
        reason = _check_reason(reason, override)
        exists = entry.id in self.store.ids()
        if action == "add" and exists:
            raise UsageError(f"knowledge entry {entry.id!r} exists; use `decorum knowledge edit {entry.id} --file F`")
        if action == "edit" and not exists:
            self.store.get(entry.id)  # EntryNotFound, naming similar ids
        if exists:
            latest = self.store.get(entry.id)
            if latest.sha256 == entry.sha256:
                raise UsageError(f"no change: the content is identical to {latest.ref} (sha256 {entry.sha256[:12]})")
        checks = self.check(entry) if self.guard is not None else None
        if checks is not None and not checks["passed"] and not override:
            failed = [r for r in checks["results"] if not r["passed"]]
            why = "; ".join(f"{_failure(r)} on {r['field']}" for r in failed[:3])
            logger.info("knowledge %s of %s refused by the checks", action, entry.id)
            raise KnowledgeRefused(f"{entry.id}: the entry failed the guardrail checks ({why}); nothing was saved. "
                                   f"Reword it, or an admin saves it with --override --reason TEXT", checks)
        stored = self.store.add_version(entry, author=actor, message=message, checks=checks, action=action)
        self._record(action, stored, actor=actor, message=message, reason=reason, override=override)
        return stored

    # -- publishing -------------------------------------------------------------------------------------------
    def publish(self, entry_id: str, version: int | None = None, *, by: Principal, reason: str = "",
                override: bool = False, action: str = "publish") -> Entry:
        """Serve ``entry_id@version`` (None: the latest) from now on, in every process."""
        actor = self._require(by, "knowledge.publish", entry_id)
        if override:
            self._require(by, "override", entry_id)
        reason = _check_reason(reason, override)
        entry = self.store.get(entry_id, version)
        info = next(v for v in self.store.version_info(entry_id) if v["version"] == entry.version)
        current = self.store.published_version(entry_id)
        if current == entry.version:
            raise UsageError(f"{entry.ref} is already published")
        checks = info["checks"]
        if checks is not None and not checks.get("passed", True) and not override:
            raise UsageError(f"{entry.ref} failed the guardrail checks when it was saved; publishing it needs "
                             f"--override --reason TEXT")
        if self.four_eyes and info["author"] == actor and action == "publish":
            raise UsageError(f"four eyes: {actor} wrote {entry.ref} and may not publish it; another publisher must")
        before = self.store.set_published(entry_id, entry.version, actor=actor, action=action, reason=reason,
                                          override=override)
        self._record(action, entry, actor=actor, reason=reason, from_version=before, override=override)
        return entry

    def published_stack(self, entry_id: str) -> list[int]:
        """The versions published in turn, replayed from the events (a rollback pops one)."""
        stack: list[int] = []
        for e in self.store.events(entry_id):
            if e["action"] == "publish":
                stack.append(e["version"])
            elif e["action"] == "rollback" and stack:
                stack.pop()
        return stack

    def rollback(self, entry_id: str, *, by: Principal, reason: str = "") -> Entry:
        """Serve the version published before the latest publish again."""
        actor = self._require(by, "knowledge.rollback", entry_id)
        reason = _check_reason(reason, False)
        self.store.get(entry_id)  # EntryNotFound
        stack = self.published_stack(entry_id)
        if len(stack) < 2:
            raise UsageError(f"knowledge entry {entry_id!r} has no earlier published version to roll back to")
        entry = self.store.get(entry_id, stack[-2])
        before = self.store.set_published(entry_id, entry.version, actor=actor, action="rollback", reason=reason)
        self._record("rollback", entry, actor=actor, reason=reason, from_version=before)
        return entry

    # -- reading ----------------------------------------------------------------------------------------------
    def history(self, entry_id: str) -> dict[str, Any]:
        self.store.get(entry_id)  # EntryNotFound
        return {"id": entry_id, "domain": self.store.domain_of(entry_id),
                "published": self.store.published_version(entry_id),
                "versions": self.store.version_info(entry_id), "events": self.store.events(entry_id)}

    def diff(self, a: Entry, b: Entry) -> str:
        left = dump_entry(a).splitlines(keepends=True)
        right = dump_entry(b).splitlines(keepends=True)
        return "".join(difflib.unified_diff(left, right, fromfile=f"{a.id}@{a.version}", tofile=f"{b.id}@{b.version}"))

    # -- files ------------------------------------------------------------------------------------------------
    def export(self, path: Path, *, domain: str | None = None) -> int:
        """Write every entry's latest version (with its published version and hash) as one YAML file."""
        from decorum.prompts.yaml_format import dump_yaml

        docs = []
        for row in self.store.overview(domain):
            entry = self.store.get(row["id"])
            docs.append(entry_document(entry, {"version": entry.version, "sha256": entry.sha256,
                                               "published": row["published"]}))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml({"entries": docs}), encoding="utf-8")
        return len(docs)

    def import_file(self, path: Path, *, by: Principal, publish: bool = False, message: str = "") -> ImportReport:
        """Read every entry of ``path`` (all parsed before any is saved), save what changed, publish on request."""
        self._require(by, "knowledge.edit", str(path.name))
        if publish:
            self._require(by, "knowledge.publish", str(path.name))
        parsed = load_entries_file(path)
        report = ImportReport()
        known = set(self.store.ids())
        for entry, entry_message in parsed:
            if entry.id in known and self.store.get(entry.id).sha256 == entry.sha256:
                latest = self.store.get(entry.id)
                report.unchanged.append(latest.ref)
                stored = latest
            else:
                try:
                    stored = self.save(entry, action="import", by=by,
                                       message=entry_message or message or f"import {path.name}")
                except KnowledgeRefused as exc:
                    report.refused.append(str(exc))
                    continue
                report.created.append(stored.ref)
            if publish and self.store.published_version(entry.id) != stored.version:
                try:
                    self.publish(entry.id, stored.version, by=by, reason=f"import {path.name}")
                except UsageError as exc:  # four eyes, or a version saved over failed checks: saved, not served
                    report.refused.append(f"{stored.ref} saved but not published: {exc}")
                    continue
                report.published.append(stored.ref)
        return report

    # -- the record -------------------------------------------------------------------------------------------
    def _record(self, action: str, entry: Entry, *, actor: str, reason: str = "", message: str = "",
                from_version: int | None = None, override: bool = False) -> None:
        from decorum.bot.note import new_id, utc_now
        from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION

        change = {"kind": f"knowledge.{action}", "entry": entry.id, "version": entry.version,
                  "domain": entry.domain, "from_version": from_version, "actor": actor, "reason": reason,
                  "message": message, "override": override, "sha256": entry.sha256}
        self.audit.append({"id": new_id(), "created_at": utc_now(), "surface": self.surface, "verdict": "change",
                           "schema_version": NOTE_SCHEMA_VERSION, "change": change})
        logger.info("knowledge %s %s by %s", action, entry.ref, actor)


def _failure(r: dict[str, Any]) -> str:
    """``identity_attack 0.98 >= threshold 0.45``: the check's own explanation, else its score and threshold."""
    return str(r["explanation"]) if r["explanation"] else f"{r['check']} {r['score']:.2f} >= {r['threshold']}"


def _check_reason(reason: str | None, override: bool) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason has {len(reason)} characters; the limit is {MAX_REASON}")
    if override and not reason:
        raise UsageError("--override needs --reason TEXT (recorded)")
    return reason
