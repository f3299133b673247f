"""The silence model on drawn event streams with known silence lengths."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.model import train_model
from hometwin.domain.silence import SilenceContext, SilenceModel, is_sleeping_room, presence_contexts, state_key
from hometwin.domain.silence_training import training_contexts
from hometwin.domain.stays import event_arrays
from tests.unit.drawn_home import START as START_DRAWN
from tests.unit.drawn_home import TZ as DRAWN_TZ
from tests.unit.drawn_home import drawn_events

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


def test_no_context_claims_more_than_the_data_can_show(model: SilenceModel) -> None:
    # One silence in n may fit no context: the answer mixes in, with weight 1/n, a scale-free tail
    # beyond the context's median, so a context that never saw a long silence cannot call it
    # infinitely rare: at most log10(n) + log10(t / median).
    bath = SensorEvent(START + timedelta(days=20, hours=9), "pir_bath", "bathroom")
    median = model.quantile(bath, 0.5)
    for t in (600.0, 3600.0, 3 * 86400.0):
        assert model.surprise(bath, t) <= math.log10(model.n_silences) + math.log10(t / median) + 0.01


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


# ---------------------------------------------------------------- the night, on the drawn home
@pytest.fixture(scope="module")
def night_home() -> tuple[list[SensorEvent], SilenceModel]:
    """The drawn home (tests/unit/drawn_home.py) with a toilet flush at the end of every visit to the
    bathroom, the night-time ones included (then the person is back in bed within a minute)."""
    events = drawn_events(28)
    flushes: list[SensorEvent] = []
    for prev, nxt in zip(events, events[1:], strict=False):
        if prev.room == "bathroom" and nxt.room != "bathroom":
            flushes.append(SensorEvent(prev.time + timedelta(seconds=20), "flush", "bathroom", SensorKind.OTHER, 1.0))
    events = sorted(events + flushes)
    return events, train_model(events, tz=DRAWN_TZ).silence


def _night_flush(events: list[SensorEvent]) -> SilenceContext:
    contexts = [c for c in presence_contexts(events) if c is not None]
    zone = ZoneInfo(DRAWN_TZ)
    return [c for c in contexts if c.event.sensor == "flush" and c.time.astimezone(zone).hour in (2, 3)][-1]


def test_a_night_time_flush_then_quiet_is_unusual_where_the_home_says_so(
        night_home: tuple[list[SensorEvent], SilenceModel]) -> None:
    # The kasteren-A case: after a toilet flush at 03:00 this person is back in bed within a
    # minute, every time. Twenty minutes of quiet after it is an emergency, although the hour is
    # full of long silences (sleep): the hour's silences must not dilute the flush's.
    events, silence = night_home
    flush = _night_flush(events)
    assert silence.surprise(flush, 20 * 60) >= 3.0
    assert silence.seconds_at_surprise(flush, 3.0) <= 20 * 60


def test_a_quiet_bed_at_night_is_normal_and_a_night_outside_it_is_not(
        night_home: tuple[list[SensorEvent], SilenceModel]) -> None:
    events, silence = night_home
    contexts = [c for c in presence_contexts(events) if c is not None]
    in_bed = [c for c in contexts if c.event.sensor == "bed_mat" and c.event.value == 1.0
              and c.time.astimezone(ZoneInfo(DRAWN_TZ)).hour == 23][-1]
    assert in_bed.rest == "bed"
    assert silence.surprise(in_bed, 4 * 3600) < 1.0  # 03:00, asleep
    assert silence.surprise(in_bed, 7.5 * 3600) < 1.5  # 06:30, still asleep
    # The same hours after the living room (the person never reached the bed) are not normal.
    sofa = [c for c in contexts if c.room == "livingroom"][-1]
    late = SilenceContext(SensorEvent(in_bed.time, sofa.event.sensor, "livingroom"), prev_room="kitchen")
    assert silence.surprise(late, 4 * 3600) > 3.0


def test_rest_state_follows_the_mats() -> None:
    t = START
    events = [SensorEvent(t, "mat", "bedroom", SensorKind.PRESSURE, 1.0),
              SensorEvent(t + timedelta(hours=3), "pir_bed", "bedroom"),
              SensorEvent(t + timedelta(hours=4), "mat", "bedroom", SensorKind.PRESSURE, 0.0),
              SensorEvent(t + timedelta(hours=4, minutes=1), "pir_bath", "bathroom"),
              SensorEvent(t + timedelta(hours=5), "couch", "livingroom", SensorKind.PRESSURE, 1.0),
              SensorEvent(t + timedelta(hours=6), "pir_kitchen", "kitchen", SensorKind.MOTION, 0.0)]
    contexts = presence_contexts(events)
    assert [c.rest if c else None for c in contexts] == ["bed", "bed", "", "", "seat", None]
    assert contexts[3] is not None and contexts[3].prev_room == "bedroom"
    # Computed from the middle, the state before is read back: the same answers.
    assert presence_contexts(events, start=3, mat_sensors=["mat", "couch"])[3:] == contexts[3:]


def test_training_reads_the_contexts_a_check_reads() -> None:
    # The training's vectorised contexts (silence_training.py) and a check's one-by-one reading
    # (presence_contexts) must agree, or the model would answer about contexts a check never sees.
    events = drawn_events(6) + [SensorEvent(START_DRAWN + timedelta(hours=12), "couch", "livingroom",
                                            SensorKind.PRESSURE, 1.0)]
    a = event_arrays(events)
    pidx, ctx, levels = training_contexts(a, 16.0, is_sleeping_room)
    ordered = [a.events[i] for i in a.order.tolist()]
    checked = [c.levels() for c in presence_contexts(ordered) if c is not None]
    assert [levels[k] for k in ctx.tolist()] == checked
