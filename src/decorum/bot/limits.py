"""Bounds on work: queue sizes, the request deadline, per-user ask rates, template rendering caps.

Every queue Decorum keeps is bounded; what does not fit is refused at once with ``Busy`` (HTTP 503, an
"at capacity" message in Slack) instead of waiting without end. One deadline covers a whole request,
time spent waiting in queues included. Each person has a token bucket of asks: ``asks_burst`` at once,
refilled at ``asks_per_user_per_minute``; an empty bucket is ``RateLimited`` (HTTP 429).

Rate limits are per process: with several replicas each keeps its own buckets (a person's limit is at most
replicas times the configured one). Who is "one person" is ``rate_key``: Slack by workspace and user, the
web API by the authenticated principal (all anonymous callers share one bucket), the CLI not at all (a
local admin tool: whoever runs it already has the machine). The CLI has no deadline either unless it passes
one (its first ask may load or build the models); Slack's deadline counts from the event's arrival.

Example YAML (``DECORUM_CONFIG``)::

    limits:
      max_in_flight: 64
      max_pending: 64
      request_deadline_s: 120
      asks_per_user_per_minute: 20
      asks_burst: 5
      template_render_timeout_s: 0.5
      template_max_output_chars: 100000
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from decorum.errors import RateLimited
from decorum.prompts.render import DEFAULT_RENDER_LIMITS, RenderLimits


class LimitsConfig(BaseModel):
    """The ``limits`` section of the YAML configuration."""

    model_config = ConfigDict(extra="forbid")

    # Requests inside the pipeline at once (checking, routing, waiting for or in generation); more are refused
    # before any work is done.
    max_in_flight: int = Field(64, ge=1, le=100_000)
    # Items waiting in each batching queue (checks, generation); a full queue refuses at once.
    max_pending: int = Field(64, ge=1, le=100_000)
    # The whole request, queues included; past it a request stops with Busy (after work began: an error note).
    request_deadline_s: float = Field(120.0, gt=0, le=3600)
    # Asks per person: ``asks_burst`` at once, then this many a minute. ``null`` turns the limit off.
    asks_per_user_per_minute: float | None = Field(20.0, gt=0, le=60_000)
    asks_burst: int = Field(5, ge=1, le=10_000)
    # Rendering one template message: wall-clock time and characters produced.
    template_render_timeout_s: float = Field(DEFAULT_RENDER_LIMITS.timeout_s, gt=0, le=60)
    template_max_output_chars: int = Field(DEFAULT_RENDER_LIMITS.max_output_chars, ge=1_000, le=10_000_000)

    @property
    def render(self) -> RenderLimits:
        return RenderLimits(timeout_s=self.template_render_timeout_s, max_output_chars=self.template_max_output_chars)


def rate_key(surface: str, user: str | None, team: str | None = None) -> str | None:
    """Whose bucket an ask takes a token from; None: not rate-limited (the CLI).

    Example::

        rate_key("slack", "U1", "T1") == "slack:T1:U1"
        rate_key("web", None) == "web:anonymous"
    """
    if surface == "cli":
        return None
    if surface == "slack":
        return f"slack:{team or '-'}:{user or '-'}"
    return f"{surface}:{user or 'anonymous'}"


class RateLimiter:
    """Token buckets per key, in memory, thread-safe. Idle buckets (full again) are forgotten.

    Example::

        limiter = RateLimiter(per_minute=20, burst=5)
        limiter.take("slack:T1:U1")      # raises RateLimited when that person's bucket is empty
    """

    def __init__(self, *, per_minute: float | None, burst: int, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = (per_minute / 60.0) if per_minute else None  # tokens per second
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str | None) -> None:
        """Spend one ask of ``key``'s bucket, or raise ``RateLimited`` (with the seconds until the next one)."""
        if key is None or self.rate is None:
            return
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                raise RateLimited(f"too many asks: at most {self.burst:g} at once and "
                                  f"{self.rate * 60:g} a minute per person; try again in {math.ceil(wait)} s",
                                  retry_after_s=wait)
            self._buckets[key] = (tokens - 1.0, now)  # most recently used last
            self._prune(now)

    def _prune(self, now: float) -> None:
        assert self.rate is not None
        full_after = self.burst / self.rate  # an untouched bucket is full again after this long
        while self._buckets:
            key, (_tokens, at) = next(iter(self._buckets.items()))
            if now - at < full_after and len(self._buckets) <= self.max_keys:
                break
            del self._buckets[key]  # full again (same as absent), or too many keys: the oldest goes

    def __len__(self) -> int:
        return len(self._buckets)
