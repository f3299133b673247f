"""Per-home calibration to a false-alarm budget (domain/calibration.py) on a simulated home: trained
and calibrated on five weeks, replayed on the next three with the check the monitoring runs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hometwin.domain.calibration import ALARM_DETECTORS, MAX_SHIFT, _episodes, _replay_day, calibrate
from hometwin.domain.detection import DetectionParams
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.sim import simulate

TZ = "Europe/Berlin"
BUDGET = 0.1


@pytest.fixture(scope="module")
def home() -> tuple[list[SensorEvent], datetime]:
    events = sorted(simulate(days=56, seed=11, start=datetime(2024, 3, 4, tzinfo=UTC)).events)
    return events, events[0].time + timedelta(days=35)


def _false_alarms(model: BehaviourModel, events: list[SensorEvent], start: datetime, days: int) -> int:
    times = [e.time for e in events]
    total = 0
    for d in range(days):
        rows = _replay_day(model, events, times, start + timedelta(days=d), timedelta(minutes=10), DetectionParams())
        total += sum(_episodes(row, 0.0) for row in rows.values())
    return total


def test_a_calibrated_home_meets_its_budget_on_held_out_days(home: tuple[list[SensorEvent], datetime]) -> None:
    events, cut = home
    train = [e for e in events if e.time < cut]
    calibration = calibrate(train, tz=TZ, budget=BUDGET)
    assert calibration is not None and calibration.days >= 20 and set(calibration.shifts) == set(ALARM_DETECTORS)
    # 28 replayed days cannot show a rate below 0.025 a day: no detector becomes more eager than its default
    assert all(0.0 <= s <= MAX_SHIFT for s in calibration.shifts.values())
    model = train_model(train, tz=TZ)
    days = 19  # whole days after the cut, inside the data
    plain = _false_alarms(model, events, cut + timedelta(hours=12), days)
    calibrated = _false_alarms(replace(model, calibration=calibration), events, cut + timedelta(hours=12), days)
    assert plain > BUDGET * days  # the default limits miss the budget in this home ...
    assert calibrated <= BUDGET * days  # ... the calibrated ones meet it on days they never saw
    back = BehaviourModel.from_dict(json.loads(json.dumps(replace(model, calibration=calibration).to_dict())))
    assert back.calibration == calibration


def test_too_little_history_is_not_calibrated() -> None:
    events = sorted(simulate(days=5, seed=3, start=datetime(2024, 3, 4, tzinfo=UTC)).events)
    assert calibrate(events, tz=TZ, budget=BUDGET) is None
    with pytest.raises(ValueError, match="budget"):
        calibrate(events, tz=TZ, budget=0.0)


def test_the_detectors_apply_the_homes_shifts_and_model_show_says_so(
        home: tuple[list[SensorEvent], datetime]) -> None:
    from hometwin.commands.model_view import calibration_text
    from hometwin.domain.calibration_result import Calibration
    from hometwin.domain.detection import assess

    events, cut = home
    model = train_model([e for e in events if e.time < cut], tz=TZ)
    shifted = replace(model, calibration=Calibration(BUDGET, {"unusual_silence": 1.5, "prolonged_stay": -0.5},
                                                     days=28, folds=4))
    recent = [e for e in events if cut - timedelta(hours=36) <= e.time <= cut]
    now = recent[-1].time + timedelta(hours=2)
    plain = {a.finding.kind.value: a.limit for a in assess(model, recent, now)}
    moved = {a.finding.kind.value: a.limit for a in assess(shifted, recent, now)}
    assert moved["unusual_silence"] == pytest.approx(plain["unusual_silence"] + 1.5)
    if "prolonged_stay" in plain:
        assert moved["prolonged_stay"] == pytest.approx(plain["prolonged_stay"] - 0.5)
    text = calibration_text(shifted)
    assert "Calibrated to 0.1 false alarms a day" in text and "unusual_silence: limit +1.50" in text
    assert calibration_text(model).startswith("Not calibrated")
