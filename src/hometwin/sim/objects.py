"""How object-level sensors fire: cupboards, inner doors, toilet flushes, appliances, bed and couch mats.

Real homes (van Kasteren, Ordóñez) are watched mostly by such sensors rather than a PIR per room, so
a stay often shows only as a cupboard opening or a mat switching on. Each function returns
(time, sensor, kind, value) tuples inside one segment; the resident sorts and stamps them.
"""

from __future__ import annotations

import random

from hometwin.domain.events import SensorKind
from hometwin.sim.layout import HomeLayout, SensorSpec
from hometwin.sim.routine import ACTIVE, RESTING, SILENT, SLEEP, Segment

Reading = tuple[float, str, SensorKind, float]

PASSAGE = "passage"  # a `uses` entry that makes a contact an inner door
EMERGENCY_ACTIVITIES = ("fall", "stuck")  # nobody opens a cupboard or flushes while lying on the floor
SEEN_DOOR = 0.85  # inner doors are often left open: not every passage moves the contact
FLUSHED = 0.9  # a toilet visit ends with a flush
TURNS_PER_HOUR_ASLEEP = 0.6  # a sleeper shifts on the bed mat about every 100 minutes


def object_uses(layout: HomeLayout, seg: Segment, rng: random.Random) -> list[Reading]:
    """Readings of the room's object sensors during `seg` (none while away or in an emergency)."""
    if seg.level == SILENT or seg.activity in EMERGENCY_ACTIVITIES:
        return []
    out: list[Reading] = []
    last_moment = seg.end - 0.5
    for spec in layout.rooms.get(seg.room, ()):
        if spec.kind is SensorKind.CONTACT and spec.uses:
            if PASSAGE in spec.uses:
                out += _passage(spec, seg, last_moment, rng)
            elif seg.activity in spec.uses:
                out += _opened(spec, seg.start, last_moment, rng)
        elif spec.kind is SensorKind.PRESSURE and not seg.who:  # a visitor sits elsewhere
            if (seg.activity in spec.uses) if spec.uses else (seg.level in RESTING):
                out += _sat_on(spec, seg, last_moment, rng)
        elif spec.kind is SensorKind.OTHER:
            if (seg.activity in spec.uses) if spec.uses else (seg.level == ACTIVE):
                out += _used_at_end(spec, seg.start, last_moment, rng)
    return out


def _opened(spec: SensorSpec, start: float, last_moment: float, rng: random.Random) -> list[Reading]:
    """A cupboard opened once or twice and closed again before it opens anew (or not at all)."""
    out: list[Reading] = []
    opens = sorted(rng.uniform(start, last_moment) for _ in range(rng.choice((0, 1, 1, 2))))
    for i, opened in enumerate(opens):
        limit = opens[i + 1] if i + 1 < len(opens) else last_moment + 0.25
        closed = min(opened + rng.uniform(3, 40), (opened + limit) / 2)
        out += [(opened, spec.name, spec.kind, 1.0), (closed, spec.name, spec.kind, 0.0)]
    return out


def _passage(spec: SensorSpec, seg: Segment, last_moment: float, rng: random.Random) -> list[Reading]:
    """An inner door: opened and closed on entering, and again on leaving (when it was shut)."""
    out: list[Reading] = []
    entered = min(seg.start + rng.uniform(0.3, 2.0), last_moment)
    shut = min(entered + rng.uniform(2, 6), last_moment)
    if rng.random() < SEEN_DOOR:
        out += [(entered, spec.name, spec.kind, 1.0), (shut, spec.name, spec.kind, 0.0)]
    leaving = max(last_moment - rng.uniform(3, 8), shut + 0.1)
    if rng.random() < SEEN_DOOR and leaving < last_moment:
        out += [(leaving, spec.name, spec.kind, 1.0),
                (min(leaving + rng.uniform(1, 4), last_moment + 0.25), spec.name, spec.kind, 0.0)]
    return out


def _sat_on(spec: SensorSpec, seg: Segment, last_moment: float, rng: random.Random) -> list[Reading]:
    """A mat switches on soon after sitting or lying down and off on getting up; a sleeper's turning
    over lifts it for a few seconds now and then."""
    on = seg.start + rng.uniform(1, 8)
    off = last_moment - rng.uniform(0, 4)
    if off <= on:
        return []
    out: list[Reading] = [(on, spec.name, spec.kind, 1.0)]
    if seg.level == SLEEP:
        t = on + rng.expovariate(TURNS_PER_HOUR_ASLEEP / 3600)
        while t < off - 60:
            back = t + rng.uniform(2, 30)
            out += [(t, spec.name, spec.kind, 0.0), (back, spec.name, spec.kind, 1.0)]
            t = back + rng.expovariate(TURNS_PER_HOUR_ASLEEP / 3600)
    out.append((off, spec.name, spec.kind, 0.0))
    return out


def _used_at_end(spec: SensorSpec, start: float, last_moment: float, rng: random.Random) -> list[Reading]:
    """One use towards the end of the segment: a flush after the toilet, the kettle for a drink."""
    if rng.random() >= FLUSHED:
        return []
    on = max(start, last_moment - rng.uniform(5, 60))
    off = min(on + rng.uniform(3, 30), last_moment + 0.25)
    return [(on, spec.name, spec.kind, 1.0), (off, spec.name, spec.kind, 0.0)]
