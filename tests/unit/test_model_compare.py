"""compare_models: the behaviour-change summary stored with each model."""

from __future__ import annotations

import json
from datetime import date, timedelta

from hometwin.domain.model import train_model
from hometwin.domain.model_compare import compare_models
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
    assert "bathroom: 3.0 visits a night (was 0.0" in text and "notable change" in text
    assert any("visits a night" in line for line in bathroom["lines"])
