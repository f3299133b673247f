"""Daily indicators on drawn timelines (tests/unit/drawn_home.py): each definition, day by day,
and missing (NaN, never 0) where the data cannot support it."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.indicators import INDICATORS, DailyIndicators, daily_indicators, unvisited_rooms
from tests.unit.drawn_home import START, TZ, ZONE, at, drawn_events

DAYS = 21


@pytest.fixture(scope="module")
def events() -> list[SensorEvent]:
    return drawn_events(DAYS)


@pytest.fixture(scope="module")
def daily(events: list[SensorEvent]) -> DailyIndicators:
    return daily_indicators(events, tz=TZ, now=at(DAYS, 0))


def _mat(events: list[SensorEvent], value: float) -> list[datetime]:
    return [e.time for e in events if e.sensor == "bed_mat" and e.value == value]


def _minutes(t: datetime) -> float:
    local = t.astimezone(ZONE)
    return local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60


def _night_visit(events: list[SensorEvent], d: int) -> bool:
    """Did the drawn home get up around 03:00 in the night ending on day d?"""
    lo, hi = at(d, 2), at(d, 4)
    return any(lo <= t < hi for t in _mat(events, 0.0))


def test_days_are_the_complete_local_days_and_the_first_partial_day_is_missing(daily: DailyIndicators) -> None:
    assert daily.days[0] == START.date() and len(daily.days) == DAYS
    assert daily.gap[0]  # the data begin at 07:00: seven hours without data
    assert all(np.isnan(daily.values[s.key][0]) for s in INDICATORS if s.per != "evening")
    assert not daily.gap[1:].any()


def test_getting_up_is_leaving_the_bed_and_going_to_bed_the_last_waking_event(
        events: list[SensorEvent], daily: DailyIndicators) -> None:
    up = _mat(events, 0.0)
    for d in range(1, DAYS):
        wake = next(t for t in up if at(d, 5) <= t < at(d, 10))
        assert daily.series("getting_up")[d] == pytest.approx(_minutes(wake), abs=1e-3)
        last_bathroom = max(e.time for e in events if e.room == "bathroom" and at(d, 22) <= e.time < at(d, 23))
        if d < DAYS - 1:
            assert daily.series("going_to_bed")[d] == pytest.approx(_minutes(last_bathroom), abs=1e-3)
        else:  # the last evening's night has not ended before `now`
            assert np.isnan(daily.series("going_to_bed")[d])
        previous = max(e.time for e in events if e.room == "bathroom" and at(d - 1, 22) <= e.time < at(d - 1, 23))
        assert daily.series("time_in_bed")[d] == pytest.approx((wake - previous).total_seconds() / 3600, abs=1e-6)


def test_night_toilet_visits_and_bed_exits_count_the_03_00_visits(events: list[SensorEvent],
                                                                   daily: DailyIndicators) -> None:
    expected = [1.0 if _night_visit(events, d) else 0.0 for d in range(1, DAYS)]
    assert 0 < sum(expected) < DAYS - 1  # the drawing has nights with and without a visit
    assert list(daily.series("night_toilet_visits")[1:]) == expected
    assert list(daily.series("bed_exits")[1:]) == expected


def test_outings_time_out_kitchen_and_activity(events: list[SensorEvent], daily: DailyIndicators) -> None:
    doors = [e.time for e in events if e.kind is SensorKind.DOOR]
    for d in range(1, DAYS):
        out, back = [t for t in doors if at(d, 0) <= t < at(d + 1, 0)]
        assert daily.series("outings")[d] == 1
        assert daily.series("time_out")[d] == pytest.approx((back - out).total_seconds() / 3600, abs=1e-6)
        assert daily.series("kitchen_visits")[d] == 2
        # 30 min breakfast and 40 min lunch: first to last kitchen event plus a minute
        kitchen = [e.time for e in events if e.room == "kitchen" and at(d, 0) <= e.time < at(d + 1, 0)]
        meals = [[t for t in kitchen if t < at(d, 11)], [t for t in kitchen if t >= at(d, 11)]]
        def active_minutes(m: list[datetime]) -> float:
            elsewhere = min(e.time for e in events if e.time > m[-1] and e.room != "kitchen")
            return (min(m[-1] + timedelta(seconds=60), elsewhere) - m[0]).total_seconds() / 60

        active = sum(active_minutes(m) for m in meals)
        assert daily.series("kitchen_time")[d] == pytest.approx(active, abs=1e-6)
        assert 60 < active <= 72
        # 13 room changes a day, 2 more with a night-time visit (bedroom -> bathroom -> bedroom)
        assert daily.series("room_transitions")[d] == 13 + 2 * _night_visit(events, d)
        assert 3.0 < daily.series("bathroom_visit_minutes")[d] < 8.0


def test_two_night_visits_do_not_split_the_night(events: list[SensorEvent]) -> None:
    """Two toilet visits 40 min apart: still one night from going to bed to getting up."""
    d = 5
    extra = []
    for start in (at(d, 1, 50), at(d, 2, 30)):
        extra.append(SensorEvent(start, "bed_mat", "bedroom", SensorKind.PRESSURE, 0.0))
        extra += [SensorEvent(start + timedelta(seconds=40 + 50 * i), "pir_bathroom", "bathroom") for i in range(5)]
        extra.append(SensorEvent(start + timedelta(minutes=5), "bed_mat", "bedroom", SensorKind.PRESSURE, 1.0))
    quiet = [e for e in events if not (at(d, 1, 30) <= e.time < at(d, 4, 30))]
    daily = daily_indicators(quiet + extra, tz=TZ, now=at(DAYS, 0))
    assert daily.series("night_toilet_visits")[d] == 2
    assert daily.series("bed_exits")[d] == 2
    assert daily.series("time_in_bed")[d] > 7.5
    assert 22 * 60 < daily.series("going_to_bed")[d - 1] < 23 * 60


def test_no_bedroom_kitchen_or_door_sensor_makes_those_indicators_missing_not_zero(
        events: list[SensorEvent]) -> None:
    without = [e for e in events if e.room not in ("bedroom", "kitchen") and e.kind is not SensorKind.DOOR]
    daily = daily_indicators(without, tz=TZ, now=at(DAYS, 0))
    for key in ("time_in_bed", "bed_exits", "kitchen_visits", "kitchen_time", "outings", "time_out"):
        assert np.isnan(daily.series(key)).all(), key
        assert daily.unsupported[key]
    assert daily.unsupported["time_in_bed"] == "no bedroom sensor"
    assert daily.unsupported["outings"] == "no outside-door contact"
    # what the remaining sensors do support is still there
    assert not np.isnan(daily.series("getting_up")[1:]).any()
    assert not np.isnan(daily.series("night_toilet_visits")[1:]).any()


def test_a_day_with_a_data_gap_is_missing(events: list[SensorEvent]) -> None:
    outage = [e for e in events if not (at(10, 8) <= e.time < at(11, 12))]  # 28 h without any event
    daily = daily_indicators(outage, tz=TZ, now=at(DAYS, 0))
    assert daily.gap[10] and daily.gap[11] and not daily.gap[9] and not daily.gap[12]
    for spec in INDICATORS:
        assert np.isnan(daily.series(spec.key)[10]) and np.isnan(daily.series(spec.key)[11]), spec.key
    assert daily.series("outings")[9] == 1 and daily.series("outings")[12] == 1


def test_events_after_now_are_ignored_and_today_is_not_a_day(events: list[SensorEvent]) -> None:
    daily = daily_indicators(events, tz=TZ, now=at(10, 12))
    assert daily.days[-1] == at(9, 0).date()
    assert daily.to_dict()["days"][-1] == at(9, 0).date().isoformat()
    with pytest.raises(ValueError):
        daily_indicators(events, tz=TZ, now=datetime(2024, 1, 20))
    with pytest.raises(KeyError):
        daily.series("happiness")
    assert daily_indicators([], tz=TZ, now=at(3, 0)).days == ()


def test_rooms_not_visited_for_days(events: list[SensorEvent]) -> None:
    no_kitchen_lately = [e for e in events if not (e.room == "kitchen" and e.time >= at(DAYS - 4, 0))]
    daily = daily_indicators(no_kitchen_lately, tz=TZ, now=at(DAYS, 0))
    rooms = unvisited_rooms(daily, at(DAYS, 0), min_days=2)
    assert [r.room for r in rooms] == ["kitchen"]
    assert 3.9 < rooms[0].days < 5 and rooms[0].usual_share >= 0.75
    assert unvisited_rooms(daily_indicators(events, tz=TZ, now=at(DAYS, 0)), at(DAYS, 0)) == []
