"""MQTT payloads -> SensorEvents (adapters/mqtt.py), without a broker: the conventions of Zigbee2MQTT,
Home Assistant's statestream and plain topics, times, and what is dropped or refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hometwin.adapters.mqtt import Outcome, TimeSource, TopicRouter, json_path, parse_time, state_value, topic_matches
from hometwin.adapters.mqtt_mapping import SensorMapping, TopicMap
from hometwin.domain.events import SensorKind

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def router(*entries: dict[str, str]) -> TopicRouter:
    return TopicRouter(TopicMap.of(SensorMapping.model_validate(e) for e in entries), statestream_base="ha")


MOTION = {"topic": "zigbee2mqtt/Kitchen motion", "room": "kitchen", "kind": "motion"}
DOOR = {"topic": "zigbee2mqtt/Front door", "room": "hallway", "kind": "door"}
STATESTREAM = {"topic": "ha/binary_sensor/bath_pir/state", "room": "bathroom", "kind": "motion"}


def read(r: TopicRouter, topic: str, payload: object, *, retained: bool = False):
    data = payload if isinstance(payload, bytes) else (payload if isinstance(payload, str) else json.dumps(payload))
    return r.read(topic, data.encode() if isinstance(data, str) else data, NOW, retained=retained)


def test_zigbee2mqtt_occupancy_with_last_seen_gives_the_payload_time() -> None:
    seen = NOW - timedelta(minutes=3)
    reading = read(router(MOTION), "zigbee2mqtt/Kitchen motion",
                   {"battery": 100, "illuminance": 12, "occupancy": True, "last_seen": seen.isoformat()})
    assert reading.outcome is Outcome.EVENT and reading.time_source is TimeSource.PAYLOAD
    event = reading.event
    assert event is not None
    assert (event.time, event.sensor, event.room, event.kind, event.value) == (
        seen, "Kitchen motion", "kitchen", SensorKind.MOTION, 1.0)


def test_zigbee2mqtt_epoch_milliseconds_and_seconds() -> None:
    r = router(MOTION)
    ms = read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": True, "last_seen": 1772438400123})
    s = read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": True, "last_seen": 1772438400})
    assert ms.event is not None and s.event is not None
    assert ms.event.time == datetime(2026, 3, 2, 8, 0, 0, 123000, tzinfo=UTC)
    assert s.event.time == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_contact_true_is_closed_and_repeats_of_a_contact_are_dropped() -> None:
    r = router(DOOR)
    opened = read(r, "zigbee2mqtt/Front door", {"contact": False, "battery": 90})
    again = read(r, "zigbee2mqtt/Front door", {"contact": False, "battery": 89})  # a battery report
    closed = read(r, "zigbee2mqtt/Front door", {"contact": True})
    assert opened.event is not None and opened.event.value == 1.0 and opened.event.kind is SensorKind.DOOR
    assert again.outcome is Outcome.UNCHANGED
    assert closed.event is not None and closed.event.value == 0.0


def test_every_motion_on_counts_but_a_repeated_off_does_not() -> None:
    r = router(MOTION)
    outcomes = [read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": o}).outcome for o in (True, True, False, False)]
    assert outcomes == [Outcome.EVENT, Outcome.EVENT, Outcome.EVENT, Outcome.UNCHANGED]


def test_presence_and_state_keys() -> None:
    r = router({**MOTION, "topic": "zigbee2mqtt/fp1"}, {**MOTION, "topic": "zigbee2mqtt/plug", "kind": "other"})
    presence = read(r, "zigbee2mqtt/fp1", {"presence": True, "illuminance": 4})
    plug = read(r, "zigbee2mqtt/plug", {"state": "ON", "power": 3.2})
    assert presence.event is not None and presence.event.value == 1.0
    assert plug.event is not None and plug.event.value == 1.0 and plug.event.kind is SensorKind.OTHER


def test_statestream_on_off_with_the_receive_time() -> None:
    r = router(STATESTREAM)
    on = read(r, "ha/binary_sensor/bath_pir/state", "on")
    off = read(r, "ha/binary_sensor/bath_pir/state", "off")
    assert on.event is not None and on.time_source is TimeSource.RECEIVE
    assert (on.event.time, on.event.sensor, on.event.value) == (NOW, "bath_pir", 1.0)
    assert off.event is not None and off.event.value == 0.0
    assert read(r, "ha/binary_sensor/bath_pir/last_changed", '"2026-03-02"').outcome is Outcome.IGNORED


def test_plain_topic_with_json_paths() -> None:
    entry = {"topic": "house/bed/pir", "room": "bedroom", "kind": "motion", "value": "data.0.motion",
             "time": "meta.ts", "sensor": "bed_pir"}
    payload = {"data": [{"motion": "detected"}], "meta": {"ts": "2026-03-02T07:00:00+01:00"}}
    reading = read(router(entry), "house/bed/pir", payload)
    assert reading.event is not None and reading.event.sensor == "bed_pir"
    assert reading.event.time == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_plain_topic_with_a_bare_payload() -> None:
    r = router({"topic": "house/hall/door", "room": "hallway", "kind": "contact"})
    reading = read(r, "house/hall/door", "OPEN")
    assert reading.event is not None and (reading.event.sensor, reading.event.value) == ("house_hall_door", 1.0)


@pytest.mark.parametrize("topic, outcome", [
    ("zigbee2mqtt/bridge/devices", Outcome.IGNORED),
    ("zigbee2mqtt/Kitchen motion/availability", Outcome.IGNORED),
    ("zigbee2mqtt/Kitchen motion/set", Outcome.IGNORED),
    ("zigbee2mqtt/Garage motion", Outcome.UNKNOWN),
    ("ha/binary_sensor/garage/state", Outcome.UNKNOWN),
    ("elsewhere/thing", Outcome.UNKNOWN),
])
def test_housekeeping_is_ignored_and_unmapped_topics_are_unknown(topic: str, outcome: Outcome) -> None:
    assert read(router(MOTION, STATESTREAM), topic, {"occupancy": True}).outcome is outcome


@pytest.mark.parametrize("payload, why", [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b'{"battery": 80}', "none of occupancy"),
    (b'{"occupancy": "maybe"}', "not on/off"),
    (b"[1, 2]", "JSON list"),
    (b"\xff\xfe", "not on/off"),
])
def test_bad_payloads_are_reported_not_raised(payload: bytes, why: str) -> None:
    reading = router(MOTION).read("zigbee2mqtt/Kitchen motion", payload, NOW)
    assert reading.outcome is Outcome.BAD and why in reading.detail


def test_a_time_in_the_future_or_unreadable_falls_back_to_the_receive_time() -> None:
    r = router(MOTION)
    later = (NOW + timedelta(hours=2)).isoformat()
    future = read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": True, "last_seen": later})
    garbled = read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": True, "last_seen": "yesterday"})
    naive = read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": True, "last_seen": "2026-03-02T07:00:00"})
    for reading in (future, garbled, naive):
        assert reading.event is not None and reading.time_source is TimeSource.RECEIVE and reading.event.time == NOW


def test_retained_state_without_a_time_is_no_event_but_with_one_it_is() -> None:
    r = router(STATESTREAM, MOTION)
    assert read(r, "ha/binary_sensor/bath_pir/state", "on", retained=True).outcome is Outcome.RETAINED
    stamped = read(r, "zigbee2mqtt/Kitchen motion", {"occupancy": True, "last_seen": NOW.isoformat()}, retained=True)
    assert stamped.outcome is Outcome.EVENT


def test_subscriptions_add_mapped_topics_no_filter_covers() -> None:
    r = router(MOTION, STATESTREAM, {"topic": "house/bed/pir", "room": "bedroom", "kind": "motion"})
    assert r.subscriptions(["zigbee2mqtt/#", " ha/binary_sensor/+/state", ""]) == [
        "zigbee2mqtt/#", "ha/binary_sensor/+/state", "house/bed/pir"]


def test_helpers() -> None:
    assert topic_matches("a/+/c", "a/b/c") and topic_matches("a/#", "a/b/c") and not topic_matches("a/+", "a/b/c")
    assert json_path({"a": [{"b": 1}]}, "a.0.b") == 1 and json_path({"a": []}, "a.3") is None
    assert [state_value(v) for v in (True, "Closed", "detected", 0, "2.5")] == [1.0, 0.0, 1.0, 0.0, 2.5]
    with pytest.raises(ValueError, match="finite"):
        state_value(float("nan"))
    with pytest.raises(ValueError, match="not a time"):
        parse_time(True)
