"""guardrails-ai validators ``decorum/toxicity`` and ``decorum/bias``, usable in any ``Guard``.

They run the same checks as the pipeline (one classifier, the policy's thresholds), locally: no Hub,
no remote inference, no telemetry.

Example::

    from guardrails import Guard
    from decorum.guardrails.validators import DecorumToxicity, DecorumBias

    guard = Guard().use_many(DecorumToxicity(on_fail="exception"), DecorumBias(on_fail="fix"))
    guard.validate("Thanks, that fixed my VPN.")

Policy actions map to guardrails-ai on-fail actions with ``ON_FAIL`` (refuse -> exception,
regenerate -> reask, fallback -> refrain, warn -> noop); ``fix`` redacts the flagged span and
``filter`` drops the value.
"""

from __future__ import annotations

import threading
from typing import Any

from decorum.guardrails.checks import default_guardrails
from decorum.offline import ensure_offline

ON_FAIL = {"refuse": "exception", "regenerate": "reask", "fallback": "refrain", "warn": "noop"}
REDACTED = "[redacted]"

_shared: dict[str, Any] = {}
_lock = threading.Lock()


def _make(check_name: str, registered: str) -> type:
    from guardrails.classes.validation.validation_result import ErrorSpan, FailResult, PassResult
    from guardrails.validator_base import Validator, register_validator

    class _DecorumValidator(Validator):  # type: ignore[misc]
        """Fails when the decorum check fails; the error names label, score, threshold and span."""

        def __init__(self, threshold: float | None = None, stage: str = "output", on_fail: Any = None,
                     guardrails: Any = None, **kwargs: Any) -> None:
            super().__init__(on_fail=on_fail, threshold=threshold, stage=stage, **kwargs)
            self._threshold = threshold
            self._stage = stage
            self._guardrails = guardrails

        def _validate(self, value: Any, metadata: dict[str, Any]) -> Any:
            g = self._guardrails or default_guardrails()
            check = next((c for c in g.checks if c.name == check_name), None)
            if check is None:
                raise ValueError(f"check {check_name!r} is not enabled in policy {g.policy.ref}")
            text = str(value)
            result = check.check([text], stage=metadata.get("stage", self._stage))[0]
            threshold = self._threshold if self._threshold is not None else result.threshold
            meta = {"score": result.score, "threshold": threshold, "label": result.label, "scorer": result.scorer}
            if result.score < threshold:
                return PassResult(metadata=meta)
            start, end = result.span or (0, len(text))
            return FailResult(
                error_message=result.explanation or f"{result.label} {result.score:.2f} >= {threshold:.2f}",
                fix_value=text[:start] + REDACTED + text[end:],
                error_spans=[ErrorSpan(start=start, end=end, reason=f"{check_name}: {result.label}")],
                metadata=meta,
            )

    _DecorumValidator.__name__ = _DecorumValidator.__qualname__ = f"Decorum{check_name.title()}"
    return register_validator(name=registered, data_type="string")(_DecorumValidator)


def __getattr__(name: str) -> Any:
    """Build the validator classes on first access, so importing this module stays cheap."""
    classes = {"DecorumToxicity": ("toxicity", "decorum/toxicity"), "DecorumBias": ("bias", "decorum/bias")}
    if name in classes:
        ensure_offline()
        with _lock:
            if name not in _shared:
                _shared[name] = _make(*classes[name])
            return _shared[name]
    raise AttributeError(name)
