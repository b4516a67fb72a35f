"""The template registry: save, guard, publish, roll back, diff, export and import, each change recorded.

Every change is written three times: a new immutable version (or a moved label) in the template tables, an
event in ``template_event`` (``history``), and a record with verdict ``change`` in the hash-chained audit log
(``decorum audit verify`` covers it). Saving runs the product's guardrails on the template text (stage
``template``) and keeps the results with the version; a version that failed them is saved as a draft, and
``publish`` refuses it unless the publisher overrides with a reason. With ``prompts.four_eyes`` on, nobody
publishes a version they wrote.

Import applies a file's ``labels`` only where they name a version that exists here: ``{label: {version,
sha256}}`` goes to the version with that content hash (whatever its number here); ``{label: N}`` to version N
of this database. Other labels are skipped and reported; a label the checks or four eyes refuse is reported
and makes the import exit 2 after everything else is done.

Example::

    reg = Registry(rt.templates, rt.audit, guard=rt.guardrails.run, config=rt.config.prompts, access=rt.access)
    v = reg.save(tpl, action="edit", by=alice, message="shorter steps")      # alice: an editor's Principal
    reg.publish("helpdesk", v.version, by=bob, reason="reviewed")            # bob: a publisher's

Roles (``decorum.access``): saving needs ``templates.edit``, publishing ``templates.publish``, rolling back
``templates.rollback``, publishing over failed checks also ``override`` (admin). The CLI acts as the local
admin, named by ``--as``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from decorum.access import Principal
from decorum.errors import Forbidden, TemplateInvalid, UsageError
from decorum.prompts.base import NAME_RE, PRODUCTION, Template
from decorum.prompts.render import render_messages
from decorum.prompts.sql_store import SqlTemplateStore
from decorum.prompts.yaml_format import (
    LabelRef,
    dump_template,
    dump_yaml,
    load_template_file,
    template_document,
)

logger = logging.getLogger(__name__)

LABEL_RE = NAME_RE
MAX_REASON = 1000
Guard = Callable[..., Sequence[Sequence[Any]]]  # Guardrails.run(texts, stage="template")
# (version, test case, actor) -> what the real path did: {"answer", "verdict", "strategy", "note_id"}
Tester = Callable[[Template, dict[str, Any], str], dict[str, Any]]


class PromptsConfig(BaseModel):
    """The ``prompts`` section of the YAML configuration."""

    model_config = ConfigDict(extra="forbid")

    # When on, ``publish`` refuses a publisher who authored the version.
    four_eyes: bool = False
    # How often a process looks whether another one changed the registry (seconds; 0: no cache). A publish
    # elsewhere is served here within about this long (see ``SqlTemplateStore``; ``bench/template_propagation.py``).
    cache_check_s: float = Field(default=1.0, ge=0.0, le=60.0)


@dataclass
class ImportReport:
    """What ``import`` did, file by file."""

    created: list[str] = field(default_factory=list)  # NAME@N
    unchanged: list[str] = field(default_factory=list)
    labelled: list[str] = field(default_factory=list)  # "production -> NAME@N"
    skipped: list[str] = field(default_factory=list)  # labels naming no version here
    refused: list[str] = field(default_factory=list)  # labels the checks or four eyes refused


class Registry:
    """Template changes with their guard, events and audit records (one per process and request)."""

    def __init__(self, store: SqlTemplateStore, audit: Any, *, guard: Guard | None = None,
                 config: PromptsConfig | None = None, surface: str = "cli", access: Any = None,
                 tester: Tester | None = None) -> None:
        self.store = store
        self.tester = tester  # runs a test case through the real path (``Runtime.template_tester``)
        self.audit = audit
        self.guard = guard
        self.config = config or PromptsConfig()
        self.surface = surface
        self.access = access  # AccessControl: refusals are recorded there; without it roles are still checked

    def _require(self, by: Principal, permission: str, target: str) -> str:
        if self.access is not None:
            self.access.require(by, permission, surface=self.surface, target=target)
        elif not by.can(permission):
            raise Forbidden(f"the {by.role} role cannot do {permission}")
        return by.name

    # -- saving ---------------------------------------------------------------------------------------------
    def check(self, tpl: Template) -> dict[str, Any]:
        """Run the template checks on its text and each test case's rendered prompt."""
        texts: list[tuple[str, str]] = [(f, getattr(tpl, f)) for f in ("system", "user", "safer_system")
                                        if getattr(tpl, f).strip()]
        for i, case in enumerate(tpl.test_cases):
            msgs = render_messages(tpl, question=case["question"])
            texts.append((f"test_cases[{i}]", "\n".join(m["content"] for m in msgs)))
        if self.guard is None:
            raise AssertionError("Registry.check needs a guard")
        per_text = self.guard([t for _, t in texts], stage="template")
        results = []
        for (where, _), checks in zip(texts, per_text, strict=True):
            for r in checks:
                results.append({"field": where, "check": r.check, "score": round(r.score, 4),
                                "threshold": r.threshold, "passed": r.passed, "explanation": r.explanation})
        return {"passed": all(r["passed"] for r in results), "results": results}

    def save(self, tpl: Template, *, action: str, by: Principal, message: str = "") -> Template:
        """A new version of ``tpl.name`` (``action``: create, edit or import); identical content is refused."""
        if action not in ("create", "edit", "import"):
            raise AssertionError(action)
        actor = self._require(by, "templates.edit", tpl.name)
        exists = tpl.name in self.store.names()
        if action == "create" and exists:
            raise UsageError(f"template {tpl.name!r} exists; use `decorum prompts edit {tpl.name} --file FILE`")
        if action == "edit" and not exists:
            self.store.get(tpl.name, 1)  # TemplateNotFound, naming what exists
        if exists:
            latest = self.store.latest(tpl.name)
            if replace(latest, legacy=False).sha256 == tpl.sha256:
                raise UsageError(f"no change: the content is identical to {latest.ref} (sha256 {tpl.sha256[:12]})")
        from decorum.prompts.render import validate

        validate(tpl)  # before the checks run: a template that cannot render is no draft either
        checks = self.check(tpl) if self.guard is not None else None  # None: saved unchecked (history says so)
        stored = self.store.add_version(tpl, author=actor, comment=message, checks=checks,
                                        event={"action": action, "actor": actor, "message": message})
        self._record(action, stored, actor=actor, message=message)
        return stored

    # -- labels ---------------------------------------------------------------------------------------------
    def publish(self, name: str, version: int, *, by: Principal, label: str = PRODUCTION, reason: str = "",
                override: bool = False, action: str = "publish") -> Template:
        """Move ``label`` to ``name@version``: refused for a failing or four-eyes version unless allowed."""
        actor = self._require(by, "templates.publish", name)
        if override:
            self._require(by, "override", name)
        _check_label(label)
        reason = _check_reason(reason, override)
        tpl = self.store.get(name, version)
        info = next(v for v in self.store.version_info(name) if v["version"] == version)
        current = self.store.labels(name).get(label)
        if current == version:
            raise UsageError(f"{label} already points at {tpl.ref}")
        checks = info["checks"]
        if checks is not None and not checks.get("passed", True) and not override:
            failed = [r for r in checks["results"] if not r["passed"]]
            why = "; ".join(f"{r['check']} on {r['field']}: {r['explanation']}" for r in failed[:3])
            raise UsageError(f"{tpl.ref} failed the template checks ({why}); publishing it needs "
                             f"--override --reason TEXT")
        if info.get("archived_at"):
            raise UsageError(f"{tpl.ref} is archived ({info['archived_at']}); archived versions are not published")
        if self.config.four_eyes and info["author"] == actor:
            raise UsageError(f"four eyes: {actor} wrote {tpl.ref} and may not publish it; another publisher must")
        if tpl.test_cases:
            runs = [r for r in self.store.test_runs(name, version) if r["sha256"] == tpl.sha256]
            run = runs[-1] if runs else self.run_tests(name, version, by=by)
            if not run["passed"] and not override:
                failed = [r for r in run["results"] if not r["passed"]]
                why = "; ".join(f"case {r['case']}: {', '.join(r['failures'])}" for r in failed[:3])
                raise UsageError(f"{tpl.ref} failed its tests ({why}); publishing it needs --override --reason TEXT, "
                                 f"or a new version, or `decorum prompts test {tpl.ref}` again")
        before = self.store.set_label(name, version, label, event={"action": action, "actor": actor, "reason": reason,
                                                                    "override": override})
        self._record(action, tpl, actor=actor, label=label, reason=reason, from_version=before, override=override)
        return tpl

    # -- tests ----------------------------------------------------------------------------------------------
    def run_tests(self, name: str, version: int | None = None, *, by: Principal) -> dict[str, Any]:
        """Run ``name@version``'s test cases through the real path; the run is stored with the version.

        ``version`` None: the production version (the latest when unpublished). Each case's answer is judged
        against its ``expect``; an ``error`` verdict always fails. Returns the stored run.
        """
        actor = self._require(by, "templates.edit", name)
        if version is None:
            version = self.store.labels(name).get(PRODUCTION) or self.store.latest(name).version
        tpl = self.store.get(name, version)
        if self.tester is None:
            raise UsageError("testing a template needs the models (this registry has no tester)")
        results = []
        for i, case in enumerate(tpl.test_cases):
            outcome = self.tester(tpl, case, actor)
            failures = judge(case.get("expect") or {}, outcome)
            results.append({"case": i, "question": case["question"], "verdict": outcome["verdict"],
                            "strategy": outcome.get("strategy"), "note_id": outcome.get("note_id"),
                            "answer_chars": len(outcome.get("answer") or ""),
                            "answer": (outcome.get("answer") or "")[:2000],
                            "passed": not failures, "failures": failures})
        passed = all(r["passed"] for r in results)
        summary = f"{sum(r['passed'] for r in results)}/{len(results)} cases passed"
        run = self.store.add_test_run(name, version, tpl.sha256, actor=actor, passed=passed, results=results,
                                      event={"action": "test", "actor": actor, "message": summary})
        self._record("test", tpl, actor=actor, message=summary, extra={"passed": passed, "test_run": run["id"]})
        return run

    # -- archive ----------------------------------------------------------------------------------------------
    def archive(self, name: str, version: int, *, by: Principal, reason: str = "") -> Template:
        """Hide ``name@version`` from listings and publishing; it stays readable (answers name it)."""
        actor = self._require(by, "templates.publish", name)
        reason = _check_reason(reason, False)
        tpl = self.store.get(name, version)
        info = next(v for v in self.store.version_info(name) if v["version"] == version)
        if info.get("archived_at"):
            raise UsageError(f"{tpl.ref} is already archived ({info['archived_at']})")
        held = sorted(lab for lab, v in self.store.labels(name).items() if v == version)
        if held:
            raise UsageError(f"{tpl.ref} is labelled {', '.join(held)}; publish another version there first")
        self.store.archive(name, version, event={"action": "archive", "actor": actor, "reason": reason})
        self._record("archive", tpl, actor=actor, reason=reason)
        return tpl

    def rollback(self, name: str, *, by: Principal, label: str = PRODUCTION, reason: str = "") -> Template:
        """Move ``label`` back to where it pointed before its latest publish."""
        actor = self._require(by, "templates.rollback", name)
        _check_label(label)
        reason = _check_reason(reason, False)
        current = self.store.labels(name).get(label)
        if current is None:
            self.store.get(name, None, label=label)  # TemplateNotFound naming name or label
        stack = self.label_stack(name, label)
        if len(stack) < 2:
            raise UsageError(f"{label} of {name!r} has no earlier version to roll back to")
        target = stack[-2]
        tpl = self.store.get(name, target)
        before = self.store.set_label(name, target, label,
                                      event={"action": "rollback", "actor": actor, "reason": reason})
        self._record("rollback", tpl, actor=actor, label=label, reason=reason, from_version=before)
        return tpl

    def label_stack(self, name: str, label: str) -> list[int]:
        """The versions ``label`` was published to, replayed from the events (a rollback pops one)."""
        stack: list[int] = []
        for e in self.store.events(name, label):
            if e["action"] in ("publish", "import"):
                if not stack and e["from_version"] is not None:
                    stack.append(e["from_version"])  # where the label was before the first recorded move
                stack.append(e["version"])
            elif e["action"] == "rollback" and stack:
                stack.pop()
        current = self.store.labels(name).get(label)
        if not stack and current is not None:
            stack.append(current)  # set before any recorded move (a seed)
        return stack

    # -- reading --------------------------------------------------------------------------------------------
    def history(self, name: str) -> dict[str, Any]:
        """Versions (author, time, message, hash, checks), current labels and every change, oldest first."""
        if not self.store.versions(name):
            self.store.get(name, 1)  # TemplateNotFound, naming what exists
        return {"name": name, "labels": self.store.labels(name), "versions": self.store.version_info(name),
                "events": self.store.events(name)}

    def diff(self, a: Template, b: Template) -> str:
        """A unified diff of the two versions as template files (field by field, line by line)."""
        left = dump_template(replace(a, legacy=False)).splitlines(keepends=True)
        right = dump_template(replace(b, legacy=False)).splitlines(keepends=True)
        return "".join(difflib.unified_diff(left, right, fromfile=a.ref, tofile=b.ref))

    # -- files ----------------------------------------------------------------------------------------------
    def export(self, directory: Path) -> list[Path]:
        """Write ``NAME.yaml`` per template: its latest version, its facts and its labels."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self.store.names():
            tpl = self.store.latest(name)
            info = self.store.version_info(name)[-1]
            labels = {lab: {"version": v, "sha256": self.store.get(name, v).sha256}
                      for lab, v in self.store.labels(name).items()}
            meta = {"version": tpl.version, "sha256": tpl.sha256, "author": info["author"],
                    "created_at": info["created_at"], "message": info["message"], "labels": labels}
            doc = template_document(replace(tpl, legacy=False), meta)
            path = directory / f"{name}.yaml"
            path.write_text(dump_yaml(doc), encoding="utf-8")
            written.append(path)
        return written

    def import_dir(self, directory: Path, *, by: Principal) -> ImportReport:
        """Read every ``*.yaml`` of ``directory`` (all are checked before any is applied), then apply them."""
        if not directory.is_dir():
            raise UsageError(f"{directory}: no such directory")
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise UsageError(f"{directory}: no *.yaml template files")
        parsed = []
        for path in files:
            if not NAME_RE.match(path.stem):
                raise TemplateInvalid(f"{path.name}: the file name must be a template name (NAME.yaml)")
            tpl, spec = load_template_file(path, name=path.stem)
            from decorum.prompts.render import validate

            validate(tpl)
            parsed.append((path, tpl, spec))
        report = ImportReport()
        for path, tpl, spec in parsed:
            latest = self.store.latest(tpl.name) if tpl.name in self.store.names() else None
            if latest is not None and replace(latest, legacy=False).sha256 == tpl.sha256:
                report.unchanged.append(latest.ref)
            else:
                stored = self.save(tpl, action="import", by=by, message=spec.message or f"import {path.name}")
                report.created.append(stored.ref)
            self._import_labels(tpl.name, spec.labels, by, path.name, report)
        return report

    def _import_labels(self, name: str, labels: dict[str, LabelRef | int], by: Principal, source: str,
                       report: ImportReport) -> None:
        for label, ref in labels.items():
            target = self._find_version(name, ref)
            if target is None:
                report.skipped.append(f"{label} of {name} ({source}): names no version here")
                continue
            if self.store.labels(name).get(label) == target:
                continue
            try:
                self.publish(name, target, by=by, label=label, reason=f"import {source}", action="import")
                report.labelled.append(f"{label} -> {name}@{target}")
            except UsageError as exc:
                report.refused.append(f"{label} of {name}: {exc}")

    def _find_version(self, name: str, ref: LabelRef | int) -> int | None:
        infos = self.store.version_info(name)
        if isinstance(ref, int):
            return ref if any(v["version"] == ref for v in infos) else None
        if ref.sha256 is None:
            return ref.version if any(v["version"] == ref.version for v in infos) else None
        for v in reversed(infos):
            if replace(self.store.get(name, v["version"]), legacy=False).sha256 == ref.sha256 \
                    or v["sha256"] == ref.sha256:
                return int(v["version"])
        return None

    # -- the record -----------------------------------------------------------------------------------------
    def _record(self, action: str, tpl: Template, *, actor: str, label: str | None = None, reason: str = "",
                message: str = "", from_version: int | None = None, override: bool = False,
                extra: dict[str, Any] | None = None) -> None:
        """The change's audit record (its event went into the template tables with the change itself)."""
        from decorum.bot.note import new_id, utc_now
        from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION

        change = {"kind": f"template.{action}", "template": tpl.name, "version": tpl.version, "label": label,
                  "from_version": from_version, "actor": actor, "reason": reason, "message": message,
                  "override": override, "sha256": tpl.sha256, **(extra or {})}
        self.audit.append({"id": new_id(), "created_at": utc_now(), "surface": self.surface, "verdict": "change",
                           "schema_version": NOTE_SCHEMA_VERSION, "change": change})
        logger.info("template %s %s by %s", action, tpl.ref, actor)


def judge(expect: dict[str, Any], outcome: dict[str, Any]) -> list[str]:
    """What a test case's answer got wrong against ``expect`` (empty: it passed). Text matches ignore case."""
    answer = outcome.get("answer") or ""
    low = answer.casefold()
    verdict = outcome["verdict"]
    failures = []
    if verdict == "error":
        failures.append("the answer failed with an error")
    for needle in expect.get("must_contain") or []:
        if needle.casefold() not in low:
            failures.append(f"missing {needle!r}")
    for needle in expect.get("must_not_contain") or []:
        if needle.casefold() in low:
            failures.append(f"contains {needle!r}")
    if expect.get("max_chars") is not None and len(answer) > expect["max_chars"]:
        failures.append(f"{len(answer)} characters > max_chars {expect['max_chars']}")
    gp = expect.get("guardrails_pass")
    if gp is True and verdict != "answered":
        failures.append(f"guardrails did not pass (verdict {verdict})")
    if gp is False and verdict not in ("blocked_input", "blocked_output"):
        failures.append(f"expected the guardrails to block, verdict {verdict}")
    if expect.get("strategy") and outcome.get("strategy") != expect["strategy"]:
        failures.append(f"strategy {outcome.get('strategy')} != {expect['strategy']}")
    return failures


def _check_label(label: str) -> None:
    if not LABEL_RE.match(label):
        raise UsageError(f"invalid label {label!r}: use lower-case letters, digits, '-' and '_'")


def _check_reason(reason: str | None, override: bool) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason has {len(reason)} characters; the limit is {MAX_REASON}")
    if override and not reason:
        raise UsageError("--override needs --reason TEXT (recorded)")
    return reason


__all__ = ["ImportReport", "PromptsConfig", "Registry", "judge"]
