"""The simulated home: rooms, their sensors, and how each kind of sensor behaves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hometwin.domain.events import SensorKind


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor. A PIR (`motion`) reports one point per detection, then is blind for
    `blind_seconds`; it misses a movement with probability `miss`. Contacts and the front door
    report 1 (open) and 0 (closed); pressure mats 1 (sat or lying on) and 0 (got up); `other`
    sensors (a flush, an appliance) 1 and 0 around one use.

    `uses` names the activities during which an object sensor is used (`toileting` for a flush,
    `sleeping` for a bed mat); `passage` makes a contact an inner door, opened on entering and
    leaving its room. Empty: a contact is used during any active spell or meal (the fridge), a mat
    while the person rests in its room, an `other` sensor during any active spell."""

    name: str
    kind: SensorKind = SensorKind.MOTION
    blind_seconds: float = 10.0
    miss: float = 0.07
    uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class HomeLayout:
    """Rooms with their sensors. The front door (kind `door`) must be in `entrance`, unless
    `front_door` is False (a home whose outside door has no contact: outings leave no door event).
    A room may have no sensor at all (many real homes have none in the living room). `toilet`
    names a separate toilet room; empty: the person uses the toilet in the bathroom."""

    rooms: dict[str, tuple[SensorSpec, ...]]
    tz: str = "Europe/Berlin"
    entrance: str = "hall"
    bedroom: str = "bedroom"
    bathroom: str = "bathroom"
    kitchen: str = "kitchen"
    livingroom: str = "livingroom"
    toilet: str = ""
    front_door: bool = True

    def __post_init__(self) -> None:
        for role in (self.entrance, self.bedroom, self.bathroom, self.kitchen, self.livingroom, self.toilet):
            if role and role not in self.rooms:
                raise ValueError(f"layout has no room {role!r} (rooms: {sorted(self.rooms)})")
        if self.front_door and not any(s.kind is SensorKind.DOOR for s in self.rooms[self.entrance]):
            raise ValueError(f"room {self.entrance!r} needs a front-door sensor of kind 'door'")
        names = [s.name for specs in self.rooms.values() for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"sensor names must be unique, got {sorted(names)}")

    @property
    def toilet_room(self) -> str:
        """Where the person goes to the toilet."""
        return self.toilet or self.bathroom

    @classmethod
    def default(cls, tz: str = "Europe/Berlin") -> HomeLayout:
        """Five rooms, one PIR each (course layout), a front-door contact and a fridge contact."""
        rooms = ("bedroom", "bathroom", "kitchen", "livingroom", "hall")
        pir = {room: SensorSpec(f"pir_{room}") for room in rooms}
        return cls(rooms={
            "bedroom": (pir["bedroom"],),
            "bathroom": (pir["bathroom"],),
            "kitchen": (pir["kitchen"], SensorSpec("fridge", SensorKind.CONTACT)),
            "livingroom": (pir["livingroom"],),
            "hall": (pir["hall"], SensorSpec("front_door", SensorKind.DOOR)),
        }, tz=tz)

    def sensors(self, room: str, kind: SensorKind) -> list[SensorSpec]:
        return [s for s in self.rooms.get(room, ()) if s.kind is kind]

    def all_sensors(self) -> list[tuple[str, SensorSpec]]:
        """(room, sensor) for every sensor, room by room."""
        return [(room, spec) for room, specs in self.rooms.items() for spec in specs]


# ------------------------------------------------------------------------- emergencies

@dataclass(frozen=True, slots=True)
class Fall:
    """The person falls at `at` and lies still: no sensor fires in the room from then on, until
    help arrives `duration` later (the routine then resumes)."""

    at: datetime
    duration: timedelta = field(default=timedelta(hours=12))
    kind: str = "fall"


@dataclass(frozen=True, slots=True)
class StuckInBathroom:
    """At `at` the person goes to (or stays in) the bathroom and cannot leave for `minutes`;
    they still move a little, so the bathroom PIR fires now and then."""

    at: datetime
    minutes: float = 240.0
    kind: str = "stuck_in_bathroom"


@dataclass(frozen=True, slots=True)
class NotComingHome:
    """The first outing starting at or after `at` (within a day; else one starting at `at`) lasts
    `duration` longer than planned. The emergency starts at the planned return."""

    at: datetime
    duration: timedelta = field(default=timedelta(hours=24))
    kind: str = "not_coming_home"


Emergency = Fall | StuckInBathroom | NotComingHome
