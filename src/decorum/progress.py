"""A progress line with ETA for jobs longer than a few seconds (model builds, conversions).

On a terminal it redraws one line; elsewhere (``make run`` piped to a log, CI) it prints a line at most
every ``every_s`` seconds, so a log shows the job moving without a flood.

Example::

    with ProgressLine("building ONNX model (int8)") as bar:
        for i in range(30):
            bar.update((i + 1) / 30, f"layer {i + 1}/30")
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


class ProgressLine:
    """``label  42% [##########..............] detail · 5s elapsed, ETA 7s`` on ``stream`` (stderr)."""

    def __init__(self, label: str, *, stream: TextIO | None = None, every_s: float = 2.0) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.fraction = 0.0
        self.detail = ""
        self._last_print = -1e9
        self._last_len = 0

    def __enter__(self) -> ProgressLine:
        self.render(force=True)
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.fraction, self.detail = 1.0, "done"
        self.render(force=True, final=True)

    def update(self, fraction: float, detail: str = "") -> None:
        """Report progress in [0, 1]; never goes backwards."""
        self.fraction = min(1.0, max(self.fraction, fraction))
        self.detail = detail or self.detail
        self.render()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        filled = int(self.fraction * WIDTH)
        eta = (f", ETA {_duration(elapsed * (1 - self.fraction) / self.fraction)}"
               if 0.02 < self.fraction < 1 else "")
        detail = f" {self.detail}" if self.detail else ""
        return (f"{self.label} {self.fraction:4.0%} [{'#' * filled}{'.' * (WIDTH - filled)}]{detail}"
                f" · {_duration(elapsed)} elapsed{eta}")

    def render(self, *, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_print < (0.2 if self.tty else self.every_s):
            return
        self._last_print = now
        text = self.line()
        if self.tty:
            pad = " " * max(0, self._last_len - len(text))
            self.stream.write("\r" + text + pad + ("\n" if final else ""))
            self._last_len = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
