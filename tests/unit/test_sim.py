"""The resident simulator: determinism, realism of the sensor stream, ground truth, emergencies."""

from __future__ import annotations

import bisect
import json
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hometwin.domain.events import SensorKind
from hometwin.sim import Fall, HomeLayout, NotComingHome, Resident, SensorSpec, StuckInBathroom, simulate
from hometwin.sim.resident import SimResult

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2024, 3, 25, tzinfo=BERLIN)  # a Monday; the week holds the spring DST switch (Sun 31st)


@pytest.fixture(scope="module")
def fortnight() -> SimResult:
    return simulate(14, seed=7, start=START)


def room_at(result: SimResult, when: datetime) -> str:
    starts = [s.start for s in result.ground_truth.stays]
    i = bisect.bisect_right(starts, when) - 1
    stay = result.ground_truth.stays[i]
    return stay.room if stay.start <= when < stay.end else "away"


def test_same_seed_same_events_other_seed_other_events(fortnight: SimResult) -> None:
    again = simulate(14, seed=7, start=START)
    assert again.events == fortnight.events and again.to_dict() == fortnight.to_dict()
    assert simulate(14, seed=8, start=START).events != fortnight.events


def test_live_continuation_matches_the_batch_run(fortnight: SimResult) -> None:
    window = (START + timedelta(days=6, hours=13), START + timedelta(days=8, hours=2))
    live = list(Resident(seed=7).events(*window))
    assert live and live == [e for e in fortnight.events if window[0] <= e.time < window[1]]


def test_events_are_ordered_aware_and_in_the_room_the_truth_says(fortnight: SimResult) -> None:
    events = fortnight.events
    assert all(a.time <= b.time for a, b in zip(events, events[1:], strict=False))
    assert all(e.time.tzinfo == UTC for e in events)
    assert events[0].time >= START and events[-1].time < START + timedelta(days=14)
    for event in events[::25]:
        assert room_at(fortnight, event.time) == event.room


def test_pir_behaviour_retrigger_blind_and_silence(fortnight: SimResult) -> None:
    gaps: dict[str, list[float]] = defaultdict(list)
    last: dict[str, datetime] = {}
    for e in fortnight.events:
        if e.kind is SensorKind.MOTION:
            if e.sensor in last:
                gaps[e.sensor].append((e.time - last[e.sensor]).total_seconds())
            last[e.sensor] = e.time
    every = [g for sensor_gaps in gaps.values() for g in sensor_gaps]
    assert min(every) >= 10.0  # blind for 10 s after each trigger
    kitchen = [g for g in gaps["pir_kitchen"] if g < 600]
    assert 10 < statistics.median(kitchen) < 40  # re-triggers every few tens of seconds while moving
    # asleep: the bedroom PIR stays silent for long stretches (tens of minutes)
    assert max(gaps["pir_bedroom"]) > 3600


def test_routine_weekdays_weekends_nights_outings(fortnight: SimResult) -> None:
    truth = fortnight.ground_truth
    first_kitchen: dict[datetime, datetime] = {}
    for stay in truth.stays:
        local = stay.start.astimezone(BERLIN)
        if stay.room == "kitchen" and 4 <= local.hour < 12:
            first_kitchen.setdefault(local.replace(hour=0, minute=0, second=0, microsecond=0), local)
    weekday = [t.hour * 60 + t.minute for d, t in first_kitchen.items() if d.weekday() < 5]
    weekend = [t.hour * 60 + t.minute for d, t in first_kitchen.items() if d.weekday() >= 5]
    assert statistics.mean(weekend) - statistics.mean(weekday) > 45  # sleeping in at weekends
    assert statistics.stdev(weekday) > 8  # day-to-day variation (minutes)
    night_toilet = [a for a in truth.activities
                    if a.label == "toileting" and 1 <= a.start.astimezone(BERLIN).hour < 5]
    assert len(night_toilet) >= 5
    assert len(truth.away) >= 7
    door = [e for e in fortnight.events if e.kind is SensorKind.DOOR]
    assert {e.value for e in door} == {0.0, 1.0} and {e.room for e in door} == {"hall"}
    for start, end in truth.away:  # nothing fires while nobody is home
        assert not [e for e in fortnight.events if start < e.time < end]


def test_ground_truth_is_json(fortnight: SimResult) -> None:
    doc = json.loads(json.dumps(fortnight.to_dict()))
    assert doc["seed"] == 7 and doc["n_events"] == len(fortnight.events)
    assert {"stays", "away", "activities", "emergencies"} <= doc.keys()
    assert datetime.fromisoformat(doc["stays"][0]["start"]) == START


def test_fall_is_silence_in_the_current_room() -> None:
    at = START + timedelta(days=2, hours=15, minutes=3)
    result = simulate(4, seed=3, start=START, emergencies=[Fall(at, duration=timedelta(hours=5))])
    (truth,) = result.ground_truth.emergencies
    assert truth.kind == "fall" and truth.start == at and truth.end == at + timedelta(hours=5)
    before = [e for e in result.events if e.time < at]
    assert truth.room == before[-1].room
    assert not [e for e in result.events if at <= e.time < at + timedelta(hours=5)]
    assert [e for e in result.events if e.time >= at + timedelta(hours=5)]  # routine resumes
    normal = simulate(4, seed=3, start=START)
    assert [e for e in normal.events if e.time < at] == before  # nothing changes before the fall


def test_stuck_in_bathroom_is_a_very_long_bathroom_stay() -> None:
    at = START + timedelta(days=1, hours=10, minutes=30)
    result = simulate(3, seed=4, start=START, emergencies=[StuckInBathroom(at, minutes=300)])
    during = [e for e in result.events if at <= e.time < at + timedelta(minutes=300)]
    assert during and {e.room for e in during} == {"bathroom"}
    stays = [s for s in result.ground_truth.stays if s.room == "bathroom" and s.start <= at < s.end]
    assert stays and stays[0].end - stays[0].start >= timedelta(minutes=300)


def test_not_coming_home() -> None:
    at = START + timedelta(days=1, hours=6)
    result = simulate(4, seed=5, start=START, emergencies=[NotComingHome(at, duration=timedelta(hours=20))])
    (truth,) = result.ground_truth.emergencies
    assert truth.kind == "not_coming_home" and truth.end - truth.start == timedelta(hours=20)
    away = [(a, b) for a, b in result.ground_truth.away if a <= truth.start < b]
    assert away and away[0][1] == truth.end
    assert not [e for e in result.events if away[0][0] < e.time < truth.end]
    back = [e for e in result.events if e.time >= truth.end][:3]
    assert back[0].kind is SensorKind.DOOR  # coming home opens the front door


def test_dst_and_custom_layout() -> None:
    layout = HomeLayout(rooms={
        "bedroom": (SensorSpec("pir-bed", blind_seconds=30),),
        "bathroom": (SensorSpec("pir-bath"), SensorSpec("pir-shower")),
        "kitchen": (SensorSpec("pir-k"),), "livingroom": (SensorSpec("pir-l"),),
        "hall": (SensorSpec("door", SensorKind.DOOR),),
    }, tz="America/New_York")
    result = simulate(3, seed=1, start=datetime(2024, 11, 2, tzinfo=ZoneInfo("America/New_York")),
                      layout=layout)
    assert {e.sensor for e in result.events} >= {"pir-bath", "pir-shower", "door"}
    bed = [e.time for e in result.events if e.sensor == "pir-bed"]
    assert min((b - a).total_seconds() for a, b in zip(bed, bed[1:], strict=False)) >= 30
    with pytest.raises(ValueError, match="front-door sensor"):
        rooms = ("bedroom", "bathroom", "kitchen", "livingroom", "hall")
        HomeLayout(rooms={r: (SensorSpec("x"),) for r in rooms})


def test_a_year_is_fast_enough_to_run_in_tests() -> None:
    result = simulate(365, seed=11, start=datetime(2023, 1, 1, tzinfo=BERLIN))
    assert 150_000 < len(result.events) < 1_000_000
    days_with_events = {e.time.astimezone(BERLIN).date() for e in result.events}
    assert len(days_with_events) == 365
    assert len({(e.time, e.sensor, e.value) for e in result.events}) == len(result.events)  # no duplicates
