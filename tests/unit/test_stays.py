"""Stay extraction. Each test draws its timeline: one column per minute unless it says otherwise.

Legend: K kitchen motion, B bathroom motion, H hall motion, D front door (in the hall),
c cupboard contact, . nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.stays import (
    IntervalKind,
    StayParams,
    Timeline,
    canonical_rooms,
    extract_timeline,
)

T0 = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(minutes: float, room: str, sensor: str | None = None, kind: SensorKind = SensorKind.MOTION,
       value: float = 1.0) -> SensorEvent:
    return SensorEvent(at(minutes), sensor or f"{room}-pir", room, kind, value)


def summary(tl: Timeline) -> list[tuple[str, float, float, int]]:
    return [(s.room, (s.start - T0).total_seconds() / 60, (s.end - T0).total_seconds() / 60, s.n_events)
            for s in tl.stays]


def test_last_here_until_first_elsewhere_with_two_sensors_per_room() -> None:
    # minute:   0 1 2 3 4 5 6
    # kitchen:  K k K . . . .     (K and k are two kitchen sensors)
    # bathroom: . . . . B B .
    # kitchen:  . . . . . . K
    events = [ev(0, "kitchen"), ev(1, "kitchen", "kitchen-pir2"), ev(2, "kitchen"),
              ev(4, "bathroom"), ev(5, "bathroom"), ev(6, "kitchen")]
    tl = extract_timeline(events)
    assert summary(tl) == [("kitchen", 0, 4, 3), ("bathroom", 4, 6, 2), ("kitchen", 6, 6, 1)]
    assert tl.away == [] and tl.unknown == []


def test_unsorted_and_duplicate_events_give_the_same_timeline() -> None:
    # kitchen K K . B B . K  sent in random order, with every event twice
    events = [ev(0, "kitchen"), ev(1, "kitchen"), ev(3, "bathroom"), ev(4, "bathroom"), ev(6, "kitchen")]
    expected = extract_timeline(events)
    shuffled = events * 2
    random.Random(7).shuffle(shuffled)
    assert extract_timeline(shuffled) == expected
    assert sum(s.n_events for s in expected.stays) == 5


def test_two_sensors_firing_at_the_same_time_both_count() -> None:
    # minute 0: kitchen-pir AND kitchen-cupboard (same timestamp, different sensors) -> 2 events
    events = [ev(0, "kitchen"), ev(0, "kitchen", "cupboard", SensorKind.CONTACT), ev(2, "bathroom")]
    assert summary(extract_timeline(events)) == [("kitchen", 0, 2, 2), ("bathroom", 2, 2, 1)]


def test_simultaneous_events_in_two_rooms_do_not_depend_on_arrival_order() -> None:
    # minute 0: bathroom and kitchen at the very same instant; ties are ordered by room name
    a = [ev(0, "kitchen"), ev(0, "bathroom"), ev(5, "kitchen")]
    b = list(reversed(a))
    assert extract_timeline(a) == extract_timeline(b)
    assert summary(extract_timeline(a)) == [("bathroom", 0, 0, 1), ("kitchen", 0, 5, 2)]


def test_front_door_then_silence_is_away() -> None:
    # minute:  0 1 2 .......... 60 61 62
    # hall:    H D D             D  H
    # kitchen:                         K
    # stays: hall 0-2 | away 2-60 | hall 60-62 | kitchen 62-
    door = dict(sensor="front-door", kind=SensorKind.DOOR)
    events = [ev(0, "hall"), ev(1, "hall", **door), ev(2, "hall", value=0, **door),  # type: ignore[arg-type]
              ev(60, "hall", **door), ev(61, "hall"), ev(62, "kitchen")]  # type: ignore[arg-type]
    tl = extract_timeline(events)
    assert summary(tl) == [("hall", 0, 2, 3), ("hall", 60, 62, 2), ("kitchen", 62, 62, 1)]
    assert [(i.kind, i.start, i.end) for i in tl.away] == [(IntervalKind.AWAY, at(2), at(60))]
    assert tl.unknown == []


def test_hall_motion_right_after_the_door_still_counts_as_leaving() -> None:
    # seconds: 0 (hall H) 10 (door D) 30 (hall H: PIR sees the person in the doorway) ... 90 min later K
    events = [ev(0, "hall"), ev(10 / 60, "hall", "front-door", SensorKind.DOOR), ev(0.5, "hall"),
              ev(90, "kitchen")]
    tl = extract_timeline(events)
    assert [(i.start, i.end) for i in tl.away] == [(at(0.5), at(90))]
    assert summary(tl)[0] == ("hall", 0, 0.5, 3)


def test_door_then_activity_in_another_room_is_not_away() -> None:
    # minute: 0 D (front door: the postman), 0.5 bedroom motion, then a 3-hour nap without events
    # the person is at home: one long bedroom stay, no away interval
    events = [ev(0, "hall", "front-door", SensorKind.DOOR), ev(0.5, "bedroom"), ev(180, "kitchen")]
    tl = extract_timeline(events)
    assert tl.away == []
    assert summary(tl) == [("hall", 0, 0.5, 1), ("bedroom", 0.5, 180, 1), ("kitchen", 180, 180, 1)]


def test_short_silence_after_the_door_is_not_away() -> None:
    # hall: D .... (10 min) H ; away_after is 15 min -> no away
    events = [ev(0, "hall", "front-door", SensorKind.DOOR), ev(10, "hall")]
    assert extract_timeline(events).away == []
    assert len(extract_timeline(events, StayParams(away_after=timedelta(minutes=5))).away) == 1


def test_long_gap_without_door_is_unknown_not_a_stay() -> None:
    # kitchen K K, then no data at all for 20 h (outage), then bathroom B
    # stays: kitchen 0-1 | unknown 1-1201 | bathroom 1201-
    events = [ev(0, "kitchen"), ev(1, "kitchen"), ev(1201, "bathroom")]
    tl = extract_timeline(events)
    assert summary(tl) == [("kitchen", 0, 1, 2), ("bathroom", 1201, 1201, 1)]
    assert [(i.kind, i.start, i.end) for i in tl.unknown] == [(IntervalKind.UNKNOWN, at(1), at(1201))]


def test_a_long_night_is_a_stay_not_unknown() -> None:
    # bedroom at 22:00, nothing until the bathroom at 07:00 (9 h < unknown_after 12 h)
    events = [ev(0, "bedroom"), ev(9 * 60, "bathroom")]
    tl = extract_timeline(events)
    assert tl.unknown == [] and summary(tl)[0] == ("bedroom", 0, 540, 1)


def test_readings_during_an_outage_of_presence_are_data_so_no_unknown() -> None:
    # kitchen K, then only battery readings (kind other, value 87) every 4 h for 20 h, then K
    # data keeps arriving, so this is one long kitchen stay (the person sat still), not unknown
    readings = [ev(m, "kitchen", "battery", SensorKind.OTHER, 87.0) for m in range(240, 1200, 240)]
    events = [ev(0, "kitchen"), *readings, ev(1200, "kitchen")]
    tl = extract_timeline(events)
    assert tl.unknown == []
    assert summary(tl) == [("kitchen", 0, 1200, 2)]


def test_motion_off_is_not_presence_but_a_cupboard_closing_is() -> None:
    # minute:   0   1     2          3
    # kitchen:  K   Koff             c(close)
    # bathroom:        B
    # The motion OFF at 1 comes from the kitchen PIR's timer; the person is in the bathroom at 2.
    # The cupboard closing at 3 puts the person back in the kitchen.
    events = [ev(0, "kitchen"), ev(1.5, "kitchen", value=0.0), ev(1, "bathroom"),
              ev(3, "kitchen", "cupboard", SensorKind.CONTACT, 0.0)]
    assert summary(extract_timeline(events)) == [("kitchen", 0, 1, 1), ("bathroom", 1, 3, 1),
                                                 ("kitchen", 3, 3, 1)]


def test_other_sensors_count_only_when_switched_on() -> None:
    # bathroom flush ON (value 1) is presence; its OFF and a temperature reading in the kitchen are not
    events = [ev(0, "livingroom"), ev(5, "bathroom", "flush", SensorKind.OTHER, 1.0),
              ev(6, "bathroom", "flush", SensorKind.OTHER, 0.0),
              ev(7, "kitchen", "temperature", SensorKind.OTHER, 21.5), ev(9, "livingroom")]
    assert summary(extract_timeline(events)) == [("livingroom", 0, 5, 1), ("bathroom", 5, 9, 1),
                                                 ("livingroom", 9, 9, 1)]


def test_room_spellings_and_aliases_are_one_room() -> None:
    # "Kitchen", "kitchen " and "KITCHEN" are one room; the alias maps "cuisine" to it too
    events = [ev(0, "Kitchen"), ev(1, "kitchen "), ev(2, "KITCHEN"), ev(3, "cuisine"), ev(4, "bath")]
    tl = extract_timeline(events, StayParams(aliases={"cuisine": "Kitchen"}))
    assert summary(tl) == [("Kitchen", 0, 4, 4), ("bath", 4, 4, 1)]
    assert canonical_rooms(["KITCHEN", "kitchen"]) == {"KITCHEN": "kitchen", "kitchen": "kitchen"}
    assert canonical_rooms(["Living  room", "living room"])["Living  room"] == "living room"


def test_outage_after_the_last_presence_event() -> None:
    # kitchen K, kitchen motion OFF a minute later, then 13 h later one battery reading
    events = [ev(0, "kitchen"), ev(1, "kitchen", value=0.0),
              ev(781, "kitchen", "battery", SensorKind.OTHER, 50)]
    tl = extract_timeline(events)
    assert summary(tl) == [("kitchen", 0, 1, 1)]
    assert [(i.start, i.end) for i in tl.unknown] == [(at(1), at(781))]


def test_empty_and_presence_free_inputs() -> None:
    assert extract_timeline([]) == Timeline()
    only_readings = [ev(0, "kitchen", "t", SensorKind.OTHER, 20.0),
                     ev(800, "kitchen", "t", SensorKind.OTHER, 21.0)]
    tl = extract_timeline(only_readings)
    assert tl.stays == [] and [(i.start, i.end) for i in tl.unknown] == [(at(0), at(800))]


def test_params_round_trip_and_validation() -> None:
    p = StayParams(away_after=timedelta(minutes=20), aliases={"a": "b"},
                   off_means_present=frozenset({SensorKind.PRESSURE}))
    assert StayParams.from_dict(p.to_dict()) == p
    assert StayParams.from_dict({}) == StayParams()
    with pytest.raises(ValueError, match="away_after"):
        StayParams(away_after=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="number"):
        StayParams.from_dict({"away_after_s": "soon"})


ROOMS = ["bathroom", "bedroom", "hall", "kitchen"]
KINDS = [SensorKind.MOTION, SensorKind.CONTACT, SensorKind.DOOR, SensorKind.OTHER]
event_strategy = st.builds(
    lambda minute, room, kind, value: SensorEvent(at(minute), f"{room}-{kind}", room, kind, value),
    st.integers(0, 3000), st.sampled_from(ROOMS), st.sampled_from(KINDS), st.sampled_from([0.0, 1.0, 5.0]))


@settings(max_examples=150, deadline=None)
@given(st.lists(event_strategy, max_size=60), st.randoms(use_true_random=False))
def test_timeline_invariants(events: list[SensorEvent], rnd: random.Random) -> None:
    params = StayParams(unknown_after=timedelta(hours=6))
    tl = extract_timeline(events, params)
    shuffled = events * 2
    rnd.shuffle(shuffled)
    assert extract_timeline(shuffled, params) == tl  # order and duplicates do not matter
    pieces = sorted([(s.start, s.end) for s in tl.stays] + [(i.start, i.end) for i in tl.away + tl.unknown])
    for (s0, e0), (s1, _) in zip(pieces, pieces[1:], strict=False):
        assert s0 <= e0 <= s1  # no overlap
    unique = set(events)
    presence = [e for e in unique
                if (e.kind != SensorKind.OTHER and (e.value != 0 or e.kind != SensorKind.MOTION))
                or (e.kind == SensorKind.OTHER and e.value == 1.0)]
    assert sum(s.n_events for s in tl.stays) == len(presence)
    for stay in tl.stays:
        assert stay.duration >= timedelta(0)


def test_coming_home_and_staying_in_the_hall_is_not_away() -> None:
    # livingroom L(0), hall H(10), door D(10.5) -> out for 2 h -> D(130), H(130.2), H(130.5),
    # then nothing for an hour (the person collapsed in the hall), then kitchen K(190).
    # away 10.5-130 only; the hall from 130 on is a stay, not another outing.
    door = "front-door"
    events = [ev(0, "livingroom"), ev(10, "hall"), ev(10.5, "hall", door, SensorKind.DOOR),
              ev(130, "hall", door, SensorKind.DOOR), ev(130.2, "hall"), ev(130.5, "hall"), ev(190, "kitchen")]
    tl = extract_timeline(events)
    assert [(i.start, i.end) for i in tl.away] == [(at(10.5), at(130))]
    assert summary(tl)[-2:] == [("hall", 130, 190, 3), ("kitchen", 190, 190, 1)]
