"""Checks that run installed guardrails-ai validators through a ``Guard`` on the request path.

A policy names a validator by the name it was registered under (see ``policy.ValidatorSpec``); Decorum builds
one ``Guard`` per check (metrics collection off, no server, a one-call history), validates each text locally and
turns the validator's summary into a ``CheckResult`` like any other check's:

* ``scorer``: ``guardrails-ai/<validator>@<version>``; the version is the installed distribution's that ships the
  validator's module (a hub validator installed as a package, or the team's own package), else the class's
  ``version`` / ``__version__`` attribute, else ``src-<sha256 of the class's source, 12 hex>`` so two different
  codes never share a scorer string;
* ``score``: the validator's own ``metadata["score"]`` when it reports one, else 1.0 on failure and 0.0 on a pass;
  ``threshold``: the check's threshold (0.5 by default): a failed validator with no score always fails;
* ``span``: the first error span; ``explanation``: "<validator> failed" and the span. The validator's
  ``failure_reason`` and span reasons are never recorded: validators often quote the text (PII, secrets), and a
  note never holds message text.
* with ``on_fail: fix`` the Guard runs the validator with guardrails-ai's ``fix`` action and the result carries
  the repaired text (``CheckResult.fixed``, never written to the note) for the pipeline to go on with.

Team validators are made known by importing their modules at start: ``DECORUM_GUARDRAILS_MODULES`` (comma
separated module names, an operator setting, never a policy one: a policy picks among installed code, it never
names code to import).

Example::

    @register_validator(name="acme/no-printers", data_type="string")
    class NoPrinters(Validator): ...

    check = ValidatorCheck("printers", CheckPolicy(validator={"name": "acme/no-printers", "on_fail": "fix"}))
    [result] = check.check(["my printer is on fire"], stage="input")
    result.scorer   # 'guardrails-ai/acme/no-printers@src-3f1c0a9b2e47'
    result.passed, result.fixed   # False, 'my [device] is on fire'
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from decorum.errors import CheckError, ConfigError
from decorum.guardrails.base import CheckResult, Stage
from decorum.guardrails.policy import CheckPolicy
from decorum.offline import ensure_offline

logger = logging.getLogger(__name__)

MODULES_ENV = "DECORUM_GUARDRAILS_MODULES"
_imported: set[str] = set()
_import_lock = threading.Lock()


def import_team_modules(value: str | None = None) -> list[str]:
    """Import the modules ``DECORUM_GUARDRAILS_MODULES`` names (each registers its validators); returns them."""
    names = [n.strip() for n in (os.environ.get(MODULES_ENV, "") if value is None else value).split(",") if n.strip()]
    with _import_lock:
        for name in names:
            if name in _imported:
                continue
            try:
                importlib.import_module(name)
            except Exception as exc:
                raise ConfigError(f"{MODULES_ENV}: cannot import {name!r} ({exc.__class__.__name__}: {exc})") from None
            _imported.add(name)
    return names


def registered_validators() -> list[str]:
    """The names of every guardrails-ai validator registered in this process."""
    from guardrails.validator_base import validators_registry

    return sorted(validators_registry)


def validator_class(name: str) -> type:
    """The validator class registered as ``name`` (``hub://`` prefix allowed); ConfigError naming the known ones."""
    ensure_offline()
    import_team_modules()
    from guardrails.validator_base import validators_registry

    key = name.removeprefix("hub://")
    cls = validators_registry.get(key)
    if cls is None:  # a hub validator installed as a package registers when its module is imported
        from guardrails.validator_base import try_to_import_from_hub

        try_to_import_from_hub(key)
        cls = validators_registry.get(key)
    if cls is None:
        known = ", ".join(registered_validators()) or "none"
        raise ConfigError(f"guardrails-ai validator {name!r} is not installed or not registered (registered: {known}); "
                          f"install its package, or list the module that registers it in {MODULES_ENV}")
    return cls


def validator_version(cls: type) -> str:
    """The version that identifies the validator's code (see the module docstring)."""
    module = getattr(cls, "__module__", "") or ""
    top = module.split(".", 1)[0]
    dists = importlib.metadata.packages_distributions().get(top) or []
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    for attr in ("version", "__version__"):
        value = getattr(cls, attr, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return "unknown"
    return "src-" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _named_args(cls: type) -> set[str]:
    """The keyword arguments a validator class names in its own ``__init__`` (a typo is refused, not swallowed
    by guardrails-ai's ``**kwargs``)."""
    from guardrails.validator_base import Validator

    init = cls.__init__  # type: ignore[misc]
    if init is Validator.__init__:
        return set()
    params = inspect.signature(init).parameters.values()
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self", "on_fail"}


class ValidatorCheck:
    """One policy check over a guardrails-ai validator, run through its own ``Guard``."""

    def __init__(self, name: str, policy: CheckPolicy) -> None:
        if policy.validator is None:
            raise ConfigError(f"check {name!r} has no validator")
        from guardrails import Guard

        spec = policy.validator
        self.name = name
        self.policy = policy
        cls = validator_class(spec.name)
        self.registered = spec.name.removeprefix("hub://")
        self.scorer = f"guardrails-ai/{self.registered}@{validator_version(cls)}"
        self._fixes = spec.action == "fix" or policy.on_fail == "fix"
        unknown = sorted(set(spec.args) - _named_args(cls))
        if unknown:
            raise ConfigError(f"check {name!r}: validator {spec.name} does not accept args {unknown} (it takes: "
                              f"{', '.join(sorted(_named_args(cls))) or 'none'})")
        try:
            validator = cls(on_fail="fix" if self._fixes else "noop", **spec.args)
        except Exception as exc:
            raise ConfigError(f"check {name!r}: validator {spec.name} does not accept args {sorted(spec.args)} "
                              f"({exc.__class__.__name__}: {exc})") from None
        self._guard = Guard(name=f"decorum-{name}", history_max_length=1).use(validator)
        self._guard.configure(allow_metrics_collection=False)
        self._lock = threading.Lock()  # a Guard keeps per-call state (its history)

    def check(self, texts: Sequence[str], *, stage: Stage) -> list[CheckResult]:
        return [self._one(text, stage) for text in texts]

    def fix(self, text: str, *, stage: Stage) -> str:
        """``text`` repaired by the validator's fix (unchanged when it passes or cannot fix)."""
        result = self._one(text, stage)
        return result.fixed if result.fixed is not None else text

    def _one(self, text: str, stage: Stage) -> CheckResult:
        from guardrails.classes.validation.validation_result import FailResult

        try:
            with self._lock:
                outcome = self._guard.validate(text, metadata={"stage": stage, "check": self.name})
                logs = self._validator_logs()
                self._guard.history.clear()  # drop the text the Guard kept
        except Exception as exc:
            raise CheckError(f"validator {self.scorer} failed: {exc.__class__.__name__}") from exc
        summaries = [s for s in (outcome.validation_summaries or []) if s.validator_status == "fail"]
        failed_result = next((log.validation_result for log in logs
                              if isinstance(log.validation_result, FailResult)), None)
        meta = getattr(failed_result, "metadata", None) or {}
        reported = meta.get("score") if isinstance(meta, dict) else None
        failed = bool(summaries) or failed_result is not None
        if isinstance(reported, int | float) and not isinstance(reported, bool) and 0.0 <= reported <= 1.0:
            score = float(reported)
        else:
            score = 1.0 if failed else 0.0
        threshold = self.policy.threshold
        passed = not failed or score < threshold
        spans = [span for s in summaries for span in (s.error_spans or [])]
        span = (int(spans[0].start), int(spans[0].end)) if spans else None
        fixed = None
        repaired = outcome.validated_output
        if not passed and self._fixes and isinstance(repaired, str) and repaired != text:
            fixed = repaired
        return CheckResult(check=self.name, score=score, threshold=threshold, passed=passed, scorer=self.scorer,
                           label=self.registered, span=span,
                           explanation="" if passed else self._explain(span), fixed=fixed)

    def _validator_logs(self) -> list[Any]:
        try:
            return list(self._guard.history.last.iterations.last.outputs.validator_logs)
        except Exception:  # no history (a guardrails-ai version that keeps none): the summaries still decide
            return []

    def _explain(self, span: tuple[int, int] | None) -> str:
        where = f" in characters {span[0]}-{span[1]}" if span else ""
        return f"{self.registered} failed{where}"
