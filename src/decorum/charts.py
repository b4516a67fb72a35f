"""Small server-side SVG charts (no JavaScript, no CDN): loss curves for model cards, bars for reports.

Example::

    svg = line_chart({"train": [(1, 2.1), (2, 1.4)], "eval": [(1, 2.3), (2, 1.9)]},
                     title="Loss", x_label="epoch", y_label="loss", marker_x=2)
    svg = bar_chart({"prompt_engineering": 0.14, "fine_tuned": 0.41}, title="Token F1")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# Blue and violet first: red is kept for failures (callers pass it by name where a series means one).
PALETTE = ("#2563eb", "#7c3aed", "#0891b2", "#16a34a", "#c2410c", "#64748b")
W, H = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 36, 44


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str,
               marker_x: float | None = None, marker_label: str = "best") -> str:
    """One SVG line chart; ``marker_x`` draws a dashed vertical line (e.g. the epoch that was kept)."""
    points = [p for s in series.values() for p in s]
    if not points:
        points = [(0.0, 0.0), (1.0, 1.0)]
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    if x1 == x0:
        x1 = x0 + 1
    pad = (y1 - y0) * 0.08 or 0.5
    y0, y1 = max(0.0, y0 - pad), y1 + pad

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def sy(y: float) -> float:
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    parts = _frame(title, x_label, y_label)
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#e5e7eb"/>'
                     f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>')
        x = x0 + (x1 - x0) * i / 4
        parts.append(f'<text x="{sx(x):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{_fmt(x)}</text>')
    if marker_x is not None:
        parts.append(f'<line x1="{sx(marker_x):.1f}" x2="{sx(marker_x):.1f}" y1="{TOP}" y2="{H - BOTTOM}" '
                     f'stroke="#6b7280" stroke-dasharray="4 3"/><text x="{sx(marker_x) - 4:.1f}" '
                     f'y="{(TOP + H - BOTTOM) / 2:.1f}" text-anchor="end">'
                     f'{escape(marker_label)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        if len(pts) <= 60:
            parts.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>' for x, y in pts)
        parts.append(f'<rect x="{W - RIGHT - 130}" y="{TOP + 4 + 16 * i}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{W - RIGHT - 114}" y="{TOP + 13 + 16 * i}">{escape(name)}</text>')
    return _close(parts)


def bar_chart(values: Mapping[str, float], *, title: str, y_label: str = "", y_max: float | None = None) -> str:
    """One SVG bar chart, a bar per key, the value written above each bar."""
    names = list(values)
    top = y_max if y_max is not None else max([*values.values(), 0.0]) * 1.15 or 1.0
    if y_max is None and all(float(v).is_integer() for v in values.values()):
        top = max(4.0, math.ceil(top / 4) * 4)  # counts: whole numbers on every grid line
    parts = _frame(title, "", y_label)
    _y_axis(parts, top)
    slot = (W - LEFT - RIGHT) / max(1, len(names))
    base = H - BOTTOM
    for i, name in enumerate(names):
        v = values[name]
        h = max(0.0, min(1.0, v / top)) * (H - TOP - BOTTOM)
        x = LEFT + i * slot + slot * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(name)}: {_fmt(v)}</title></rect>'
                     f'<text x="{x + slot * 0.35:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">{_fmt(v)}</text>'
                     f'<text x="{x + slot * 0.35:.1f}" y="{base + 16}" text-anchor="middle">{escape(name)}</text>')
    return _close(parts)


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'font-family="sans-serif" font-size="11" role="img" aria-label="{escape(title)}">',
            f'<rect width="{W}" height="{H}" fill="white"/>',
            f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
            f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#111"/>',
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="#111"/>',
            f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>',
            f'<text x="14" y="{H / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {H / 2})">{escape(y_label)}</text>']


def _y_axis(parts: list[str], top: float) -> None:
    """Grid lines and the value of each on the y axis, from 0 to ``top`` in quarters."""
    for i in range(5):
        y = top * i / 4
        sy = H - BOTTOM - (H - TOP - BOTTOM) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{sy:.1f}" y2="{sy:.1f}" stroke="#e5e7eb"/>'
                     f'<text x="{LEFT - 6}" y="{sy + 4:.1f}" text-anchor="end">{_fmt(y)}</text>')


def _label(x: float, y: float, text: str) -> str:
    """A category label under its bar; a newline in it starts a second line (long names stay apart)."""
    lines = text.split("\n")
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else 12}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{spans}</text>'


def _close(parts: list[str]) -> str:
    return "\n".join([*parts, "</svg>"]) + "\n"


def stacked_bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str,
                      x_label: str = "", y_label: str = "", colors: Mapping[str, str] | None = None,
                      y_max: float | None = None) -> str:
    """One SVG chart of stacked bars: a bar per category, a segment per series (a histogram, counts per day).

    ``series`` maps a name to one value per category. With many categories only every n-th label is written
    (each bar still says its values in its tooltip).

    Example::

        svg = stacked_bar_chart(["2026-11-30", "2026-12-01"], {"answered": [40, 52], "blocked_input": [3, 1]},
                                title="Verdicts per day", y_label="records")
    """
    cats = list(categories)
    names = list(series)
    totals = [sum(float(series[n][i]) for n in names) for i in range(len(cats))]
    top = y_max if y_max is not None else max([*totals, 0.0]) * 1.15 or 1.0
    if y_max is None and all(float(v).is_integer() for n in names for v in series[n]):
        top = max(4.0, math.ceil(top / 4) * 4)  # counts: whole numbers on every grid line
    parts = _frame(title, x_label, y_label)
    _y_axis(parts, top)
    slot = (W - LEFT - RIGHT) / max(1, len(cats))
    every = max(1, -(-len(cats) * 60 // (W - LEFT - RIGHT)))  # at most one label per ~60 px
    base = H - BOTTOM
    color = {n: (colors or {}).get(n) or PALETTE[k % len(PALETTE)] for k, n in enumerate(names)}
    for i, cat in enumerate(cats):
        x, y = LEFT + i * slot + slot * 0.12, float(base)
        tip = escape(f"{cat}: " + ", ".join(f"{n} {_fmt(float(series[n][i]))}" for n in names))
        for n in names:
            h = max(0.0, min(1.0, float(series[n][i]) / top)) * (H - TOP - BOTTOM)
            if h > 0:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.76:.1f}" height="{h:.1f}" '
                             f'fill="{color[n]}"><title>{tip}</title></rect>')
        if i % every == 0:
            parts.append(_label(x + slot * 0.38, base + 16, cat))
    for k, n in enumerate(names):
        parts.append(f'<rect x="{W - RIGHT - 130}" y="{TOP + 4 + 16 * k}" width="10" height="10" fill="{color[n]}"/>'
                     f'<text x="{W - RIGHT - 114}" y="{TOP + 13 + 16 * k}">{escape(n)}</text>')
    if not cats:
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#6b7280">no records</text>')
    return _close(parts)
