"""Which Home Assistant binary sensors HomeTwin imports, as what kind, and in which room.

Pure rules, shared by the recorder import (`home_assistant.py`): the device class says the kind,
the room comes from a mapping file, else from the entity's area in Home Assistant's own registry
(the `.storage` folder of its configuration directory), else from words in the entity's names.
A guess is reported so the user can check it; an entity with no room is reported and skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hometwin.adapters.dataset_records import DatasetError
from hometwin.domain.events import SensorKind

# Presence-like classes fire while someone is in the room; door-like ones when a door moves.
# "presence" is also used for phone-based home/away trackers: those have no room word, so they are
# reported as "no room" rather than imported into a made-up room.
MOTION_CLASSES = frozenset({"motion", "occupancy", "presence"})
DOOR_CLASSES = frozenset({"door", "garage_door", "opening"})
CONTACT_CLASSES = frozenset({"window"})
IMPORTED_CLASSES = MOTION_CLASSES | DOOR_CLASSES | CONTACT_CLASSES

# Checked in this order, so "hall toilet door" is the toilet's door and "front door" the hall's.
ROOM_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("toilet", frozenset({"toilet", "wc", "loo", "restroom", "toilette"})),
    ("bathroom", frozenset({"bathroom", "bath", "shower", "badezimmer", "bad", "dusche"})),
    ("bedroom", frozenset({"bedroom", "bed", "sleeping", "schlafzimmer"})),
    ("kitchen", frozenset({"kitchen", "kueche", "küche", "pantry"})),
    ("livingroom", frozenset({"livingroom", "living", "lounge", "sofa", "couch", "wohnzimmer"})),
    ("diningroom", frozenset({"dining", "diningroom", "esszimmer"})),
    ("office", frozenset({"office", "study", "buero", "büro", "arbeitszimmer"})),
    ("hall", frozenset({"hall", "hallway", "corridor", "entrance", "entry", "foyer", "front", "landing",
                        "stairs", "staircase", "flur", "diele", "eingang", "haustuer", "haustür"})),
    ("garage", frozenset({"garage"})),
)
# A door whose name says it leads outside is kind `door` (leaving and coming home); other doors
# are `contact` and belong to their room, as in the rest of HomeTwin (docs/data.md).
OUTSIDE_WORDS = frozenset({"front", "entrance", "entry", "main", "outside", "outdoor", "exterior", "garage",
                           "garden", "patio", "porch", "backdoor", "frontdoor", "eingang", "haustuer", "haustür",
                           "wohnungstuer", "wohnungstür"})


def words(*names: str) -> list[str]:
    """Lower-case words of entity ids and friendly names (`binary_sensor.kitchen_pir` -> kitchen, pir)."""
    found: list[str] = []
    for name in names:
        found += re.findall(r"[^\W\d_]+", name.removeprefix("binary_sensor.").lower())
    return found


def guess_room(*names: str) -> tuple[str, str] | None:
    """(room, the word it was read from) for the first room word in `names`, or None."""
    tokens = words(*names)
    for room, vocabulary in ROOM_WORDS:
        for token in tokens:
            if token in vocabulary:
                return room, token
    return None


def kind_of(device_class: str, *names: str) -> SensorKind | None:
    """The kind a binary sensor of this device class becomes, or None if HomeTwin ignores the class."""
    if device_class in MOTION_CLASSES:
        return SensorKind.MOTION
    if device_class == "garage_door":
        return SensorKind.DOOR
    if device_class in DOOR_CLASSES:
        tokens = words(*names)
        outside = any(t in OUTSIDE_WORDS for t in tokens) or "back door" in " ".join(tokens)
        return SensorKind.DOOR if outside else SensorKind.CONTACT
    if device_class in CONTACT_CLASSES:
        return SensorKind.CONTACT
    return None


def room_of_area(area_name: str) -> str:
    """A room name from a Home Assistant area name: `Living Room` -> `living_room`."""
    return re.sub(r"[^\w]+", "_", area_name.strip().lower()).strip("_") or area_name.strip()


@dataclass(frozen=True, slots=True)
class HomeAssistantConfig:
    """What Home Assistant's `.storage` registry says that the recorder database does not."""

    areas: dict[str, str]  # entity_id -> area name (the entity's own area, else its device's)
    device_classes: dict[str, str]  # entity_id -> device class (the user's choice over the integration's)
    tz: str | None  # the home's time zone from core.config


def _storage_json(storage: Path, name: str, required: bool) -> dict[str, Any]:
    file = storage / name
    if not file.is_file():
        if required:
            raise DatasetError(f"no {name} in {storage}: give --ha-config Home Assistant's configuration "
                               "folder (the one holding .storage)")
        return {}
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {file}: {exc}") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise DatasetError(f"{file} has no 'data' object: not a Home Assistant registry file")
    return data


def _records(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = data.get(key, [])
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def read_ha_config(path: str | Path) -> HomeAssistantConfig:
    """Areas, device classes and time zone from a Home Assistant configuration folder (or its `.storage`).

    An entity's area is its own `area_id`, else the area of its device, as Home Assistant decides it."""
    path = Path(path)
    storage = path / ".storage" if (path / ".storage").is_dir() else path
    if not storage.is_dir():
        raise DatasetError(f"Home Assistant configuration folder not found: {path}")
    entities = _records(_storage_json(storage, "core.entity_registry", True), "entities")
    area_names = {a.get("id"): str(a.get("name") or a.get("id"))
                  for a in _records(_storage_json(storage, "core.area_registry", False), "areas")}
    device_areas = {d.get("id"): d.get("area_id")
                    for d in _records(_storage_json(storage, "core.device_registry", False), "devices")}
    areas: dict[str, str] = {}
    classes: dict[str, str] = {}
    for entity in entities:
        entity_id = entity.get("entity_id")
        if not isinstance(entity_id, str):
            continue
        area_id = entity.get("area_id") or device_areas.get(entity.get("device_id"))
        if area_id:
            areas[entity_id] = area_names.get(area_id, str(area_id))
        device_class = entity.get("device_class") or entity.get("original_device_class")
        if isinstance(device_class, str) and device_class:
            classes[entity_id] = device_class
    tz = _storage_json(storage, "core.config", False).get("time_zone")
    return HomeAssistantConfig(areas, classes, tz if isinstance(tz, str) and tz else None)
