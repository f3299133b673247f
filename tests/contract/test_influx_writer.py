"""The InfluxDB writer against a real VictoriaMetrics server (it accepts the InfluxDB v2 write API).

VictoriaMetrics keeps numeric fields only (string fields such as `roomID` are stored as 0) and has no
buckets, so the checks read the numeric `value` field, the tags, and the timestamps back through
VictoriaMetrics' own export API; the room is checked in the layout that carries it as a tag.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hometwin.components.wiring import open_events_sink as open_sink
from hometwin.config import SourceSettings
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.ports import PortError
from hometwin.sim import simulate
from tests.servers import VictoriaServer, free_port


def exported(server: VictoriaServer, match: str) -> list[dict[str, Any]]:
    server.flush()
    response = httpx.get(f"{server.url}/api/v1/export", params={"match[]": match}, timeout=10)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_writes_sensor_events_in_the_course_layout(victoria_server: VictoriaServer) -> None:
    result = simulate(1, seed=21, start=datetime(2024, 5, 6, tzinfo=UTC))
    events = result.events[:400]
    settings = SourceSettings(influxdb_org="wise2025", influxdb_token="t", influxdb_room_tag="room",
                              influxdb_type_value="sim-21")
    sink = open_sink(victoria_server.url, settings)
    assert sink.append(events) == len(events)
    series = exported(victoria_server, '{_type="sim-21"}')
    by_metric_room: dict[tuple[str, str], list[int]] = {}
    for s in series:
        metric = s["metric"]
        assert metric["_type"] == "sim-21"
        by_metric_room.setdefault((metric["__name__"], metric["room"]), []).extend(s["timestamps"])
    expected: dict[tuple[str, str], list[int]] = {}
    names = {SensorKind.MOTION: "PIR", SensorKind.DOOR: "door", SensorKind.CONTACT: "MagneticSwitch"}
    for e in events:
        key = (f"{names[e.kind]}_value", e.room)
        expected.setdefault(key, []).append(int(e.time.timestamp() * 1000))
    assert {k: sorted(v) for k, v in by_metric_room.items()} == {k: sorted(v) for k, v in expected.items()}
    door_values = Counter(v for s in series if s["metric"]["__name__"] == "door_value" for v in s["values"])
    assert door_values == Counter(e.value for e in events if e.kind is SensorKind.DOOR)


def test_default_layout_writes_room_field_and_type_tag(victoria_server: VictoriaServer) -> None:
    t0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
    events = [SensorEvent(t0 + timedelta(seconds=15 * i), "ws_pi_kitchen", "kitchen") for i in range(5)]
    sink = open_sink(f"influxdb://{victoria_server.url.removeprefix('http://')}",
                     SourceSettings(influxdb_org="o", influxdb_token="t", influxdb_type_value="default-layout"))
    assert sink.append(events) == 5
    series = {s["metric"]["__name__"]: s for s in exported(victoria_server, '{_type="default-layout"}')}
    assert set(series) == {"PIR_value", "PIR_roomID"}  # roomID arrives as a (string) field
    assert series["PIR_value"]["values"] == [1] * 5
    assert series["PIR_value"]["timestamps"] == [int(e.time.timestamp() * 1000) for e in events]


def test_unreachable_server_is_a_port_error() -> None:
    sink = open_sink(f"http://127.0.0.1:{free_port()}", SourceSettings(influxdb_retries=0,
                                                                        influxdb_timeout_seconds=2))
    with pytest.raises(PortError, match="write to bucket 'pir'"):
        sink.append([SensorEvent(datetime(2024, 1, 1, tzinfo=UTC), "pir", "kitchen")])
