"""Server-rendered SVG geometry for the severity trend chart (no chart library, no script)."""

from __future__ import annotations

from dataclasses import dataclass

from hullscan.web.ui.queries import SEVERITIES, Trend

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


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    step = 1
    while step * 10 < value:
        step *= 10
    for mult in (1, 2, 5, 10):
        if step * mult * 4 >= value:
            return step * mult * 4 if step * mult * 4 >= value else value
    return value


def trend_chart(trend: Trend) -> TrendChart:
    top_value = _nice_max(trend.maximum)
    n = len(trend.days)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return round(LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y(v: int) -> float:
        return round(TOP + plot_h - plot_h * v / top_value, 1)

    lines = [Line(sev, " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(trend.series[sev])),
                  trend.series[sev][-1] if trend.series[sev] else 0) for sev in SEVERITIES]
    ticks = [(y(top_value * k // 4), top_value * k // 4) for k in range(5)]
    step = max(1, n // 6)
    labels = [(x(i), trend.days[i].strftime("%m-%d")) for i in range(0, n, step)]
    return TrendChart(WIDTH, HEIGHT, lines, ticks, labels, (LEFT, TOP, WIDTH - RIGHT, TOP + plot_h))
