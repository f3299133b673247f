"""The dashboard on real uvicorn (127.0.0.1, a free port) in the test process, and a home to show."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import FastAPI

from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.clock import Clock
from hometwin.config import DashboardSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from tests.servers import free_port


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve `app` over real HTTP until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- a home to show ------------------------------------------------------------------------------



NOW = datetime(2026, 3, 11, 9, 30, tzinfo=UTC)  # a Wednesday, 10:30 in Berlin


@dataclass
class Home:
    source: Any
    alerts: AlertStore
    registry: ModelRegistry
    clock: Clock
    alert_id: str
    tmp: Path

    def app(self, **settings: Any) -> FastAPI:
        from hometwin.components.dashboard import create_app

        return create_app(DashboardSettings(data_dir=self.tmp, **settings), source=self.source,
                          registry=self.registry, alert_store=self.alerts, clock=self.clock)


def morning(day: datetime) -> list[SensorEvent]:
    """A plain morning: bedroom, bathroom, kitchen, living room."""
    plan = [("bedroom", 0, 7 * 60), ("bathroom", 7 * 60, 7 * 60 + 20), ("kitchen", 7 * 60 + 20, 8 * 60),
            ("livingroom", 8 * 60, 10 * 60 + 25)]
    events = []
    for room, a, b in plan:
        for minute in range(a, b, 4):
            events.append(SensorEvent(day + timedelta(minutes=minute), f"pir_{room}", room))
    return events


def make_home(tmp: Path, *, alert: bool = True) -> Home:
    source = open_source(f"sqlite:///{tmp / 'events.sqlite'}")
    day = NOW.replace(hour=0, minute=0)
    source.append(morning(day))  # type: ignore[attr-defined]
    alerts = AlertStore(open_object_store(f"file://{tmp / 'state'}"), "home")
    book = AlertBook()
    finding = Finding(FindingKind.PROLONGED_STAY, Severity.EMERGENCY, "bathroom", NOW - timedelta(hours=1),
                      observed=3600, expected=600, threshold=2400, percentile=99.7,
                      message="In the bathroom for 1 h 00 min; usually 10 min.")
    alert_id = ""
    if alert:
        policy = AlertPolicy(escalation=("carer@example.org",))
        notes = book.advance([finding], NOW - timedelta(minutes=5), policy)
        alert_id = notes[0].alert_id
        alerts.save(book)
    registry = ModelRegistry(open_object_store(f"file://{tmp / 'models'}"), "home")
    return Home(source, alerts, registry, Clock(NOW, 1.0, time.time()), alert_id, tmp)


# -- a simulated, trained home (the e2e browser test and the model pages) -------------------------

@dataclass
class TrainedHome(Home):
    rooms: list[str]
    expected_room: str  # where the simulated person really is "now"
    versions: list[str]


def make_trained_home(tmp: Path, *, weeks: int = 3, seed: int = 11) -> TrainedHome:
    """Three weeks of the simulated resident, two registered models (after two and three weeks),
    then a morning on which the resident gets stuck in the bathroom; "now" is ten minutes after
    the real detectors and alert book (as in the monitoring) raised the bathroom alert."""
    from hometwin.domain.detection import RECENT_WINDOW, detect
    from hometwin.domain.model import BehaviourModel
    from hometwin.services.training import MODEL_KIND, train_and_register
    from hometwin.sim import StuckInBathroom, simulate

    tz = "Europe/Berlin"
    start = datetime(2026, 2, 2, tzinfo=ZoneInfo(tz))  # a Monday
    stuck = start + timedelta(days=7 * weeks, hours=9, minutes=40)
    horizon = stuck + timedelta(minutes=240)
    sim = simulate(7 * weeks + 1, seed=seed, start=start, emergencies=[StuckInBathroom(stuck, minutes=300)])
    events = [e for e in sim.events if e.time < horizon]
    registry = ModelRegistry(open_object_store(f"file://{tmp / 'models'}"), "home")
    versions = []
    for days in (7 * (weeks - 1), 7 * weeks):
        end = start + timedelta(days=days)
        history = [e for e in events if e.time < end]
        versions.append(train_and_register(history, registry, tz=tz, start=start, end=end).version.version)
    latest = registry.latest(MODEL_KIND)
    assert latest is not None
    model = BehaviourModel.from_dict(latest.document)
    alerts = AlertStore(open_object_store(f"file://{tmp / 'state'}"), "home")
    book = AlertBook()
    recent = [e for e in events if e.time >= stuck - RECENT_WINDOW]
    policy = AlertPolicy(escalation=("carer@example.org",))
    notes: list = []
    at = stuck
    while at < horizon and not any(n.finding.room == "bathroom" for n in notes):
        at += timedelta(minutes=5)  # the monitoring checks every few minutes
        notes += book.advance(detect(model, [e for e in recent if e.time < at], at), at, policy)
    bathroom = [n for n in notes if n.finding.room == "bathroom" and n.kind.value == "alert"]
    if not bathroom:
        raise AssertionError(f"the detectors raised no bathroom alert 4 h into the emergency: {notes}")
    now = at + timedelta(minutes=10)
    book.advance(detect(model, [e for e in recent if e.time < now], now), now, policy)
    alerts.save(book)
    source = open_source(f"sqlite:///{tmp / 'events.sqlite'}")
    source.append([e for e in events if e.time < now])  # type: ignore[attr-defined]
    return TrainedHome(source, alerts, registry, Clock(now, 1.0, time.time()), bathroom[0].alert_id, tmp,
                       rooms=list(model.rooms), expected_room="bathroom", versions=versions)
