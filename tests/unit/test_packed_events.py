"""The monitoring's copy of the last events (domain/packed_events.py): the same events, in less memory."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.packed_events import PackedEvents
from hometwin.sim import simulate
from tests.unit.drawn_home import drawn_events


def test_packed_events_come_back_equal_to_the_microsecond_in_their_order() -> None:
    events = [*drawn_events(2),
              SensorEvent(datetime(2024, 1, 10, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))), "door",
                          "hall", SensorKind.DOOR, 0.0),
              SensorEvent(datetime(2024, 1, 10, 3, 4, 5, 678901, tzinfo=UTC), "temp", "kitchen", SensorKind.OTHER,
                          21.375)]
    packed = PackedEvents(events)
    back = packed.events()
    assert len(packed) == len(events) and back == events
    assert [(e.time, e.sensor, e.room, e.kind, e.value) for e in back] == \
        [(e.time, e.sensor, e.room, e.kind, e.value) for e in events]
    assert back[-2].time.utcoffset() == timedelta(0)  # normalised to UTC, as SensorEvent does
    assert PackedEvents().events() == []


def test_packed_events_take_a_fraction_of_the_memory_of_the_events() -> None:
    events = drawn_events(2)
    packed = _traced_bytes(lambda: PackedEvents(events))
    # The copies a store's read hands over: a datetime and a float object per event besides the event.
    copies = _traced_bytes(lambda: [SensorEvent.trusted(e.time + timedelta(0), e.sensor, e.room, e.kind, e.value + 0.0)
                             for e in events])
    assert packed < copies / 4, (packed, copies)
    assert packed < 28 * len(events)  # at most 20 bytes an event (9 since the keys are numbered) plus headers


def test_every_microsecond_of_a_second_comes_back_exactly() -> None:
    # Float seconds since the epoch: exact to the microsecond up to the year 2106.
    base = [datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), datetime(2105, 12, 31, 23, 59, 59, tzinfo=UTC)]
    events = [SensorEvent(b + timedelta(microseconds=us), "pir", "hall") for b in base for us in range(0, 10**6, 7)]
    assert PackedEvents(events).events() == events


def _traced_bytes(build) -> int:  # type: ignore[no-untyped-def]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return int(size)


def test_a_homes_last_36_hours_take_under_five_bytes_an_event() -> None:
    # Simulated times carry random microseconds, as real ones do: what is left to compress is the
    # time's leading bytes (alike from event to event) and the key's number (one byte, few values).
    events = simulate(days=4, seed=11, start=datetime(2024, 1, 1, tzinfo=UTC)).events
    last = [e for e in events if e.time > events[-1].time - timedelta(hours=36)]
    assert len(last) > 500 and len({e.time.microsecond for e in last}) > len(last) // 2
    assert len({(e.sensor, e.room, e.kind, e.value) for e in last}) < 256
    assert PackedEvents(last).events() == last
    assert _traced_bytes(lambda: PackedEvents(last)) < 5 * len(last) + 2000  # + the keys and the object


def test_every_value_comes_back_with_its_very_bits() -> None:
    # 0.0 and -0.0 are equal (one dict key): the values must still come back bit for bit (NaN is refused
    # by SensorEvent, infinities are not).
    at = datetime(2024, 1, 10, 3, tzinfo=UTC)
    values = [1.0, 0.0, -0.0, 0.0, 21.375, -0.0, 5e-324, float("inf"), -float("inf")]
    events = [SensorEvent(at + timedelta(seconds=i), "temp", "kitchen", SensorKind.OTHER, v)
              for i, v in enumerate(values)]
    for some in (events, events[:2] + events[3:5], events[2:3] + events[:2], [e for e in events if e.value != 0.0]):
        back = PackedEvents(some).events()
        assert back == some and [e.value.hex() for e in back] == [e.value.hex() for e in some]


def test_many_distinct_readings_are_numbered_in_more_bytes_and_come_back_equal() -> None:
    at = datetime(2024, 1, 10, 3, tzinfo=UTC)
    events = [SensorEvent(at + timedelta(minutes=i), "temp", "kitchen", SensorKind.OTHER, 18 + i / 64)
              for i in range(2000)] + drawn_events(1)
    packed = PackedEvents(events)
    assert packed.events() == events
    assert _traced_bytes(lambda: PackedEvents(events)) < 10 * len(events) + 2000 * 120  # keys: one tuple a reading
