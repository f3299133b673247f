"""The event-store contract, run against the embedded SQLite store and the memory store."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.components.wiring import open_events as open_source
from hometwin.components.wiring import open_events_sink as open_sink
from hometwin.config import SourceSettings
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.ports import PortError, SensorSink, SensorSource

T0 = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)


def ev(minutes: float, sensor: str = "pir-kitchen", room: str = "kitchen",
       kind: SensorKind = SensorKind.MOTION, value: float = 1.0) -> SensorEvent:
    return SensorEvent(T0 + timedelta(minutes=minutes), sensor, room, kind, value)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteEventStore | MemoryEventStore]:
    if request.param == "sqlite":
        with SQLiteEventStore(tmp_path / "events.sqlite") as s:
            yield s
    else:
        yield MemoryEventStore()


def test_store_implements_both_ports(store: SQLiteEventStore | MemoryEventStore) -> None:
    assert isinstance(store, SensorSource) and isinstance(store, SensorSink)
    assert store.latest() is None and store.read(T0, T0 + timedelta(days=1)) == []


def test_append_is_idempotent_and_reads_are_sorted(store: SQLiteEventStore | MemoryEventStore) -> None:
    events = [ev(m) for m in range(0, 100, 5)] + [ev(7, "door", "hall", SensorKind.DOOR),
                                                  ev(7, "door", "hall", SensorKind.DOOR, 0.0)]
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    assert store.append(shuffled) == len(events)
    assert store.append(events[:5]) == 0  # a repeated batch stores nothing new
    assert store.append([ev(1000), *events]) == 1
    got = store.read(T0, T0 + timedelta(days=1))
    assert [e.time for e in got] == sorted(e.time for e in got)
    assert set(got) == {*events, ev(1000)} and len(got) == len(events) + 1
    door = [e for e in got if e.sensor == "door"]
    assert {(e.room, e.kind, e.value) for e in door} == {("hall", SensorKind.DOOR, 1.0),
                                                          ("hall", SensorKind.DOOR, 0.0)}
    assert store.latest() == ev(1000)


def test_range_is_half_open(store: SQLiteEventStore | MemoryEventStore) -> None:
    store.append([ev(0), ev(10), ev(20)])
    assert store.read(T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)) == [ev(10)]
    assert store.read(T0, T0 + timedelta(minutes=10, microseconds=1)) == [ev(0), ev(10)]
    assert store.read(T0 + timedelta(minutes=21), T0 + timedelta(minutes=30)) == []


def test_times_come_back_aware_utc_to_the_microsecond(store: SQLiteEventStore | MemoryEventStore) -> None:
    berlin = datetime(2024, 3, 31, 3, 0, 0, 123456).astimezone()  # any zone in, UTC out
    event = SensorEvent(berlin, "pir", "bathroom")
    store.append([event])
    (got,) = store.read(event.time, event.time + timedelta(seconds=1))
    assert got.time == event.time and got.time.tzinfo == UTC and got.time.microsecond == 123456


def test_every_microsecond_comes_back_exactly_in_any_year(store: SQLiteEventStore | MemoryEventStore) -> None:
    """Reading turns stored microseconds into times through float seconds where that is exact
    (1970-2100) and through exact arithmetic elsewhere: no time moves by a microsecond."""
    rng = random.Random(7)
    edges = [datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
             datetime(2100, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
             datetime(1900, 6, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(2400, 2, 29, 12, 0, 0, 999999, tzinfo=UTC)]
    times = edges + [datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10 ** 15))
                     for _ in range(5000)]
    events = [SensorEvent(t, f"pir-{i}", "kitchen") for i, t in enumerate(times)]
    store.append(events)
    got = store.read(datetime(1800, 1, 1, tzinfo=UTC), datetime(2500, 1, 1, tzinfo=UTC))
    assert sorted((e.time, e.sensor) for e in got) == sorted((e.time, e.sensor) for e in events)
    assert all(e.time.tzinfo is UTC for e in got)


def test_stream_pages_through_many_events(store: SQLiteEventStore | MemoryEventStore) -> None:
    events = [ev(m / 10) for m in range(45_000)]  # more than two of the SQLite store's pages
    assert store.append(events) == len(events)
    streamed = list(store.stream(T0 + timedelta(minutes=1), T0 + timedelta(minutes=4000)))
    assert streamed == events[10:40_000]


def test_sqlite_store_survives_reopen_and_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "events.sqlite"
    first = SQLiteEventStore(path)
    assert not path.exists()  # nothing is created before the first use
    batches = [[ev(m, f"pir-{i}") for m in range(200)] for i in range(4)]
    threads = [threading.Thread(target=first.append, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first.close()
    with SQLiteEventStore(path) as again:
        assert again.count() == 800
        assert again.append(batches[0]) == 0
        # the key is (time, sensor, value): a re-import under another room does not duplicate...
        assert again.append([ev(5, "pir-0", "hall", SensorKind.CONTACT)]) == 0
        # ...while new readings of a sensor moved to another room keep their own room
        assert again.append([ev(500, "pir-0", "hall", SensorKind.CONTACT)]) == 1
        got = {(e.room, e.kind) for e in again.read(T0, T0 + timedelta(days=1)) if e.sensor == "pir-0"}
        assert got == {("kitchen", SensorKind.MOTION), ("hall", SensorKind.CONTACT)}


def test_release_closes_an_idle_connection_and_the_next_use_reopens_it(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    assert store.release() is False and not store.is_open  # never opened: nothing to close
    store.append([ev(1), ev(2, "door", "hall", SensorKind.DOOR)])
    assert store.is_open and store.release() is True and not store.is_open
    # Another process adds a channel while the connection is closed: the reopen reads it too.
    with SQLiteEventStore(tmp_path / "events.sqlite") as other:
        other.append([ev(3, "bed", "bedroom", SensorKind.PRESSURE)])
    assert [e.sensor for e in store.read(T0, T0 + timedelta(hours=1))] == ["pir-kitchen", "door", "bed"]
    assert store.is_open and store.latest() == ev(3, "bed", "bedroom", SensorKind.PRESSURE)
    assert store.release() is True and store.append([ev(2, "door", "hall", SensorKind.DOOR), ev(4)]) == 1
    store.close()


def test_readers_of_many_homes_share_the_names_and_build_no_writing_maps(tmp_path: Path) -> None:
    # A fleet's monitoring opens every home's store at each check and only reads: equal names of
    # different homes are one string object, and the maps that only `append` needs are not built.
    homes = [SQLiteEventStore(tmp_path / f"home{i}.sqlite") for i in range(2)]
    for home in homes:
        home.append([ev(1), ev(2, "door", "hall", SensorKind.DOOR)])
        home.close()
    read = [home.read(T0, T0 + timedelta(hours=1)) for home in homes]
    assert read[0] == read[1] and all(a.sensor is b.sensor and a.room is b.room for a, b in zip(*read, strict=True))
    assert all(home._by_key == {} and home._nid == {} for home in homes)
    assert homes[0].append([ev(3), ev(4, "door", "hall", SensorKind.DOOR)]) == 2  # the same channels, found
    assert homes[0]._by_key and len({cid for cid, _ in homes[0]._by_key.values()}) == 2
    for home in homes:
        home.close()


def test_release_never_waits_for_a_connection_in_use(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    store.append([ev(1)])
    with store._lock:  # another thread's read holds the store
        assert store.release() is False and store.is_open
    store.close()


def test_failed_append_leaves_store_unchanged(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "e.sqlite")
    store.append([ev(0)])

    def events() -> Iterator[SensorEvent]:
        yield ev(1, "new-sensor")
        raise RuntimeError("input broke midway")

    with pytest.raises(RuntimeError):
        store.append(events())
    assert store.read(T0, T0 + timedelta(hours=1)) == [ev(0)]
    assert store.append([ev(1, "new-sensor")]) == 1  # the rolled-back sensor row is recreated
    assert store.read(T0, T0 + timedelta(hours=1))[1].sensor == "new-sensor"


def test_unusable_path_is_a_port_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PortError, match="cannot open event store"):
        SQLiteEventStore(tmp_path / "file" / "events.sqlite").latest()


def test_open_source_by_url(tmp_path: Path) -> None:
    settings = SourceSettings(data_dir=tmp_path)
    default = open_source("", settings)
    assert isinstance(default, SQLiteEventStore) and default.path == (tmp_path / "events.sqlite").resolve()
    explicit = open_source(f"sqlite://{tmp_path}/x.sqlite", settings)
    assert isinstance(explicit, SQLiteEventStore) and explicit.path == tmp_path / "x.sqlite"
    a, b = open_source("memory://shared", settings), open_sink("memory://shared", settings)
    assert a is b and isinstance(a, MemoryEventStore)
    with pytest.raises(ValueError, match="unknown scheme 'ftp'"):
        open_source("ftp://x", settings)
    with pytest.raises(ValueError, match="absolute path"):
        open_source("sqlite://relative.sqlite", settings)
