"""Opt-in: the reader and writer against a real InfluxDB 2.x (set HOMETWIN_TEST_INFLUX_URL, and
HOMETWIN_TEST_INFLUX_TOKEN / _ORG / _BUCKET for a writable bucket; e.g. `docker run influxdb:2`)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hometwin.adapters.influx import InfluxSource, InfluxWriter
from hometwin.components.wiring import influx_options
from hometwin.config import SourceSettings
from hometwin.domain.events import SensorEvent, SensorKind

URL = os.environ.get("HOMETWIN_TEST_INFLUX_URL")
pytestmark = pytest.mark.skipif(
    not URL, reason="no real InfluxDB 2.x here: set HOMETWIN_TEST_INFLUX_URL (+ _TOKEN, _ORG, _BUCKET) to run")


def test_round_trip_against_real_influxdb() -> None:
    assert URL is not None
    bucket = os.environ.get("HOMETWIN_TEST_INFLUX_BUCKET", "hometwin-test")
    run = uuid.uuid4().hex[:8]
    settings = SourceSettings(influxdb_token=os.environ.get("HOMETWIN_TEST_INFLUX_TOKEN"),
                              influxdb_org=os.environ.get("HOMETWIN_TEST_INFLUX_ORG"),
                              influxdb_buckets=bucket, influxdb_write_bucket=bucket,
                              influxdb_type_value=f"test-{run}")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = [SensorEvent(t0 + timedelta(seconds=15 * i), bucket, "kitchen") for i in range(4)]
    events.append(SensorEvent(t0 + timedelta(minutes=2), bucket, "hall", SensorKind.DOOR))
    assert InfluxWriter(URL, influx_options(settings)).append(events) == 5
    got = InfluxSource(URL, influx_options(settings)).read(t0, t0 + timedelta(minutes=5))
    assert [(e.time, e.room, e.kind) for e in got] == [(e.time, e.room, e.kind) for e in events]
    latest = InfluxSource(URL, influx_options(settings)).latest()
    assert latest is not None and latest.time >= events[-1].time
