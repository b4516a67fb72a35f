"""Transparency-note helpers: sortable ids, timestamps, the one-line summary.

Texts are fingerprinted with the audit key (``Pseudonymiser.fingerprint``): a plain hash would let anyone
confirm a guessed question.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, 26 Crockford base-32 characters, sortable."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(note: dict[str, object]) -> str:
    """The one-line note summary printed by ``decorum ask``, ``chat`` and ``audit list``.

    A ``change`` record (a template created, edited, published ...) has no route, model or checks: its
    summary names the change instead, e.g. ``[change · template.publish general@2 production by alice · id ...]``.
    """
    change = note.get("change")
    if isinstance(change, dict):
        what = f"{change.get('kind')} " + (f"{change.get('template')}@{change.get('version')}" if "template" in change
                                           else f"live@{change.get('live_config') or 'file'}")
        if change.get("label"):
            what += f" {change['label']}"
        what += f" by {change.get('actor')}" + (" (override)" if change.get("override") else "")
        return f"[{note.get('verdict')} · {what} · id {note.get('id')}]"
    route = note.get("route") or {}
    tpl = note.get("template") or {}
    model = note.get("model") or {}
    guard = note.get("guardrails") or {}
    assert isinstance(route, dict) and isinstance(tpl, dict) and isinstance(model, dict) and isinstance(guard, dict)

    def stage(name: str) -> str:
        results = guard.get(name) or []
        if not results:
            return f"{name} -"
        scores = " ".join(f"{r['check']} {r['score']:.2f}{'' if r['passed'] else '!'}" for r in results)
        return f"{name} {'ok' if all(r['passed'] for r in results) else 'FAIL'} ({scores})"

    parts = [str(note.get("verdict"))]
    if route:
        parts.append(str(route.get("strategy")))
    if tpl:
        parts.append(f"{tpl.get('name')}@{tpl.get('version')}")
    if model:
        adapter = model.get("adapter")
        parts.append(str(model.get("name")) + (f"+{adapter['name']}@{adapter['version']}" if adapter else ""))
    parts += [stage("input"), stage("output"), f"policy {guard.get('policy')}", f"id {note.get('id')}"]
    return "[" + " · ".join(parts) + "]"
