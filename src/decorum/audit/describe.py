"""How an audit record reads to a person: ``audit list``'s table cells and ``audit show``'s lines (``--json`` prints
the whole note instead). Pure functions over notes.

Example::

    print("\n".join(describe(log.get(note_id))))
    print(table(["ID", "WHAT"], [[n["id"], what(n)] for n in notes]))
"""

from __future__ import annotations

import json
from typing import Any


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns under a header, two spaces apart; the last column is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
                     for r in [header, *rows])


def when(stamp: Any) -> str:
    """``2026-12-07T21:37:38.297Z`` as ``2026-12-07 21:37:38`` (UTC, to the second)."""
    return str(stamp or "-").replace("T", " ")[:19]


def ref(part: Any) -> str:
    return f"{part.get('name')}@{part.get('version')}" if isinstance(part, dict) else "-"


def what(note: dict[str, Any]) -> str:
    """What the record is about: a change and who made it, where an error ended, or the route an answer took."""
    change = note.get("change")
    if isinstance(change, dict):
        kind = str(change.get("kind"))
        what = kind
        if "template" in change or "entry" in change:
            what += f" {change.get('template') or change.get('entry')}@{change.get('version')}"
        elif kind.startswith("live_config."):
            what += f" live@{change.get('live_config') or 'file'}"
        if change.get("label"):
            what += f" {change['label']}"
        return what + f" by {change.get('actor')}" + (" (override)" if change.get("override") else "")
    error = note.get("error")
    if isinstance(error, dict) and not note.get("route"):
        return f"{error.get('type')}" + (f" ({error['reason']})" if error.get("reason") else "") + \
            (f" at {error['where']}" if error.get("where") else "")
    route, model = note.get("route") or {}, note.get("model") or {}
    if not route:
        return "-"
    adapter = model.get("adapter")
    return f"{route.get('strategy')} {ref(note.get('template'))}" + (f" +{ref(adapter)}" if adapter else "")


def checks_cell(note: dict[str, Any]) -> str:
    """The failed checks with their scores, else ``ok`` and the highest score; ``-`` where no check ran."""
    guard = note.get("guardrails") or {}
    results = [(stage, r) for stage in ("input", "first_output", "output") for r in guard.get(stage) or []]
    if not results:
        return "-"
    failed = [f"{stage.replace('first_', '1st ')} {r['check']} {r['score']:.2f}" for stage, r in results
              if not r["passed"]]
    if failed:
        return "FAIL " + ", ".join(failed)
    top = max((r for _, r in results), key=lambda r: r["score"])
    return f"ok (max {top['check']} {top['score']:.2f})"


def describe(note: dict[str, Any]) -> list[str]:
    """``audit show``: one record as lines a person reads (``--json`` prints the whole note instead)."""
    lines = [f"{note.get('id')}  {note.get('verdict')}  {note.get('created_at')}  via {note.get('surface')}"]

    def field(name: str, text: str) -> None:
        lines.append(f"  {name:<11} {text}")

    shown = {"id", "verdict", "created_at", "surface", "schema_version", "hash", "prev_hash", "seq"}
    slack = note.get("slack")
    if isinstance(slack, dict):
        field("slack", ", ".join(f"{k} {v}" for k, v in slack.items()))
    if note.get("user"):
        field("asker", f"{note['user']}" + (f" (pseudonym key {note['pseudonym_key']})"
                                            if note.get("pseudonym_key") else ""))
    for key, name in (("request", "question"), ("response", "answer")):
        fp = note.get(key)
        if isinstance(fp, dict):
            extra = [k for k in ("truncated", "stored") if fp.get(k)]
            field(name, f"{fp.get('chars')} characters" + (f" (used {fp['chars_used']})" if fp.get("chars_used")
                                                           else "")
                  + (f", {', '.join(extra)}" if extra else "")
                  + (f", hmac_sha256 {str(fp['hmac_sha256'])[:12]}…" if fp.get("hmac_sha256") else ""))
    change = note.get("change")
    if isinstance(change, dict):
        field("change", what(note))
        for k in ("message", "reason"):
            if change.get(k):
                field("", f"{k}: {change[k]}")
        rest = {k: v for k, v in change.items() if k not in ("kind", "actor", "template", "version", "label",
                                                             "live_config", "override", "message", "reason")}
        if rest:
            field("", json.dumps(rest, ensure_ascii=False, sort_keys=True))
    error = note.get("error")
    if isinstance(error, dict):
        field("error", f"{error.get('type')}" + "".join(f", {k} {error[k]}" for k in ("reason", "where", "attempts")
                                                        if error.get(k) is not None))
    route = note.get("route")
    if isinstance(route, dict):
        how = [str(route.get("reason"))]
        if route.get("rule"):
            how.append(f"rule {route['rule']}")
        if route.get("domain"):
            how.append(f"domain {route['domain']}")
        if route.get("score") is not None:
            how.append(f"score {route['score']} >= threshold {route.get('threshold')}")
        field("route", f"{route.get('strategy')}: {', '.join(how)}" + (f" ({route['router']})"
                                                                       if route.get("router") else ""))
    tpl = note.get("template")
    if isinstance(tpl, dict):
        field("template", ref(tpl) + (f" ({tpl['variant']})" if tpl.get("variant") else "")
              + (f", sha256 {str(tpl['sha256'])[:12]}…" if tpl.get("sha256") else ""))
    model = note.get("model")
    if isinstance(model, dict):
        engine = " ".join(str(model[k]) for k in ("engine", "precision") if model.get(k))
        field("model", f"{model.get('name')}" + (f" on {engine}" if engine else "")
              + (f", revision {str(model['revision'])[:12]}…" if model.get("revision") else "")
              + (f", adapter {ref(model['adapter'])}" if model.get("adapter") else ""))
    guard = note.get("guardrails")
    if isinstance(guard, dict):
        field("policy", f"{guard.get('policy')}" + "".join(f", {k} {guard[k]}" for k in ("live_config", "profile")
                                                           if guard.get(k) is not None)
              + (f", action {guard['action']}" if guard.get("action") else ""))
        rows = [[stage.replace("_", " "), str(r["check"]), f"{r['score']:.4f}", f"{r['threshold']}",
                 "pass" if r["passed"] else "FAIL", str(r.get("label") or "-"), str(r.get("explanation") or "")]
                for stage in ("input", "first_output", "output") for r in guard.get(stage) or []]
        if rows:
            header = ["STAGE", "CHECK", "SCORE", "THRESHOLD", "RESULT", "LABEL", "EXPLANATION"]
            lines.extend("    " + line for line in table(header, rows).splitlines())
        else:
            field("checks", "none ran")
    gen, tokens = note.get("generation"), note.get("tokens")
    if isinstance(gen, dict) or isinstance(tokens, dict):
        parts = []
        if isinstance(tokens, dict):
            parts.append(f"{tokens.get('prompt')} prompt + {tokens.get('completion')} completion tokens")
        if isinstance(gen, dict):
            parts += [f"{k.replace('_', ' ')} {v}" for k, v in gen.items() if v is not None and v is not False]
        field("generation", ", ".join(parts))
    latency = note.get("latency_ms")
    if isinstance(latency, dict):
        field("latency", f"{latency.get('total')} ms" + (": " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in latency.items() if k != "total") if len(latency) > 1 else ""))
    shown |= {"slack", "user", "pseudonym_key", "request", "response", "change", "error", "route", "template",
              "model", "guardrails", "generation", "tokens", "latency_ms"}
    for key in sorted(set(note) - shown):  # sections added later (streaming, knowledge ...) as compact JSON
        field(key.replace("_", " "), json.dumps(note[key], ensure_ascii=False, sort_keys=True))
    if note.get("hash"):
        field("chain", f"hash {str(note['hash'])[:16]}…, previous {str(note.get('prev_hash'))[:16]}…")
    lines.append(f"(the whole note: decorum audit show {note.get('id')} --json)")
    return lines
