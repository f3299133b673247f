"""Trend pictures: each indicator as a small chart over the last weeks, with the person's normal
band and the detected changes marked. Shared by `hometwin trends --plot`, the dashboard's Trends
page and the weekly e-mail (inline PNG, no remote content).

    from hometwin.trends_chart import render_trends, render_indicator
    png: bytes = render_trends(report, weeks=8)                  # all indicators, small multiples
    png: bytes = render_indicator(report.trend("getting_up"))    # one chart (e.g. one per page card)

matplotlib is imported lazily with the Agg backend (no display, safe in a server thread).
"""

from __future__ import annotations

import io
import math
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from hometwin.domain.indicators import Unit
from hometwin.domain.trends_wording import change_summary

if TYPE_CHECKING:
    from hometwin.domain.change import IndicatorTrend, TrendReport

BAND = "#cfe3f3"
LINE = "#2b6cb0"
CHANGE = "#c0392b"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _window(trend: IndicatorTrend, weeks: int) -> slice:
    if not trend.days:
        return slice(0, 0)
    first = trend.days[-1] - timedelta(days=7 * weeks - 1)
    start = next((i for i, d in enumerate(trend.days) if d >= first), len(trend.days))
    return slice(start, len(trend.days))


def _axis_values(trend: IndicatorTrend, a: np.ndarray) -> np.ndarray:
    """Clock indicators are drawn in hours (7.5 = 07:30), the rest in their unit."""
    return a / 60.0 if trend.spec.unit is Unit.CLOCK else a


def draw_indicator(ax: Any, trend: IndicatorTrend, weeks: int = 8) -> None:
    """One indicator on a matplotlib axis: values, normal band, changes."""
    window = _window(trend, weeks)
    days: list[date] = list(trend.days[window])
    unit = {Unit.COUNT: "", Unit.MINUTES: " (min)", Unit.HOURS: " (h)", Unit.CLOCK: " (hour)"}[trend.spec.unit]
    ax.set_title(trend.spec.label + unit, fontsize=8, loc="left")
    ax.tick_params(labelsize=6)
    if not days or trend.unsupported or np.all(np.isnan(trend.values[window])):
        ax.text(0.5, 0.5, trend.unsupported or "no data", ha="center", va="center", fontsize=7,
                color="grey", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    x = np.array(days, dtype="datetime64[D]")
    ax.fill_between(x, _axis_values(trend, trend.low[window]), _axis_values(trend, trend.high[window]),
                    color=BAND, step="mid", linewidth=0, label="normal")
    ax.plot(x, _axis_values(trend, trend.values[window]), ".-", color=LINE, markersize=3, linewidth=0.8)
    for change in trend.changes:
        if change.detected < days[0]:
            continue
        ax.axvline(np.datetime64(change.since, "D"), color=CHANGE, linestyle="--", linewidth=0.8)
        ax.axvline(np.datetime64(change.detected, "D"), color=CHANGE, linewidth=1.2)
        right_half = (change.detected - days[0]).days > len(days) / 2  # keep the label inside the chart
        ax.text(np.datetime64(change.detected, "D"), 0.97, f" {change_summary(change)} ", fontsize=5.5,
                color=CHANGE, va="top", ha="right" if right_half else "left", transform=ax.get_xaxis_transform(),
                clip_on=True)
    ax.set_xlim(x[0] - np.timedelta64(1, "D"), x[-1] + np.timedelta64(1, "D"))
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=0, interval=max(1, weeks // 4)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))


def _png(fig: Any, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    _pyplot().close(fig)
    return buffer.getvalue()


def render_trends(report: TrendReport, weeks: int = 8, columns: int = 3, dpi: int = 90,
                  title: str | None = None) -> bytes:
    """Every indicator of `report` over the last `weeks` weeks, as one PNG of small multiples."""
    if weeks < 1 or columns < 1:
        raise ValueError("weeks and columns must be at least 1")
    plt = _pyplot()
    n = len(report.trends)
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 1.75 * rows), squeeze=False)
    for ax, trend in zip(axes.flat, report.trends, strict=False):
        draw_indicator(ax, trend, weeks)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title or f"Trends to {report.now:%d %b %Y}: shaded = personal normal, red = change "
                          "(dashed: since, solid: noticed)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97), pad=0.4, h_pad=0.6, w_pad=0.6)
    return _png(fig, dpi)


def render_indicator(trend: IndicatorTrend, weeks: int = 8, dpi: int = 90) -> bytes:
    """One indicator as a small PNG (for a dashboard card or an e-mail)."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    fig, ax = _pyplot().subplots(figsize=(3.6, 1.8))
    draw_indicator(ax, trend, weeks)
    fig.tight_layout(pad=0.4)
    return _png(fig, dpi)
