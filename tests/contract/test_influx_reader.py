"""The Flux reader against InfluxDB's documented annotated-CSV responses, served over real HTTP.

FAKE, and why: no InfluxDB 2 server is installable on this machine (no Docker engine, no package), and
VictoriaMetrics, which we use for the write API, does not answer Flux. So a tiny local HTTP server
speaks the two endpoints the reader uses - `POST /api/v2/query` (answering in the annotated CSV
format documented at https://docs.influxdata.com/influxdb/v2/reference/syntax/annotated-csv/) and
`GET /api/v2/buckets` - and it evaluates the query's *parameters* (bucket, range, measurements,
fields) itself. It also records each request, so the tests can check that no user value was pasted
into the Flux text. The real influxdb-client does everything else (HTTP, CSV parsing, params AST).
An opt-in test against a real InfluxDB 2.x is in test_influx_real.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hometwin.adapters.influx import InfluxSource
from hometwin.components.wiring import influx_options
from hometwin.components.wiring import open_events as open_source
from hometwin.config import SourceSettings
from hometwin.domain.events import SensorKind
from hometwin.ports import PortError

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


@dataclass
class FakePoint:
    bucket: str
    time: datetime
    measurement: str
    field: str
    value: str | float
    tags: dict[str, str] = field(default_factory=lambda: {"_type": "sensor-value"})


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def param_value(node: dict[str, Any]) -> Any:
    kind = node["type"]
    if kind == "ArrayExpression":
        return [param_value(e) for e in node["elements"]]
    if kind == "DateTimeLiteral":
        return datetime.fromisoformat(node["value"].replace("Z", "+00:00"))
    return node["value"]


def annotated_csv(points: list[FakePoint], start: datetime, stop: datetime) -> str:
    """One table per series, each with its #datatype/#group/#default annotations (as InfluxDB does)."""
    series: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[FakePoint]] = {}
    for p in points:
        series.setdefault((p.measurement, p.field, tuple(sorted(p.tags.items()))), []).append(p)
    blocks = []
    for table, ((measurement, fld, tags), rows) in enumerate(sorted(series.items())):
        tag_names = [k for k, _ in tags]
        value_type = "string" if isinstance(rows[0].value, str) else "double"
        lines = [
            "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,"
            f"{value_type},string,string" + ",string" * len(tag_names),
            "#group,false,false,true,true,false,false,true,true" + ",true" * len(tag_names),
            "#default,_result,,,,,,,," + "," * len(tag_names),
            ",result,table,_start,_stop,_time,_value,_field,_measurement" + "".join(f",{t}" for t in tag_names),
        ]
        for p in sorted(rows, key=lambda r: r.time):
            lines.append(f",,{table},{rfc3339(start)},{rfc3339(stop)},{rfc3339(p.time)},{p.value},{fld},"
                         f"{measurement}" + "".join(f",{v}" for _, v in tags))
        blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks) + "\r\n"


class FakeInflux:
    def __init__(self, points: list[FakePoint], token: str = "secret-token") -> None:
        self.points = points
        self.token = token
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: str, content_type: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Token {fake.token}":
                    self._reply(401, json.dumps({"code": "unauthorized", "message": "unauthorized access"}),
                                "application/json")
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                names = sorted({p.bucket for p in fake.points} | {"_monitoring", "_tasks"})
                buckets = [{"id": f"{i:016x}", "orgID": "0000000000000001", "name": n, "type": "user",
                            "retentionRules": []} for i, n in enumerate(names)]
                self._reply(200, json.dumps({"links": {"self": "/api/v2/buckets?limit=100"}, "buckets": buckets}),
                            "application/json")

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorised():
                    return
                if fake.fail_next:
                    fake.fail_next -= 1
                    self._reply(503, json.dumps({"code": "unavailable", "message": "try later"}),
                                "application/json")
                    return
                params = {s["assignment"]["id"]["name"]: param_value(s["assignment"]["init"])
                          for s in body.get("extern", {}).get("body", [])}
                fake.requests.append({"query": body["query"], "params": params})
                rows = [p for p in fake.points
                        if p.bucket == params["bucket"] and params["start"] <= p.time < params["stop"]
                        and p.measurement in params["measurements"] and p.field in params["fields"]]
                if "last()" in body["query"]:
                    newest: dict[tuple[str, str], FakePoint] = {}
                    for p in rows:
                        key = (p.measurement, p.field)
                        if key not in newest or p.time > newest[key].time:
                            newest[key] = p
                    rows = list(newest.values())
                self._reply(200, annotated_csv(rows, params["start"], params["stop"]), "text/csv; charset=utf-8")

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def course_points() -> list[FakePoint]:
    """Three sensors in the course layout; one point of another `_type`, one of another measurement."""
    points = []
    for i in range(6):
        points.append(FakePoint("ws_pi1_kitchen", T0 + timedelta(seconds=15 * i), "PIR", "roomID", "kitchen"))
    for i in range(3):
        points.append(FakePoint("ws_pi1_bath", T0 + timedelta(seconds=40 + 20 * i), "PIR", "roomID", "bathroom"))
    points.append(FakePoint("ws_pi2_door", T0 + timedelta(seconds=50), "door", "roomID", "hall"))
    points.append(FakePoint("ws_pi1_kitchen", T0 + timedelta(seconds=7), "PIR", "roomID", "kitchen",
                            {"_type": "battery"}))
    points.append(FakePoint("ws_pi1_kitchen", T0 + timedelta(seconds=8), "air", "roomID", "kitchen"))
    return points


@pytest.fixture
def fake() -> Iterator[FakeInflux]:
    server = FakeInflux(course_points())
    yield server
    server.close()


def settings(**overrides: Any) -> SourceSettings:
    values: dict[str, Any] = {"influxdb_token": "secret-token", "influxdb_org": "wise2025",
                              "influxdb_retries": 2, "influxdb_timeout_seconds": 5}
    values.update(overrides)
    return SourceSettings(**values)


def test_reads_course_layout_merged_in_time_order(fake: FakeInflux) -> None:
    source = open_source(fake.url, settings())
    assert isinstance(source, InfluxSource)
    assert source.buckets() == ["ws_pi1_bath", "ws_pi1_kitchen", "ws_pi2_door"]  # system buckets left out
    events = source.read(T0, T0 + timedelta(minutes=5))
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert len(events) == 10  # the battery-typed point and the `air` measurement are not sensor events
    assert {(e.sensor, e.room, e.kind) for e in events} == {
        ("ws_pi1_kitchen", "kitchen", SensorKind.MOTION), ("ws_pi1_bath", "bathroom", SensorKind.MOTION),
        ("ws_pi2_door", "hall", SensorKind.DOOR)}
    assert events[0].time == T0 and all(e.value == 1.0 for e in events)
    assert list(source.stream(T0, T0 + timedelta(days=2))) == events
    assert source.read(T0 + timedelta(seconds=30), T0 + timedelta(seconds=45))[0].time == T0 + timedelta(seconds=30)


def test_latest_event(fake: FakeInflux) -> None:
    latest = open_source(fake.url, settings()).latest()
    assert latest is not None and (latest.sensor, latest.time) == ("ws_pi1_bath", T0 + timedelta(seconds=80))


def test_user_values_travel_as_parameters_never_in_the_query_text(fake: FakeInflux) -> None:
    hostile = 'ws_pi1_kitchen") |> drop() //'
    fake.points.append(FakePoint(hostile, T0, "PIR", "roomID", "attic"))
    source = open_source(f"influxdb://{fake.url.removeprefix('http://')}",
                         settings(influxdb_buckets=f"{hostile},ws_pi2_door"))
    events = source.read(T0, T0 + timedelta(minutes=5))
    assert {e.sensor for e in events} == {hostile, "ws_pi2_door"}
    for request in fake.requests:
        assert "ws_pi" not in request["query"] and "2025" not in request["query"] and "PIR" not in request["query"]
    assert {r["params"]["bucket"] for r in fake.requests} == {hostile, "ws_pi2_door"}
    assert fake.requests[0]["params"]["measurements"] == ["PIR", "door", "MagneticSwitch"]


def test_room_from_a_tag_and_a_value_field(fake: FakeInflux) -> None:
    fake.points[:] = [
        FakePoint("bed", T0, "pressure", "state", 1.0, {"_type": "sensor-value", "room": "bedroom"}),
        FakePoint("bed", T0 + timedelta(hours=8), "pressure", "state", 0.0,
                  {"_type": "sensor-value", "room": "bedroom"}),
    ]
    source = open_source(fake.url, settings(influxdb_room_tag="room", influxdb_value_field="state",
                                            influxdb_measurements="pressure", influxdb_kinds="pressure=pressure"))
    events = source.read(T0, T0 + timedelta(days=1))
    assert [(e.room, e.kind, e.value) for e in events] == [
        ("bedroom", SensorKind.PRESSURE, 1.0), ("bedroom", SensorKind.PRESSURE, 0.0)]


def test_points_without_room_are_counted_not_silently_lost(fake: FakeInflux) -> None:
    fake.points.append(FakePoint("ws_pi2_door", T0 + timedelta(seconds=90), "door", "other", 1.0))
    source = InfluxSource(fake.url, influx_options(settings(influxdb_value_field="other")))
    events = source.read(T0, T0 + timedelta(minutes=5))
    assert len(events) == 10 and source.skipped == 1


def test_retries_server_errors_with_backoff(fake: FakeInflux) -> None:
    fake.fail_next = 2
    events = open_source(fake.url, settings(influxdb_retries=3)).read(T0, T0 + timedelta(minutes=5))
    assert len(events) == 10 and fake.fail_next == 0


def test_errors_become_port_errors_naming_the_cause(fake: FakeInflux) -> None:
    with pytest.raises(PortError, match="HTTP 401"):
        open_source(fake.url, settings(influxdb_token="wrong")).read(T0, T0 + timedelta(minutes=5))
    fake.fail_next = 10
    with pytest.raises(PortError, match="query of bucket"):
        open_source(fake.url, settings(influxdb_retries=1, influxdb_buckets="ws_pi2_door")).read(
            T0, T0 + timedelta(minutes=5))
    fake.close()
    with pytest.raises(PortError, match="listing buckets"):
        open_source(fake.url, settings(influxdb_retries=0)).latest()


def test_tls_verification_is_on_unless_switched_off() -> None:
    assert SourceSettings().influxdb_verify_ssl is True
    source = InfluxSource("https://127.0.0.1:1", influx_options(settings()))
    assert source.client().api_client.configuration.verify_ssl is True
    off = InfluxSource("https://127.0.0.1:1", influx_options(settings(influxdb_verify_ssl=False)))
    assert off.client().api_client.configuration.verify_ssl is False
