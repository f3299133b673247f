"""The Trends page's SVG chart: the normal band, change marks, missing days as gaps, escaping."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from hometwin.components.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
L = charts.TREND_LEFT
DAYS = [date(2026, 3, 2) + timedelta(days=i) for i in range(28)]  # four weeks from a Monday


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def _by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if cls in (e.get("class") or "").split()]


def _chart(values: list[float | None], *, changes: tuple[charts.ChangeMark, ...] = (),
           low: list[float | None] | None = None) -> ET.Element:
    n = len(values)
    low = low if low is not None else [None] * 7 + [1.0] * (n - 7)  # the first week: still learning
    high = [None] * 7 + [3.0] * (n - 7)
    return _parse(charts.trend_chart_svg(DAYS[:n], values, low, high, label="Night-time toilet visits",
                                         value_format=charts.format_count, changes=changes))


def test_band_covers_the_days_with_a_known_normal() -> None:
    root = _chart([2.0] * 28)
    [band] = _by_class(root, "polygon", "band")
    xs = [float(p.split(",")[0]) for p in band.get("points", "").split()]
    # 21 days of band: 2 corners each along the top and along the bottom, from day 7 to day 28.
    assert len(xs) == 4 * 21
    step = charts.TREND_WIDTH / 28
    assert min(xs) == pytest.approx(L + 7 * step, abs=0.1) and max(xs) == pytest.approx(L + 300, abs=0.1)
    assert band.find(f"{SVG}title").text == "normal for this person"  # type: ignore[union-attr]
    assert root.get("role") == "img" and root.get("aria-label") == "Night-time toilet visits"


def test_points_outside_the_band_are_marked_and_say_the_normal() -> None:
    values: list[float | None] = [2.0] * 28
    values[20] = 6.0
    root = _chart(values)
    points = _by_class(root, "circle", "point")
    assert len(points) == 28
    [out] = [p for p in points if "out" in (p.get("class") or "")]
    assert out.find(f"{SVG}title").text == "Sun 22 Mar: 6.0 (normal 1.0 – 3.0)"  # type: ignore[union-attr]
    first = points[0].find(f"{SVG}title").text  # type: ignore[union-attr]
    assert first == "Mon 02 Mar: 2.0 (normal still being learned)"


def test_missing_days_are_gaps_not_zeros() -> None:
    values: list[float | None] = [2.0] * 28
    values[10] = None
    values[11] = math.nan
    root = _chart(values)
    missing = _by_class(root, "rect", "missing")
    assert [m.find(f"{SVG}title").text for m in missing] == [  # type: ignore[union-attr]
        "Thu 12 Mar: no data", "Fri 13 Mar: no data"]
    lines = _by_class(root, "polyline", "series")
    assert [len(line.get("points", "").split()) for line in lines] == [10, 16]  # the line breaks at the gap
    assert len(_by_class(root, "circle", "point")) == 26
    zero_y = max(float(c.get("cy", 0)) for c in _by_class(root, "circle", "point"))
    assert all(float(c.get("cy", 0)) <= zero_y for c in _by_class(root, "circle", "point"))


def test_a_change_is_shaded_from_its_start_and_lined_on_its_detection() -> None:
    mark = charts.ChangeMark(date(2026, 3, 20), date(2026, 3, 23), "Since Friday 20 March <more> visits")
    early = charts.ChangeMark(date(2026, 2, 1), date(2026, 3, 3), "began before the chart")
    outside = charts.ChangeMark(date(2026, 1, 1), date(2026, 1, 5), "over before the chart: not drawn")
    root = _chart([2.0] * 28, changes=(mark, early, outside))
    spans = _by_class(root, "rect", "change-span")
    lines = _by_class(root, "line", "change")
    assert len(spans) == len(lines) == 2
    step = charts.TREND_WIDTH / 28
    assert float(spans[0].get("x", 0)) == pytest.approx(L + 18 * step, abs=0.1)
    assert float(spans[0].get("width", 0)) == pytest.approx(4 * step, abs=0.1)
    assert float(lines[0].get("x1", 0)) == pytest.approx(L + 21.5 * step, abs=0.1)
    assert lines[0].find(f"{SVG}title").text == "Since Friday 20 March <more> visits"  # type: ignore[union-attr]
    assert float(spans[1].get("x", 0)) == pytest.approx(L, abs=0.1)  # clipped to the first day


def test_text_is_escaped_and_the_markup_is_well_formed() -> None:
    evil = '<script>alert("x")</script>'
    svg = str(charts.trend_chart_svg(DAYS[:3], [1.0, 2.0, 3.0], [0.0] * 3, [4.0] * 3, label=evil,
                                     value_format=str, changes=[charts.ChangeMark(DAYS[0], DAYS[1], evil)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    _parse(svg)


def test_a_band_below_zero_is_clipped_for_counts_but_not_for_clock_times() -> None:
    counts = _parse(charts.trend_chart_svg(DAYS[:7], [0.0] * 7, [-2.0] * 7, [2.0] * 7, label="c",
                                           value_format=charts.format_count))
    ticks = [t.text for t in counts.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert ticks and all(float(t) >= 0 for t in ticks if t)
    clock = _parse(charts.trend_chart_svg(DAYS[:7], [30.0] * 7, [-60.0] * 7, [90.0] * 7, label="c",
                                          value_format=str, floor=None, tick_steps=(15, 30, 60)))
    assert any(float(t.text or 0) < 0 for t in clock.iter(f"{SVG}text") if t.get("text-anchor") == "end")


def test_all_days_missing_still_draws_a_chart() -> None:
    root = _chart([None] * 14, low=[None] * 14)
    assert len(_by_class(root, "rect", "missing")) == 14
    assert _by_class(root, "circle", "point") == [] and _by_class(root, "polyline", "series") == []


@pytest.mark.parametrize("bad", [dict(days=[]), dict(values=[1.0])])
def test_wrong_shapes_are_refused(bad: dict) -> None:
    args = dict(days=DAYS[:2], values=[1.0, 2.0], low=[0.0, 0.0], high=[3.0, 3.0]) | bad
    with pytest.raises(ValueError, match="day"):
        charts.trend_chart_svg(args["days"], args["values"], args["low"], args["high"], label="x", value_format=str)


@pytest.mark.parametrize(("lo", "hi", "steps", "ticks"), [
    (0.0, 3.2, (), [0.0, 2.0]),
    (5.3, 9.9, (), [6.0, 8.0]),
    (380.0, 560.0, (15, 30, 60, 120), [420.0, 480.0, 540.0]),  # 07:00, 08:00, 09:00
])
def test_nice_ticks(lo: float, hi: float, steps: tuple[float, ...], ticks: list[float]) -> None:
    assert charts.nice_ticks(lo, hi, steps=steps) == pytest.approx(ticks)
