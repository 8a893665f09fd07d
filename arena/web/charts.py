"""Geometry for the server-drawn SVG charts; the templates only place what is computed here.

Everything is SVG attributes and classes: the CSP forbids inline styles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

BAR_WIDTH = 200.0


@dataclass(frozen=True)
class Bar:
    x_low: float
    x_high: float
    x_rating: float

    @property
    def width(self) -> float:
        return max(self.x_high - self.x_low, 1.0)


def interval_bars(rows: list[dict[str, Any]]) -> dict[str, Bar]:
    """One bar per model on a scale shared by every row, so lengths compare."""
    if not rows:
        return {}
    lo = min(r["ci_low"] for r in rows)
    hi = max(r["ci_high"] for r in rows)
    pad = max((hi - lo) * 0.05, 1.0)
    lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        return round(float((v - lo) / (hi - lo) * BAR_WIDTH), 2)

    return {r["model"]: Bar(x(r["ci_low"]), x(r["ci_high"]), x(r["rating"])) for r in rows}


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    ticks = []
    v = start
    while v <= hi + 1e-9:
        ticks.append(round(v, 6))
        v += step
    return ticks


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    y_low: float
    y_high: float
    rating: float
    ci_low: float
    ci_high: float
    at: datetime
    snapshot_id: int


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: list[Point]
    line: str
    band: str
    y_ticks: list[tuple[float, float]]  # (y, value)
    x_labels: list[tuple[float, str]]  # (x, label)


def history_chart(history: list[dict[str, Any]], width: int = 900, height: int = 260) -> LineChart:
    """Rating over time with its 95% interval as a band; x is real time."""
    left, right, top, bottom = 56, width - 16, 12, height - 28
    if not history:
        return LineChart(width, height, left, right, top, bottom, [], "", "", [], [])
    lo = min(h["ci_low"] for h in history)
    hi = max(h["ci_high"] for h in history)
    pad = max((hi - lo) * 0.1, 5.0)
    lo, hi = lo - pad, hi + pad
    t0 = history[0]["computed_at"].timestamp()
    t1 = history[-1]["computed_at"].timestamp()

    def xt(at: datetime) -> float:
        if t1 == t0:
            return (left + right) / 2
        return round(float(left + (at.timestamp() - t0) / (t1 - t0) * (right - left)), 2)

    def yv(v: float) -> float:
        return round(float(bottom - (v - lo) / (hi - lo) * (bottom - top)), 2)

    points = [
        Point(
            xt(h["computed_at"]),
            yv(h["rating"]),
            yv(h["ci_low"]),
            yv(h["ci_high"]),
            h["rating"],
            h["ci_low"],
            h["ci_high"],
            h["computed_at"],
            h["snapshot_id"],
        )
        for h in history
    ]
    line = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    upper = [f"{p.x},{p.y_high}" for p in points]
    lower = [f"{p.x},{p.y_low}" for p in reversed(points)]
    band = "M" + " L".join(upper + lower) + " Z"
    ticks = [(yv(v), v) for v in nice_ticks(lo, hi, 4)]
    fmt = "%Y-%m-%d %H:%M"
    labels = [(points[0].x, points[0].at.strftime(fmt))]
    if len(points) > 1 and points[-1].x - points[0].x > 150:
        labels.append((points[-1].x, points[-1].at.strftime(fmt)))
    return LineChart(width, height, left, right, top, bottom, points, line, band, ticks, labels)
