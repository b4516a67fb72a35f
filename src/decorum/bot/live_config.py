"""Routing and guardrail policy as admin data: versioned, guarded, tested, published and rolled back live.

The configuration file (``DECORUM_CONFIG``) gives the starting policy and routing. An admin changes a threshold
or a routing rule as a new *version* of the live overlay: a YAML document with a ``policy`` and a ``routing``
section holding only the keys that may change without a restart (``LIVE_POLICY_KEYS``, ``LIVE_ROUTING_KEYS``;
models, classifier and domains stay in the file). Versions are immutable; ``publish`` makes one active,
``rollback`` returns to the one before; every change is a ``live_config_event`` and an audit record with
verdict ``change`` (``audit verify`` covers it).

- Guard on save: the overlay merged over the file must validate (pydantic, with the field named), the
  templates it routes to must have a production version, its domains must be servable.
- Test gate: ``test`` runs the test cases of every production template through a pipeline built with the
  candidate policy and routing (real checks, router, generator; notes written); ``publish`` runs it when the
  version was never tested and refuses a failing run unless an admin overrides with a reason.
- Live: each process looks at the ``live_config`` revision counter at most every ``prompts.cache_check_s``
  seconds (``LiveConfig.refresh``, called before each answer) and swaps in the active version's policy and
  routing; notes record it (``guardrails.live_config``).

Example::

    live = rt.live_config("cli")
    v = live.save({"policy": {"checks": {"toxicity": {"threshold": 0.3}}}}, by=admin, message="stricter")
    live.publish(v["version"], by=admin, reason="after the incident")
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select

from decorum.access import Principal
from decorum.errors import Forbidden, UsageError
from decorum.guardrails.policy import Policy
from decorum.prompts.sql_store import bump_revision, read_revision
from decorum.prompts.yaml_format import dump_yaml
from decorum.store import Database
from decorum.store.tables import LiveConfigEventRow, LiveConfigRow, LiveConfigVersionRow

logger = logging.getLogger(__name__)

REVISION = "live_config"
LIVE_POLICY_KEYS = ("checks", "on_input_fail", "on_output_fail", "max_question_chars", "profiles", "channel_profiles")
LIVE_ROUTING_KEYS = ("default_template", "default_strategy", "default_domain", "rules", "semantic", "uncertain_band")
LIVE_CHECK_KEYS = ("threshold", "stages", "enabled", "on_fail")
MAX_REASON = 1000

# (policy, routing, actor) -> one run's results: [{"template", "case", "question", "verdict", "passed", ...}]
Tester = Callable[[Policy, Any, str], list[dict[str, Any]]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sha(overlay: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(overlay, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_overlay(overlay: Any) -> dict[str, Any]:
    """The overlay's shape: only ``policy`` and ``routing``, each with only its live keys."""
    if not isinstance(overlay, dict):
        raise UsageError(f"a live configuration is a mapping with policy and routing, got {type(overlay).__name__}")
    unknown = sorted(set(overlay) - {"policy", "routing"})
    if unknown:
        raise UsageError(f"{unknown[0]}: unknown section; a live configuration has policy and routing")
    out: dict[str, Any] = {}
    for section, allowed in (("policy", LIVE_POLICY_KEYS), ("routing", LIVE_ROUTING_KEYS)):
        body = overlay.get(section) or {}
        if not isinstance(body, dict):
            raise UsageError(f"{section}: expected a mapping")
        for key in body:
            if key not in allowed:
                raise UsageError(f"{section}.{key}: not a live setting (live: {', '.join(allowed)}); change it in "
                                 f"DECORUM_CONFIG and restart")
        checks = body.get("checks") or {}
        if section == "policy" and not isinstance(checks, dict):
            raise UsageError("policy.checks: expected a mapping of check names")
        for name, check in checks.items() if section == "policy" else ():
            if not isinstance(check, dict):
                raise UsageError(f"policy.checks.{name}: expected a mapping")
            for key in check:
                if key not in LIVE_CHECK_KEYS:
                    raise UsageError(f"policy.checks.{name}.{key}: not a live setting (live: "
                                     f"{', '.join(LIVE_CHECK_KEYS)})")
        if body:
            out[section] = body
    return out


def merged(base_policy: Policy, base_routing: Any, overlay: dict[str, Any]) -> tuple[Policy, Any]:
    """The file's policy and routing with ``overlay`` on top, validated (errors name the field)."""
    from decorum.bot.router import RoutingConfig

    pol = base_policy.model_dump()
    over = overlay.get("policy") or {}
    for key, value in over.items():
        if key == "checks":
            for name, check in value.items():
                if name not in pol["checks"]:
                    raise UsageError(f"policy.checks.{name}: no such check (the policy has "
                                     f"{', '.join(sorted(pol['checks']))})")
                pol["checks"][name] = {**pol["checks"][name], **check}
        else:
            pol[key] = value
    route = {**base_routing.model_dump(), **(overlay.get("routing") or {})}
    try:
        policy = Policy.model_validate(pol)
    except ValidationError as exc:
        raise UsageError(f"policy.{_where(exc)}") from exc
    try:
        routing = RoutingConfig.model_validate(route)
    except ValidationError as exc:
        raise UsageError(f"routing.{_where(exc)}") from exc
    return policy, routing


def _where(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(section)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


@dataclass
class _Applied:
    """What one process applies, and when it last looked at the revision counter."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    revision: int | None = None
    checked_at: float = float("-inf")
    applied: dict[str, Any] | None = None
    logged: bool = False  # whether "applied" was logged once in this process
    listeners: list[Callable[[Policy, Any, dict[str, Any] | None], None]] = field(default_factory=list)


class LiveConfig:
    """The live overlay of one process: its versions, the active one, and what this process applies."""

    def __init__(self, db: Database, base_policy: Policy, base_routing: Any, *, access: Any = None,
                 surface: str = "cli", audit: Any = None, tester: Tester | None = None,
                 validate_routing: Callable[[Any], None] | None = None, cache_check_s: float = 1.0) -> None:
        self.db = db
        self.base_policy = base_policy
        self.base_routing = base_routing
        self.access = access
        self.surface = surface
        self.audit = audit
        self.tester = tester
        self.validate_routing = validate_routing  # raises UsageError for templates or domains it cannot serve
        self.cache_check_s = cache_check_s
        self._state = _Applied()  # shared with every ``for_surface`` copy: one process, one applied version

    @property
    def applied(self) -> dict[str, Any] | None:
        """``{"version", "sha256"}`` of the version this process applies (None: the configuration file alone)."""
        return self._state.applied

    def for_surface(self, surface: str) -> LiveConfig:
        """The same store and applied state acting for another surface (its records name that surface)."""
        other = LiveConfig.__new__(LiveConfig)
        other.__dict__.update(self.__dict__)
        other.surface = surface
        return other

    # -- applying -------------------------------------------------------------------------------------------
    def on_change(self, listener: Callable[[Policy, Any, dict[str, Any] | None], None]) -> None:
        """Call ``listener(policy, routing, active)`` whenever the active version this process applies changes."""
        self._state.listeners.append(listener)

    def due(self) -> bool:
        return time.monotonic() - self._state.checked_at >= self.cache_check_s

    def refresh(self, *, force: bool = False) -> None:
        """Apply the active version if another process (or this one) changed it since the last look."""
        if not force and not self.due():
            return
        revision = read_revision(self.db, REVISION)
        state = self._state
        with state.lock:
            state.checked_at = time.monotonic()
            if revision == state.revision and not force:
                return
            state.revision = revision
        active = self.active()
        overlay = active["overlay"] if active else {}
        try:
            policy, routing = merged(self.base_policy, self.base_routing, overlay)
        except UsageError as exc:  # the file changed under a stored version: keep serving what was applied
            logger.error("live configuration v%s no longer applies (%s); keeping the last one",
                         active and active["version"], exc.__class__.__name__)
            return
        applied = {"version": active["version"], "sha256": active["sha256"]} if active else None
        changed = applied != state.applied or not state.logged
        state.applied = applied
        for listener in state.listeners:
            listener(policy, routing, state.applied)
        if changed:  # a forced refresh that changes nothing (each service applying it at start) says nothing new
            state.logged = True
            logger.info("live configuration %s applied", f"v{active['version']}" if active else "(file only)")

    # -- reading --------------------------------------------------------------------------------------------
    def versions(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(LiveConfigVersionRow).order_by(LiveConfigVersionRow.version)).scalars().all()
            return [_version(r) for r in rows]

    def get(self, version: int) -> dict[str, Any]:
        for v in self.versions():
            if v["version"] == version:
                return v
        known = ", ".join(str(v["version"]) for v in self.versions()) or "none"
        raise UsageError(f"no live configuration version {version}; versions: {known}")

    def active_version(self) -> int | None:
        with self.db.session() as s:
            row = s.get(LiveConfigRow, "production")
            return None if row is None else row.version

    def active(self) -> dict[str, Any] | None:
        version = self.active_version()
        return None if version is None else self.get(version)

    def effective(self) -> dict[str, Any]:
        """What applies now: the active version (None: the file alone), its policy and routing in full."""
        active = self.active()
        policy, routing = merged(self.base_policy, self.base_routing, active["overlay"] if active else {})
        return {"version": active["version"] if active else None, "overlay": active["overlay"] if active else {},
                "policy": {k: v for k, v in policy.model_dump(mode="json").items() if k in LIVE_POLICY_KEYS},
                "policy_ref": policy.ref,
                "routing": {k: v for k, v in routing.model_dump(mode="json").items() if k in LIVE_ROUTING_KEYS}}

    def events(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(LiveConfigEventRow).order_by(LiveConfigEventRow.id)).scalars().all()
            return [_event(r) for r in rows]

    def history(self) -> dict[str, Any]:
        return {"active": self.active_version(), "versions": self.versions(), "events": self.events()}

    def diff(self, a: int, b: int) -> str:
        left = dump_yaml(self.get(a)["overlay"] or {}).splitlines(keepends=True)
        right = dump_yaml(self.get(b)["overlay"] or {}).splitlines(keepends=True)
        return "".join(difflib.unified_diff(left, right, fromfile=f"live@{a}", tofile=f"live@{b}"))

    # -- changing -------------------------------------------------------------------------------------------
    def _require(self, by: Principal, permission: str) -> str:
        if self.access is not None:
            self.access.require(by, permission, surface=self.surface, target="live-config")
        elif not by.can(permission):
            raise Forbidden(f"the {by.role} role cannot do {permission}")
        return by.name

    def save(self, overlay: Any, *, by: Principal, message: str) -> dict[str, Any]:
        """A new version (not active until published). Refused when it does not validate or changes nothing."""
        actor = self._require(by, "policy.edit")
        message = (message or "").strip()
        if not message or len(message) > 1000:
            raise UsageError("--message takes 1 to 1000 characters (what changed and why)")
        overlay = self.guard(overlay)
        sha = _sha(overlay)
        versions = self.versions()
        if versions and versions[-1]["sha256"] == sha:
            raise UsageError(f"no change: the content is identical to live@{versions[-1]['version']}")
        with self.db.session() as s:
            latest = s.execute(select(func.max(LiveConfigVersionRow.version))).scalar_one()
            version = (latest or 0) + 1
            s.add(LiveConfigVersionRow(version=version, body=json.dumps(overlay, sort_keys=True), sha256=sha,
                                       author=actor, message=message, created_at=_now()))
            s.add(LiveConfigEventRow(version=version, action="save", actor=actor, message=message, at=_now()))
            bump_revision(s, REVISION)
        self._record("save", version, sha, actor=actor, message=message)
        return self.get(version)

    def guard(self, overlay: Any) -> dict[str, Any]:
        """The save-time guard: the overlay's shape, merged over the file and validated, its routing servable.
        Returns the checked overlay; refusals are ``UsageError`` naming the field."""
        overlay = check_overlay(overlay)
        _, routing = merged(self.base_policy, self.base_routing, overlay)
        if self.validate_routing is not None:
            self.validate_routing(routing)
        return overlay

    def run_tests(self, version: int, *, by: Principal) -> dict[str, Any]:
        """Run every production template's test cases under ``version``'s policy and routing; stored with it."""
        actor = self._require(by, "policy.edit")
        v = self.get(version)
        if self.tester is None:
            raise UsageError("testing a live configuration needs the models (no tester here)")
        policy, routing = merged(self.base_policy, self.base_routing, v["overlay"])
        results = self.tester(policy, routing, actor)
        passed = all(r["passed"] for r in results)
        summary = f"{sum(r['passed'] for r in results)}/{len(results)} cases passed"
        run = {"passed": passed, "results": results, "at": _now(), "actor": actor, "summary": summary}
        with self.db.session() as s:
            row = s.execute(select(LiveConfigVersionRow).where(LiveConfigVersionRow.version == version)).scalar_one()
            runs = json.loads(row.tests) if row.tests else []
            row.tests = json.dumps([*runs, run])  # the content (body, hash) never changes
            s.add(LiveConfigEventRow(version=version, action="test", actor=actor, message=summary, at=_now()))
        self._record("test", version, v["sha256"], actor=actor, message=summary, extra={"passed": passed})
        return run

    def publish(self, version: int, *, by: Principal, reason: str = "", override: bool = False,
                action: str = "publish") -> dict[str, Any]:
        """Make ``version`` active everywhere (each process within ``cache_check_s``)."""
        actor = self._require(by, "policy.edit")
        if override:
            self._require(by, "override")
        reason = _reason(reason, override)
        v = self.get(version)
        current = self.active_version()
        if current == version:
            raise UsageError(f"live@{version} is already active")
        _, routing = merged(self.base_policy, self.base_routing, v["overlay"])  # the file may have changed
        if self.validate_routing is not None:
            self.validate_routing(routing)
        if action == "publish":
            run = v["tests"][-1] if v["tests"] else self.run_tests(version, by=by)
            if not run["passed"] and not override:
                failed = [r for r in run["results"] if not r["passed"]]
                why = "; ".join(f"{r['template']} case {r['case']}: {', '.join(r['failures'])}" for r in failed[:3])
                raise UsageError(f"live@{version} failed the test gate ({why}); publishing it needs --override "
                                 f"--reason TEXT")
        self._move(version, current, action=action, actor=actor, reason=reason, override=override)
        self._record(action, version, v["sha256"], actor=actor, reason=reason, from_version=current,
                     override=override)
        self.refresh(force=True)
        return self.get(version)

    def rollback(self, *, by: Principal, reason: str = "") -> dict[str, Any] | None:
        """Return to the version active before the latest publish (None: back to the file alone)."""
        actor = self._require(by, "policy.edit")
        reason = _reason(reason, False)
        possible, target = rollback_target(self.events())
        if not possible:
            raise UsageError("no earlier live configuration to roll back to")
        current = self.active_version()
        self._move(target, current, action="rollback", actor=actor, reason=reason, override=False)
        sha = self.get(target)["sha256"] if target is not None else ""
        self._record("rollback", target, sha, actor=actor, reason=reason, from_version=current)
        self.refresh(force=True)
        return None if target is None else self.get(target)

    def _move(self, version: int | None, current: int | None, *, action: str, actor: str, reason: str,
              override: bool) -> None:
        with self.db.session() as s:
            row = s.get(LiveConfigRow, "production", with_for_update=True)
            if version is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(LiveConfigRow(label="production", version=version, updated_at=_now()))
            else:
                row.version, row.updated_at = version, _now()
            s.add(LiveConfigEventRow(version=version, from_version=current, action=action, actor=actor, reason=reason,
                                     override=override, at=_now()))
            bump_revision(s, REVISION)

    def _record(self, action: str, version: int | None, sha256: str, *, actor: str, reason: str = "",
                message: str = "", from_version: int | None = None, override: bool = False,
                extra: dict[str, Any] | None = None) -> None:
        if self.audit is None:
            return
        from decorum.bot.note import new_id, utc_now
        from decorum.guardrails.note_schema import NOTE_SCHEMA_VERSION

        change = {"kind": f"live_config.{action}", "live_config": version, "from_version": from_version,
                  "actor": actor, "reason": reason, "message": message, "override": override, "sha256": sha256,
                  **(extra or {})}
        self.audit.append({"id": new_id(), "created_at": utc_now(), "surface": self.surface, "verdict": "change",
                           "schema_version": NOTE_SCHEMA_VERSION, "change": change})
        logger.info("live configuration %s v%s by %s", action, version, actor)


def rollback_target(events: list[dict[str, Any]]) -> tuple[bool, int | None]:
    """Whether a rollback is possible, and the version it returns to (None: the file alone), from the events:
    the publishes replayed as a stack that each rollback pops."""
    stack: list[int | None] = []
    for e in events:
        if e["action"] == "publish":
            if not stack:
                stack.append(e["from_version"])  # where it was before the first recorded publish
            stack.append(e["version"])
        elif e["action"] == "rollback" and stack:
            stack.pop()
    return (True, stack[-2]) if len(stack) >= 2 else (False, None)


def _reason(reason: str | None, override: bool) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason has {len(reason)} characters; the limit is {MAX_REASON}")
    if override and not reason:
        raise UsageError("--override needs --reason TEXT (recorded)")
    return reason


def _version(row: LiveConfigVersionRow) -> dict[str, Any]:
    return {"version": row.version, "overlay": json.loads(row.body), "sha256": row.sha256, "author": row.author,
            "message": row.message, "created_at": row.created_at, "tests": json.loads(row.tests) if row.tests else []}


def _event(row: LiveConfigEventRow) -> dict[str, Any]:
    return {"id": row.id, "version": row.version, "from_version": row.from_version, "action": row.action,
            "actor": row.actor, "reason": row.reason, "message": row.message, "override": row.override, "at": row.at}


def set_value(overlay: dict[str, Any], dotted: str, raw: str) -> dict[str, Any]:
    """``overlay`` with ``policy.checks.toxicity.threshold=0.3``-style assignment applied (YAML-typed value)."""
    import yaml

    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] not in ("policy", "routing") or not all(parts):
        raise UsageError(f"{dotted!r}: expected policy.KEY[.SUB...] or routing.KEY")
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError as exc:
        raise UsageError(f"{dotted}: the value is not valid YAML") from exc
    out = json.loads(json.dumps(overlay))
    node = out
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise UsageError(f"{dotted}: {p} is not a mapping")
        node = nxt
    node[parts[-1]] = value
    return out


__all__ = ["LIVE_POLICY_KEYS", "LIVE_ROUTING_KEYS", "LiveConfig", "check_overlay", "merged", "rollback_target",
           "set_value"]
