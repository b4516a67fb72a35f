"""Keep every library offline and silent: no model hub, no telemetry.

Called once by every entry point before a heavy library is imported. guardrails-ai sends usage
metrics unless its rc file says no (it has no environment switch); litellm fetches a cost map unless
told to use its local copy; Hugging Face libraries try the hub unless set offline.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "OTEL_SDK_DISABLED": "true",
    "TOKENIZERS_PARALLELISM": "false",
    # quiet: no progress bars on a CLI's stderr
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


# What the operator had set for each switch before ensure_offline first overwrote it (None: unset). Decorum's own
# features read these where the operator's choice is theirs to make (tracing reads OTEL_SDK_DISABLED here: the
# forced "true" keeps the libraries' own OpenTelemetry silent, not Decorum's traces to the operator's collector).
_OPERATOR_ENV: dict[str, str | None] = {}


def ensure_offline() -> None:
    """Set the offline switches in this process's environment and turn guardrails-ai metrics off."""
    for key, value in OFFLINE_ENV.items():
        if key not in _OPERATOR_ENV:
            _OPERATOR_ENV[key] = os.environ.get(key)
        os.environ[key] = value
    write_guardrailsrc(Path.home() / ".guardrailsrc")


def operator_value(key: str) -> str | None:
    """``key`` as the operator set it: before ``ensure_offline`` forced it, else as the environment has it now."""
    if key in _OPERATOR_ENV:
        return _OPERATOR_ENV[key]
    return os.environ.get(key)


def write_guardrailsrc(path: Path) -> None:
    """Make ``enable_metrics=false`` true in a guardrails rc file, keeping its other keys."""
    lines: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        pass
    kept = [line for line in lines if line.split("=", 1)[0].strip() != "enable_metrics"]
    wanted = [*kept, "enable_metrics=false"]
    if wanted != lines:
        try:
            path.write_text("\n".join(wanted) + "\n", encoding="utf-8")
        except OSError:
            # A read-only HOME: configure() on every Guard still turns metrics off (guardrails/validators.py).
            pass
