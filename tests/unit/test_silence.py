"""The silence model on drawn event streams with known silence lengths."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.hazard import survival_at
from hometwin.domain.silence import SilenceModel, state_key

TZ = "Europe/Berlin"
START = datetime(2024, 3, 4, 0, 0, tzinfo=UTC)  # a Monday


def _days(n: int, seed: int = 1) -> list[SensorEvent]:
    """Each day: bathroom motion at 10:00 local then 2-5 min quiet then kitchen; bed mat at 22:00
    and 7-9 h quiet until bedroom motion in the morning."""
    rng = random.Random(seed)
    out: list[SensorEvent] = []
    for d in range(n):
        day = START + timedelta(days=d)
        bath = day + timedelta(hours=9)  # 10:00 local (UTC+1 in March before DST)
        out.append(SensorEvent(bath, "pir_bath", "bathroom"))
        out.append(SensorEvent(bath + timedelta(minutes=rng.uniform(2, 5)), "pir_kitchen", "kitchen"))
        bed = day + timedelta(hours=21)
        out.append(SensorEvent(bed, "mat", "bedroom", SensorKind.PRESSURE, 1.0))
        out.append(SensorEvent(bed + timedelta(hours=rng.uniform(7, 9)), "pir_bed", "bedroom"))
    return sorted(out)


@pytest.fixture(scope="module")
def model() -> SilenceModel:
    return SilenceModel.train(_days(40), None, TZ)


def test_context_sets_what_is_normal(model: SilenceModel) -> None:
    bath = SensorEvent(START + timedelta(days=20, hours=9), "pir_bath", "bathroom")
    bed = SensorEvent(START + timedelta(days=20, hours=21), "mat", "bedroom", SensorKind.PRESSURE, 1.0)
    # 40 minutes after a bathroom visit at 10:00 is very unusual; after going to bed it is normal.
    assert model.surprise(bath, 40 * 60) > 1.5
    assert model.surprise(bed, 40 * 60) < 0.1
    assert model.survival(bed, 8 * 3600) == pytest.approx(0.5, abs=0.2)
    # The median of the bathroom context lies within the drawn 2..5 minutes.
    assert 90 < model.quantile(bath, 0.5) < 400


def test_surprise_only_grows_and_inverse_matches(model: SilenceModel) -> None:
    bath = SensorEvent(START + timedelta(days=20, hours=9), "pir_bath", "bathroom")
    values = [model.surprise(bath, s) for s in range(60, 12 * 3600, 300)]
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))
    s = model.seconds_at_surprise(bath, 2.5)
    assert model.surprise(bath, s * 1.02) >= 2.5 - 0.05
    assert model.surprise(bath, s * 0.9) < 2.5


def test_unseen_contexts_borrow_the_shared_effects(model: SilenceModel) -> None:
    # A second bathroom sensor never seen in training: its kind, room and the hour still speak.
    other_sensor = SensorEvent(START + timedelta(days=20, hours=9), "pir_bath2", "bathroom")
    bed = SensorEvent(START + timedelta(days=20, hours=21), "mat", "bedroom", SensorKind.PRESSURE, 1.0)
    assert model.surprise(other_sensor, 40 * 60) > max(0.5, 5 * model.surprise(bed, 40 * 60))
    unseen = SensorEvent(START + timedelta(days=20, hours=3), "pir_attic", "attic")
    values = [model.surprise(unseen, s) for s in (60, 600, 3600, 6 * 3600)]
    assert all(math.isfinite(v) and v >= 0 for v in values) and values == sorted(values)


def test_no_context_claims_more_than_one_in_n_of_the_homes_rarity(model: SilenceModel) -> None:
    # One silence in n may belong to no context: the answer mixes in the home's curve with weight 1/n,
    # so a context that never saw a long silence cannot call it infinitely rare.
    bath = SensorEvent(START + timedelta(days=20, hours=9), "pir_bath", "bathroom")
    home = survival_at(model.home, 3 * 86400) / math.log(10.0)
    assert model.surprise(bath, 3 * 86400) <= math.log10(model.n_silences) + home + 1e-6


def test_json_round_trip(model: SilenceModel) -> None:
    text = json.dumps(model.to_dict())
    back = SilenceModel.from_dict(json.loads(text))
    e = SensorEvent(START + timedelta(days=20, hours=9), "pir_bath", "bathroom")
    assert back.surprise(e, 1800) == pytest.approx(model.surprise(e, 1800))
    assert back.n_silences == model.n_silences == 159
    assert back.hazard.coef == model.hazard.coef and back.mat_sensors == model.mat_sensors == ["mat"]
    with pytest.raises(ValueError, match="schema"):
        SilenceModel.from_dict({**model.to_dict(), "schema_version": 99})


def test_state_key_separates_on_and_off() -> None:
    t = START
    assert state_key(SensorEvent(t, "mat", "bedroom", SensorKind.PRESSURE, 1.0)) == "bedroom|pressure|on|mat"
    assert state_key(SensorEvent(t, "mat", "bedroom", SensorKind.PRESSURE, 0.0)) == "bedroom|pressure|off|mat"


def test_sensor_days_find_the_sensors_that_report_every_day() -> None:
    events = _days(20) + [SensorEvent(START + timedelta(days=d, hours=12), "oven", "kitchen") for d in (3, 9)]
    model = SilenceModel.train(events, None, TZ)
    # 21 calendar days: the last night ends on the 21st morning
    assert model.sensor_days["pir_bath"] == pytest.approx(20 / 21)
    assert model.sensor_days["oven"] == pytest.approx(2 / 21)
    assert model.daily_sensors(0.7) == ["mat", "pir_bath", "pir_bed", "pir_kitchen"]
    back = SilenceModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert back.sensor_days == model.sensor_days
    old = {k: v for k, v in model.to_dict().items() if k != "sensor_days"}  # saved before sensor_days
    assert SilenceModel.from_dict(old).daily_sensors(0.7) == []
