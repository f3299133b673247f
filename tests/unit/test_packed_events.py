"""The monitoring's copy of the last events (domain/packed_events.py): the same events, in less memory."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.packed_events import PackedEvents
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
    def traced(build):  # type: ignore[no-untyped-def]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = build()
            size = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        del kept
        return size

    events = drawn_events(2)
    packed = traced(lambda: PackedEvents(events))
    # The copies a store's read hands over: a datetime and a float object per event besides the event.
    copies = traced(lambda: [SensorEvent.trusted(e.time + timedelta(0), e.sensor, e.room, e.kind, e.value + 0.0)
                             for e in events])
    assert packed < copies / 4, (packed, copies)
    assert packed < 28 * len(events)  # 20 bytes an event plus the arrays' headers


def test_every_microsecond_of_a_second_comes_back_exactly() -> None:
    # Float seconds since the epoch: exact to the microsecond up to the year 2106.
    base = [datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), datetime(2105, 12, 31, 23, 59, 59, tzinfo=UTC)]
    events = [SensorEvent(b + timedelta(microseconds=us), "pir", "hall") for b in base for us in range(0, 10**6, 7)]
    assert PackedEvents(events).events() == events
