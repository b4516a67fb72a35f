"""The weekly audit summary: the last 7 days against the 7 days before, from the audit log's figures.

Plain functions over ``query.stats``: ``weekly_summary`` computes, ``summary_blocks`` and
``summary_text`` render it for Slack (``decorum.audit.jobs`` posts it to ``audit.summary_channel``).

What the figures mean (each over the records *created* in the week, ``[now - 7 d, now)`` and the week before):

* **volume**: request records, i.e. every verdict but ``change`` (answered, blocked_input, blocked_output, error);
* **block rate**: (blocked_input + blocked_output) / volume;
* a **check's fail rate**: its failed results over the records it scored, per stage (``toxicity (input)``);
  the **top failing checks** are this week's, most failures first;
* **feedback**: the 👍 / 👎 given on that week's records, by routing strategy;
* **drift**: block rate and each check's fail rate in percentage points, volume in per cent, flagged when the change
  is at least its threshold in ``THRESHOLDS``; rates only when both weeks hold at least ``min_volume`` records
  (scored records, for a check): a handful of records says nothing about a trend.

Example::

    summary = weekly_summary(db, datetime.now(UTC))
    await client.chat_postMessage(channel="C0AUDIT", text=summary_text(summary), blocks=summary_blocks(summary))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from decorum.audit.query import AuditFilter, iso, stats
from decorum.store import Database

REQUEST_VERDICTS = ("answered", "blocked_input", "blocked_output", "error")
BLOCKED = ("blocked_input", "blocked_output")
# When a week-on-week change is flagged: rates in percentage points, volume in per cent; rates only when both
# weeks hold at least min_volume records (for a check: records it scored).
THRESHOLDS: dict[str, float] = {"block_rate_pp": 5.0, "volume_pct": 50.0, "fail_rate_pp": 5.0, "min_volume": 20}
TOP_CHECKS = 5
WEEK = timedelta(days=7)
SECTION_CHARS = 3000
_LINES = 25  # lines of a list section (checks, strategies, drift)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def week_figures(db: Database, since: datetime, until: datetime) -> dict[str, Any]:
    """One week's figures (request records created in ``[since, until)``)."""
    st = stats(db, AuditFilter(since=iso(since), until=iso(until), verdict=",".join(REQUEST_VERDICTS)))
    verdicts = {v: int(st["verdicts"].get(v, 0)) for v in REQUEST_VERDICTS}
    volume = sum(verdicts.values())
    blocked = sum(verdicts[v] for v in BLOCKED)
    checks = []
    for entry in st["scores"]:
        scored = int(sum(entry["bins"]))
        checks.append({"stage": entry["stage"], "check": entry["check"], "scored": scored,
                       "failed": int(entry["failed"]), "fail_rate": _rate(int(entry["failed"]), scored)})
    return {"since": iso(since), "until": iso(until), "volume": volume, "verdicts": verdicts, "blocked": blocked,
            "block_rate": _rate(blocked, volume), "strategies": dict(st["strategies"]),
            "checks": checks,
            "feedback": {k: {"up": int(v["up"]), "down": int(v["down"])} for k, v in st["feedback"].items()}}


def _pp(this: float | None, last: float | None) -> float | None:
    return None if this is None or last is None else round((this - last) * 100, 2)


def _rate_drift(metric: str, this: float | None, last: float | None, this_n: int, last_n: int,
                threshold_pp: float, min_n: float, **extra: Any) -> dict[str, Any]:
    change = _pp(this, last)
    flagged = change is not None and this_n >= min_n and last_n >= min_n and abs(change) >= threshold_pp
    return {"metric": metric, **extra, "this": this, "last": last, "change": change, "unit": "pp",
            "threshold": threshold_pp, "flagged": flagged}


def _volume_drift(this: int, last: int, threshold_pct: float, min_n: float) -> dict[str, Any]:
    change = round((this - last) / last * 100, 1) if last else None
    flagged = max(this, last) >= min_n and (last == 0 or abs(change or 0.0) >= threshold_pct)
    return {"metric": "volume", "this": this, "last": last, "change": change, "unit": "%",
            "threshold": threshold_pct, "flagged": flagged}


def drift(this: dict[str, Any], last: dict[str, Any], thresholds: dict[str, float]) -> list[dict[str, Any]]:
    """Week-on-week changes: volume, block rate, then each check's fail rate (by stage, check)."""
    min_n = thresholds["min_volume"]
    items = [_volume_drift(this["volume"], last["volume"], thresholds["volume_pct"], min_n),
             _rate_drift("block_rate", this["block_rate"], last["block_rate"], this["volume"], last["volume"],
                         thresholds["block_rate_pp"], min_n)]
    now = {(c["stage"], c["check"]): c for c in this["checks"]}
    before = {(c["stage"], c["check"]): c for c in last["checks"]}
    empty = {"scored": 0, "failed": 0, "fail_rate": None}
    for stage, check in sorted(set(now) | set(before)):
        a, b = now.get((stage, check), empty), before.get((stage, check), empty)
        items.append(_rate_drift("fail_rate", a["fail_rate"], b["fail_rate"], a["scored"], b["scored"],
                                 thresholds["fail_rate_pp"], min_n, stage=stage, check=check))
    return items


def weekly_summary(db: Database, now: datetime, *, thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """The summary of the 7 days before ``now`` against the 7 days before those (a JSON-able dict)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    limits = {**THRESHOLDS, **(thresholds or {})}
    this = week_figures(db, now - WEEK, now)
    last = week_figures(db, now - 2 * WEEK, now - WEEK)
    last_failed = {(c["stage"], c["check"]): c["failed"] for c in last["checks"]}
    top = sorted((c for c in this["checks"] if c["failed"]), key=lambda c: (-c["failed"], c["stage"], c["check"]))
    feedback = {}
    for strategy in sorted(set(this["feedback"]) | set(last["feedback"])):
        a = this["feedback"].get(strategy, {"up": 0, "down": 0})
        b = last["feedback"].get(strategy, {"up": 0, "down": 0})
        feedback[strategy] = {"up": a["up"], "down": a["down"], "last_up": b["up"], "last_down": b["down"]}
    items = drift(this, last, limits)
    return {
        "until": this["until"], "since": this["since"], "thresholds": limits, "this_week": this, "last_week": last,
        "top_failing": [{**c, "last_failed": last_failed.get((c["stage"], c["check"]), 0)} for c in top[:TOP_CHECKS]],
        "feedback": feedback, "drift": items, "flagged": [_drift_name(d) for d in items if d["flagged"]],
    }


# --- Slack ---------------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _signed(value: float | None, unit: str) -> str:
    if value is None:
        return "new" if unit == "%" else "n/a"
    return f"{value:+.1f}{' pp' if unit == 'pp' else '%'}"


def _drift_name(d: dict[str, Any]) -> str:
    if d["metric"] == "fail_rate":
        return f"{d['check']} ({d['stage']}) fail rate"
    return "block rate" if d["metric"] == "block_rate" else "volume"


def _from_to(d: dict[str, Any]) -> str:
    if d["metric"] == "volume":
        return f"{d['last']} → {d['this']}"
    return f"{_pct(d['last'])} → {_pct(d['this'])}"


def _day(stamp: str) -> str:
    return stamp[:16].replace("T", " ")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_CHARS]}}


def _lines(title: str, lines: list[str], empty: str) -> dict[str, Any]:
    if len(lines) > _LINES:
        lines = [*lines[:_LINES - 1], f"_… and {len(lines) - _LINES + 1} more_"]
    return _section(f"*{title}*\n" + ("\n".join(lines) if lines else f"_{empty}_"))


def summary_text(summary: dict[str, Any]) -> str:
    """One line: the notification text of the posted summary."""
    this, last = summary["this_week"], summary["last_week"]
    flagged = summary["flagged"]
    return (f"Decorum audit, 7 days to {_day(summary['until'])} UTC: {this['volume']} requests "
            f"(last week {last['volume']}), block rate {_pct(this['block_rate'])} "
            f"(last week {_pct(last['block_rate'])}); "
            + (f"drift flagged: {', '.join(flagged)}" if flagged else "no drift beyond the thresholds"))


def summary_blocks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary as Block Kit (within a message's limits: at most 10 blocks, sections under 3,000 characters)."""
    this, last, t = summary["this_week"], summary["last_week"], summary["thresholds"]
    vol = next(d for d in summary["drift"] if d["metric"] == "volume")
    rate = next(d for d in summary["drift"] if d["metric"] == "block_rate")
    verdicts = " · ".join(f"{k} {v}" for k, v in this["verdicts"].items() if v) or "none"
    fields = [
        f"*Volume*\n{this['volume']} requests (last week {last['volume']}, {_signed(vol['change'], '%')})",
        f"*Block rate*\n{_pct(this['block_rate'])}: {this['blocked']} of {this['volume']} (last week "
        f"{_pct(last['block_rate'])}, {_signed(rate['change'], 'pp')})",
        f"*Verdicts*\n{verdicts}",
        f"*Drift flagged*\n{len(summary['flagged'])}",
    ]
    top = [f"• *{_escape(c['check'])}* ({c['stage']}): {c['failed']} failed of {c['scored']} scored "
           f"({_pct(c['fail_rate'])}; last week {c['last_failed']} failed)" for c in summary["top_failing"]]
    feedback = [f"• *{_escape(s)}*: 👍 {f['up']} · 👎 {f['down']} (last week 👍 {f['last_up']} · 👎 {f['last_down']})"
                for s, f in summary["feedback"].items()]
    drifts = sorted(summary["drift"], key=lambda d: not d["flagged"])
    drift_lines = [f"{':warning:' if d['flagged'] else '•'} {_escape(_drift_name(d))}: {_from_to(d)} "
                   f"({_signed(d['change'], d['unit'])})" + (" *flagged*" if d["flagged"] else "")
                   for d in drifts if d["change"] is not None or d["flagged"]]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Decorum audit: the week in figures"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"Records created {_day(summary['since'])} to {_day(summary['until'])} UTC, against the 7 days before. "
            "Message texts are never part of it.")}]},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        _lines("Top failing checks", top, "No check failed this week."),
        _lines("Feedback by strategy", feedback, "No feedback on this week's answers."),
        _lines("Drift against last week", drift_lines, "Nothing to compare yet."),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"Flagged at: block rate ±{t['block_rate_pp']:g} pp, volume ±{t['volume_pct']:g}%, a check's fail rate "
            f"±{t['fail_rate_pp']:g} pp; rates only with at least {t['min_volume']:g} records in both weeks.")}]},
    ]


__all__ = ["THRESHOLDS", "drift", "summary_blocks", "summary_text", "week_figures", "weekly_summary"]
