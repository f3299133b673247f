"""Sensor and gateway faults applied to a simulated event stream.

Faults belong to the installation, not to the person, so they act on the events after the resident
produced them: a sensor whose battery dies, a sensor that gets stuck, a gateway that loses its
connection and records nothing. Each fault is also ground truth for the reports.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.sim.layout import HomeLayout


@dataclass(frozen=True, slots=True)
class DeadSensor:
    """The sensor reports nothing from `at` on (a flat battery nobody replaced)."""

    sensor: str
    at: datetime
    kind: str = "dead_sensor"


@dataclass(frozen=True, slots=True)
class StuckSensor:
    """From `start` to `end` the sensor is stuck: a PIR fires again and again as soon as it may (a
    curtain in a heater's draught), any other sensor reports 1 at `start` and nothing more until it
    recovers with 0 at `end` (a cupboard left ajar, a cushion on the mat)."""

    sensor: str
    start: datetime
    end: datetime
    kind: str = "stuck_sensor"


@dataclass(frozen=True, slots=True)
class GatewayOutage:
    """No event at all is recorded from `start` to `end` (the hub lost power or its network)."""

    start: datetime
    end: datetime
    kind: str = "gateway_outage"


Fault = DeadSensor | StuckSensor | GatewayOutage


def fault_to_dict(fault: Fault) -> dict[str, Any]:
    if isinstance(fault, DeadSensor):
        return {"type": fault.kind, "sensor": fault.sensor, "start": fault.at.isoformat()}
    if isinstance(fault, StuckSensor):
        return {"type": fault.kind, "sensor": fault.sensor, "start": fault.start.isoformat(),
                "end": fault.end.isoformat()}
    return {"type": fault.kind, "start": fault.start.isoformat(), "end": fault.end.isoformat()}


def apply_faults(events: Sequence[SensorEvent], faults: Sequence[Fault], layout: HomeLayout,
                 seed: int = 0) -> list[SensorEvent]:
    """The events as the faulty installation records them, in time order."""
    where = {spec.name: (room, spec) for room, spec in layout.all_sensors()}
    out = list(events)
    # a stuck sensor's readings die with it, and an outage swallows everything: apply in that order
    for fault in sorted(faults, key=lambda f: _ORDER[f.kind]):
        if isinstance(fault, StuckSensor):
            if fault.sensor not in where:
                raise ValueError(f"stuck sensor {fault.sensor!r} is not in the layout")
            room, spec = where[fault.sensor]
            kept = [e for e in out if not (e.sensor == fault.sensor and fault.start <= e.time < fault.end)]
            out = sorted(kept + _stuck_readings(fault, room, spec.kind, spec.blind_seconds, seed),
                         key=lambda e: e.time)
        elif isinstance(fault, DeadSensor):
            if fault.sensor not in where:
                raise ValueError(f"dead sensor {fault.sensor!r} is not in the layout")
            out = [e for e in out if not (e.sensor == fault.sensor and e.time >= fault.at)]
        else:
            out = [e for e in out if not fault.start <= e.time < fault.end]
    return out


_ORDER = {"stuck_sensor": 0, "dead_sensor": 1, "gateway_outage": 2}


def _stuck_readings(fault: StuckSensor, room: str, kind: SensorKind, blind: float, seed: int
                    ) -> list[SensorEvent]:
    if kind is not SensorKind.MOTION:
        return [SensorEvent(fault.start, fault.sensor, room, kind, 1.0),
                SensorEvent(fault.end, fault.sensor, room, kind, 0.0)]
    rng = random.Random(f"{seed}:{fault.sensor}:{fault.start.isoformat()}")
    out = []
    t = fault.start
    while t < fault.end:
        out.append(SensorEvent(t, fault.sensor, room, kind, 1.0))
        t += timedelta(seconds=blind + rng.uniform(0.2, 4.0))
    return out
