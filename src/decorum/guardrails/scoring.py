"""``decorum guardrails score``: JSONL in, one JSONL result per input line out, in order, batched."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, BinaryIO, TextIO

from decorum.guardrails.base import CheckResult, Stage
from decorum.guardrails.checks import Guardrails


def result_json(results: list[CheckResult]) -> dict[str, Any]:
    checks = {}
    for r in results:
        out = r.as_note()
        del out["check"]
        checks[r.check] = out
    return {"passed": all(r.passed for r in results), "checks": checks}


def parse_line(raw: bytes, lineno: int) -> tuple[str | None, str | None]:
    """``(text, None)`` or ``(None, error)`` for one input line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"line {lineno}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    if not line.strip():
        return None, f"line {lineno}: empty line"
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return None, f"line {lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return None, f'line {lineno}: expected an object with a string "text"'
    return obj["text"], None


def score_jsonl(stream: BinaryIO, out: TextIO, guardrails: Guardrails, *, stage: Stage = "input",
                batch_size: int = 64) -> int:
    """Score every line of ``stream`` into ``out``; returns how many lines were bad."""
    bad = 0
    pending: list[tuple[str | None, str | None]] = []

    def flush() -> None:
        texts = [t for t, _ in pending if t is not None]
        scored = iter(guardrails.run(texts, stage=stage)) if texts else iter(())
        for text, error in pending:
            res = {"error": error} if text is None else result_json(next(scored))
            out.write(json.dumps(res) + "\n")
        out.flush()
        pending.clear()

    for lineno, raw in enumerate(_lines(stream), start=1):
        text, error = parse_line(raw, lineno)
        bad += error is not None
        pending.append((text, error))
        if len(pending) >= batch_size:
            flush()
    flush()
    return bad


def _lines(stream: BinaryIO) -> Iterable[bytes]:
    for raw in stream:
        yield raw.rstrip(b"\r\n")
