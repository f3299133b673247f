"""The MQTT mapping file: which topic is which sensor, room and kind (YAML or CSV).

YAML (`.yaml`/`.yml`)::

    sensors:
      - topic: zigbee2mqtt/Kitchen motion            # Zigbee2MQTT: its friendly name
        room: kitchen
        kind: motion
      - topic: homeassistant/binary_sensor/front_door/state   # Home Assistant statestream
        room: hallway
        kind: door
      - topic: home/bath/pir                         # any other topic
        room: bathroom
        kind: motion
        value: motion.detected                       # JSON path of the state; omit: the payload itself
        time: ts                                     # JSON path of the time (optional)

CSV: a header naming the columns `topic,room,kind[,sensor,value,time]`, one sensor a line, `#` comments.
Every problem is reported with the file, the line and the field, e.g.
`mapping.yaml line 7 (kind): 'motoin' is not one of motion, door, contact, pressure, other`.

`propose_mapping` turns Zigbee2MQTT's device list (`zigbee2mqtt/bridge/devices`) into a first draft.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hometwin.domain.events import SensorKind

_PATH = r"^[^.\s][^\s]*$"  # dotted JSON path: `a.b.0.c`


class MappingError(ValueError):
    """The mapping file is unusable; the message names the file, line and field."""


class SensorMapping(BaseModel):
    """One line of the mapping file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str = Field(min_length=1)
    room: str = Field(min_length=1)
    kind: SensorKind
    sensor: str | None = Field(None, min_length=1, description="Name in the store; default from the topic.")
    value: str | None = Field(None, pattern=_PATH, description="JSON path of the state in the payload.")
    time: str | None = Field(None, pattern=_PATH, description="JSON path of the event time in the payload.")

    @field_validator("topic")
    @classmethod
    def _concrete_topic(cls, topic: str) -> str:
        # A wildcard would make one line stand for many sensors with one name.
        if "+" in topic or "#" in topic:
            raise ValueError("must be one concrete topic, without the wildcards + or #")
        return topic

    @field_validator("sensor", "value", "time", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


@dataclass(frozen=True)
class TopicMap:
    """The validated mapping file: each topic to its sensor, room and kind."""

    sensors: dict[str, SensorMapping]
    source: str = "<memory>"

    @classmethod
    def of(cls, entries: Iterable[SensorMapping], source: str = "<memory>") -> TopicMap:
        return cls({entry.topic: entry for entry in entries}, source)

    def get(self, topic: str) -> SensorMapping | None:
        return self.sensors.get(topic)

    def __len__(self) -> int:
        return len(self.sensors)


def load_mapping(path: Path) -> TopicMap:
    """Read and validate a mapping file; MappingError names the line and the field of any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        rows = _yaml_rows(text, path.name)
    elif suffix == ".csv":
        rows = _csv_rows(text, path.name)
    else:
        raise MappingError(f"mapping file {path}: name it .yaml, .yml or .csv (got {suffix or 'no suffix'!r})")
    return _validate(rows, path.name)


def _validate(rows: Sequence[tuple[int, dict[str, Any]]], name: str) -> TopicMap:
    entries: dict[str, tuple[int, SensorMapping]] = {}
    for line, row in rows:
        try:
            entry = SensorMapping.model_validate(row)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise MappingError(f"{name} line {line}: {problems}") from None
        if entry.topic in entries:
            first = entries[entry.topic][0]
            raise MappingError(f"{name} line {line} (topic): {entry.topic!r} is mapped already on line {first}")
        entries[entry.topic] = (line, entry)
    if not entries:
        raise MappingError(f"{name}: no sensors mapped")
    return TopicMap.of((entry for _, entry in entries.values()), name)


def _problem(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "line"
    if error["type"] == "extra_forbidden":
        return f"({field}) unknown field; allowed: topic, room, kind, sensor, value, time"
    if error["type"] == "enum":
        kinds = ", ".join(k.value for k in SensorKind)
        return f"({field}) {error['input']!r} is not one of {kinds}"
    if error["type"] == "missing":
        return f"({field}) is missing"
    return f"({field}) {error['msg']}"


def _yaml_rows(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise MappingError(f"{name}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    items = None
    if isinstance(root, yaml.MappingNode):
        items = next((value for key, value in root.value if key.value == "sensors"), None)
    if not isinstance(items, yaml.SequenceNode):
        line = root.start_mark.line + 1 if root is not None else 1
        raise MappingError(f"{name} line {line}: expected a top-level `sensors:` list (see docs/home-assistant.md)")
    rows = []
    for node in items.value:
        row = yaml.safe_load(yaml.serialize(node))
        line = node.start_mark.line + 1
        if not isinstance(row, dict):
            raise MappingError(f"{name} line {line}: each sensor is a mapping of topic, room, kind, ...")
        rows.append((line, {str(k): ("" if v is None else v) for k, v in row.items()}))
    return rows


def _csv_rows(text: str, name: str) -> list[tuple[int, dict[str, Any]]]:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise MappingError(f"{name}: empty; the first line names the columns topic,room,kind[,sensor,value,time]")
    header_line, header = lines[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    if not {"topic", "room", "kind"} <= set(columns):
        raise MappingError(f"{name} line {header_line}: the header must name the columns topic, room and kind "
                           f"(got {', '.join(columns)})")
    rows = []
    for n, line in lines[1:]:
        values = next(csv.reader([line]))
        if len(values) > len(columns):
            raise MappingError(f"{name} line {n}: {len(values)} values but {len(columns)} columns")
        rows.append((n, {c: v.strip() for c, v in zip(columns, values, strict=False)}))
    return rows


# -- a first draft from Zigbee2MQTT's device list -----------------------------------------------

_FEATURES = (("occupancy", SensorKind.MOTION), ("presence", SensorKind.MOTION), ("contact", SensorKind.CONTACT))
_SENSOR_WORDS = {"motion", "sensor", "pir", "occupancy", "presence", "contact", "door", "window", "mmwave",
                 "fp1", "fp2", "detector", "multisensor", "aqara", "hue", "ikea", "zigbee", "z2m"}


def _exposed(exposes: Any) -> set[str]:
    """Property names a device exposes (nested in composite features too)."""
    names: set[str] = set()
    for feature in exposes if isinstance(exposes, list) else []:
        if isinstance(feature, dict):
            names.add(str(feature.get("property") or feature.get("name") or ""))
            names |= _exposed(feature.get("features"))
    return names


def room_from_name(friendly_name: str) -> str | None:
    """`kitchen/motion` -> kitchen, `Living room motion 2` -> living_room; None when nothing is left."""
    if "/" in friendly_name:
        head = friendly_name.split("/", 1)[0]
        words = re.findall(r"[a-z]+", head.lower())
    else:
        words = [w for w in re.findall(r"[a-z]+", friendly_name.lower()) if w not in _SENSOR_WORDS]
    return "_".join(words) or None


def propose_mapping(devices_payload: bytes | str, base_topic: str = "zigbee2mqtt") -> str:
    """A YAML mapping drafted from the retained `<base>/bridge/devices` message: one entry per device
    with occupancy, presence or contact, the room guessed from the friendly name. Review it before use:
    a contact on a door to the outside is kind `door`, and guessed rooms may be wrong."""
    try:
        devices = json.loads(devices_payload)
    except (ValueError, TypeError) as exc:
        raise MappingError(f"{base_topic}/bridge/devices is not JSON: {exc}") from None
    if not isinstance(devices, list):
        raise MappingError(f"{base_topic}/bridge/devices is not a list of devices")
    out = io.StringIO()
    out.write("# Drafted by `hometwin ingest --propose-mapping` from Zigbee2MQTT's device list.\n"
              "# Check every room; set kind: door for contacts on a door to the outside.\n"
              "sensors:\n")
    skipped = []
    for device in devices:
        if not isinstance(device, dict) or device.get("type") == "Coordinator":
            continue
        name = str(device.get("friendly_name") or device.get("ieee_address") or "")
        exposed = _exposed((device.get("definition") or {}).get("exposes"))
        kind = next((k for feature, k in _FEATURES if feature in exposed), None)
        if not name or kind is None:
            skipped.append(name)
            continue
        room = room_from_name(name)
        out.write(f"  - topic: {json.dumps(f'{base_topic}/{name}')}\n"
                  f"    room: {room or 'REPLACE_WITH_ROOM'}{'' if room else '   # no room in the name'}\n"
                  f"    kind: {kind.value}\n")
    if skipped:
        out.write("# Not motion, presence or contact sensors (left out): " + ", ".join(skipped) + "\n")
    return out.getvalue()
