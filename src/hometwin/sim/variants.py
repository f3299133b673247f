"""What a simulated home can be: its variant (which sensors, which habits, which faults) and the
plausible ranges its layout, lifestyle and faults are drawn from. docs/data.md explains each range.

A population assigns variants so that every variant occurs (see `assign_variants`); everything else
about a home (times, probabilities, which sensor fails and when) is drawn from the home's own seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hometwin.domain.events import SensorKind
from hometwin.sim.faults import DeadSensor, Fault, GatewayOutage, StuckSensor
from hometwin.sim.layout import HomeLayout, SensorSpec
from hometwin.sim.objects import PASSAGE
from hometwin.sim.routine import Lifestyle, Trip

T = TypeVar("T")

LIVING_SENSORS = ("pir", "mat", "pir+mat", "none")  # none: like van Kasteren A
BEDROOM_SENSORS = ("pir", "mat", "pir+mat", "door")  # door: only the bedroom door's contact
ZONES = ("Europe/Berlin", "Europe/Berlin", "Europe/Amsterdam", "Europe/Madrid", "Europe/London",
         "America/New_York")

# Share of a population with each variant (the rest goes without).
COURSE_SHARE = 0.25  # PIR in every room, front door, fridge: the course deployment
SHARES = {"front_door": 0.7, "toilet_room": 0.35, "naps": 0.4, "long_evenings": 0.4, "late_nights": 0.35,
          "doorless_outings": 0.35, "visitors": 0.35, "trip": 0.3, "dead_sensor": 0.3, "stuck_sensor": 0.3,
          "outage": 0.3}


@dataclass(frozen=True, slots=True)
class HomeVariant:
    """The discrete choices that make homes differ; every one occurs in a population of 20."""

    course: bool = False
    living: str = "pir"
    bedroom: str = "pir"
    front_door: bool = True
    toilet_room: bool = False
    naps: bool = False
    long_evenings: bool = False
    late_nights: bool = False
    doorless_outings: bool = False
    visitors: bool = False
    trip: bool = False
    dead_sensor: bool = False
    stuck_sensor: bool = False
    outage: bool = False

    def tags(self) -> list[str]:
        """The variant in words: `course`, `living:none`, `naps`, ... (what is on)."""
        out = ["course"] if self.course else [f"living:{self.living}", f"bedroom:{self.bedroom}"]
        out += [f.name for f in fields(self) if f.name not in ("course", "living", "bedroom", "front_door")
                and getattr(self, f.name)]
        if not self.front_door:
            out.append("no_front_door")
        return out


def _spread(rng: random.Random, n: int, share: float) -> list[bool]:
    """`share` of n flags set, at least one set and one unset when n >= 2, in random places."""
    k = round(share * n)
    if n >= 2:
        k = min(max(k, 1), n - 1)
    flags = [True] * k + [False] * (n - k)
    rng.shuffle(flags)
    return flags


def _cycle(rng: random.Random, n: int, options: Sequence[T]) -> list[T]:
    """Every option in turn (each occurs once n >= len(options)), in random places."""
    out = [options[i % len(options)] for i in range(n)]
    rng.shuffle(out)
    return out


def assign_variants(rng: random.Random, count: int) -> list[HomeVariant]:
    """Variants for `count` homes: shares as in SHARES, every sensor layout in turn among the
    object-sensor homes."""
    course = _spread(rng, count, COURSE_SHARE)
    objects = [i for i in range(count) if not course[i]]
    living, bedroom = _cycle(rng, len(objects), LIVING_SENSORS), _cycle(rng, len(objects), BEDROOM_SENSORS)
    door, toilet = _spread(rng, len(objects), SHARES["front_door"]), _spread(rng, len(objects),
                                                                             SHARES["toilet_room"])
    habits = {name: _spread(rng, count, share) for name, share in SHARES.items()
              if name not in ("front_door", "toilet_room")}
    out = []
    for i in range(count):
        j = objects.index(i) if i in objects else -1
        base = (HomeVariant(course=True) if j < 0 else
                HomeVariant(living=living[j], bedroom=bedroom[j], front_door=door[j], toilet_room=toilet[j]))
        chosen: dict[str, Any] = {name: flags[i] for name, flags in habits.items()}
        out.append(replace(base, **chosen))
    return out


def random_variant(rng: random.Random) -> HomeVariant:
    """One home on its own: each choice drawn with its population share."""
    if rng.random() < COURSE_SHARE:
        base = HomeVariant(course=True)
    else:
        base = HomeVariant(living=rng.choice(LIVING_SENSORS), bedroom=rng.choice(BEDROOM_SENSORS),
                           front_door=rng.random() < SHARES["front_door"],
                           toilet_room=rng.random() < SHARES["toilet_room"])
    habits: dict[str, Any] = {name: rng.random() < share for name, share in SHARES.items()
                              if name not in ("front_door", "toilet_room")}
    return replace(base, **habits)


# ------------------------------------------------------------------------------ layout

def draw_layout(rng: random.Random, variant: HomeVariant, tz: str) -> HomeLayout:
    """The course layout, or object-level sensors in the manner of van Kasteren and Ordóñez."""
    if variant.course:
        return HomeLayout.default(tz)
    blind, miss = rng.choice((10.0, 10.0, 30.0)), round(rng.uniform(0.03, 0.12), 3)

    def pir(room: str) -> SensorSpec:
        return SensorSpec(f"pir_{room}", SensorKind.MOTION, blind, miss)

    def contact(name: str, *uses: str) -> SensorSpec:
        return SensorSpec(name, SensorKind.CONTACT, uses=uses)

    bedroom = [pir("bedroom")] if "pir" in variant.bedroom else []
    if "mat" in variant.bedroom:
        bedroom.append(SensorSpec("bed_mat", SensorKind.PRESSURE, uses=("sleeping", "napping")))
    if variant.bedroom == "door":
        bedroom.append(contact("bedroom_door", PASSAGE))
    if rng.random() < 0.5:
        bedroom.append(contact("wardrobe", "dressing"))
    living = [pir("livingroom")] if "pir" in variant.living else []
    if "mat" in variant.living:
        living.append(SensorSpec("couch_mat", SensorKind.PRESSURE, uses=("leisure", "napping")))
    flush = SensorSpec("toilet_flush", SensorKind.OTHER, uses=("toileting",))
    bathroom = [pir("bathroom") if rng.random() < 0.7 else contact("bathroom_door", PASSAGE)]
    rooms = {"bedroom": tuple(bedroom), "livingroom": tuple(living)}
    if variant.toilet_room:
        rooms["toilet"] = (flush, contact("toilet_door", PASSAGE) if rng.random() < 0.6 else pir("toilet"))
    else:
        bathroom.append(flush)
    rooms["bathroom"] = tuple(bathroom)
    kitchen = [pir("kitchen")] if rng.random() < 0.6 else []
    kitchen.append(SensorSpec("fridge", SensorKind.CONTACT))
    cupboards = [("cups_cupboard", ("breakfast", "drink")), ("plates_cupboard", ("cooking", "breakfast")),
                 ("pans_cupboard", ("cooking",)), ("groceries_cupboard", ("cooking", "breakfast"))]
    kitchen += [contact(name, *uses) for name, uses in rng.sample(cupboards, rng.randint(1, 3))]
    if rng.random() < 0.5:
        kitchen.append(SensorSpec("microwave", SensorKind.OTHER, uses=("cooking",)))
    rooms["kitchen"] = tuple(kitchen)
    hall = [pir("hall")] if rng.random() < 0.5 else []
    if variant.front_door:
        hall.append(SensorSpec("front_door", SensorKind.DOOR))
    rooms["hall"] = tuple(hall)
    return HomeLayout(rooms=rooms, tz=tz, toilet="toilet" if variant.toilet_room else "",
                      front_door=variant.front_door)


# ---------------------------------------------------------------------------- lifestyle

def draw_lifestyle(rng: random.Random, variant: HomeVariant) -> Lifestyle:
    # early risers (older people living alone) to the late sleepers of the public homes (wake-up
    # medians 08:13-11:02, spreads 38-131 min, nights of 7.0-9.4 h)
    wake = rng.uniform(5.5, 10.0) * 60
    wake_spread = rng.uniform(15, 75)
    sleep_hours = rng.uniform(7.0, 9.5)
    bed = wake + 1440 - sleep_hours * 60
    bed_spread = rng.uniform(15, 75)
    weekend_shift = rng.uniform(0, 90)  # sleeping in at weekends, from not at all to an hour and a half
    weekend_bed_shift = rng.uniform(0, 75)
    weekend_spread = wake_spread * rng.uniform(1.0, 1.5)
    shower = rng.uniform(0.3, 0.9)
    extra: dict[str, Any] = {}
    if variant.long_evenings:
        extra |= {"long_evening": rng.uniform(0.5, 0.9), "long_evening_minutes": rng.uniform(90, 180)}
    if variant.naps:
        extra |= {"nap": rng.uniform(0.3, 0.9), "nap_minutes": (20.0, rng.uniform(45, 100)),
                  "nap_in_bed": rng.random() < 0.5}
    if variant.late_nights:
        extra |= {"late_night": rng.uniform(0.1, 0.3), "late_night_hours": (1.0, rng.uniform(2.0, 3.5))}
    if variant.doorless_outings:
        extra |= {"door_missed": rng.uniform(0.2, 0.4), "day_out": rng.uniform(0.05, 0.2)}
    else:
        extra |= {"day_out": rng.uniform(0.0, 0.15)}
    if variant.visitors:
        extra |= {"visits": rng.uniform(0.15, 0.35), "visit_hours": (1.0, rng.uniform(2.5, 4.0))}
    return replace(Lifestyle(
        wake_weekday=(wake, wake_spread),
        wake_weekend=(wake + weekend_shift, weekend_spread),
        wake_bounds=(wake - max(120.0, 2.5 * wake_spread), wake + weekend_shift + max(180.0, 3 * weekend_spread)),
        bed_weekday=(bed, bed_spread),
        bed_weekend=(bed + weekend_bed_shift, bed_spread * rng.uniform(1.0, 1.5)),
        shower_weekday=shower, shower_weekend=shower * rng.uniform(0.7, 1.1),
        morning_outing=rng.uniform(0.2, 0.85), afternoon_outing=rng.uniform(0.1, 0.5),
        weekend_outing=rng.uniform(0.3, 0.8),
        lunch_at=rng.uniform(11.75, 13.25) * 60, dinner_at=rng.uniform(17.5, 19.5) * 60,
        sitting_minutes=rng.uniform(25, 60), toilet_breaks=rng.uniform(0.15, 0.35),
    ), **extra)


def draw_trips(rng: random.Random, variant: HomeVariant, start: datetime, days: int) -> tuple[Trip, ...]:
    """A few days away (a holiday, a stay with family), leaving mid-morning, back in the afternoon."""
    if not variant.trip or days < 4:
        return ()
    length = min(rng.randint(2, 5), days - 2)
    first = rng.randint(min(5, days - length - 1), days - length - 1)  # a few days of routine first
    leave = (start + timedelta(days=first)).replace(hour=rng.randint(9, 11), minute=rng.randint(0, 59))
    back = (start + timedelta(days=first + length)).replace(hour=rng.randint(14, 18), minute=rng.randint(0, 59))
    return (Trip(leave, back, door=not variant.doorless_outings),)


# ------------------------------------------------------------------------------- faults

def draw_faults(rng: random.Random, variant: HomeVariant, layout: HomeLayout, start: datetime,
                days: int) -> tuple[Fault, ...]:
    names = [spec.name for _, spec in layout.all_sensors()]

    def moment(lo: float, hi: float) -> datetime:
        return start + timedelta(days=rng.uniform(lo, hi) * days)

    out: list[Fault] = []
    dead = ""
    if variant.dead_sensor:
        dead = rng.choice(names)
        out.append(DeadSensor(dead, moment(0.3, 0.85)))
    if variant.stuck_sensor:
        at = moment(0.1, 0.9)
        out.append(StuckSensor(rng.choice([n for n in names if n != dead]), at,
                               at + timedelta(hours=rng.uniform(2, 36))))
    if variant.outage:
        at = moment(0.1, 0.9)
        out.append(GatewayOutage(at, at + timedelta(hours=rng.uniform(2, 24))))
    return tuple(out)
