"""Prometheus metrics of the request path (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("decorum_requests_total", "Requests answered, by surface and verdict", ["surface", "verdict"])
STAGE_SECONDS = Histogram(
    "decorum_stage_seconds", "Time per pipeline stage", ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TOKENS = Counter("decorum_tokens_total", "Tokens processed by the generator", ["kind"])
MODELS_READY = Gauge("decorum_models_ready", "1 once the classifier and generator are loaded")


def observe(note: dict[str, object]) -> None:
    """Record one finished request from its transparency note."""
    REQUESTS.labels(str(note.get("surface")), str(note.get("verdict"))).inc()
    latency = note.get("latency_ms")
    if isinstance(latency, dict):
        for stage, ms in latency.items():
            STAGE_SECONDS.labels(stage).observe(float(ms) / 1000)
    tokens = note.get("tokens")
    if isinstance(tokens, dict):
        for kind, n in tokens.items():
            TOKENS.labels(kind).inc(int(n))
ACCESS_EVENTS = Counter("decorum_access_events_total", "Access refusals (401/403), logins and user changes",
                        ["action", "outcome"])


QUEUE_DEPTH = Gauge("decorum_queue_depth", "Items waiting in a bounded queue (batchers, Slack jobs)", ["queue"])
REFUSED = Counter("decorum_refused_total", "Asks refused for capacity (rate limit, full queue, deadline)",
                  ["surface", "reason"])
