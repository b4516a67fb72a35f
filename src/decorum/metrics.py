"""Prometheus metrics of the request path (served at the admin listener's ``/metrics``, role viewer).

Every label has a bounded set of values: surfaces, verdicts, stage names, check names (the policy's checks),
engines, strategies, finish reasons, queue names. Never a user, channel, template text or message text.

Most series come from the finished transparency note, in one place (``observe``); the queue gauges are set by
the queues themselves (``decorum.bot.batching`` for ``checks``/``generate``, the Slack answerer for ``slack``).

Example::

    metrics.observe(note, audit_s=0.004)   # once per answered/refused/failed request, after the audit append
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("decorum_requests_total", "Requests answered, by surface and verdict", ["surface", "verdict"])
STAGE_SECONDS = Histogram(
    "decorum_stage_seconds",
    "Time per pipeline stage (input_checks, route, generate, output_checks, total as in the note; audit)",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TOKENS = Counter("decorum_tokens_total", "Tokens processed by the generator", ["kind"])
MODELS_READY = Gauge("decorum_models_ready", "1 once the classifier and generator are loaded")
ACCESS_EVENTS = Counter("decorum_access_events_total", "Access refusals (401/403), logins and user changes",
                        ["action", "outcome"])

# The HPA's metric: decorum_queue_depth{queue="slack"} (Slack jobs waiting for an answering slot on this replica).
QUEUE_DEPTH = Gauge("decorum_queue_depth", "Items waiting in a bounded queue (batchers, Slack jobs)", ["queue"])
QUEUE_DEPTH.labels("slack").set(0)  # present from the start (0) on every replica, Slack configured or not
IN_FLIGHT = Gauge("decorum_requests_in_flight", "Requests inside the pipeline now (checked, routed or generating)")
REFUSED = Counter("decorum_refused_total", "Asks refused for capacity (rate limit, full queue, deadline)",
                  ["surface", "reason"])

# Guardrail scores: 0 = no risk ... 1 = high risk. The buckets are finer around the default thresholds.
SCORE_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
GUARDRAIL_SCORE = Histogram("decorum_guardrail_score", "Guardrail check scores (0 no risk .. 1 high risk)",
                            ["check", "stage"], buckets=SCORE_BUCKETS)
GUARDRAIL_BLOCKS = Counter("decorum_guardrail_blocks_total",
                           "Checks that failed (score at or over the threshold); what followed is "
                           "decorum_guardrail_actions_total", ["check", "stage"])
GUARDRAIL_ACTIONS = Counter("decorum_guardrail_actions_total",
                            "What the guardrails did per request (allow, warned, refused, regenerated, fallback, "
                            "error)", ["action"])
GENERATIONS = Counter("decorum_generations_total", "Requests that reached the generator, by engine, strategy and "
                      "finish reason", ["engine", "strategy", "finish_reason"])

FALSE_POSITIVE_REPORTS = Counter("decorum_false_positive_reports_total",
                                 "Refusals their askers reported as wrong (\"This was wrong\"), by the check that "
                                 "blocked", ["check"])

# Values outside these sets are counted as "other": a label never takes an unexpected (unbounded) value.
_SURFACES = frozenset({"cli", "slack", "web"})
_VERDICTS = frozenset({"answered", "blocked_input", "blocked_output", "error"})
_ACTIONS = frozenset({"allow", "warned", "refused", "regenerated", "fallback", "fixed", "error"})
_STRATEGIES = frozenset({"prompt_engineering", "fine_tuned"})
_FINISH = frozenset({"stop", "length", "timeout", "cancelled"})
_STAGES = frozenset({"input_checks", "route", "generate", "output_checks", "total"})
_MAX_NAME = 40  # check and engine names come from configuration; still, never a long free text


def _bounded(value: object, allowed: frozenset[str]) -> str:
    text = str(value)
    return text if text in allowed else "other"


def _name(value: object) -> str:
    text = str(value or "")
    return text if text and len(text) <= _MAX_NAME and text.replace("_", "").replace("-", "").isalnum() else "other"


def observe(note: Mapping[str, Any], *, audit_s: float | None = None) -> None:
    """Record one finished request from its transparency note (``audit_s``: the audit append's time)."""
    REQUESTS.labels(_bounded(note.get("surface"), _SURFACES), _bounded(note.get("verdict"), _VERDICTS)).inc()
    latency = note.get("latency_ms")
    if isinstance(latency, Mapping):
        for stage, ms in latency.items():
            STAGE_SECONDS.labels(_bounded(stage, _STAGES)).observe(float(ms) / 1000)
    if audit_s is not None:
        STAGE_SECONDS.labels("audit").observe(audit_s)
    tokens = note.get("tokens")
    if isinstance(tokens, Mapping):
        for kind, n in tokens.items():
            TOKENS.labels(_bounded(kind, frozenset({"prompt", "completion"}))).inc(int(n))
    guard = note.get("guardrails")
    if isinstance(guard, Mapping):
        GUARDRAIL_ACTIONS.labels(_bounded(guard.get("action"), _ACTIONS)).inc()
        for key, stage in (("input", "input"), ("first_output", "output"), ("output", "output")):
            for result in guard.get(key) or ():
                check = _name(result.get("check"))
                GUARDRAIL_SCORE.labels(check, stage).observe(float(result.get("score", 0.0)))
                if not result.get("passed", True):
                    GUARDRAIL_BLOCKS.labels(check, stage).inc()
    generation = note.get("generation")
    if isinstance(generation, Mapping):
        model = note.get("model") or {}
        route = note.get("route") or {}
        GENERATIONS.labels(_name(model.get("engine") or model.get("backend")),
                           _bounded(route.get("strategy"), _STRATEGIES),
                           _bounded(generation.get("finish_reason"), _FINISH)).inc()


def count_false_positive_report(check: object) -> None:
    """One refusal reported as wrong by its asker (``decorum.audit.review.file_report``)."""
    FALSE_POSITIVE_REPORTS.labels(_name(check)).inc()
