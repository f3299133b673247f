"""The ingest's mapping file (YAML or CSV): good files load, bad ones fail with the line and field;
a mapping drafted from Zigbee2MQTT's device list; `hometwin ingest --check` reports the same errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hometwin.adapters.mqtt_mapping import MappingError, load_mapping, propose_mapping, room_from_name
from hometwin.cli import app
from hometwin.domain.events import SensorKind

GOOD_YAML = """\
# two sensors
sensors:
  - topic: zigbee2mqtt/Kitchen motion
    room: kitchen
    kind: motion
  - topic: house/bed/pir
    room: bedroom
    kind: pressure
    sensor: bed_mat
    value: mat.occupied
    time: ts
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_csv_load_the_same_mapping(tmp_path: Path) -> None:
    from_yaml = load_mapping(write(tmp_path, "m.yaml", GOOD_YAML))
    from_csv = load_mapping(write(tmp_path, "m.csv", "# comment\ntopic,room,kind,sensor,value,time\n"
                                  "zigbee2mqtt/Kitchen motion,kitchen,motion,,,\n"
                                  "house/bed/pir,bedroom,pressure,bed_mat,mat.occupied,ts\n"))
    assert from_yaml.sensors == from_csv.sensors
    bed = from_yaml.get("house/bed/pir")
    assert bed is not None and (bed.kind, bed.sensor, bed.value, bed.time) == (
        SensorKind.PRESSURE, "bed_mat", "mat.occupied", "ts")
    assert from_yaml.get("zigbee2mqtt/Kitchen motion").sensor is None  # type: ignore[union-attr]


@pytest.mark.parametrize("name, text, message", [
    ("m.yaml", GOOD_YAML.replace("kind: pressure", "kind: motoin"),
     "m.yaml line 6: (kind) 'motoin' is not one of motion, door, contact, pressure, other"),
    ("m.yaml", GOOD_YAML.replace("    room: bedroom\n", ""), "m.yaml line 6: (room) is missing"),
    ("m.yaml", GOOD_YAML.replace("sensor: bed_mat", "sensr: bed_mat"), "m.yaml line 6: (sensr) unknown field"),
    ("m.yaml", GOOD_YAML.replace("house/bed/pir", "zigbee2mqtt/Kitchen motion"),
     "m.yaml line 6 (topic): 'zigbee2mqtt/Kitchen motion' is mapped already on line 3"),
    ("m.yaml", GOOD_YAML.replace("house/bed/pir", "house/+/pir"), "m.yaml line 6: (topic) Value error, must be one"),
    ("m.yaml", "sensors:\n  - topic: [a\n", "m.yaml line 3: not valid YAML"),
    ("m.yaml", "- topic: a\n", "m.yaml line 1: expected a top-level `sensors:` list"),
    ("m.yaml", "sensors:\n  - just a string\n", "m.yaml line 2: each sensor is a mapping"),
    ("m.yaml", "sensors: []\n", "m.yaml: no sensors mapped"),
    ("m.csv", "topic,room\na,b\n", "m.csv line 1: the header must name the columns topic, room and kind"),
    ("m.csv", "topic,room,kind\na,b,motion,extra\n", "m.csv line 2: 4 values but 3 columns"),
    ("m.csv", "topic,room,kind\n\na,,motion\n", "m.csv line 3: (room) String should have at least 1 character"),
    ("m.json", "{}", "name it .yaml, .yml or .csv"),
])
def test_bad_mapping_files_name_the_line_and_field(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        load_mapping(write(tmp_path, name, text))
    assert message in str(caught.value)


def test_missing_file_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "nope.yaml")


def test_cli_check_reports_a_bad_mapping_and_accepts_a_good_one(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    bad = write(tmp_path, "bad.yaml", GOOD_YAML.replace("kind: motion", "kind: moving"))
    result = CliRunner().invoke(app, ["ingest", "--check", "--mapping", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml line 3: (kind) 'moving' is not one of" in result.output
    good = write(tmp_path, "good.yaml", GOOD_YAML)
    result = CliRunner().invoke(app, ["ingest", "--check", "--mapping", str(good), "--url", "mqtts://broker.lan"])
    assert result.exit_code == 0, result.output
    assert "2 sensors mapped" in result.output and "house/bed/pir" in result.output


def test_cli_without_a_mapping_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOMETWIN_INGEST_MAPPING", raising=False)
    result = CliRunner().invoke(app, ["ingest", "--check"])
    assert result.exit_code == 2 and "HOMETWIN_INGEST_MAPPING is not set" in result.output


def test_cli_refuses_a_broker_url_that_is_not_mqtt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    good = write(tmp_path, "good.yaml", GOOD_YAML)
    result = CliRunner().invoke(app, ["ingest", "--check", "--mapping", str(good), "--url", "http://broker:1883"])
    assert result.exit_code == 2 and "mqtt_url" in result.output


# A shortened copy of what Zigbee2MQTT 1.x/2.x retains on zigbee2mqtt/bridge/devices.
DEVICES = [
    {"ieee_address": "0x00124b0000000001", "type": "Coordinator", "friendly_name": "Coordinator"},
    {"ieee_address": "0x00158d0001", "type": "EndDevice", "friendly_name": "Kitchen motion",
     "definition": {"model": "RTCGQ11LM", "vendor": "Aqara", "exposes": [
         {"type": "binary", "name": "occupancy", "property": "occupancy"},
         {"type": "numeric", "name": "illuminance", "property": "illuminance"}]}},
    {"ieee_address": "0x00158d0002", "type": "EndDevice", "friendly_name": "hallway/front door",
     "definition": {"exposes": [{"type": "binary", "name": "contact", "property": "contact"}]}},
    {"ieee_address": "0x00158d0003", "type": "EndDevice", "friendly_name": "Sensor 7",
     "definition": {"exposes": [{"type": "binary", "name": "presence", "property": "presence"}]}},
    {"ieee_address": "0x00158d0004", "type": "Router", "friendly_name": "Living room lamp",
     "definition": {"exposes": [{"type": "light", "features": [{"name": "state", "property": "state"}]}]}},
]


def test_propose_mapping_from_the_bridge_device_list(tmp_path: Path) -> None:
    draft = propose_mapping(json.dumps(DEVICES))
    assert "Living room lamp" in draft.splitlines()[-1]  # listed as left out
    path = write(tmp_path, "draft.yaml", draft.replace("REPLACE_WITH_ROOM", "study"))
    mapping = load_mapping(path)
    rooms = {topic: (m.room, m.kind) for topic, m in mapping.sensors.items()}
    assert rooms == {"zigbee2mqtt/Kitchen motion": ("kitchen", SensorKind.MOTION),
                     "zigbee2mqtt/hallway/front door": ("hallway", SensorKind.CONTACT),
                     "zigbee2mqtt/Sensor 7": ("study", SensorKind.MOTION)}


def test_room_from_name_and_a_bad_device_list() -> None:
    assert room_from_name("Living room motion 2") == "living_room"
    assert room_from_name("bath/pir") == "bath" and room_from_name("PIR 3") is None
    with pytest.raises(MappingError, match="not JSON"):
        propose_mapping(b"{")
    with pytest.raises(MappingError, match="not a list"):
        propose_mapping(b"{}")
