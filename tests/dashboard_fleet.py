"""A fleet of homes for the dashboard's tests: one home in each status, over real stores.

Every home has its own SQLite event database and its own keys in one shared file object store for
models and alert books, as `components.wiring.build_home_ports` builds them from a homes file. anna
and ben have the same emergency (the same incident, so the same alert id: the case in which one
home's ack link must not acknowledge the other's alert).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.clock import Clock
from hometwin.components.wiring import HomePorts
from hometwin.config import DashboardSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy, Notification
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.domain.model import MODEL_KIND
from hometwin.ports import ObjectStore
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.homes import Home
from tests.dashboard_helpers import NOW, morning

# id, name, what is going on there, and the status the home list must show
FLEET = [
    ("fred", "Fred Wagner", "well", "well"),
    ("dora", "Dora Klein", "no events", "data_missing"),
    ("anna", "Anna Berger", "emergency", "alert"),
    ("carl", "Carl Huber", "warning", "warning"),
    ("eve", "Eve Novak", "no model", "no_model"),
    ("ben", "Ben Fischer", "emergency", "alert"),
]
STATUS = {home_id: status for home_id, _, _, status in FLEET}


def _finding(severity: Severity) -> Finding:
    return Finding(FindingKind.PROLONGED_STAY, severity, "bathroom", NOW - timedelta(hours=1),
                   observed=3600, expected=600, threshold=2400, percentile=99.7,
                   message="In the bathroom for 1 h 00 min; usually 10 min.")


@dataclass
class Fleet:
    homes: list[HomePorts]
    clock: Clock
    alert_id: str  # of anna's and ben's emergency
    tmp: Path
    notifications: dict[str, Notification]  # the first e-mail due of each home with an alert
    state: ObjectStore
    models: ObjectStore

    def ports(self, home_id: str) -> HomePorts:
        return next(h for h in self.homes if h.home.id == home_id)

    def app(self, **settings: Any) -> FastAPI:
        from hometwin.components.dashboard import create_app

        return create_app(DashboardSettings(data_dir=self.tmp, **settings), homes=self.homes, clock=self.clock,
                          home_ports=self.open_ports)

    def open_ports(self, home: Home) -> HomePorts:
        """A home declared while the dashboard runs: its own database and keys, as the others have."""
        source = open_source(f"sqlite:///{self.tmp / 'homes' / f'{home.id}.sqlite'}")
        return HomePorts(home, source, ModelRegistry(self.models, home.id), AlertStore(self.state, home.id))


def make_fleet(tmp: Path) -> Fleet:
    state = open_object_store(f"file://{tmp / 'state'}")
    models = open_object_store(f"file://{tmp / 'models'}")
    policy = AlertPolicy(escalation=("carer@example.org",))
    homes, alert_id, first = [], "", {}
    for home_id, name, situation, _ in FLEET:
        source = open_source(f"sqlite:///{tmp / 'homes' / f'{home_id}.sqlite'}")
        if situation != "no events":
            source.append(morning(NOW.replace(hour=0, minute=0)))  # type: ignore[attr-defined]
        alerts = AlertStore(state, home_id)
        if situation in ("emergency", "warning"):
            book = AlertBook()
            severity = Severity.EMERGENCY if situation == "emergency" else Severity.WARNING
            notes = book.advance([_finding(severity)], NOW - timedelta(minutes=5 if home_id == "anna" else 20), policy)
            alerts.save(book)
            if situation == "emergency":
                first[home_id] = notes[0]
                alert_id = notes[0].alert_id
        registry = ModelRegistry(models, home_id)
        if situation != "no model":
            # The home list reads only the latest alias; the document's content does not matter to it.
            registry.register(MODEL_KIND, {"placeholder": True},
                              {"training_start": NOW - timedelta(days=21), "training_end": NOW - timedelta(days=1)})
        homes.append(HomePorts(Home(id=home_id, name=name, tz="Europe/Berlin"), source, registry, alerts))
    return Fleet(homes, Clock(NOW, 1.0, time.time()), alert_id, tmp, first, state, models)
