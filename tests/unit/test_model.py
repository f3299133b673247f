"""The behaviour model on small synthetic homes whose true routine we know.

A day is written as a schedule of stays in local time (Europe/Berlin):
    ("07:00", "bathroom", 10) = from 07:00 the person is in the bathroom for 10 minutes,
with a motion event every minute of the stay; the next stay starts in another room.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.domain.model_params import ModelParams

TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)
Schedule = list[tuple[str, str, float]]


def day_events(day: date, schedule: Schedule) -> list[SensorEvent]:
    out: list[SensorEvent] = []
    for hhmm, room, minutes in schedule:
        h, m = map(int, hhmm.split(":"))
        start = datetime.combine(day, time(h, m), ZONE).astimezone(UTC)
        kind = SensorKind.DOOR if room == "door" else SensorKind.MOTION
        room_name = "hall" if room == "door" else room
        for i in range(max(int(minutes), 1)):
            out.append(SensorEvent(start + timedelta(minutes=i), f"{room_name}-{kind}", room_name, kind))
    return out


WEEKDAY: Schedule = [("06:30", "bedroom", 1), ("07:00", "bathroom", 10), ("07:10", "kitchen", 30),
                     ("07:40", "livingroom", 200), ("11:00", "kitchen", 45), ("11:45", "livingroom", 600),
                     ("21:45", "bathroom", 15), ("22:00", "bedroom", 1)]
WEEKEND: Schedule = [("08:00", "bedroom", 1), ("09:00", "bathroom", 20), ("09:20", "kitchen", 40),
                     ("10:00", "livingroom", 700), ("21:45", "bathroom", 15), ("22:00", "bedroom", 1)]


def routine(weeks: int, first: date = date(2024, 1, 1), extra: dict[date, Schedule] | None = None
            ) -> list[SensorEvent]:
    events: list[SensorEvent] = []
    for i in range(weeks * 7):
        d = first + timedelta(days=i)
        events += day_events(d, (extra or {}).get(d, WEEKEND if d.weekday() >= 5 else WEEKDAY))
    return events


def local(d: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(d, time(h, m), ZONE)


MONDAY = date(2024, 1, 8)
SATURDAY = date(2024, 1, 13)


@pytest.fixture(scope="module")
def model() -> BehaviourModel:
    return train_model(routine(11), tz=TZ)  # 11 Mondays: more than prior_strength (10)


def test_stay_durations_per_weekday_and_hour(model: BehaviourModel) -> None:
    weekday = model.stay_duration("bathroom", local(MONDAY, "07:00"))
    weekend = model.stay_duration("bathroom", local(SATURDAY, "09:00"))
    assert weekday.level == "cell" and weekday.n >= 7
    # the cell (11 samples of 600 s) dominates; a little is borrowed from coarser levels
    assert weekday.median == pytest.approx(600, rel=0.02) and weekday.p99 == pytest.approx(600, rel=0.1)
    assert weekend.median == pytest.approx(1200, rel=0.05)
    assert weekday.log_mu == pytest.approx(math.log(600), abs=0.02)
    assert model.stay_duration("livingroom", local(MONDAY, "11:50")).median > 10 * weekday.median


def test_visits_and_daily_visits(model: BehaviourModel) -> None:
    mon7 = model.visits("bathroom", local(MONDAY, "07:30"))
    assert mon7.level == "cell" and mon7.mean == pytest.approx(1.0, abs=0.05) and mon7.n_days >= 10
    assert model.visits("bathroom", local(MONDAY, "13:00")).mean == pytest.approx(0.0, abs=0.05)
    assert mon7.percentile(1) == pytest.approx(50, abs=10) and mon7.quantile(0.99) <= 2
    day = model.daily_visits("kitchen", local(MONDAY, "12:00"), "day")
    assert day.mean == pytest.approx(2.0, abs=0.05)
    sat_day = model.daily_visits("kitchen", local(SATURDAY, "12:00"), "day")
    assert sat_day.mean == pytest.approx(1.0, abs=0.15)  # weekends borrow a little from all days
    with pytest.raises(ValueError, match="part"):
        model.daily_visits("kitchen", local(MONDAY, "12:00"), "evening")


def test_first_activity_and_grids(model: BehaviourModel) -> None:
    assert model.first_activity(local(MONDAY, "03:00")).median == pytest.approx(6 * 60 + 30)
    assert model.first_activity(local(SATURDAY, "12:00")).median == pytest.approx(8 * 60, rel=0.05)
    grid = model.grid("bathroom", "visits")
    assert len(grid) == 7 and len(grid[0]) == 24
    assert grid[0][7] == pytest.approx(1.0) and grid[5][9] == pytest.approx(1.0) and grid[5][7] == 0.0
    durations = model.grid("bathroom", "mean_duration")
    assert durations[0][7] == pytest.approx(600) and math.isnan(durations[0][13])
    averages = model.room_average_duration()
    assert set(averages) == {"bathroom", "bedroom", "kitchen", "livingroom"}
    assert averages["livingroom"] > averages["kitchen"] > averages["bathroom"]


def test_sparse_cells_borrow_from_coarser_levels() -> None:
    # Only ONE Tuesday has a 15:00 kitchen visit (60 min); every day has one at 11:00 (45 min).
    extra_day = date(2024, 1, 9)
    sched: Schedule = [*WEEKDAY[:5], ("11:45", "livingroom", 195), ("15:00", "kitchen", 60),
                       ("16:00", "livingroom", 345), *WEEKDAY[6:]]
    m = train_model(routine(8, extra={extra_day: sched}), tz=TZ)
    sparse = m.stay_duration("kitchen", local(MONDAY + timedelta(days=1), "15:10"))
    assert sparse.level == "room"  # 1 sample at cell/daytype/hour level: the room level dominates
    own, room = 3600.0, m.stay_duration("kitchen", local(MONDAY, "03:00"))
    assert room.level == "room" and room.mean < sparse.mean < own  # pulled toward the room, not equal
    k = m.params.prior_strength
    cell_weight = 1 / (1 + k)
    assert sparse.mean > room.mean + 0.5 * cell_weight * (own - room.mean)
    unknown_room = m.stay_duration("attic", local(MONDAY, "12:00"))
    assert unknown_room.level == "home" and unknown_room.n > 100


def test_one_anomaly_in_training_does_not_widen_the_baseline_much(model: BehaviourModel) -> None:
    clean = model
    # One Wednesday the morning bathroom visit lasted 6 hours (a past emergency).
    wednesday = date(2024, 1, 17)
    sched: Schedule = [("06:30", "bedroom", 1), ("07:00", "bathroom", 360), ("13:00", "kitchen", 30),
                       ("13:30", "livingroom", 495), *WEEKDAY[6:]]
    dirty = train_model(routine(11, extra={wednesday: sched}), tz=TZ)
    at = local(wednesday, "07:05")
    a, b = clean.stay_duration("bathroom", at), dirty.stay_duration("bathroom", at)
    assert b.median == pytest.approx(a.median, rel=0.01) and b.p90 < 1.1 * a.p90
    assert b.log_sigma < 0.05 and b.log_mu == pytest.approx(a.log_mu, abs=0.01)  # what detection uses
    assert b.p99 < 3 * a.p99  # the raw sample would put it near 21600 s = 36 x
    assert b.mean < 1.3 * a.mean  # a plain cell mean would be (10 * 600 + 21600) / 11 = 2509 s
    room_a, room_b = clean.room_average_duration()["bathroom"], dirty.room_average_duration()["bathroom"]
    assert room_b < 1.5 * room_a


def test_away_is_not_zero_visits_and_away_durations_are_learned() -> None:
    # Every Tuesday the person goes out from 12:00 to 17:00 (front door, then nothing).
    out: Schedule = [*WEEKDAY[:5], ("11:45", "livingroom", 14), ("11:59", "door", 1),
                     ("17:00", "door", 1), ("17:01", "livingroom", 284), *WEEKDAY[6:]]
    tuesdays = {date(2024, 1, 2) + timedelta(weeks=i): out for i in range(8)}
    m = train_model(routine(8, extra=tuesdays), tz=TZ)
    tue = date(2024, 1, 9)
    assert m.training["away"]["intervals"] == 8
    during = m.visits("livingroom", local(tue, "14:00"))
    assert during.level != "cell"  # no Tuesday 14:00 bin was observed, so none is a "0 visits" sample
    away = m.away_duration(local(tue, "11:59"))
    assert away.median == pytest.approx(5 * 3600 + 60, abs=60)  # last door 11:59 -> first event 17:00


def test_outings_keep_their_days_out_and_leave_trips_out() -> None:
    # Ten Tuesdays: eight 2-hour outings and two days out (09:00 to 19:00); and a trip of three days.
    def tuesday(door_out: str, back: str) -> Schedule:
        return [("06:30", "bedroom", 1), ("07:00", "bathroom", 10), ("07:10", "kitchen", 30),
                (door_out, "door", 1), (back, "door", 1), (back, "livingroom", 60), ("21:45", "bathroom", 15),
                ("22:00", "bedroom", 1)]
    extra = {date(2024, 1, 2) + timedelta(weeks=i): tuesday("14:00", "16:00") for i in range(10)}
    extra |= {date(2024, 1, 16): tuesday("09:00", "19:00"), date(2024, 2, 6): tuesday("09:00", "19:00")}
    trip = [date(2024, 2, 14) + timedelta(days=i) for i in range(4)]
    extra |= {trip[0]: [*WEEKDAY[:3], ("08:00", "door", 1)], trip[1]: [], trip[2]: [],
              trip[3]: [("11:00", "door", 1), ("11:01", "livingroom", 600), ("21:45", "bathroom", 15)]}
    m = train_model(routine(10, extra=extra), tz=TZ)
    assert m.training["away"]["intervals"] == 11  # the trip is an absence of the timeline ...
    outings = m.away_duration_any_time()
    assert outings.n == 10  # ... but not an outing: it would make any absence look usual
    # Not winsorised: two days out of 10 h among 2-hour outings are the person's own tail.
    assert outings.p95 > 9 * 3600 and outings.median == pytest.approx(2 * 3600 + 60, abs=120)


def test_dst_days_keep_the_local_routine() -> None:
    # Four weeks around the spring change (31 March 2024) and the autumn change (27 October).
    spring = train_model(routine(4, first=date(2024, 3, 18)), tz=TZ)
    autumn = train_model(routine(4, first=date(2024, 10, 14)), tz=TZ)
    for m in (spring, autumn):
        grid = m.grid("bathroom", "visits")
        assert grid[0][7] == pytest.approx(1.0) and grid[6][9] == pytest.approx(1.0)
        assert grid[0][6] == 0.0 and grid[0][8] == 0.0 and grid[6][8] == 0.0 and grid[6][10] == 0.0
        assert m.first_activity(local(date(2024, 4, 1), "12:00")).median == pytest.approx(390)


def test_json_round_trip_is_plain_json_and_answers_the_same(model: BehaviourModel) -> None:
    doc = json.loads(json.dumps(model.to_dict(), allow_nan=False))
    assert doc["schema_version"] == 2 and doc["kind"] == "behaviour" and "silence" in doc
    again = BehaviourModel.from_dict(doc)
    at = local(MONDAY, "07:05")
    assert again.to_dict() == doc  # stable after one round (the document rounds to 0.1 s)
    for a, b in ((again.stay_duration("bathroom", at), model.stay_duration("bathroom", at)),
                 (again.first_activity(at), model.first_activity(at))):
        assert (a.level, a.n) == (b.level, b.n)
        assert a.median == pytest.approx(b.median, abs=0.1) and a.p99 == pytest.approx(b.p99, abs=0.1)
    assert again.visits("kitchen", at).mean == pytest.approx(model.visits("kitchen", at).mean, abs=1e-3)
    assert again.silence.to_dict() == model.silence.to_dict()
    assert again.training == model.training and again.params == model.params
    assert len(json.dumps(doc)) < 300_000
    with pytest.raises(ValueError, match="schema_version"):
        BehaviourModel.from_dict({**doc, "schema_version": 99})
    with pytest.raises(ValueError, match="malformed"):
        BehaviourModel.from_dict({k: v for k, v in doc.items() if k != "durations"})


def test_training_info_and_fingerprint() -> None:
    events = routine(2)
    m = train_model(events, tz=TZ, home_id="flat-7")
    info = m.training
    assert info["home_id"] == "flat-7" and info["tz"] == TZ and info["n_events"] == len(events)
    assert sum(info["events_per_room"].values()) == len(events)
    assert info["stays_per_room"]["bathroom"] == 28
    assert datetime.fromisoformat(info["period"]["start"]) == events[0].time
    assert info["period"]["start"].endswith("+01:00")  # local time of the home
    shuffled = events + events[:100]
    random.Random(1).shuffle(shuffled)
    assert train_model(shuffled, tz=TZ).training["fingerprint"] == info["fingerprint"]
    changed = [*events[:-1], SensorEvent(events[-1].time, "x", "bedroom")]
    assert train_model(changed, tz=TZ).training["fingerprint"] != info["fingerprint"]
    window = train_model(events, tz=TZ, start=local(date(2024, 1, 8), "00:00"))
    assert window.training["n_events"] < len(events)
    assert window.training["period"]["start"] == "2024-01-08T00:00:00+01:00"


def test_params_validation_and_round_trip() -> None:
    p = ModelParams(bin_minutes=30, prior_strength=5)
    assert ModelParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="bin_minutes"):
        ModelParams(bin_minutes=7)
    with pytest.raises(ValueError):
        train_model([], tz=TZ)
    m = train_model(routine(2), tz=TZ, params=p)
    assert len(m.grid("bathroom", "visits")[0]) == 48
    with pytest.raises(ValueError, match="aware"):
        m.visits("bathroom", datetime(2024, 1, 8, 7))


def test_public_home_ordonez_b(shared_data: Path) -> None:
    """The model on a real home (UCI ADL, Ordonez B, 21 days): plausible numbers, every level used."""
    from hometwin.adapters.datasets import load_dataset, public_homes

    name, path, fmt = next(h for h in public_homes(shared_data) if h[0] == "ordonez-B")
    result = load_dataset(path, fmt)
    m = train_model(result.events, tz=result.tz, home_id=name)
    assert {"bathroom", "bedroom", "kitchen", "livingroom"} <= set(m.rooms)
    assert 15 <= (datetime.fromisoformat(m.training["period"]["end"])
                  - datetime.fromisoformat(m.training["period"]["start"])).days <= 22
    assert m.training["away"]["intervals"] > 10  # she goes out most days
    averages = m.room_average_duration()
    assert 60 < averages["bathroom"] < 20 * 60 and averages["livingroom"] > averages["bathroom"]
    night = m.stay_duration("bedroom", datetime(2013, 11, 20, 1, 0, tzinfo=ZoneInfo(result.tz)))
    day = m.stay_duration("bathroom", datetime(2013, 11, 20, 11, 0, tzinfo=ZoneInfo(result.tz)))
    assert night.median > 10 * day.median  # a night in bed against a bathroom visit
    assert 6 * 60 <= m.first_activity(datetime(2013, 11, 20, tzinfo=UTC)).median <= 12 * 60
    json.dumps(m.to_dict(), allow_nan=False)
