"""MQTT messages -> SensorEvents: the topic conventions, without any network (the client is mqtt_client.py).

Conventions understood out of the box:
- Zigbee2MQTT: `<base>/<friendly name>` with a JSON object; the state is the first of `occupancy`,
  `presence`, `contact`, `state` present (or the mapping's `value` path). `contact: true` means the
  contact is *closed* (value 0), `false` open (value 1). Its housekeeping topics (`<base>/bridge/...`,
  `.../availability`, `.../set`, `.../get`) are ignored.
- Home Assistant MQTT statestream: `<prefix>/<domain>/<object_id>/state` with `on`/`off` (also
  `open`/`closed`, `detected`/`clear`); its attribute topics are ignored.
- Any other mapped topic: a JSON payload with the state at the mapping's `value` path, or a bare
  payload (`ON`, `1`, `true`, `open`, ...).

Time: from the payload where present (the mapping's `time` path, else `last_seen`, `time` or
`timestamp`; ISO 8601 with a zone, or Unix seconds/milliseconds), else the receive time; the
reading says which. A retained message without a time in it is an old state replayed by the broker,
not an event, and is skipped.

Which messages become events: a change of the sensor's state, and every "on" of a motion or
pressure sensor (each re-trigger is activity). Zigbee2MQTT republishes the whole state whenever any
attribute (battery, illuminance) changes; those repeats of an unchanged contact or an "off" are dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from hometwin.adapters.mqtt_mapping import SensorMapping, TopicMap
from hometwin.domain.errors import InvalidEvent
from hometwin.domain.events import SensorEvent, SensorKind

TRUE_WORDS = frozenset({"on", "open", "opened", "true", "1", "detected", "occupied", "motion", "home", "yes"})
FALSE_WORDS = frozenset({"off", "closed", "close", "false", "0", "clear", "not_occupied", "no_motion",
                         "not_home", "away", "no"})
Z2M_STATE_KEYS = ("occupancy", "presence", "contact", "state")
TIME_KEYS = ("last_seen", "time", "timestamp")
_Z2M_HOUSEKEEPING = re.compile(r"/(availability|set|get)(/.*)?$")


class Outcome(StrEnum):
    EVENT = "event"          # an event to store
    UNCHANGED = "unchanged"  # a repeat of the sensor's last state
    IGNORED = "ignored"      # a convention's housekeeping topic
    UNKNOWN = "unknown"      # a topic the mapping does not name
    RETAINED = "retained"    # an old state replayed on subscribe, without a time of its own
    BAD = "bad"              # a mapped topic whose payload holds no state we understand


class TimeSource(StrEnum):
    PAYLOAD = "payload"
    RECEIVE = "receive"


@dataclass(frozen=True, slots=True)
class Reading:
    outcome: Outcome
    event: SensorEvent | None = None
    time_source: TimeSource | None = None
    detail: str = ""


class TopicRouter:
    """Reads one message at a time. Keeps each sensor's last state (to drop republished repeats), so
    use one router per stream of messages, from one thread."""

    def __init__(self, mapping: TopicMap, *, zigbee2mqtt_base: str = "zigbee2mqtt",
                 statestream_base: str = "homeassistant", max_clock_skew: timedelta = timedelta(minutes=5)) -> None:
        self.mapping = mapping
        self.z2m = zigbee2mqtt_base.strip("/")
        self.statestream = statestream_base.strip("/")
        self.max_clock_skew = max_clock_skew
        self._last: dict[str, float] = {}

    def subscriptions(self, extra: Sequence[str] = ()) -> list[str]:
        """Topic filters to subscribe: `extra` (wildcards that also show unknown topics) plus every mapped
        topic no filter of `extra` covers."""
        filters = list(dict.fromkeys(f.strip() for f in extra if f.strip()))
        for topic in self.mapping.sensors:
            if not any(topic_matches(f, topic) for f in filters):
                filters.append(topic)
        return filters

    def read(self, topic: str, payload: bytes, received: datetime, *, retained: bool = False) -> Reading:
        entry = self.mapping.get(topic)
        if entry is None:
            return Reading(Outcome.IGNORED if self._housekeeping(topic) else Outcome.UNKNOWN)
        try:
            state, when = self._state_and_time(entry, topic, payload)
        except ValueError as exc:
            return Reading(Outcome.BAD, detail=str(exc))
        if when is not None and when > received + self.max_clock_skew:
            when = None  # the publisher's clock is off: its time would put the event in the future
        if when is None and retained:
            return Reading(Outcome.RETAINED)
        sensor = entry.sensor or self._sensor_name(topic)
        previous = self._last.get(sensor)
        self._last[sensor] = state
        repeat_counts = state != 0.0 and entry.kind in (SensorKind.MOTION, SensorKind.PRESSURE)
        if previous == state and not repeat_counts:
            return Reading(Outcome.UNCHANGED)
        source = TimeSource.PAYLOAD if when is not None else TimeSource.RECEIVE
        try:
            event = SensorEvent(when or received, sensor, entry.room, entry.kind, state)
        except InvalidEvent as exc:
            return Reading(Outcome.BAD, detail=str(exc))
        return Reading(Outcome.EVENT, event, source)

    # -- conventions ------------------------------------------------------------------------------

    def _housekeeping(self, topic: str) -> bool:
        if topic.startswith(f"{self.z2m}/"):
            return topic.startswith(f"{self.z2m}/bridge/") or bool(_Z2M_HOUSEKEEPING.search(topic))
        if topic.startswith(f"{self.statestream}/"):
            return not topic.endswith("/state")  # attributes, last_changed, ...
        return False

    def _is_z2m(self, topic: str) -> bool:
        return topic.startswith(f"{self.z2m}/")

    def _sensor_name(self, topic: str) -> str:
        if self._is_z2m(topic):
            return topic[len(self.z2m) + 1:]
        parts = topic.split("/")
        if topic.startswith(f"{self.statestream}/") and len(parts) >= 4 and parts[-1] == "state":
            return parts[-2]
        return topic.replace("/", "_")

    def _state_and_time(self, entry: SensorMapping, topic: str, payload: bytes) -> tuple[float, datetime | None]:
        text = payload.decode("utf-8", errors="replace").strip()
        if not text:
            raise ValueError("empty payload")
        document: Any = None
        if text[0] in "{[":
            try:
                document = json.loads(text)
            except ValueError:
                raise ValueError(f"payload is not valid JSON: {text[:80]!r}") from None
        when = None
        if isinstance(document, dict):
            paths = (entry.time,) if entry.time else TIME_KEYS
            stamp = next((v for v in (json_path(document, p) for p in paths) if v is not None), None)
            if stamp is not None:
                try:
                    when = parse_time(stamp)
                except ValueError:
                    when = None  # an unreadable time is no reason to lose the state: receive time
        if entry.value:
            if document is None:
                raise ValueError(f"payload is not JSON, so it has no {entry.value!r}: {text[:80]!r}")
            raw = json_path(document, entry.value)
            if raw is None:
                raise ValueError(f"payload has no {entry.value!r}")
            return state_value(raw), when
        if isinstance(document, dict):
            key = next((k for k in Z2M_STATE_KEYS if document.get(k) is not None), None)
            if key is None:
                raise ValueError(f"payload has none of {', '.join(Z2M_STATE_KEYS)}; "
                                 "give the mapping a value: path")
            value = state_value(document[key])
            # Zigbee2MQTT's contact is true when the magnet is *at* the reed: closed.
            return (1.0 - value if key == "contact" else value), when
        if document is not None:
            raise ValueError("payload is a JSON list; give the mapping a value: path")
        return state_value(text), when


def json_path(document: Any, path: str) -> Any:
    """`a.b.0.c` in nested objects and lists; None when any step is missing."""
    node = document
    for step in path.split("."):
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


def state_value(raw: Any) -> float:
    """A state as the event value: 1.0 on/open/detected, 0.0 off/closed/clear; numbers as they are."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"state {raw!r} is not a finite number")
        return value
    if isinstance(raw, str):
        word = raw.strip().lower().replace(" ", "_")
        if word in TRUE_WORDS:
            return 1.0
        if word in FALSE_WORDS:
            return 0.0
        try:
            return state_value(float(word))
        except ValueError:
            pass
    raise ValueError(f"state {raw!r} is not on/off, open/closed, true/false or a number")


def parse_time(raw: Any) -> datetime:
    """ISO 8601 with a zone, or Unix time in seconds or milliseconds (Zigbee2MQTT's `epoch`)."""
    if isinstance(raw, bool):
        raise ValueError(f"time {raw!r} is not a time")
    if isinstance(raw, int | float):
        seconds = raw / 1000 if raw > 1e11 else raw  # 1e11 s is the year 5138; as ms it is 1973
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"time {raw!r} is out of range") from None
    if isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"time {raw!r} is not ISO 8601") from None
        if when.tzinfo is None:
            raise ValueError(f"time {raw!r} has no time zone")
        return when.astimezone(UTC)
    raise ValueError(f"time {raw!r} is not a time")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (`+` one level, `#` the rest)."""
    f_parts, t_parts = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)
