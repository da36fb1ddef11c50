"""Server-rendered SVG geometry for the severity trend chart (no chart library, no script)."""

from __future__ import annotations

from dataclasses import dataclass

from hullscan.vulnerabilities.service import Trend
from hullscan.severities import SEVERITIES

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Line:
    severity: str
    points: str  # "x,y x,y ..." for <polyline points=...>
    last: int


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    lines: list[Line]
    y_ticks: list[tuple[float, int]]  # (y, value)
    x_labels: list[tuple[float, str]]  # (x, "MM-DD")
    plot: tuple[int, int, int, int]  # left, top, right, bottom


def nice_axis(peak: int, max_ticks: int = 5) -> tuple[int, int]:
    """(top, step) of a count axis: the smallest round step (1, 2, 2.5 or 5 times a power of ten, whole
    numbers only) that covers `peak` in at most `max_ticks` intervals, and the first multiple of it at or just
    above the peak: 123 -> 125 in steps of 25, 400 -> 400, 7 -> 8, 0 -> 1."""
    peak = max(int(peak), 1)
    power = 1
    while True:
        for mult in (1, 2, 2.5, 5):
            step = mult * power
            if step != int(step):
                continue
            intervals = -(-peak // int(step))
            if intervals <= max_ticks:
                return intervals * int(step), int(step)
        power *= 10


def trend_chart(trend: Trend) -> TrendChart:
    top_value, tick = nice_axis(trend.maximum)
    n = len(trend.days)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return round(LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y(v: int) -> float:
        return round(TOP + plot_h - plot_h * v / top_value, 1)

    lines = [Line(sev, " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(trend.series[sev])),
                  trend.series[sev][-1] if trend.series[sev] else 0) for sev in SEVERITIES]
    ticks = [(y(v), v) for v in range(0, top_value + 1, tick)]
    step = max(1, n // 6)
    labels = [(x(i), trend.days[i].strftime("%m-%d")) for i in range(0, n, step)]
    return TrendChart(WIDTH, HEIGHT, lines, ticks, labels, (LEFT, TOP, WIDTH - RIGHT, TOP + plot_h))
