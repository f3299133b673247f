"""InfluxDB v2 (the course deployment): a SensorSource that reads with Flux, and a writer.

Course layout (the defaults of `InfluxOptions`; every name is a setting, see `SourceSettings`): one bucket per sensor
(the bucket name is the sensor name), measurement `PIR` / `door` / `MagneticSwitch`, string field
`roomID` with the room, tag `_type = "sensor-value"`, one point per detection.

Every value that comes from configuration or the caller (bucket, time range, measurements, fields)
reaches Flux as a query parameter (`params=`), never pasted into the query text. Tag *keys* cannot
be parameters in Flux, so the `_type` filter and a room tag are applied here, in Python.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hometwin.domain.errors import InvalidEvent
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.ports import PortError

log = logging.getLogger(__name__)

# Static query text; $-free, and every varying value is a parameter.
_READ = """
from(bucket: bucket)
  |> range(start: start, stop: stop)
  |> filter(fn: (r) => contains(value: r._measurement, set: measurements))
  |> filter(fn: (r) => contains(value: r._field, set: fields))
"""
_LAST = _READ + "  |> last()\n"
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_STREAM_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class InfluxOptions:
    """How to reach InfluxDB and how the sensors are laid out in it: explicit values, so this
    adapter needs no settings class (components/wiring.py builds them from `SourceSettings`)."""

    token: str | None = None
    org: str | None = None
    user: str | None = None
    password: str | None = None
    buckets: tuple[str, ...] = ()  # empty: every bucket matching `bucket_pattern`
    bucket_pattern: str = r"^[^_]"  # not InfluxDB's system buckets (_monitoring, _tasks)
    measurements: tuple[str, ...] = ("PIR", "door", "MagneticSwitch")
    kinds: dict[str, str] = field(default_factory=lambda: {"PIR": "motion", "door": "door",
                                                          "MagneticSwitch": "contact"})
    room_field: str = "roomID"
    room_tag: str = ""
    value_field: str = ""
    type_tag: str = "_type"
    type_value: str = "sensor-value"
    write_bucket: str = "{sensor}"
    verify_ssl: bool = True
    ca_file: Path | None = None
    timeout_seconds: float = 30.0
    retries: int = 3


def _client(url: str, settings: InfluxOptions) -> Any:
    from influxdb_client import InfluxDBClient
    from urllib3.util.retry import Retry

    retries = Retry(total=settings.retries, backoff_factor=0.5, allowed_methods=None,
                    status_forcelist=(429, 500, 502, 503, 504), raise_on_status=False)
    auth: dict[str, Any] = {}
    token = settings.token
    if token:
        auth["token"] = token
    elif settings.user:
        auth.update(username=settings.user, password=settings.password or "")
    if settings.org:
        auth["org"] = settings.org
    return InfluxDBClient(url=url, timeout=int(settings.timeout_seconds * 1000),
                          verify_ssl=settings.verify_ssl, retries=retries,
                          ssl_ca_cert=str(settings.ca_file) if settings.ca_file else None,
                          **auth)


def _port_error(action: str, url: str, exc: Exception) -> PortError:
    status = getattr(exc, "status", None)
    detail = f"HTTP {status}" if status else type(exc).__name__
    return PortError(f"InfluxDB {url}: {action} failed ({detail}: {str(exc).splitlines()[0][:200]})")


class _Connected:
    """Lazy, thread-safe client shared by the reader and the writer."""

    def __init__(self, url: str, settings: InfluxOptions) -> None:
        self.url = url
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _client(self.url, self.settings)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class InfluxSource(_Connected):
    """Reads sensor events from InfluxDB v2 with Flux; the sensor name is the bucket name."""

    def __init__(self, url: str, settings: InfluxOptions | None = None) -> None:
        super().__init__(url, settings or InfluxOptions())
        self.skipped = 0  # points without a room (counted and logged, never silently dropped)

    def buckets(self) -> list[str]:
        listed = list(self.settings.buckets)
        if listed:
            return listed
        pattern = re.compile(self.settings.bucket_pattern)
        try:
            api = self.client().buckets_api()
            names: list[str] = []
            offset = 0
            while True:
                page = api.find_buckets(limit=100, offset=offset).buckets or []
                names += [b.name for b in page]
                if len(page) < 100:
                    break
                offset += len(page)
        except Exception as exc:  # noqa: BLE001 - client raises many types; reported as PortError
            raise _port_error("listing buckets", self.url, exc) from exc
        return sorted(n for n in names if pattern.search(n))

    def _fields(self) -> list[str]:
        s = self.settings
        fields = [] if s.room_tag else [s.room_field]
        if s.value_field:
            fields.append(s.value_field)
        return fields or ["value"]

    def _query(self, query: str, bucket: str, start: datetime, stop: datetime) -> list[SensorEvent]:
        params = {"bucket": bucket, "start": start, "stop": stop,
                  "measurements": list(self.settings.measurements), "fields": self._fields()}
        try:
            tables = self.client().query_api().query(query, org=self.settings.org, params=params)
        except Exception as exc:  # noqa: BLE001
            raise _port_error(f"query of bucket {bucket!r}", self.url, exc) from exc
        return self._events(bucket, (record for table in tables for record in table.records))

    def _events(self, bucket: str, records: Iterable[Any]) -> list[SensorEvent]:
        s = self.settings
        kinds = s.kinds
        points: dict[tuple[datetime, str], dict[str, Any]] = {}
        for record in records:
            values = record.values
            if s.type_tag and values.get(s.type_tag) != s.type_value:
                continue
            point = points.setdefault((record.get_time(), record.get_measurement()), {})
            point[record.get_field()] = record.get_value()
            if s.room_tag:
                point.setdefault("\0room", values.get(s.room_tag))
        events = []
        for (when, measurement), fields in points.items():
            room = fields.get("\0room") if s.room_tag else fields.get(s.room_field)
            value = fields.get(s.value_field, 1.0) if s.value_field else 1.0
            try:
                kind = SensorKind(kinds.get(measurement, "other"))
                events.append(SensorEvent(when, bucket, str(room or ""), kind, float(value)))
            except (InvalidEvent, ValueError, TypeError) as exc:
                self.skipped += 1
                log.warning("skipping point of bucket %r at %s: %s", bucket, when, exc)
        events.sort(key=lambda e: e.time)
        return events

    def read(self, start: datetime, end: datetime) -> list[SensorEvent]:
        if end <= start:
            return []
        per_bucket = [self._query(_READ, b, start, end) for b in self.buckets()]
        return list(heapq.merge(*per_bucket, key=lambda e: e.time))

    def stream(self, start: datetime, end: datetime) -> Iterator[SensorEvent]:
        t = start
        while t < end:
            upper = min(t + _STREAM_WINDOW, end)
            yield from self.read(t, upper)
            t = upper

    def latest(self) -> SensorEvent | None:
        now = datetime.now(UTC) + timedelta(days=1)  # a bound for Flux, not a clock reading for the domain
        newest: SensorEvent | None = None
        for bucket in self.buckets():
            events = self._query(_LAST, bucket, _BEGINNING, now)
            if events and (newest is None or events[-1].time > newest.time):
                newest = events[-1]
        return newest


class InfluxWriter(_Connected):
    """Writes SensorEvents in the configured layout (a SensorSink). InfluxDB overwrites a point with
    the same series and time, so writing the same events again changes nothing; `append` returns
    how many points were written (InfluxDB cannot tell which were new)."""

    def __init__(self, url: str, settings: InfluxOptions | None = None) -> None:
        super().__init__(url, settings or InfluxOptions())

    def _measurement(self, kind: SensorKind) -> str:
        for measurement, k in self.settings.kinds.items():
            if k == kind.value:
                return measurement
        return kind.value

    def points(self, events: Iterable[SensorEvent]) -> dict[str, list[Any]]:
        from influxdb_client import Point, WritePrecision

        s = self.settings
        by_bucket: dict[str, list[Any]] = {}
        for event in events:
            point = Point(self._measurement(event.kind))
            if s.type_tag:
                point.tag(s.type_tag, s.type_value)
            if s.room_tag:
                point.tag(s.room_tag, event.room)
            else:
                point.field(s.room_field, event.room)
            point.field(s.value_field or "value", event.value)
            point.time(event.time, write_precision=WritePrecision.US)
            bucket = s.write_bucket.replace("{sensor}", event.sensor).replace("{room}", event.room)
            by_bucket.setdefault(bucket, []).append(point)
        return by_bucket

    def append(self, events: Iterable[SensorEvent]) -> int:
        from influxdb_client.client.write_api import SYNCHRONOUS

        written = 0
        api = self.client().write_api(write_options=SYNCHRONOUS)
        for bucket, points in self.points(events).items():
            for i in range(0, len(points), 5000):
                chunk = points[i:i + 5000]
                try:
                    api.write(bucket=bucket, org=self.settings.org or "-", record=chunk)
                except Exception as exc:  # noqa: BLE001
                    raise _port_error(f"write to bucket {bucket!r}", self.url, exc) from exc
                written += len(chunk)
        return written
