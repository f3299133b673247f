"""The MQTT ingest against a real mosquitto broker: messages published the way Zigbee2MQTT and Home
Assistant's statestream publish them end up as events in the store, and nothing is lost or doubled
when the broker restarts, the ingest restarts, the store is down, or the broker redelivers."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.components.wiring import build_ingest
from hometwin.config import IngestSettings, SourceSettings
from hometwin.domain.events import SensorKind
from hometwin.launcher import ChildProcess, wait_healthy
from hometwin.services.ingest import IngestService
from tests.servers import MosquittoServer, free_port, wait_until

T0 = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
EARLY, LATE = T0 - timedelta(days=1), T0 + timedelta(days=3650)

MAPPING = """\
sensors:
  - topic: zigbee2mqtt/Kitchen motion
    room: kitchen
    kind: motion
  - topic: zigbee2mqtt/Front door
    room: hallway
    kind: door
  - topic: ha/binary_sensor/bathroom_motion/state
    room: bathroom
    kind: motion
  - topic: house/bedroom/pir
    room: bedroom
    kind: motion
    value: motion.detected
    time: ts
"""


class Publisher:
    """Publishes like a device bridge: QoS 1, waiting for the broker's PUBACK."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{free_port()}",
                                  protocol=mqtt.MQTTv5)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        info = self.client.publish(topic, data, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"broker did not acknowledge {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto_server: MosquittoServer) -> Iterator[Publisher]:
    pub = Publisher(mosquitto_server)
    yield pub
    pub.close()


def z2m(occupancy: bool, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"battery": 97, "linkquality": 120, "occupancy": occupancy, "last_seen": when.isoformat(), **extra}


def at(**delta: float) -> str:
    return (T0 + timedelta(**delta)).isoformat()


def make_ingest(tmp_path: Path, broker: MosquittoServer, client_id: str, events: str = "",
                sources: SourceSettings | None = None) -> IngestService:
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    settings = IngestSettings(mqtt_url=broker.url, mqtt_client_id=client_id, ingest_mapping=tmp_path / "mapping.yaml",
                              mqtt_statestream_base="ha", ingest_buffer=tmp_path / "buffer.sqlite",
                              data_dir=tmp_path)
    return build_ingest(settings, sources or SourceSettings(data_dir=tmp_path),
                        events_url=events or f"sqlite:///{tmp_path / 'events.sqlite'}")


def started(service: IngestService) -> IngestService:
    service.start()
    wait_until(lambda: service.connected, 15, what="ingest connected")
    wait_until(lambda: service.subscriber.client.is_connected(), 5, what="subscribed")
    return service


def store_events(tmp_path: Path) -> list[Any]:
    with SQLiteEventStore(tmp_path / "events.sqlite") as store:
        return store.read(EARLY, LATE)


def wait_stored(tmp_path: Path, n: int, timeout: float = 20) -> list[Any]:
    wait_until(lambda: len(store_events(tmp_path)) >= n, timeout, what=f"{n} events in the store")
    return store_events(tmp_path)


def test_zigbee2mqtt_and_statestream_messages_become_events(tmp_path: Path, mosquitto_server: MosquittoServer,
                                                            publisher: Publisher) -> None:
    service = started(make_ingest(tmp_path, mosquitto_server, "t-conventions"))
    try:
        publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0))
        publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(seconds=40)))  # re-trigger
        publisher.publish("zigbee2mqtt/Front door", {"contact": False, "last_seen": at(minutes=1)})
        # Zigbee2MQTT republishes the whole state on a battery report: the unchanged contact is no event.
        publisher.publish("zigbee2mqtt/Front door", {"contact": False, "battery": 90, "last_seen": at(minutes=2)})
        publisher.publish("zigbee2mqtt/Front door", {"contact": True, "last_seen": at(minutes=3)})
        unix = (T0 + timedelta(minutes=5)).timestamp()
        publisher.publish("house/bedroom/pir", {"motion": {"detected": 1}, "ts": unix})
        before = datetime.now(UTC)
        publisher.publish("ha/binary_sensor/bathroom_motion/state", "on")
        publisher.publish("zigbee2mqtt/bridge/state", {"state": "online"})
        publisher.publish("zigbee2mqtt/Hallway plug", {"state": "ON"})
        publisher.publish("zigbee2mqtt/Hallway plug", {"state": "OFF"})
        events = wait_stored(tmp_path, 6)
        after = datetime.now(UTC)
        wait_until(lambda: service.counts.get("unknown") == 2, 5, what="unknown topics counted")
    finally:
        service.stop()
    past = [(e.time, e.sensor, e.room, e.kind, e.value) for e in events if e.time < before - timedelta(hours=1)]
    assert past == [
        (T0, "Kitchen motion", "kitchen", SensorKind.MOTION, 1.0),
        (T0 + timedelta(seconds=40), "Kitchen motion", "kitchen", SensorKind.MOTION, 1.0),
        (T0 + timedelta(minutes=1), "Front door", "hallway", SensorKind.DOOR, 1.0),  # contact false: open
        (T0 + timedelta(minutes=3), "Front door", "hallway", SensorKind.DOOR, 0.0),
        (T0 + timedelta(minutes=5), "house_bedroom_pir", "bedroom", SensorKind.MOTION, 1.0),
    ]
    live = [e for e in events if e.time >= before - timedelta(hours=1)]
    assert [(e.sensor, e.room, e.value) for e in live] == [("bathroom_motion", "bathroom", 1.0)]
    assert before <= live[0].time <= after  # statestream carries no time: the receive time
    assert service.counts["ignored"] == 1 and service.counts["unchanged"] == 1
    assert service.metrics.registry.get_sample_value("hometwin_ingest_messages_total", {"outcome": "unknown"}) == 2
    assert service.metrics.registry.get_sample_value("hometwin_ingest_events_total", {"time_source": "payload"}) == 5


def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path, mosquitto_server: MosquittoServer) -> None:
    service = started(make_ingest(tmp_path, mosquitto_server, "t-broker-restart"))
    try:
        pub = Publisher(mosquitto_server)
        for i in range(50):
            pub.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(seconds=i)))
        pub.close()
        mosquitto_server.restart()
        # Published before the ingest is back: the broker queues them in its persisted session.
        pub = Publisher(mosquitto_server)
        for i in range(50, 100):
            pub.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(seconds=i)))
        pub.close()
        events = wait_stored(tmp_path, 100, timeout=40)
    finally:
        service.stop()
    assert [e.time for e in events] == [T0 + timedelta(seconds=i) for i in range(100)]


def test_messages_published_while_the_ingest_is_away_arrive(tmp_path: Path, mosquitto_server: MosquittoServer,
                                                            publisher: Publisher) -> None:
    started(make_ingest(tmp_path, mosquitto_server, "t-away")).stop()  # the session exists now
    for i in range(20):
        publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(minutes=i)))
    service = started(make_ingest(tmp_path, mosquitto_server, "t-away"))
    try:
        events = wait_stored(tmp_path, 20)
    finally:
        service.stop()
    assert [e.time for e in events] == [T0 + timedelta(minutes=i) for i in range(20)]


def test_store_outage_is_buffered_on_disk_and_written_when_back(tmp_path: Path, mosquitto_server: MosquittoServer,
                                                                publisher: Publisher) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store's folder should be: the store cannot open")
    service = started(make_ingest(tmp_path, mosquitto_server, "t-outage",
                                  events=f"sqlite:///{blocker / 'events.sqlite'}"))
    try:
        for i in range(30):
            publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(seconds=i)))
        wait_until(lambda: service.buffer.depth == 30 and service.store_error, 15, what="30 events buffered")
        assert "cannot open event store" in service.status().store_error
        assert service.metrics.registry.get_sample_value("hometwin_ingest_buffer_events") == 30
        blocker.unlink()  # the store is back
        wait_until(lambda: service.buffer.depth == 0, 40, what="buffer drained")
    finally:
        service.stop()
    with SQLiteEventStore(blocker / "events.sqlite") as store:
        assert [e.time for e in store.read(EARLY, LATE)] == [T0 + timedelta(seconds=i) for i in range(30)]
    assert service.status().store_error == ""


def test_buffer_survives_an_ingest_restart_during_a_store_outage(tmp_path: Path, mosquitto_server: MosquittoServer,
                                                                 publisher: Publisher) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    url = f"sqlite:///{blocker / 'events.sqlite'}"
    service = started(make_ingest(tmp_path, mosquitto_server, "t-outage-restart", events=url))
    for i in range(10):
        publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(seconds=i)))
    wait_until(lambda: service.buffer.depth == 10, 15, what="10 events buffered")
    service.stop()  # the messages were acknowledged: only the buffer file holds them now
    blocker.unlink()
    service = started(make_ingest(tmp_path, mosquitto_server, "t-outage-restart", events=url))
    try:
        wait_until(lambda: service.buffer.depth == 0, 20, what="buffer drained")
    finally:
        service.stop()
    with SQLiteEventStore(blocker / "events.sqlite") as store:
        assert len(store.read(EARLY, LATE)) == 10


def test_redelivered_messages_are_stored_once(tmp_path: Path, mosquitto_server: MosquittoServer,
                                              publisher: Publisher) -> None:
    first = make_ingest(tmp_path, mosquitto_server, "t-redelivery")
    # The seam: this ingest's acknowledgements never reach the broker, as when the connection drops
    # between buffering a message and acknowledging it. The broker must send everything again.
    first.subscriber.ack = lambda delivery: False
    started(first)
    publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0))
    publisher.publish("zigbee2mqtt/Kitchen motion", z2m(False, T0 + timedelta(seconds=90)))
    publisher.publish("ha/binary_sensor/bathroom_motion/state", "on")  # no time: the receive time
    publisher.publish("ha/binary_sensor/bathroom_motion/state", "off")
    stored = wait_stored(tmp_path, 4)
    first.stop()
    second = started(make_ingest(tmp_path, mosquitto_server, "t-redelivery"))
    try:
        wait_until(lambda: second.metrics.registry.get_sample_value("hometwin_ingest_redelivered_total") == 4,
                   15, what="4 redeliveries")
        wait_until(lambda: second.buffer.depth == 0 and second.counts.get("stored") == 4, 15, what="flushed")
    finally:
        second.stop()
    assert store_events(tmp_path) == stored


@pytest.mark.slow
def test_influxdb_write_path_with_an_outage(tmp_path: Path, mosquitto_server: MosquittoServer,
                                            publisher: Publisher) -> None:
    from tests.servers import ServerProcess, start_victoria, victoria_binary, wait_http

    if victoria_binary() is None:
        pytest.skip("victoria-metrics is not installed (Debian package; `make test` installs it)")
    victoria = start_victoria(tmp_path / "vm")
    try:
        sources = SourceSettings(influxdb_org="o", influxdb_token="t", influxdb_type_value="mqtt-ingest",
                                 influxdb_retries=0, influxdb_timeout_seconds=2)
        service = started(make_ingest(tmp_path, mosquitto_server, "t-influx", events=victoria.url, sources=sources))
        victoria.process.stop()
        for i in range(20):
            publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0 + timedelta(seconds=i)))
        wait_until(lambda: service.buffer.depth == 20 and service.store_error, 30, what="buffered while down")
        victoria.process = ServerProcess(victoria.process.argv, tmp_path / "vm" / "victoria2.log").start()
        wait_http(f"{victoria.url}/health")
        wait_until(lambda: service.buffer.depth == 0, 60, what="written after the outage")
        service.stop()
        victoria.flush()
        response = httpx.get(f"{victoria.url}/api/v1/export", params={"match[]": '{_type="mqtt-ingest"}'},
                             timeout=10)
        series = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        stamps = sorted(t for s in series if s["metric"]["__name__"] == "PIR_value" for t in s["timestamps"])
        assert stamps == [int((T0 + timedelta(seconds=i)).timestamp() * 1000) for i in range(20)]
    finally:
        victoria.process.stop()


def test_component_serves_health_status_and_metrics(tmp_path: Path, mosquitto_server: MosquittoServer,
                                                    publisher: Publisher) -> None:
    (tmp_path / "mapping.csv").write_text("topic,room,kind\nzigbee2mqtt/Kitchen motion,kitchen,motion\n")
    port = free_port()
    env = {"HOMETWIN_MQTT_URL": mosquitto_server.url, "HOMETWIN_MQTT_CLIENT_ID": "t-component",
           "HOMETWIN_INGEST_MAPPING": str(tmp_path / "mapping.csv"), "HOMETWIN_DATA_DIR": str(tmp_path),
           "HOMETWIN_EVENTS": f"sqlite:///{tmp_path / 'events.sqlite'}"}
    process = ChildProcess([sys.executable, "-m", "hometwin", "component", "ingest", "--host", "127.0.0.1",
                            "--port", str(port)], tmp_path / "ingest.log", env).start()
    try:
        wait_healthy(f"http://127.0.0.1:{port}/readyz", process, timeout=30)
        publisher.publish("zigbee2mqtt/Kitchen motion", z2m(True, T0))
        publisher.publish("zigbee2mqtt/Study motion", z2m(True, T0))
        assert [e.time for e in wait_stored(tmp_path, 1)] == [T0]
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/status").json()["counts"].get("unknown") == 1, 10,
                   what="unknown topic on /status")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'hometwin_ingest_messages_total{outcome="unknown"} 1.0' in metrics
    finally:
        process.stop()
    assert "'zigbee2mqtt/Study motion' is not in the mapping" in process.tail(200)


def test_tls_is_verified_and_the_password_comes_from_a_file(tmp_path: Path) -> None:
    """A second broker with TLS and passwords: without the CA the ingest refuses the certificate
    (and says so), a wrong password is refused, the right one from its file gets the events in."""
    import subprocess

    from tests.servers import start_mosquitto

    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("openssl or mosquitto_passwd is not installed: cannot make a TLS broker with passwords")
    cert, key, passwd = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "passwd"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "hometwin", "correct horse battery"], check=True)
    broker = start_mosquitto(tmp_path / "tls-broker", f"certfile {cert}\nkeyfile {key}\n"
                             f"allow_anonymous false\npassword_file {passwd}\n")
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    (tmp_path / "mqtt-password").write_text("correct horse battery\n")
    (tmp_path / "wrong-password").write_text("wrong\n")

    def ingest(**options: Any) -> IngestService:
        settings = IngestSettings(mqtt_url=f"mqtts://127.0.0.1:{broker.port}", mqtt_client_id="t-tls",
                                  mqtt_username="hometwin", ingest_mapping=tmp_path / "mapping.yaml",
                                  ingest_buffer=tmp_path / "buffer.sqlite", data_dir=tmp_path, **options)
        return build_ingest(settings, SourceSettings(data_dir=tmp_path),
                            events_url=f"sqlite:///{tmp_path / 'events.sqlite'}")

    try:
        for options, error in (({"mqtt_password_file": tmp_path / "mqtt-password"}, "CERTIFICATE_VERIFY_FAILED"),
                               ({"mqtt_password_file": tmp_path / "wrong-password", "mqtt_ca_file": cert},
                                "refused")):
            refused = ingest(**options)
            refused.start()
            try:
                wait_until(lambda r=refused, e=error: e in r.status().broker_error, 15, what=error)
                assert not refused.connected
            finally:
                refused.stop()
        service = started(ingest(mqtt_password_file=tmp_path / "mqtt-password", mqtt_ca_file=cert))
        try:
            tls_publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-tls-pub", protocol=mqtt.MQTTv5)
            tls_publisher.username_pw_set("hometwin", "correct horse battery")
            tls_publisher.tls_set(ca_certs=str(cert))
            tls_publisher.connect("127.0.0.1", broker.port)
            tls_publisher.loop_start()
            tls_publisher.publish("zigbee2mqtt/Kitchen motion", json.dumps(z2m(True, T0)), qos=1).wait_for_publish(10)
            tls_publisher.disconnect()
            tls_publisher.loop_stop()
            assert [e.time for e in wait_stored(tmp_path, 1)] == [T0]
        finally:
            service.stop()
    finally:
        broker.stop()


def test_cli_drafts_a_mapping_from_the_bridge_and_runs_in_the_foreground(
        tmp_path: Path, mosquitto_server: MosquittoServer, publisher: Publisher) -> None:
    import subprocess

    from tests.unit.test_mqtt_mapping import DEVICES

    publisher.publish("zigbee2mqtt/bridge/devices", DEVICES, retain=True)  # as Zigbee2MQTT retains it
    env = {**os.environ, "HOMETWIN_DATA_DIR": str(tmp_path), "HOMETWIN_MQTT_URL": mosquitto_server.url,
           "HOMETWIN_MQTT_CLIENT_ID": "t-cli", "HOMETWIN_EVENTS": f"sqlite:///{tmp_path / 'events.sqlite'}"}
    draft = subprocess.run([sys.executable, "-m", "hometwin", "ingest", "--propose-mapping"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert draft.returncode == 0, draft.stderr
    (tmp_path / "mapping.yaml").write_text(draft.stdout.replace("REPLACE_WITH_ROOM", "study"))
    process = ChildProcess([sys.executable, "-m", "hometwin", "ingest", "--mapping", str(tmp_path / "mapping.yaml"),
                            "--status-every", "1"], tmp_path / "cli.log", env).start()
    try:
        wait_until(lambda: "connected=True" in process.tail(), 30, what="the ingest connected")
        publisher.publish("zigbee2mqtt/Sensor 7", {"presence": True, "last_seen": T0.isoformat()})
        (event,) = wait_stored(tmp_path, 1)
        assert (event.sensor, event.room, event.time) == ("Sensor 7", "study", T0)
    finally:
        process.stop()
    assert process.proc is not None and process.proc.returncode == 0, process.tail()
    publisher.publish("zigbee2mqtt/bridge/devices", "", retain=True)  # clear the retained message
