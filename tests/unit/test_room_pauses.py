"""Pauses between movements in a room: counted per room, and how a stay's completed pauses are judged.

The drawn home (tests/unit/drawn_home.py) moves every 0.5-1 min in the bathroom and every 4-8 min on
the sofa. Without its bedroom motion sensor (the bed mat alone), the evening's last bathroom visit is
followed by 10-15 quiet minutes until the person lies down, so a silence after the bathroom then is
ordinary, while a 15-minute pause that ends with the person still in the bathroom has never happened.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from hometwin.domain.detection import detect
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.findings import FindingKind
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.domain.silence import PAUSE_GRID, SilenceContext, SilenceModel
from tests.unit.drawn_home import TZ, at, drawn_events


def _home(without: str = "") -> tuple[list[SensorEvent], BehaviourModel]:
    events = [e for e in drawn_events(35) if e.sensor != without]
    return events, train_model([e for e in events if e.time < at(28, 0)], tz=TZ, end=at(28, 0))


@pytest.fixture(scope="module")
def home() -> tuple[list[SensorEvent], BehaviourModel]:
    return _home()


@pytest.fixture(scope="module")
def bed_mat_only() -> tuple[list[SensorEvent], BehaviourModel]:
    return _home(without="pir_bedroom")


def _pauses(events: list[SensorEvent], room: str) -> np.ndarray:
    """The training days' pauses between consecutive events both in `room` (every drawn event is presence)."""
    events = [e for e in events if e.time < at(28, 0)]
    return np.array([(b.time - a.time).total_seconds() for a, b in zip(events, events[1:], strict=False)
                     if a.room == room and b.room == room])


def test_room_pauses_count_the_pauses_that_ended_in_the_same_room(home: tuple[list[SensorEvent], BehaviourModel]
                                                                  ) -> None:
    events, model = home
    for room in ("bathroom", "livingroom", "kitchen", "bedroom"):
        pauses = _pauses(events, room)
        counts = model.silence.room_pauses[room].tolist()
        # Pauses under a minute are bursts: each minute of them counts once.
        n = int(np.count_nonzero(pauses >= 60)) + round(float(pauses[pauses < 60].sum()) / 60)
        expected = [n] + [int(np.count_nonzero(pauses >= g)) for g in PAUSE_GRID]
        while expected[-1] == 0:
            expected.pop()
        assert counts == expected
    # The bathroom's pauses are all under a minute: no count beyond the total.
    assert len(model.silence.room_pauses["bathroom"]) == 1
    assert len(model.silence.room_pauses["livingroom"]) > 10  # 4-8 minutes on the sofa


def test_a_pause_is_at_least_as_unusual_as_its_silence_and_as_a_pause_there(
        bed_mat_only: tuple[list[SensorEvent], BehaviourModel]) -> None:
    events, model = bed_mat_only
    s = model.silence
    bathroom = SilenceContext(SensorEvent(at(30, 22, 40), "pir_bathroom", "bathroom"), "livingroom")
    sofa = SilenceContext(SensorEvent(at(30, 16), "pir_livingroom", "livingroom"), "kitchen")
    for ctx in (bathroom, sofa):
        for seconds in (30, 60, 300, 900, 3600):
            assert s.pause_surprise(ctx, seconds) >= s.surprise(ctx, seconds)
    n = int(s.room_pauses["bathroom"][0])
    # Quiet for 15 minutes after the evening's bathroom is ordinary (the person goes to bed); ending
    # back in the bathroom, longer than any of its n pauses: half a pause in n + 1.
    assert s.surprise(bathroom, 900) < 2.5
    assert s.pause_surprise(bathroom, 900) == pytest.approx(np.log10(2 * (n + 1)))
    assert s.pause_surprise(sofa, 7 * 60) < 1.5  # the sofa's ordinary pause between movements
    assert s.pause_surprise(bathroom, 30) == s.surprise(bathroom, 30)  # bursts are not pauses


def test_room_pauses_survive_the_model_document_and_old_documents_still_load(
        home: tuple[list[SensorEvent], BehaviourModel]) -> None:
    model = home[1]
    back = SilenceModel.from_dict(json.loads(json.dumps(model.silence.to_dict())))
    assert back.room_pauses.keys() == model.silence.room_pauses.keys()
    assert back.room_pauses == model.silence.room_pauses
    assert back.to_dict() == model.silence.to_dict()
    old = model.silence.to_dict()
    del old["room_pauses"]
    before = SilenceModel.from_dict(old)
    ctx = SilenceContext(SensorEvent(at(30, 9), "pir_bathroom", "bathroom"))
    # A model trained before pauses were kept judges a pause as the silence it was.
    assert before.pause_surprise(ctx, 900) == pytest.approx(before.surprise(ctx, 900))


def _first_stay_alarm(model: BehaviourModel, events: list[SensorEvent], enter, room: str, sensor: str,
                      every: float = 15.0) -> int | None:  # type: ignore[no-untyped-def]
    """The first minute (up to 4 h) a prolonged stay fires for someone in `room` from `enter` on who
    moves only every `every` minutes."""
    moves = [SensorEvent(enter + timedelta(minutes=every * i), sensor, room) for i in range(int(240 / every) + 1)]
    recent = [e for e in events if enter - timedelta(hours=30) <= e.time < enter] + moves
    for minute in range(1, 241):
        now = enter + timedelta(minutes=minute)
        seen = [e for e in recent if e.time <= now]
        if any(f.kind is FindingKind.PROLONGED_STAY for f in detect(model, seen, now)):
            return minute
    return None


def test_someone_moving_every_15_minutes_in_the_bathroom_is_noticed_sooner(
        bed_mat_only: tuple[list[SensorEvent], BehaviourModel]) -> None:
    events, model = bed_mat_only
    enter = at(30, 22, 40)
    now = _first_stay_alarm(model, events, enter, "bathroom", "pir_bathroom")
    without = replace(model, silence=replace(model.silence, room_pauses={}))  # a model from before
    before = _first_stay_alarm(without, events, enter, "bathroom", "pir_bathroom")
    assert now is not None and now <= 60  # the floor (30 min) and a few pauses
    assert before is None or before >= 90  # judged as silences after the bathroom: hours
    # Moving every 7 minutes is how this person watches television: no alarm on the sofa.
    assert _first_stay_alarm(model, events, at(30, 15, 30), "livingroom", "pir_livingroom", every=7) is None


def test_a_flickering_mat_counts_its_minutes_not_its_events() -> None:
    # Every night the bed mat flickers on and off every 2 seconds for 10 minutes (kasteren-C's mat
    # does): 300 pauses a night, but 10 minutes of bursts, so the bedroom's pause count grows by 10.
    events = drawn_events(14)
    flicker = [SensorEvent(at(d, 23, 30) + timedelta(seconds=2 * i), "bed_mat", "bedroom", SensorKind.PRESSURE,
                           float(i % 2 == 0)) for d in range(13) for i in range(300)]
    plain = train_model(events, tz=TZ).silence.room_pauses["bedroom"]
    busy = train_model(sorted(events + flicker), tz=TZ).silence.room_pauses["bedroom"]
    assert 13 * 8 <= busy[0] - plain[0] <= 13 * 12
