"""compare_models: the behaviour-change summary stored with each model."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from hometwin.domain.model import train_model
from hometwin.domain.model_compare import Z_NOTABLE, compare_models, difference_spread
from tests.unit.test_model import TZ, WEEKDAY, WEEKEND, Schedule, routine

# The new routine: three bathroom visits every night (before the day starts at 04:00).
NIGHTS: Schedule = [("00:30", "bathroom", 5), ("00:35", "bedroom", 1), ("01:30", "bathroom", 5),
                    ("01:35", "bedroom", 1), ("02:30", "bathroom", 5), ("02:35", "bedroom", 1)]


def changed(weeks: int, first: date) -> dict[date, Schedule]:
    days = (first + timedelta(days=i) for i in range(weeks * 7))
    return {d: [*NIGHTS, *(WEEKEND if d.weekday() >= 5 else WEEKDAY)] for d in days}


def test_a_model_compared_with_itself_has_no_notable_change() -> None:
    m = train_model(routine(3), tz=TZ)
    summary = compare_models(m, m)
    assert summary["notable"] == []
    assert summary["lines"][0] == "No notable change in the daily routine."
    assert summary["rooms"]["bathroom"]["visits_per_day"]["change"] == 0
    json.dumps(summary, allow_nan=False)


def test_more_night_visits_and_a_later_morning_are_reported() -> None:
    old = train_model(routine(3), tz=TZ)
    start = date(2024, 1, 22)
    new = train_model(routine(3, first=start, extra=changed(3, start)), tz=TZ)
    summary = compare_models(old, new)
    json.dumps(summary, allow_nan=False)
    bathroom = summary["rooms"]["bathroom"]
    assert bathroom["night_visits"]["old"] < 0.1 and bathroom["night_visits"]["new"] > 2.5
    assert bathroom["night_visits"]["notable"] and bathroom["visits_per_day"]["notable"]
    assert not summary["rooms"]["livingroom"]["visits_per_day"]["notable"]
    assert not summary["rooms"]["kitchen"]["median_duration_s"]["notable"]
    assert summary["first_activity_min"]["change"] == 0 and not summary["first_activity_min"]["notable"]
    text = " ".join(summary["lines"])
    assert "bathroom: visited 3 times a night instead of not once, beyond the usual variation" in text
    assert "notable change" in text
    assert any("times a night" in line for line in bathroom["lines"])
    assert bathroom["night_visits"]["z"] >= Z_NOTABLE


def kitchen_days(first: date, weeks: int, extra_visits: Callable[[int], int]) -> dict[date, Schedule]:
    """Every day the same, plus `extra_visits(i)` (at most 5) short kitchen visits on day i from 15:00."""
    out: dict[date, Schedule] = {}
    for i in range(weeks * 7):
        visits: Schedule = []
        for j in range(extra_visits(i)):
            visits += [(f"15:{10 * j:02d}", "kitchen", 3), (f"15:{10 * j + 3:02d}", "livingroom", 7)]
        out[first + timedelta(days=i)] = [
            ("06:30", "bedroom", 1), ("07:00", "bathroom", 10), ("07:10", "kitchen", 30), ("07:40", "livingroom", 200),
            ("11:00", "livingroom", 240), *visits, ("16:00", "livingroom", 345),
            ("21:45", "bathroom", 15), ("22:00", "bedroom", 1)]
    return out


def kitchen_change(varied: bool) -> dict[str, Any]:
    """Kitchen visits up by 0.8 a day (+27 %) between two disjoint 3-week periods: 0 to 4 extra
    visits a day (`varied`) or the same number every day, with the same mean."""
    before = (lambda i: (0, 4, 1, 3, 0, 4, 1, 3, 2, 0, 4)[i % 11]) if varied else (lambda i: 2)
    start = date(2024, 1, 22)
    old = train_model(routine(3, extra=kitchen_days(date(2024, 1, 1), 3, before)), tz=TZ)
    # 4 days in 5 get one more visit: + 0.8 a day
    new = train_model(routine(3, first=start, extra=kitchen_days(start, 3, lambda i: before(i) + (i % 5 < 4))),
                      tz=TZ)
    return compare_models(old, new)["rooms"]["kitchen"]["visits_per_day"]


def test_a_difference_is_notable_only_beyond_the_persons_own_variation() -> None:
    # the old fixed thresholds (+20 % and +0.5 a day) called both notable
    regular, varied = kitchen_change(varied=False), kitchen_change(varied=True)
    for m in (regular, varied):
        assert 0.7 <= m["change"] <= 0.9 and m["relative"] >= 0.2
    assert regular["notable"] and regular["z"] >= Z_NOTABLE
    assert not varied["notable"] and abs(varied["z"]) < Z_NOTABLE and varied["usual"] > varied["change"]


def test_models_sharing_most_days_differ_by_the_days_they_do_not_share() -> None:
    # two disjoint weeks: the week-to-week spread of a mean, sqrt(2 / 7)
    assert difference_spread(7, 7, 0) == pytest.approx(math.sqrt(2 / 7))
    # the weekly retrain of a 56-day window: 49 days shared, only 7 in and 7 out
    assert difference_spread(56, 56, 49) == pytest.approx(math.sqrt(14) / 56)
    assert difference_spread(56, 56, 56) == 0.0
    # a shared share beyond the data is clipped, never a negative variance
    assert difference_spread(10, 20, 30) == pytest.approx(math.sqrt(10 / 400 + 10 * (1 / 20 - 1 / 10) ** 2))


def later(schedule: Schedule, minutes: int) -> Schedule:
    def shift(hhmm: str) -> str:
        h, m = map(int, hhmm.split(":"))
        total = h * 60 + m + minutes
        return f"{total // 60:02d}:{total % 60:02d}"

    return [(shift(t), room, length) for t, room, length in schedule]


def test_a_later_start_of_the_day_is_notable_beyond_the_usual_variation() -> None:
    old = train_model(routine(3), tz=TZ)
    start = date(2024, 1, 22)
    days = (start + timedelta(days=i) for i in range(21))
    shifted = {d: later(WEEKEND if d.weekday() >= 5 else WEEKDAY, 60) for d in days}
    summary = compare_models(old, train_model(routine(3, first=start, extra=shifted), tz=TZ))
    first = summary["first_activity_min"]
    assert first["change"] == 60 and first["notable"] and first["z"] >= Z_NOTABLE
    assert "The day usually starts at 07:30 instead of 06:30 (1 h later), beyond the usual variation" in (
        summary["lines"][0])
