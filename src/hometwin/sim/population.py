"""A population of simulated homes: a second validation set next to the five public homes.

`population(seed, count, days)` draws `count` homes, each from its own seed: a layout (the course's
PIR per room, or object-level sensors with or without living-room, bedroom, door and mat sensors),
a lifestyle (bed and wake times, naps, long evenings, late nights, days out the door does not see,
visitors, trips) and faults (a dead sensor, a stuck one, a gateway outage). Variants are assigned so
that a population of 20 holds every one of them.

Seeds: develop and test with `DEVELOPMENT_SEEDS`; `HELD_OUT_SEEDS` are for measuring only and are
never used while developing (docs/evaluation.md), so the population stays unseen.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hometwin.domain.events import SensorEvent
from hometwin.sim.changes import BehaviourChange
from hometwin.sim.faults import Fault, GatewayOutage, apply_faults, fault_to_dict
from hometwin.sim.layout import HomeLayout
from hometwin.sim.resident import GroundTruth, simulate
from hometwin.sim.routine import Lifestyle, Trip
from hometwin.sim.variants import (
    ZONES,
    HomeVariant,
    assign_variants,
    draw_faults,
    draw_layout,
    draw_lifestyle,
    draw_trips,
    random_variant,
)

DEVELOPMENT_SEEDS = range(0, 1000)
"""Population seeds for development, tuning and tests."""
HELD_OUT_SEEDS = range(9000, 9010)
"""Population seeds nobody develops with: only for the reported validation figures."""
MAX_HOMES = 1000  # home seeds are population seed * MAX_HOMES + index: populations never share a home

Interval = tuple[datetime, datetime]


@dataclass
class SimulatedHome:
    """One drawn home: its events (faults applied), and everything drawn, for reports and scoring."""

    name: str
    seed: int
    events: list[SensorEvent]
    tz: str
    description: str
    excluded: tuple[Interval, ...]  # the person away, gateway outages: never inject nor count here
    ground_truth: GroundTruth
    layout: HomeLayout
    lifestyle: Lifestyle
    variant: HomeVariant
    start: datetime
    days: int
    trips: tuple[Trip, ...] = ()
    faults: tuple[Fault, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The ground truth plus what was drawn (the events go to an event store or a file)."""
        return {"name": self.name, "seed": self.seed, "tz": self.tz, "start": self.start.isoformat(),
                "days": self.days, "n_events": len(self.events), "description": self.description,
                "variant": self.variant.tags(),
                "sensors": [{"sensor": s.name, "room": room, "kind": s.kind.value}
                            for room, s in self.layout.all_sensors()],
                "faults": [fault_to_dict(f) for f in self.faults],
                "excluded": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in self.excluded],
                **self.ground_truth.to_dict()}


def population(seed: int, count: int = 20, days: int = 42) -> list[SimulatedHome]:
    """`count` homes of `days` days each, deterministic for `seed`."""
    return list(iter_population(seed, count, days))


def iter_population(seed: int, count: int = 20, days: int = 42) -> Iterator[SimulatedHome]:
    """The homes of `population` one at a time (for a progress bar)."""
    if not 1 <= count <= MAX_HOMES:
        raise ValueError(f"count must be 1 to {MAX_HOMES}, got {count}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    variants = assign_variants(random.Random(f"population:{seed}"), count)
    for i in range(count):
        yield simulated_home(seed * MAX_HOMES + i, days, variants[i], name=f"sim-{seed}-{i:02d}")


def simulated_home(seed: int, days: int = 42, variant: HomeVariant | None = None, *,
                   name: str | None = None, changes: Sequence[BehaviourChange] = ()) -> SimulatedHome:
    """One home drawn from `seed` (its variant too, unless given); `changes` are behaviour changes
    injected from a day on (sim/changes.py; none: the home as always drawn)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    rng = random.Random(f"home:{seed}")
    variant = variant or random_variant(random.Random(f"variant:{seed}"))
    tz = rng.choice(ZONES)
    first_day = date.fromordinal(date(2024, 1, 1).toordinal() + rng.randint(0, 730))
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=ZoneInfo(tz))
    layout = draw_layout(rng, variant, tz)
    lifestyle = draw_lifestyle(rng, variant)
    trips = draw_trips(rng, variant, start, days)
    faults = draw_faults(rng, variant, layout, start, days)
    result = simulate(days, seed=seed, start=start, layout=layout, lifestyle=lifestyle, trips=trips,
                      changes=changes)
    events = apply_faults(result.events, faults, layout, seed)
    outages = [(f.start, f.end) for f in faults if isinstance(f, GatewayOutage)]
    home = SimulatedHome(name or f"sim-home-{seed}", seed, events, tz, "", _merge(result.ground_truth.away + outages),
                         result.ground_truth, layout, lifestyle, variant, start, days, trips, faults)
    home.description = describe(home)
    return home


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def _clock(minutes: float) -> str:
    hours, mins = divmod(round(minutes) % 1440, 60)
    return f"{hours:02d}:{mins:02d}"


def describe(home: SimulatedHome) -> str:
    """What was drawn, in one paragraph for a report."""
    life, zone = home.lifestyle, ZoneInfo(home.tz)
    sensors = ", ".join(f"{room}: {'+'.join(s.name for s in specs) or 'none'}"
                        for room, specs in home.layout.rooms.items())
    habits = [f"wakes {_clock(life.wake_weekday[0])}±{life.wake_weekday[1]:.0f} min "
              f"(weekends {_clock(life.wake_weekend[0])}), bed {_clock(life.bed_weekday[0])}"
              f"±{life.bed_weekday[1]:.0f} (weekends {_clock(life.bed_weekend[0])})"]
    if life.nap:
        habits.append(f"naps {life.nap:.0%} of days {'in bed' if life.nap_in_bed else 'on the sofa'}")
    if life.long_evening:
        habits.append(f"long quiet evenings on the sofa {life.long_evening:.0%}")
    if life.late_night:
        habits.append(f"late nights {life.late_night:.0%}")
    if life.day_out >= 0.005:
        habits.append(f"days out {life.day_out:.0%}")
    if life.door_missed:
        habits.append(f"outings the door misses {life.door_missed:.0%}")
    if life.visits:
        habits.append(f"visitors {life.visits:.0%} of days ({len(home.ground_truth.visits)} visits)")
    habits += [f"away {t.start.astimezone(zone):%a %d %b %H:%M} to {t.end.astimezone(zone):%a %d %b %H:%M}"
               + ("" if t.door else " (door not seen)") for t in home.trips]
    faults = []
    for f in home.faults:
        d = fault_to_dict(f)
        what = f"{d['type'].replace('_', ' ')} {d.get('sensor', '')}".replace("  ", " ").strip()
        span = datetime.fromisoformat(d["start"]).astimezone(zone)
        end = f" to {datetime.fromisoformat(d['end']).astimezone(zone):%d %b %H:%M}" if "end" in d else ""
        faults.append(f"{what} from {span:%d %b %H:%M}{end}")
    return (f"{home.name}: {home.tz}, {home.days} days from {home.start.date()}, {len(home.events)} events; "
            f"sensors {sensors}; {'; '.join(habits)}; faults: {'; '.join(faults) or 'none'}; "
            f"variant {' '.join(home.variant.tags())}")
