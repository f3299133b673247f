"""A simulated home with months of history for the trend pictures (the Trends page, the weekly e-mail).

`trend_events` simulates the resident and can add a change a nurse should hear about: from a given
night on, two extra toilet visits every night (02:40 and 04:10), each a bathroom visit from bed and
back. `make_trends_home` stores the events in a dashboard's source, with no model and no alert.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.clock import Clock
from hometwin.domain.events import SensorEvent
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from tests.dashboard_helpers import Home

TZ = "Europe/Berlin"
START = datetime(2026, 1, 5, tzinfo=ZoneInfo(TZ))  # a Monday


def trend_events(days: int = 84, *, seed: int = 11, more_toilet_nights: int = 0,
                 without_rooms: tuple[str, ...] = ()) -> tuple[list[SensorEvent], datetime]:
    """(events, now): `days` simulated days, "now" 09:00 local on the day after; the last
    `more_toilet_nights` nights with two extra toilet visits; `without_rooms` have no sensor."""
    from hometwin.sim import simulate

    events = [e for e in simulate(days, seed=seed, start=START).events if e.room not in without_rooms]
    for night in range(days - more_toilet_nights, days):
        midnight = START + timedelta(days=night)
        for hour, minute in ((2, 40), (4, 10)):
            visit = midnight + timedelta(hours=hour, minutes=minute)
            events += [SensorEvent(visit + timedelta(minutes=m), "pir_bathroom", "bathroom") for m in (0, 2, 4)]
            events.append(SensorEvent(visit + timedelta(minutes=7), "pir_bedroom", "bedroom"))
    return sorted(events), START + timedelta(days=days, hours=9)


def make_trends_home(tmp: Path, **kwargs: object) -> Home:
    """A dashboard `Home` whose source holds `trend_events(**kwargs)`, at their "now"."""
    events, now = trend_events(**kwargs)  # type: ignore[arg-type]
    source = open_source(f"sqlite:///{tmp / 'events.sqlite'}")
    source.append(events)  # type: ignore[attr-defined]
    alerts = AlertStore(open_object_store(f"file://{tmp / 'state'}"), "home")
    registry = ModelRegistry(open_object_store(f"file://{tmp / 'models'}"), "home")
    return Home(source, alerts, registry, Clock(now, 1.0, time.time()), "", tmp)
