"""The ingest's durable buffer (adapters/ingest_buffer.py) on a real SQLite file: FIFO, bounded,
survives a reopen, remembers receive times for redelivered copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hometwin.adapters.ingest_buffer import BufferFull, IngestBuffer, Receipt, digest
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.ports import PortError

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def events(n: int, start: int = 0) -> list[tuple[SensorEvent, str]]:
    return [(SensorEvent(T0 + timedelta(seconds=i), "pir", "kitchen", SensorKind.MOTION, 1.0), "payload")
            for i in range(start, start + n)]


def test_fifo_survives_reopen_and_removal_is_up_to_an_id(tmp_path: Path) -> None:
    buffer = IngestBuffer(tmp_path / "b.sqlite").open()
    buffer.put(events(5))
    buffer.close()
    buffer = IngestBuffer(tmp_path / "b.sqlite").open()
    assert buffer.depth == 5
    rows = buffer.peek(3)
    assert [r.event.time for r in rows] == [T0 + timedelta(seconds=i) for i in range(3)]
    assert rows[0].time_source == "payload" and rows[0].event == events(1)[0][0]
    buffer.remove(rows[-1].id)
    assert buffer.depth == 2 and [r.event.time.second for r in buffer.peek(10)] == [3, 4]
    buffer.close()


def test_a_batch_past_the_limit_is_refused_whole(tmp_path: Path) -> None:
    buffer = IngestBuffer(tmp_path / "b.sqlite", limit=10).open()
    buffer.put(events(8))
    with pytest.raises(BufferFull, match="holds 8 events"):
        buffer.put(events(3, start=8))
    assert buffer.depth == 8
    buffer.put(events(2, start=8))
    assert buffer.depth == 10
    buffer.close()


def test_receipts_give_a_redelivered_copy_the_same_time_for_a_day(tmp_path: Path) -> None:
    buffer = IngestBuffer(tmp_path / "b.sqlite").open()
    key = digest(b"on")
    buffer.put([], [Receipt("ha/binary_sensor/x/state", key, T0)])
    assert buffer.receipt("ha/binary_sensor/x/state", key) == T0
    assert buffer.receipt("ha/binary_sensor/x/state", digest(b"off")) is None
    buffer.remove(0, now=T0 + timedelta(hours=23))
    assert buffer.receipt("ha/binary_sensor/x/state", key) == T0
    buffer.remove(0, now=T0 + timedelta(hours=25))
    assert buffer.receipt("ha/binary_sensor/x/state", key) is None
    buffer.close()


def test_an_unusable_path_is_a_port_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PortError, match="cannot open the ingest buffer"):
        IngestBuffer(tmp_path / "file" / "b.sqlite").open()
