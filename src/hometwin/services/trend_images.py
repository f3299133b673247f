"""Trend charts as PNG images, rendered in memory with matplotlib (no file, no display, no pyplot state).

One picture per indicator for the weekly e-mail (`trend_png`), and all indicators as small
multiples (`trends_png`) for whoever wants one image, such as `hometwin trends --plot`. Both draw
what the dashboard's SVG chart (`components/dashboard/charts.py: trend_chart_svg`) draws: the daily
values (missing days are gaps), the person's normal band, and each detected change as a shaded
span from the day it began to the day it was detected. Thread-safe: each call has its own Figure.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from hometwin.domain.change import IndicatorTrend

if TYPE_CHECKING:  # matplotlib loads on the first picture, not when a component starts
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from hometwin.domain.indicators import Unit
from hometwin.domain.trends_wording import value_text

from .trend_digest import last_weeks

log = logging.getLogger(__name__)

# The dashboard's colours (dashboard.css and charts.py), so the e-mail looks like the page.
LINE = "#1d4ed8"
BAND = "#cfe0fb"
CHANGE = "#c2410c"
CHANGE_SPAN = "#fde2cc"
TEXT = "#333333"
CLOCK_STEPS = (15, 30, 60, 120, 180, 240, 360)  # minutes between the ticks of a clock-time axis
# A chart has five colours and their anti-aliased blends: 64 palette entries keep the edges smooth
# at about a third of the bytes of a full-colour PNG (benchmarks/weekly_mail.py).
PALETTE_COLOURS = 64
# The weekly e-mail's charts are drawn inside the scheduler's invocation (10 s timeout by default):
# drawing stops after this long and the e-mail goes out with the charts drawn so far (the text has
# every figure). All nine charts took 1.6-3.8 s (median) on a loaded 2-core x86 server, so a machine
# 2-3x slower (a Raspberry Pi 4) may reach it; the send and the store writes keep the other 5 s.
MAIL_CHARTS_BUDGET_S = 5.0


def _figure(width_px: int, height_px: int, dpi: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure, dpi: int) -> bytes:
    """The figure as a palette PNG: the same trend gives the same bytes (a resent e-mail is identical)."""
    from PIL import Image

    canvas = fig.canvas
    canvas.draw()
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)  # type: ignore[attr-defined]
    # The figure is opaque (white), so RGB loses nothing; median cut keeps the few chart colours exact.
    paletted = rgba.convert("RGB").quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT,
                                            dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    paletted.save(buffer, format="PNG", optimize=True)  # PIL writes no "Software" or time chunk
    return buffer.getvalue()


def draw_trend(a: Axes, trend: IndicatorTrend, *, title: bool = True) -> None:
    """Draw one indicator's series, band and changes on a matplotlib Axes."""
    from matplotlib.dates import DateFormatter, DayLocator, WeekdayLocator, date2num
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

    days = list(trend.days)
    spec = trend.spec
    if title:
        a.set_title(spec.label, fontsize=10, loc="left", color=TEXT)
    if not days or trend.unsupported:
        why = f"not measurable here: needs {spec.needs}" if trend.unsupported else "no data"
        a.text(0.5, 0.5, why, ha="center", va="center", transform=a.transAxes,
               color=TEXT, fontsize=9)
        a.set_axis_off()
        return
    x = date2num(days)  # matplotlib's day numbers: half a day either side of a point is its day
    band = np.isfinite(trend.low) & np.isfinite(trend.high)
    low = trend.low if spec.unit is Unit.CLOCK else np.maximum(trend.low, 0.0)
    a.fill_between(x, low, trend.high, where=band, color=BAND, linewidth=0, step="mid",
                   label="normal for this person")
    for change in trend.changes:
        start = float(date2num(max(change.since, days[0])))
        detected = float(date2num(change.detected))
        a.axvspan(start - 0.5, detected + 0.5, color=CHANGE_SPAN, linewidth=0, zorder=0)
        a.axvline(detected, color=CHANGE, linewidth=1.5)
    # NaN values break the line: a missing day is a gap, never a zero.
    a.plot(x, trend.values, color=LINE, linewidth=1.4, marker="o", markersize=2.5)
    a.set_xlim(float(x[0]) - 0.5, float(x[-1]) + 0.5)
    if spec.unit is Unit.CLOCK:  # clock times on round quarter and whole hours
        finite = np.concatenate([v[np.isfinite(v)] for v in (trend.values, trend.low, trend.high)])
        span = float(finite.max() - finite.min()) if len(finite) else 60.0
        a.yaxis.set_major_locator(MultipleLocator(next((m for m in CLOCK_STEPS if m >= span / 4), 360)))
    else:
        a.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=spec.unit is Unit.COUNT))
    a.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: value_text(spec, v)))
    if len(days) > 21:
        a.xaxis.set_major_locator(WeekdayLocator(byweekday=0))
    else:
        a.xaxis.set_major_locator(DayLocator(interval=max(1, len(days) // 7)))
    a.xaxis.set_major_formatter(DateFormatter("%d %b"))
    a.tick_params(labelsize=8, colors=TEXT)
    a.grid(axis="y", color="#d9dce1", linewidth=0.8)
    for side in ("top", "right"):
        a.spines[side].set_visible(False)


def trend_png(trend: IndicatorTrend, *, weeks: int | None = None, title: bool = True, width_px: int = 560,
              height_px: int = 180, dpi: int = 100) -> bytes:
    """One indicator's chart as PNG bytes (the last `weeks` of it, or all of it); `title`: its label on top."""
    shown = last_weeks(trend, weeks) if weeks else trend
    fig = _figure(width_px, height_px, dpi)
    draw_trend(fig.add_subplot(), shown, title=title)
    fig.tight_layout(pad=0.4)
    return _png(fig, dpi)


@dataclass(frozen=True, slots=True)
class MailCharts:
    """The weekly e-mail's charts: PNG bytes by indicator key, and the indicators left without one."""

    pngs: dict[str, bytes]
    missing: tuple[str, ...]  # drawing failed, or the time budget ran out before them


def mail_charts(trends: Sequence[IndicatorTrend], *, budget_s: float = MAIL_CHARTS_BUDGET_S,
                draw: Callable[[IndicatorTrend], bytes] | None = None,
                clock: Callable[[], float] = time.monotonic) -> MailCharts:
    """Each trend's e-mail chart, drawn one after another until `budget_s` is spent. A chart that
    fails to draw (or matplotlib failing to load) is logged and left out, never the e-mail: the
    caller says in the text which charts are missing. `draw` defaults to the e-mail's chart size."""
    draw = draw or (lambda t: trend_png(t, title=False, height_px=160))
    deadline = clock() + budget_s
    pngs: dict[str, bytes] = {}
    missing: list[str] = []
    late = 0
    for trend in trends:
        if clock() >= deadline:
            missing.append(trend.spec.key)
            late += 1
            continue
        try:
            pngs[trend.spec.key] = draw(trend)
        except Exception:  # any drawing bug costs a picture, never the caregiver's e-mail
            log.exception("cannot draw the e-mail chart of %s; the e-mail goes without it", trend.spec.key)
            missing.append(trend.spec.key)
    if late:
        log.warning("weekly e-mail: stopped drawing charts after %.1f s; %d left out", budget_s, late)
    return MailCharts(pngs, tuple(missing))


def trends_png(trends: Sequence[IndicatorTrend], *, weeks: int | None = None, columns: int = 2,
               panel_px: tuple[int, int] = (520, 170), dpi: int = 100) -> bytes:
    """Every indicator as small multiples in one PNG, `columns` panels a row."""
    if not trends:
        raise ValueError("no trend to draw")
    rows = math.ceil(len(trends) / columns)
    fig = _figure(panel_px[0] * columns, panel_px[1] * rows, dpi)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(trends):
            draw_trend(ax, last_weeks(trends[i], weeks) if weeks else trends[i])
        else:
            ax.set_axis_off()
    fig.tight_layout(pad=0.5)
    return _png(fig, dpi)


def span_text(first: date, last: date) -> str:
    """'5 Jan – 1 Mar': the period a chart covers, for its caption or alt text."""
    return f"{first.day} {first:%b} – {last.day} {last:%b}"
