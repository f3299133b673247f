"""Each detector on a drawn home, thresholds checked against the trained model."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hometwin.domain.detection import (
    RECENT_WINDOW,
    DetectionParams,
    assess,
    detect,
)
from hometwin.domain.detectors.presence import current_stay
from hometwin.domain.detectors.stuck_sensor import current_runs
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.findings import FindingKind, Severity
from hometwin.domain.model import BehaviourModel, train_model
from tests.unit.drawn_home import TZ, at, drawn_events

TRAIN_DAYS = 28


@pytest.fixture(scope="module")
def events() -> list[SensorEvent]:
    return drawn_events(35)


@pytest.fixture(scope="module")
def model(events: list[SensorEvent]) -> BehaviourModel:
    return train_model(events, tz=TZ, end=at(TRAIN_DAYS, 0))


def _until(events: list[SensorEvent], end) -> list[SensorEvent]:  # type: ignore[no-untyped-def]
    return [e for e in events if at(TRAIN_DAYS, 0) - RECENT_WINDOW <= e.time.astimezone(end.tzinfo) <= end]


def _firing(model: BehaviourModel, recent: list[SensorEvent], now, **kw):  # type: ignore[no-untyped-def]
    return {f.kind: f for f in detect(model, recent, now, **kw)}


def _last_bathroom_before(events: list[SensorEvent], end) -> SensorEvent:  # type: ignore[no-untyped-def]
    return [e for e in events if e.room == "bathroom" and e.time <= end][-1]


def test_silence_after_a_bathroom_visit(model: BehaviourModel, events: list[SensorEvent]) -> None:
    last = _last_bathroom_before(events, at(30, 10, 20))
    recent = _until(events, last.time)
    assert not _firing(model, recent, last.time + timedelta(minutes=15))  # below every threshold
    found = _firing(model, recent, last.time + timedelta(minutes=90))
    f = found[FindingKind.UNUSUAL_SILENCE]
    assert f.severity is Severity.EMERGENCY and f.room == "bathroom" and f.started_at == last.time
    assert f.observed == pytest.approx(90 * 60)
    # The threshold is the model's: the silence where the surprise reaches the limit (or the floor).
    limit_s = model.silence.seconds_at_surprise(last, DetectionParams().silence_limit)
    assert f.threshold == pytest.approx(max(limit_s, 20 * 60))
    assert f.expected < 5 * 60 < f.threshold < 90 * 60
    assert "No sensor event for 1 h 30 min, since the bathroom" in f.message
    assert "already unusual" in f.message


def test_sleep_is_a_normal_silence(model: BehaviourModel, events: list[SensorEvent]) -> None:
    bed = [e for e in events if e.kind is SensorKind.PRESSURE and e.value == 1.0 and e.time <= at(30, 23, 1)][-1]
    recent = _until(events, bed.time)
    assert not _firing(model, recent, at(31, 3))
    assert not _firing(model, recent, at(31, 6, 30))


def test_prolonged_stay_in_the_bathroom(model: BehaviourModel, events: list[SensorEvent]) -> None:
    enter = at(30, 9, 40)
    recent = _until(events, enter) + [SensorEvent(enter + timedelta(minutes=4 * i), "pir_bathroom", "bathroom")
                                      for i in range(31)]
    now = enter + timedelta(minutes=121)
    plain = DetectionParams(stay_gap_slack=0)  # the duration alone (the pauses are tested below)
    found = _firing(model, recent, now, params=plain)
    f = found[FindingKind.PROLONGED_STAY]
    assert set(found) == {FindingKind.PROLONGED_STAY}  # the motion keeps the silence detector quiet
    assert f.room == "bathroom" and f.started_at == enter
    # The usual length is the stay model's for this room, the room before and the hour (stay_hazard.py).
    stays, prev = model.stay_hazard, "livingroom"
    assert stays is not None and recent[0].time < enter
    assert f.expected == pytest.approx(stays.quantile("bathroom", prev, enter, 0.5))
    assert stays.quantile("bathroom", prev, enter, 0.99) < f.threshold < 121 * 60
    assert f.message.startswith("In the bathroom for 2 h 1 min; ") and "a visit usually lasts" in f.message
    # The reported threshold is where the detector starts firing.
    early = _firing(model, recent, enter + timedelta(seconds=f.threshold * 0.97), params=plain)
    late = _firing(model, recent, enter + timedelta(seconds=f.threshold * 1.03), params=plain)
    assert FindingKind.PROLONGED_STAY not in early and FindingKind.PROLONGED_STAY in late


def test_missing_routine_and_one_alert_per_incident(model: BehaviourModel, events: list[SensorEvent]) -> None:
    recent = _until(events, at(30, 23, 0, ))
    assert not _firing(model, recent, at(31, 6))
    items = assess(model, recent, at(31, 11))
    routine = next(a for a in items if a.finding.kind is FindingKind.MISSING_ROUTINE)
    assert routine.score >= routine.limit
    assert "No activity yet today at 11:00" in routine.finding.message
    person = [a for a in items if a.fires and a.finding.kind in
              (FindingKind.UNUSUAL_SILENCE, FindingKind.PROLONGED_STAY, FindingKind.MISSING_ROUTINE)]
    assert len(person) == 1  # a fall shows as several detectors: one alert


def test_not_back_home(model: BehaviourModel, events: list[SensorEvent]) -> None:
    door = [e for e in events if e.kind is SensorKind.DOOR and e.time <= at(30, 15)][-1]
    recent = [e for e in _until(events, door.time)]
    assert not _firing(model, recent, door.time + timedelta(minutes=90))
    found = _firing(model, recent, door.time + timedelta(hours=8))
    assert set(found) == {FindingKind.NOT_BACK_HOME}
    f = found[FindingKind.NOT_BACK_HOME]
    assert f.severity is Severity.WARNING and f.observed == 8 * 3600
    assert 2 * 3600 < f.threshold < 8 * 3600


def test_a_day_out_now_and_then_makes_a_long_outing_usual_at_any_hour(events: list[SensorEvent]) -> None:
    """Four training days are days out (door at 09:30, back at 18:00). The outings that begin at
    14:00 all lasted 1-2 h, yet 8 h out from 14:00 is what this person does now and then: no warning.
    A day out must neither be trimmed as an outlier of the training weeks nor drowned by the hour's
    short outings. An outing that goes on through the night still is one."""
    days_out = (3, 10, 17, 24)
    training = [e for e in events if e.time < at(TRAIN_DAYS, 0)
                and not any(at(d, 9, 30) <= e.time.astimezone(at(d, 0).tzinfo) <= at(d, 18) for d in days_out)]
    training += [SensorEvent(at(d, h, m), "front_door", "hall", SensorKind.DOOR, 1.0)
                 for d in days_out for h, m in ((9, 30), (18, 0))]
    model = train_model(sorted(training, key=lambda e: e.time), tz=TZ, end=at(TRAIN_DAYS, 0))
    door = [e for e in events if e.kind is SensorKind.DOOR and e.time <= at(30, 15)][-1]
    assert door.time.astimezone(at(30, 0).tzinfo).hour == 14
    recent = _until(events, door.time)
    assert FindingKind.NOT_BACK_HOME not in _firing(model, recent, door.time + timedelta(hours=8))
    found = _firing(model, recent, door.time + timedelta(hours=20))
    assert set(found) == {FindingKind.NOT_BACK_HOME}
    assert 8.5 * 3600 < found[FindingKind.NOT_BACK_HOME].threshold < 20 * 3600


def test_unusual_night_frequency_is_info(model: BehaviourModel, events: list[SensorEvent]) -> None:
    recent = _until(events, at(30, 23, 0))
    for i in range(8):
        t = at(31, 0, 10) + timedelta(minutes=40 * i)
        recent += [SensorEvent(t, "bed_mat", "bedroom", SensorKind.PRESSURE, 0.0),
                   SensorEvent(t + timedelta(minutes=1), "pir_bathroom", "bathroom"),
                   SensorEvent(t + timedelta(minutes=4), "pir_bedroom", "bedroom"),
                   SensorEvent(t + timedelta(minutes=5), "bed_mat", "bedroom", SensorKind.PRESSURE, 1.0)]
    recent += [e for e in events if at(31, 7) <= e.time <= at(31, 8)]
    found = {f.room: f for f in detect(model, recent, at(31, 8)) if f.kind is FindingKind.UNUSUAL_FREQUENCY}
    assert "kitchen" not in found
    f = found["bathroom"]
    assert f.severity is Severity.INFO and f.observed == 8
    assert f.expected < 2 and "8 visits to the bathroom during the night" in f.message


def test_sensor_source_failing(model: BehaviourModel, events: list[SensorEvent]) -> None:
    recent = _until(events, at(30, 12))
    now = at(30, 12, 5)
    assert FindingKind.SENSOR_DATA_MISSING not in _firing(model, recent, now, source_error_since=at(30, 12))
    found = _firing(model, recent, at(30, 12, 30), source_error_since=at(30, 12))
    assert "not necessarily the person" in found[FindingKind.SENSOR_DATA_MISSING].message


def test_detect_is_assess_filtered_and_sensitivity_moves_limits(model: BehaviourModel,
                                                                events: list[SensorEvent]) -> None:
    last = _last_bathroom_before(events, at(31, 10, 20))
    recent = _until(events, last.time)
    base = DetectionParams(silence_floor_min=1.0)
    eager, calm = replace(base, sensitivity=1.0), replace(base, sensitivity=-1.0)
    for minutes in range(0, 600, 7):
        now = last.time + timedelta(minutes=minutes)
        for p in (base, eager, calm):
            assert detect(model, recent, now, p) == [a.finding for a in assess(model, recent, now, p) if a.fires]
    t_default = _first_silence_alarm(model, recent, last.time, base)
    assert _first_silence_alarm(model, recent, last.time, eager) < t_default
    assert _first_silence_alarm(model, recent, last.time, calm) > t_default


def _first_silence_alarm(model, recent, t0, params):  # type: ignore[no-untyped-def]
    # In steps of 10 s: in the drawn home a bathroom pause longer than a minute never happened, so
    # the surprise climbs a unit within a minute and a coarser grid cannot tell the limits apart.
    for step in range(0, 24 * 360, 1):
        if any(f.kind is FindingKind.UNUSUAL_SILENCE
               for f in detect(model, recent, t0 + timedelta(seconds=10 * step), params)):
            return step / 6
    return math.inf


def test_params_round_trip_and_reject_unknown_keys() -> None:
    p = DetectionParams(silence_limit=2.5, room_floor_min={"bathroom": 40.0})
    assert DetectionParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="silence_limt"):
        DetectionParams.from_dict({"silence_limt": 1.0})


def test_settings_map_to_params(monkeypatch: pytest.MonkeyPatch) -> None:
    from hometwin.config import DetectionSettings

    assert DetectionSettings().params() == DetectionParams()
    monkeypatch.setenv("HOMETWIN_DETECT_SILENCE_LIMIT", "2.5")
    monkeypatch.setenv("HOMETWIN_DETECT_ROOM_FLOORS", "bathroom=40, bedroom=600")
    p = DetectionSettings().params()
    assert p.silence_limit == 2.5 and p.room_floor_min == {"bathroom": 40.0, "bedroom": 600.0}
    monkeypatch.setenv("HOMETWIN_DETECT_ROOM_FLOORS", "bathroom:40")
    with pytest.raises(ValueError, match="HOMETWIN_DETECT_ROOM_FLOORS"):
        DetectionSettings().params()


def test_naive_now_is_refused(model: BehaviourModel) -> None:
    with pytest.raises(ValueError, match="timezone"):
        detect(model, [], at(30, 1).replace(tzinfo=None))


def test_leaving_with_the_hall_sensor_seeing_the_doorway(model: BehaviourModel, events: list[SensorEvent]) -> None:
    door = [e for e in events if e.kind is SensorKind.DOOR and e.time <= at(30, 15)][-1]
    recent = _until(events, door.time) + [SensorEvent(door.time + timedelta(seconds=20), "pir_hall", "hall")]
    found = _firing(model, recent, door.time + timedelta(hours=8))
    assert set(found) == {FindingKind.NOT_BACK_HOME}  # gone out, not a silence in the hall
    late = recent + [SensorEvent(door.time + timedelta(minutes=5), "pir_hall", "hall")]
    assert FindingKind.NOT_BACK_HOME not in _firing(model, late, door.time + timedelta(hours=8))


def test_stuck_in_the_bathroom_with_rare_movement(model: BehaviourModel, events: list[SensorEvent]) -> None:
    enter = at(30, 9, 40)
    recent = _until(events, enter) + [SensorEvent(enter + timedelta(minutes=15 * i), "pir_bathroom", "bathroom")
                                      for i in range(13)]
    now = enter + timedelta(minutes=45)
    f = _firing(model, recent, now)[FindingKind.PROLONGED_STAY]
    assert "with only rare movement" in f.message and f.room == "bathroom"
    # Without the accumulated pauses the stay alone is not yet unusual enough (no floor: the first
    # minute each way fires).
    eager, plain = DetectionParams(stay_floor_min=0), DetectionParams(stay_floor_min=0, stay_gap_slack=0)
    first = next(m for m in range(1, 240) if FindingKind.PROLONGED_STAY in _firing(
        model, recent, enter + timedelta(minutes=m), params=eager))
    assert FindingKind.PROLONGED_STAY not in _firing(model, recent, enter + timedelta(minutes=first), params=plain)


def test_most_sensors_dead_is_a_technical_finding_not_a_stay(model: BehaviourModel,
                                                             events: list[SensorEvent]) -> None:
    # A dead gateway for all but the kitchen: from 09:00 on day 29 only the kitchen motion reports.
    cut = at(29, 9)
    kitchen = [SensorEvent(cut + timedelta(minutes=5 * i), "pir_kitchen", "kitchen") for i in range(12 * 28)]
    recent = [e for e in _until(events, cut) if e.time < cut] + kitchen
    assert set(model.silence.daily_sensors(0.7)) >= {"bed_mat", "pir_bathroom", "pir_kitchen", "pir_livingroom"}
    # 23 h: not yet as one incident; by then the sensors with short quiet spells (the living room's
    # motion) are each reported silent in their room, the kitchen never
    early = [f for f in detect(model, recent, at(30, 8)) if f.kind is FindingKind.SENSOR_DATA_MISSING]
    assert early and all(f.room not in (None, "kitchen") for f in early)
    now = at(30, 12)  # 27 h
    found = _firing(model, recent, now)
    f = found[FindingKind.SENSOR_DATA_MISSING]
    assert f.severity is Severity.WARNING and f.room is None
    assert "not the person" in f.message and "pir_bathroom" in f.message
    assert "while only pir_kitchen still reports" in f.message
    assert f.observed >= 24 * 3600
    assert FindingKind.PROLONGED_STAY not in found
    # The same stream without the dead-sensor checks: a 27-hour "stay" in the kitchen.
    off = _firing(model, recent, now, params=DetectionParams(dead_sensor_after_h=0, silent_sensor_factor=0))
    assert FindingKind.PROLONGED_STAY in off and FindingKind.SENSOR_DATA_MISSING not in off
    # The incident stays the same from check to check.
    later = _firing(model, recent, now + timedelta(minutes=5))[FindingKind.SENSOR_DATA_MISSING]
    assert later.incident_key == f.incident_key


def _stuck_bathroom(events: list[SensorEvent], until: datetime) -> list[SensorEvent]:
    """Day 30 as drawn, but from 21:00 on the bathroom PIR fires every 11 s (a curtain in a draught),
    while the person goes to bed at 23:00 as every day."""
    draught = at(30, 21)
    kept = [e for e in _until(events, until) if e.sensor != "pir_bathroom" or e.time < draught]
    stuck = [SensorEvent(t, "pir_bathroom", "bathroom")
             for t in (draught + timedelta(seconds=11 * i) for i in range(3000)) if t <= until]
    return sorted(kept + stuck)


def test_a_stuck_motion_sensor_is_a_technical_finding_not_a_stay(model: BehaviourModel,
                                                                 events: list[SensorEvent]) -> None:
    now = at(31, 2)
    recent = _stuck_bathroom(events, now)
    # Without the check, the sensor makes a "stay" in the bathroom since the person went to bed.
    off = _firing(model, recent, now, params=DetectionParams(stuck_sensor_after_min=0))
    assert FindingKind.PROLONGED_STAY in off and off[FindingKind.PROLONGED_STAY].room == "bathroom"
    assert FindingKind.SENSOR_STUCK not in off
    found = _firing(model, recent, now)
    f = found[FindingKind.SENSOR_STUCK]
    assert f.severity is Severity.WARNING and f.room == "bathroom" and f.started_at == at(30, 21)
    assert "pir_bathroom" in f.message and "check the sensor" in f.message
    assert f.observed == pytest.approx(5 * 3600, abs=15) and f.threshold == 120 * 60
    assert FindingKind.PROLONGED_STAY not in found
    # Not before two hours without a pause; the same incident from check to check.
    assert FindingKind.SENSOR_STUCK not in _firing(model, _stuck_bathroom(events, at(30, 22, 50)), at(30, 22, 50))
    later = _firing(model, _stuck_bathroom(events, now + timedelta(minutes=5)), now + timedelta(minutes=5))
    assert later[FindingKind.SENSOR_STUCK].incident_key == f.incident_key
    # Once it stops, so does the finding.
    assert FindingKind.SENSOR_STUCK not in _firing(model, recent, now + timedelta(minutes=2))


@pytest.mark.parametrize("pause_s", [50, 70])
def test_a_person_busy_for_hours_pauses_a_sensor_now_and_then(pause_s: int) -> None:
    """Three hours of cooking with motion every 10-40 s is not a stuck sensor; a run is broken by a
    minute without motion, so motion every `pause_s` seconds makes one run (50 s) or none (70 s)."""
    start = at(30, 9)
    busy = [SensorEvent(start + timedelta(seconds=s), "pir_kitchen", "kitchen") for s in range(0, 90 * 60, 25)]
    busy.append(SensorEvent(start + timedelta(minutes=92), "pir_kitchen", "kitchen"))  # after a 2-minute pause
    busy += [SensorEvent(start + timedelta(minutes=92, seconds=s), "pir_kitchen", "kitchen")
             for s in range(pause_s, 90 * 60, pause_s)]
    busy.append(SensorEvent(busy[-1].time + timedelta(seconds=5), "fridge", "kitchen", SensorKind.CONTACT, 1.0))
    now = busy[-1].time + timedelta(seconds=20)
    runs = current_runs(busy, now)
    if pause_s < 60:
        assert runs == {"pir_kitchen": ("kitchen", start + timedelta(minutes=92), busy[-2].time)}
    else:
        assert runs == {"pir_kitchen": ("kitchen", busy[-2].time, busy[-2].time)}
    assert current_runs(busy, now + timedelta(minutes=2)) == {}


def test_silence_of_every_sensor_stays_a_person_finding(model: BehaviourModel, events: list[SensorEvent]) -> None:
    last = _last_bathroom_before(events, at(30, 10, 20))
    found = _firing(model, _until(events, last.time), last.time + timedelta(hours=30))
    assert FindingKind.SENSOR_DATA_MISSING not in found and FindingKind.UNUSUAL_SILENCE in found


@pytest.mark.parametrize("doorway", [False, True], ids=["door only", "hall sees the doorway"])
def test_coming_home_starts_a_new_stay_where_the_person_left(model: BehaviourModel, events: list[SensorEvent],
                                                             doorway: bool) -> None:
    # Out by the front door at 14:00 (the hall sensor sees the person walk to it, and, with
    # `doorway`, in the doorway 20 s after it, within the exit grace), back at 16:00. The two hours
    # out are time away, as in the stays, not a two-hour stay in the hall: before, with the
    # doorway seen, the hall "stay" since 13:59 made a prolonged-stay alarm at the return.
    out, back = at(30, 14), at(30, 16)
    recent = [e for e in _until(events, out) if e.time < out - timedelta(minutes=1)]
    recent += [SensorEvent(out - timedelta(seconds=30), "pir_hall", "hall"),
               SensorEvent(out, "front_door", "hall", SensorKind.DOOR, 1.0)]
    if doorway:
        recent.append(SensorEvent(out + timedelta(seconds=20), "pir_hall", "hall"))
    recent += [SensorEvent(back, "front_door", "hall", SensorKind.DOOR, 1.0),
               SensorEvent(back + timedelta(seconds=15), "pir_hall", "hall")]
    assert current_stay(recent, model.params.stays) == ("hall", back)
    assert FindingKind.PROLONGED_STAY not in _firing(model, recent, back + timedelta(minutes=1))
    # A step out of less than `away_after` (15 min) stays one stay in the hall.
    short = [e if e.time < back else replace(e, time=e.time - timedelta(minutes=110)) for e in recent]
    assert current_stay(short, model.params.stays) == ("hall", out - timedelta(seconds=30))


def test_a_switch_turning_off_does_not_move_the_person(model: BehaviourModel, events: list[SensorEvent]) -> None:
    # Interval data: the flush interval closes after the person already lay down in bed.
    t = at(30, 22, 58)
    recent = [e for e in _until(events, t) if e.time < t] + [
        SensorEvent(t, "pir_bathroom", "bathroom"),
        SensorEvent(t + timedelta(minutes=2), "bed_mat", "bedroom", SensorKind.PRESSURE, 1.0),
        SensorEvent(t + timedelta(minutes=2, seconds=20), "toilet_flush", "bathroom", SensorKind.OTHER, 0.0),
    ]
    assert current_stay(recent, model.params.stays)[0] == "bedroom"
    found = _firing(model, recent, t + timedelta(hours=3))
    assert not found  # asleep, not stuck in the bathroom nor silent after the bathroom
    # A flush switching ON is presence: then the person is in the bathroom.
    on = [*recent[:-1], replace(recent[-1], value=1.0)]
    assert current_stay(on, model.params.stays)[0] == "bathroom"
