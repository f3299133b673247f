"""The canonical sensor record and its validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from hometwin.domain.errors import InvalidEvent


class SensorKind(StrEnum):
    """What a sensor measures.

    `door` is a door to the outside (front or back door): it marks leaving and coming home.
    `contact` is any other magnetic contact (cupboards, fridge, inner doors).
    """

    MOTION = "motion"
    DOOR = "door"
    CONTACT = "contact"
    PRESSURE = "pressure"
    OTHER = "other"




@dataclass(frozen=True, slots=True, order=True)
class SensorEvent:
    """One sensor firing. `time` is timezone-aware and normalised to UTC.

    `value` is 1.0 for ON/OPEN/motion and 0.0 for OFF/CLOSE; other sensors carry their reading.
    Ordering is by time first, so `sorted(events)` is chronological.
    """

    time: datetime
    sensor: str
    room: str
    kind: SensorKind = SensorKind.MOTION
    value: float = 1.0

    @classmethod
    def trusted(cls, time: datetime, sensor: str, room: str, kind: SensorKind, value: float) -> SensorEvent:
        """Build without validation: only for records a store validated when they were written
        (reading a week from the embedded store must stay fast). `time` must be aware UTC."""
        event = object.__new__(cls)
        _set_time(event, time)
        _set_sensor(event, sensor)
        _set_room(event, room)
        _set_kind(event, kind)
        _set_value(event, value)
        return event

    def __post_init__(self) -> None:
        if not isinstance(self.time, datetime):
            raise InvalidEvent(f"time must be a datetime, got {type(self.time).__name__}")
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise InvalidEvent(f"time {self.time.isoformat()} has no time zone")
        if not isinstance(self.sensor, str) or not self.sensor.strip():
            raise InvalidEvent("sensor name is empty")
        if not isinstance(self.room, str) or not self.room.strip():
            raise InvalidEvent(f"room of sensor {self.sensor!r} is empty")
        try:
            kind = SensorKind(self.kind)
        except ValueError:
            allowed = ", ".join(k.value for k in SensorKind)
            raise InvalidEvent(f"kind {self.kind!r} is not one of {allowed}") from None
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise InvalidEvent(f"value {self.value!r} is not a number") from None
        if value != value:  # NaN
            raise InvalidEvent("value is NaN")
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "value", value)


# The slots' own setters: a frozen dataclass refuses attribute assignment, and these are about twice
# as fast as object.__setattr__ for `trusted`, which builds every event read from a store.
_set_time, _set_sensor, _set_room, _set_kind, _set_value = (
    SensorEvent.__dict__[name].__set__ for name in ("time", "sensor", "room", "kind", "value"))


@dataclass(frozen=True, slots=True)
class Activity:
    """A labelled activity (from a dataset's annotation or the simulator's ground truth)."""

    label: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            t = getattr(self, name)
            if not isinstance(t, datetime) or t.tzinfo is None or t.utcoffset() is None:
                raise InvalidEvent(f"activity {name} must be a timezone-aware datetime")
        if self.end < self.start:
            raise InvalidEvent(f"activity {self.label!r} ends before it starts")
        if not self.label.strip():
            raise InvalidEvent("activity label is empty")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
