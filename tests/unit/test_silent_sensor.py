"""One sensor silent far longer than it ever was while the person was about: dead, stuck or out of
range (domain/detectors/dead_sensors.py), learned per sensor in active hours (silence_training.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, assess, detect
from hometwin.domain.detectors.silent_sensor import active_hours_since
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding, FindingKind
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.domain.silence_training import MIN_QUIET_GAPS, sensor_quiet_hours
from hometwin.domain.stays import event_arrays
from tests.unit.drawn_home import TZ, at, drawn_events

TRAIN_DAYS = 28
STEP = timedelta(minutes=20)


@pytest.fixture(scope="module")
def events() -> list[SensorEvent]:
    return drawn_events(35)


@pytest.fixture(scope="module")
def model(events: list[SensorEvent]) -> BehaviourModel:
    return train_model(events, tz=TZ, end=at(TRAIN_DAYS, 0))


def _window(events: list[SensorEvent], now: datetime) -> list[SensorEvent]:
    return [e for e in events if now - RECENT_WINDOW <= e.time <= now]


def _silent_sensor_findings(model: BehaviourModel, events: list[SensorEvent], now: datetime,
                            params: DetectionParams = DetectionParams()) -> list[Finding]:
    return [f for f in detect(model, _window(events, now), now, params)
            if f.kind is FindingKind.SENSOR_DATA_MISSING and f.room is not None]


def test_active_hours_are_the_whole_hours_with_an_event_between_the_last_one_and_now() -> None:
    t0 = datetime(2024, 1, 8, 0, 0, tzinfo=at(0, 0).tzinfo)

    def ev(hour: int, minute: int, sensor: str) -> SensorEvent:
        return SensorEvent(t0 + timedelta(hours=hour, minutes=minute), sensor, "room")

    # events in hours 0 (a, b), 1 (a), 2 (c, b), 4 (a, b); none in hour 3; now in hour 6
    recent = [ev(0, 5, "a"), ev(0, 30, "b"), ev(1, 10, "a"), ev(2, 5, "c"), ev(2, 40, "b"),
              ev(4, 1, "a"), ev(4, 50, "b")]
    now = t0 + timedelta(hours=6, minutes=30)
    got = active_hours_since(recent, ["a", "b", "c", "d"], now)
    assert got["a"] == (0, recent[5].time)  # its own hour does not count
    assert got["b"] == (0, recent[6].time)
    assert got["c"] == (1, recent[3].time)  # hour 4; hour 2 is its own, hour 3 was quiet
    assert got["d"] == (3, None)  # never seen: hours 1, 2 and 4, after the first event's hour
    # the hour of `now` is not over: it counts once it is
    later = recent + [ev(6, 40, "a")]
    assert active_hours_since(later, ["c"], now + timedelta(minutes=20))["c"][0] == 1
    assert active_hours_since(later, ["c"], now + timedelta(minutes=40))["c"][0] == 2


def test_a_check_counts_active_hours_as_the_training_does(events: list[SensorEvent]) -> None:
    """The most active hours between two events of a sensor, replayed event by event with the check's
    counting, is what the training learned for it."""
    days = [e for e in events if e.time < at(8, 0)]
    learned = sensor_quiet_hours(event_arrays(days))
    assert set(learned) == {"pir_kitchen", "pir_livingroom", "pir_bathroom"}
    # the bed mat (twice a day), the front door and the bedroom motion have too few gaps to tell
    # how long they may be quiet
    assert all(sum(e.sensor == s for e in days) < MIN_QUIET_GAPS for s in ("bed_mat", "front_door", "pir_bedroom"))
    for sensor, (room, most, gaps) in learned.items():
        own = [i for i, e in enumerate(days) if e.sensor == sensor]
        replayed = [active_hours_since([e for e in days[i:j] if e.time > days[i].time - RECENT_WINDOW], [sensor],
                                     days[j].time)[sensor][0] for i, j in zip(own, own[1:], strict=False)]
        assert room == days[own[0]].room
        assert (max(replayed), len(replayed)) == (most, gaps), sensor


def test_training_leaves_out_the_silence_after_a_sensors_last_event(events: list[SensorEvent]) -> None:
    """A sensor that died in the training weeks must not teach that it may stay silent for days."""
    dies = at(20, 12)
    days = [e for e in events if e.time < at(28, 0) and not (e.sensor == "pir_kitchen" and e.time >= dies)]
    alive = sensor_quiet_hours(event_arrays([e for e in events if e.time < dies]))
    assert sensor_quiet_hours(event_arrays(days))["pir_kitchen"][1] == alive["pir_kitchen"][1]


def test_a_dead_kitchen_sensor_is_reported_in_its_room(model: BehaviourModel, events: list[SensorEvent]) -> None:
    room, most, _ = model.silence.sensor_quiet["pir_kitchen"]
    limit = DetectionParams().silent_sensor_factor * max(most, 4)
    dies = at(29, 8)
    dead = [e for e in events if not (e.sensor == "pir_kitchen" and e.time >= dies)]
    last = [e for e in dead if e.sensor == "pir_kitchen"][-1]
    checks = [dies + k * STEP for k in range(int(timedelta(hours=36) / STEP))]
    first = next(now for now in checks if _silent_sensor_findings(model, dead, now))
    (f,) = _silent_sensor_findings(model, dead, first)
    assert f.room == room == "kitchen" and f.started_at == last.time
    assert "pir_kitchen" in f.message and "dead" in f.message and f"more than {most} such hours" in f.message
    assert f.observed == f.threshold == limit * 3600  # fires at the first check past the limit
    assert active_hours_since(_window(dead, first), ["pir_kitchen"], first)["pir_kitchen"] == (limit, last.time)
    # the same incident at the next check; off with the knob at 0
    (later,) = _silent_sensor_findings(model, dead, first + STEP)
    assert later.incident_key == f.incident_key
    assert not _silent_sensor_findings(model, dead, first, DetectionParams(silent_sensor_factor=0))


def test_no_sensor_of_the_healthy_home_is_reported(model: BehaviourModel, events: list[SensorEvent]) -> None:
    checks = [at(TRAIN_DAYS, 0) + k * STEP for k in range(int(timedelta(days=7) / STEP))]
    assert [f for now in checks for f in _silent_sensor_findings(model, events, now)] == []


def test_most_sensors_dead_is_one_incident_not_one_per_sensor(model: BehaviourModel,
                                                              events: list[SensorEvent]) -> None:
    cut = at(29, 9)  # a dead gateway: from here on only the kitchen motion reports
    kitchen = [SensorEvent(cut + timedelta(minutes=5 * i), "pir_kitchen", "kitchen") for i in range(12 * 28)]
    recent = [e for e in _window(events, cut) if e.time < cut] + kitchen
    now = at(30, 12)
    items = [a for a in assess(model, recent, now) if a.finding.kind is FindingKind.SENSOR_DATA_MISSING]
    assert [a.finding.room for a in items if a.fires] == [None]
    assert any(a.suppressed for a in items if a.finding.room is not None)
