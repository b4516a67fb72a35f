"""Logging set-up: JSON lines (default) or text. Records carry ids, never message text."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_configured = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__  # the type only: a traceback may quote text
        return json.dumps(out)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after set-up)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one stderr handler on the root logger (once per process)."""
    global _configured
    if _configured:
        logging.getLogger().setLevel(_level(level))
        return
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(_level(level))
    for noisy in ("httpx", "urllib3", "transformers", "filelock", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def _level(name: str) -> str:
    return name.upper() if name.upper() in logging.getLevelNamesMapping() else "INFO"
