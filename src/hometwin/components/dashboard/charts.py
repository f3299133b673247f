"""Charts as inline SVG, rendered on the server: no JavaScript, nothing fetched from the internet.

Each chart scales with the page (`viewBox`, width 100%), carries a `<title>` per mark (a tooltip
with the exact value, read by screen readers) and an `aria-label` summary; the pages add the same
numbers as a table for anyone who cannot see colours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from markupsafe import Markup, escape

from hometwin.domain.wording import clock_text, duration_text

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Viridis (perceptually uniform, colour-blind safe, readable in greyscale), nine stops.
_VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30",
            "#fde725")
_EMPTY = "#eeeeee"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def colour(fraction: float) -> str:
    """The viridis colour at `fraction` in [0, 1] (clamped), linearly interpolated."""
    f = min(1.0, max(0.0, fraction)) * (len(_VIRIDIS) - 1)
    i = min(int(f), len(_VIRIDIS) - 2)
    t = f - i
    a, b = _rgb(_VIRIDIS[i]), _rgb(_VIRIDIS[i + 1])
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


format_duration = duration_text  # one wording with the e-mails and the detectors


def format_count(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _fmt_hour(bin_index: int, bin_minutes: int) -> str:
    return clock_text(bin_index * bin_minutes)


def heatmap_svg(grid: Sequence[Sequence[float]], *, label: str, value_format: Callable[[float], str],
                unit_hint: str = "") -> Markup:
    """Weekday (rows, Monday first) x time-of-day bins (columns) heat map.

    Non-finite cells (no data) are drawn light grey. The colour scale runs from 0 to the grid's
    maximum so two rooms' maps of the same statistic are read the same way within one map.
    """
    rows = [list(r) for r in grid]
    if len(rows) != 7 or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError(f"a heat map needs 7 equal rows, got {[len(r) for r in rows]}")
    bins = len(rows[0])
    bin_minutes = 1440 // bins
    finite = sorted(v for r in rows for v in r if math.isfinite(v))
    # The scale ends at the 95th percentile, so one extreme cell (a night in the bedroom) does not
    # turn every other cell dark; cells above it get the top colour and the legend says "or more".
    top = finite[min(len(finite) - 1, int(0.95 * len(finite)))] if finite else 0.0
    capped = bool(finite) and finite[-1] > top
    cell_w, cell_h, left, head = 22, 22, 40, 22
    legend_h = 34
    width = left + bins * cell_w + 4
    height = head + 7 * cell_h + legend_h
    parts = [
        f'<svg class="chart heatmap" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    step = max(1, bins // 8)
    for b in range(0, bins, step):
        x = left + b * cell_w
        parts.append(f'<text x="{x}" y="{head - 8}" class="tick">{_fmt_hour(b, bin_minutes)}</text>')
    for d, row in enumerate(rows):
        y = head + d * cell_h
        parts.append(f'<text x="{left - 6}" y="{y + cell_h - 6}" class="tick" text-anchor="end">'
                     f"{WEEKDAYS[d]}</text>")
        for b, value in enumerate(row):
            fill = colour(value / top) if math.isfinite(value) and top > 0 else (
                colour(0.0) if math.isfinite(value) else _EMPTY)
            shown = value_format(value) if math.isfinite(value) else "no data"
            parts.append(
                f'<rect x="{left + b * cell_w}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{fill}"><title>{WEEKDAYS[d]} {_fmt_hour(b, bin_minutes)}: '
                f"{escape(shown)}</title></rect>")
    # Legend: a gradient bar from 0 to the maximum.
    ly = head + 7 * cell_h + 10
    lw = min(200, bins * cell_w)
    for i in range(20):
        parts.append(f'<rect x="{left + i * lw / 20:.1f}" y="{ly}" width="{lw / 20 + 0.5:.1f}" height="10" '
                     f'fill="{colour(i / 19)}"/>')
    parts.append(f'<text x="{left}" y="{ly + 22}" class="tick">0</text>')
    parts.append(f'<text x="{left + lw}" y="{ly + 22}" class="tick" text-anchor="end">'
                 f"{escape(value_format(top))}{escape(unit_hint)}{' or more' if capped else ''}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()


def bar_chart_svg(values: Mapping[str, float], *, label: str,
                  value_format: Callable[[float], str] = format_duration) -> Markup:
    """Horizontal bars, one per key, largest first, each labelled with its value."""
    items = sorted(((k, v) for k, v in values.items() if math.isfinite(v)), key=lambda kv: -kv[1])
    bar_h, gap, left, right = 22, 6, 110, 90
    plot_w = 300
    width = left + plot_w + right
    height = max(1, len(items)) * (bar_h + gap) + gap
    top = max((v for _, v in items), default=0.0)
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
    ]
    if not items:
        parts.append(f'<text x="4" y="{bar_h}" class="tick">no data</text>')
    for i, (key, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = plot_w * value / top if top > 0 else 0
        parts.append(f'<text x="{left - 6}" y="{y + bar_h - 6}" class="tick" text-anchor="end">'
                     f"{escape(key)}</text>")
        parts.append(f'<rect x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" '
                     f'fill="{colour(0.3)}">'
                     f"<title>{escape(key)}: {escape(value_format(value))}</title></rect>")
        parts.append(f'<text x="{left + max(w, 1) + 6:.1f}" y="{y + bar_h - 6}" class="tick">'
                     f"{escape(value_format(value))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()


@dataclass(frozen=True, slots=True)
class Segment:
    """One bar on the timeline: a stay in a room, or an away/unknown interval (lane = its kind)."""

    lane: str
    start: datetime
    end: datetime
    label: str


def timeline_svg(segments: Sequence[Segment], lanes: Sequence[str], start: datetime, end: datetime, *,
                 label: str, now: datetime | None = None) -> Markup:
    """Swim lanes (one per room, plus away/unknown) over [start, end], in local time of `start`."""
    if end <= start:
        raise ValueError("timeline end must be after its start")
    left, head, lane_h, plot_w = 96, 22, 26, 720
    width = left + plot_w + 10
    height = head + max(1, len(lanes)) * lane_h + 6
    span = (end - start).total_seconds()

    def x_of(t: datetime) -> float:
        return left + plot_w * min(1.0, max(0.0, (t - start).total_seconds() / span))

    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
    ]
    hours = span / 3600
    tick_every = 1 if hours <= 8 else 3 if hours <= 30 else 24
    tick = start.replace(minute=0, second=0, microsecond=0)
    while tick <= end:
        if tick >= start and tick.hour % tick_every == 0:
            x = x_of(tick)
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{head - 4}" y2="{height - 4}" class="grid"/>')
            parts.append(f'<text x="{x:.1f}" y="{head - 8}" class="tick" text-anchor="middle">'
                         f"{tick:%H}</text>")
        tick = (tick + timedelta(hours=1)).astimezone(start.tzinfo)
    index = {lane: i for i, lane in enumerate(lanes)}
    for i, lane in enumerate(lanes):
        y = head + i * lane_h
        parts.append(f'<text x="{left - 6}" y="{y + lane_h - 9}" class="tick" text-anchor="end">'
                     f"{escape(lane)}</text>")
    palette = {lane: colour(i / max(1, len(lanes) - 1)) for i, lane in enumerate(lanes)}
    palette.update({"away": "#9e9e9e", "unknown": "#d0d0d0"})
    for seg in segments:
        if seg.lane not in index or seg.end <= start or seg.start >= end:
            continue
        x0, x1 = x_of(seg.start), x_of(seg.end)
        y = head + index[seg.lane] * lane_h + 3
        parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" height="{lane_h - 6}" '
                     f'rx="2" fill="{palette[seg.lane]}"><title>{escape(seg.label)}</title></rect>')
    if now is not None and start <= now <= end:
        x = x_of(now)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{head - 4}" y2="{height - 2}" class="now">'
                     "<title>now</title></line>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()


# -- trends ---------------------------------------------------------------------------------------

TREND_LEFT, TREND_WIDTH = 74, 300  # room for a tick label such as "1 h 30 min"; the plot's width


@dataclass(frozen=True, slots=True)
class ChangeMark:
    """A detected change on a trend chart: shaded from `since` to `detected`, a line at `detected`."""

    since: date
    detected: date
    label: str


def _num(v: float | None) -> float:
    return float(v) if v is not None else math.nan


def nice_ticks(lo: float, hi: float, *, steps: Sequence[float] = (), count: int = 3) -> list[float]:
    """About `count` round values covering [lo, hi]: from `steps` when given (say minutes of a clock),
    else 1, 2, 2.5 or 5 times a power of ten."""
    span = max(hi - lo, 1e-9)
    raw = span / count
    if steps:
        step = next((s for s in steps if s >= raw), steps[-1])
    else:
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _runs(ok: Sequence[bool]) -> list[tuple[int, int]]:
    """[start, end) index ranges where `ok` holds."""
    out, start = [], None
    for i, flag in enumerate([*ok, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i))
            start = None
    return out


def trend_chart_svg(days: Sequence[date], values: Sequence[float | None], low: Sequence[float | None],
                    high: Sequence[float | None], *, label: str, value_format: Callable[[float], str],
                    changes: Sequence[ChangeMark] = (), floor: float | None = 0.0,
                    tick_steps: Sequence[float] = ()) -> Markup:
    """One daily indicator over consecutive `days`: the values as a line with a dot per day, the
    personal normal band (low..high, shaded; None or NaN while it is learned), missing days as grey
    columns with a gap in the line (never a zero), and each change as an orange span with a line on
    the day it was detected. `floor` clips the band (a count is never below 0); `tick_steps` are the
    allowed distances of the value axis's ticks (clock times: 15, 30, 60 ... minutes)."""
    n = len(days)
    if n == 0:
        raise ValueError("a trend chart needs at least one day")
    if not len(values) == len(low) == len(high) == n:
        raise ValueError(f"{n} days but {len(values)} values, {len(low)} low and {len(high)} high")
    vals, lows, highs = [_num(v) for v in values], [_num(v) for v in low], [_num(v) for v in high]
    if floor is not None:
        lows = [max(v, floor) if math.isfinite(v) else v for v in lows]
    left, right, top, bottom, plot_w, plot_h = TREND_LEFT, 8, 8, 22, TREND_WIDTH, 110
    width, height = left + plot_w + right, top + plot_h + bottom
    dx = plot_w / n
    shown = [v for v in (*vals, *lows, *highs) if math.isfinite(v)]
    lo, hi = (min(shown), max(shown)) if shown else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = 0.08 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    if floor is not None and lo < floor <= min(shown, default=floor):
        lo = floor

    def x_of(i: float) -> float:
        return left + i * dx

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
    ]
    for i in range(n):
        if not math.isfinite(vals[i]):
            parts.append(f'<rect class="missing" x="{x_of(i):.1f}" y="{top}" width="{dx:.1f}" height="{plot_h}" '
                         f'fill="#eeeeee"><title>{days[i]:%a %d %b}: no data</title></rect>')
    for tick in nice_ticks(lo, hi, steps=tick_steps):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 5}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                     f"{escape(value_format(tick))}</text>")
    mondays = [i for i, day in enumerate(days) if day.weekday() == 0]
    every = max(1, math.ceil(len(mondays) / 5))  # at most five dates fit under the chart
    for i in mondays[::every]:
        if x_of(i) < left + plot_w - 30:  # the label must end inside the chart
            parts.append(f'<line x1="{x_of(i):.1f}" x2="{x_of(i):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
                         f'class="axis"/><text x="{x_of(i):.1f}" y="{top + plot_h + 16}" class="tick">'
                         f"{days[i].day}&#160;{days[i]:%b}</text>")
    band_ok = [math.isfinite(a) and math.isfinite(b) for a, b in zip(lows, highs, strict=True)]
    for a, b in _runs(band_ok):
        upper = [f"{x_of(i):.1f},{y_of(highs[i]):.1f} {x_of(i + 1):.1f},{y_of(highs[i]):.1f}" for i in range(a, b)]
        lower = [f"{x_of(i + 1):.1f},{y_of(lows[i]):.1f} {x_of(i):.1f},{y_of(lows[i]):.1f}"
                 for i in reversed(range(a, b))]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="#cfe0fb">'
                     "<title>normal for this person</title></polygon>")
    for mark in changes:
        a = max(0, (mark.since - days[0]).days)
        b = (mark.detected - days[0]).days
        if b < 0 or a >= n:
            continue
        b = min(b, n - 1)
        parts.append(f'<rect class="change-span" x="{x_of(a):.1f}" y="{top}" width="{x_of(b + 1) - x_of(a):.1f}" '
                     f'height="{plot_h}" fill="#fde2cc" fill-opacity="0.7"><title>{escape(mark.label)}</title></rect>')
        parts.append(f'<line class="change" x1="{x_of(b + 0.5):.1f}" x2="{x_of(b + 0.5):.1f}" y1="{top}" '
                     f'y2="{top + plot_h}" stroke="#c2410c" stroke-width="2">'
                     f"<title>{escape(mark.label)}</title></line>")
    for a, b in _runs([math.isfinite(v) for v in vals]):
        if b - a > 1:  # a missing day ends the line: the gap shows it
            points = " ".join(f"{x_of(i + 0.5):.1f},{y_of(vals[i]):.1f}" for i in range(a, b))
            parts.append(f'<polyline class="series" points="{points}" fill="none" stroke="#1d4ed8" '
                         'stroke-width="1.6"/>')
    for i, value in enumerate(vals):
        if not math.isfinite(value):
            continue
        out = band_ok[i] and not lows[i] - 1e-9 <= value <= highs[i] + 1e-9
        normal = (f"normal {value_format(lows[i])} – {value_format(highs[i])}" if band_ok[i]
                  else "normal still being learned")
        parts.append(f'<circle class="{"point out" if out else "point"}" cx="{x_of(i + 0.5):.1f}" '
                     f'cy="{y_of(value):.1f}" r="{3 if out else 2.2}" fill="{"#c2410c" if out else "#1d4ed8"}">'
                     f"<title>{days[i]:%a %d %b}: {escape(value_format(value))} ({escape(normal)})</title></circle>")
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" class="axis"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside went through escape()
