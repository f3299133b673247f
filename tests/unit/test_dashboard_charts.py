"""The server-rendered SVG charts: shape checks, values in tooltips, escaping, colour scale."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hometwin.components.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
BERLIN = ZoneInfo("Europe/Berlin")


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML or this raises


def test_heatmap_has_one_cell_per_weekday_and_bin_with_its_value() -> None:
    grid = [[float(d * 24 + h) for h in range(24)] for d in range(7)]
    root = _parse(charts.heatmap_svg(grid, label="visits", value_format=lambda v: f"{v:.0f} visits"))
    cells = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(cells) == 7 * 24
    titles = [c.find(f"{SVG}title").text for c in cells]  # type: ignore[union-attr]
    assert "Wed 05:00: 53 visits" in titles
    assert "Sun 23:00: 167 visits" in titles
    # The largest value gets the top of the scale, zero the bottom.
    by_title = {c.find(f"{SVG}title").text: c.get("fill") for c in cells}  # type: ignore[union-attr]
    assert by_title["Sun 23:00: 167 visits"] == charts.colour(1.0)
    assert by_title["Mon 00:00: 0 visits"] == charts.colour(0.0)
    assert root.get("role") == "img" and root.get("aria-label") == "visits"


def test_heatmap_marks_cells_without_data() -> None:
    grid = [[math.nan] * 48 for _ in range(7)]
    grid[2][10] = 3.0
    root = _parse(charts.heatmap_svg(grid, label="x", value_format=str))
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "Wed 05:00: 3.0" in titles  # 48 bins of 30 minutes: bin 10 is 05:00
    assert sum(1 for t in titles if t and t.endswith("no data")) == 7 * 48 - 1


@pytest.mark.parametrize("grid", [[], [[1.0] * 24] * 6, [[1.0] * 24] * 6 + [[1.0] * 23]])
def test_heatmap_refuses_a_wrong_shape(grid: list[list[float]]) -> None:
    with pytest.raises(ValueError, match="7 equal rows"):
        charts.heatmap_svg(grid, label="x", value_format=str)


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    bars = str(charts.bar_chart_svg({evil: 60.0}, label=evil))
    assert "<script>" not in bars and "&lt;script&gt;" in bars
    _parse(bars)


def test_bar_chart_orders_rooms_by_duration_and_scales_bars() -> None:
    root = _parse(charts.bar_chart_svg({"kitchen": 600.0, "bedroom": 28800.0, "hall": 60.0}, label="avg"))
    bars = [r for r in root.iter(f"{SVG}rect")]
    titles = [b.find(f"{SVG}title").text for b in bars]  # type: ignore[union-attr]
    assert titles == ["bedroom: 8 h", "kitchen: 10 min", "hall: 1 min"]
    widths = [float(b.get("width", 0)) for b in bars]
    assert widths[0] == pytest.approx(300.0) and widths[1] == pytest.approx(300 * 600 / 28800, abs=0.1)


def test_bar_chart_without_data_says_so() -> None:
    assert "no data" in str(charts.bar_chart_svg({}, label="avg"))


def test_timeline_places_stays_in_their_lane_and_time() -> None:
    start = datetime(2026, 3, 29, tzinfo=BERLIN)  # a DST day: 23 hours long
    end = start + timedelta(days=1)
    segs = [charts.Segment("kitchen", start + timedelta(hours=6), start + timedelta(hours=7), "breakfast"),
            charts.Segment("bedroom", start, start + timedelta(hours=6), "night"),
            charts.Segment("garage", start, end, "not a lane: ignored")]
    root = _parse(charts.timeline_svg(segs, ["bedroom", "kitchen"], start, end, label="day",
                                      now=start + timedelta(hours=12)))
    rects = {r.find(f"{SVG}title").text: r for r in root.iter(f"{SVG}rect")}  # type: ignore[union-attr]
    assert set(rects) == {"breakfast", "night"}
    span = (end - start).total_seconds() / 3600
    assert float(rects["night"].get("width", 0)) == pytest.approx(720 * 6 / span, abs=0.2)
    assert float(rects["breakfast"].get("y", 0)) > float(rects["night"].get("y", 0))
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert "02" not in ticks and "03" in ticks  # 02:00 does not exist on that day in Berlin
    assert any(line.get("class") == "now" for line in root.iter(f"{SVG}line"))


def test_timeline_needs_a_positive_span() -> None:
    t = datetime(2026, 1, 1, tzinfo=BERLIN)
    with pytest.raises(ValueError):
        charts.timeline_svg([], ["x"], t, t, label="empty")


@pytest.mark.parametrize(("seconds", "text"), [(5, "5 s"), (59.4, "59 s"), (600, "10 min"),
                                              (3600, "1 h"), (7380, "2 h 3 min"), (math.nan, "–"),
                                              (-3, "0 s")])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert charts.format_duration(seconds) == text


def test_colour_scale_is_clamped_and_monotonic_in_lightness() -> None:
    assert charts.colour(-1) == charts.colour(0) == "#440154"
    assert charts.colour(2) == charts.colour(1) == "#fde725"

    def luminance(c: str) -> float:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    values = [luminance(charts.colour(i / 20)) for i in range(21)]
    assert values == sorted(values)


def test_one_extreme_cell_does_not_darken_the_rest() -> None:
    grid = [[600.0 + 10 * h for h in range(24)] for _ in range(7)]
    grid[6][23] = 9 * 3600.0  # a night in bed next to daytime visits of minutes
    root = _parse(charts.heatmap_svg(grid, label="d", value_format=charts.format_duration))
    fills = {r.find(f"{SVG}title").text: r.get("fill") for r in root.iter(f"{SVG}rect")  # type: ignore[union-attr]
             if r.find(f"{SVG}title") is not None}
    assert fills["Sun 23:00: 9 h"] == charts.colour(1.0)
    assert fills["Mon 22:00: 14 min"] != charts.colour(0.0)  # still high on the scale
    legend = [t.text for t in root.iter(f"{SVG}text") if t.text and t.text.endswith("or more")]
    assert legend == ["14 min or more"]
