"""A model for checks alone (`train_model(checks_only=True)`, what the calibration's replays train)
finds what the whole model finds, without the cells only the dashboard and the reports read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from hometwin.domain.calibration import replay_day
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, detect
from hometwin.domain.model import checks_only_document, train_model
from hometwin.sim import simulate
from hometwin.sim.resident import Fall, Resident

TZ = "Europe/Berlin"


def test_a_checks_only_model_replays_every_margin_of_the_whole_model() -> None:
    events = sorted(simulate(days=30, seed=4, start=datetime(2024, 5, 6, tzinfo=UTC)).events)
    cut = events[0].time + timedelta(days=25)
    trained_on = [e for e in events if e.time < cut]
    whole = train_model(trained_on, tz=TZ)
    lean = train_model(trained_on, tz=TZ, checks_only=True)
    assert lean.stay_hazard is not None and lean.durations == {} and lean.visit_counts == {}
    assert lean.training == {} and whole.durations and whole.visit_counts and whole.training
    assert lean.daily == whole.daily and lean.first == whole.first and lean.away == whole.away
    # What the training leaves out is what a monitoring drops from a whole model's document.
    dropped = checks_only_document(whole.to_dict())
    assert {k: dropped[k] for k in ("training", "visits", "durations")} == \
        {k: lean.to_dict()[k] for k in ("training", "visits", "durations")}
    times = [e.time for e in events]
    plain = DetectionParams(sensitivity=0.0)
    for day in range(3):
        day0 = cut + timedelta(days=day)
        a = replay_day(whole, events, times, day0, timedelta(minutes=10), plain)
        b = replay_day(lean, events, times, day0, timedelta(minutes=10), plain)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_checks_only_model_finds_a_fall_as_the_whole_model_does() -> None:
    resident = Resident(seed=8)
    start = datetime(2024, 5, 6, tzinfo=UTC)
    history = list(resident.events(start, start + timedelta(days=21)))
    fall = Fall(at=start + timedelta(days=21, hours=10, minutes=3))
    live = [e for e in resident.events(start + timedelta(days=21), start + timedelta(days=21, hours=16), [fall])
            if e.time <= fall.at]
    whole, lean = train_model(history, tz=TZ), train_model(history, tz=TZ, checks_only=True)
    events = history + live
    found = 0
    for minutes in range(0, 6 * 60, 5):
        now = fall.at + timedelta(minutes=minutes)
        recent = [e for e in events if now - RECENT_WINDOW <= e.time <= now]
        a = detect(whole, recent, now, DetectionParams())
        assert [f.to_dict() for f in a] == [f.to_dict() for f in detect(lean, recent, now, DetectionParams())]
        found += bool(a)
    assert found > 0
