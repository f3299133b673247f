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

import uvicorn
from fastapi import FastAPI

from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.alert_store import AlertStore
from hometwin.clock import Clock
from hometwin.config import DashboardSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.registry import ModelRegistry
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
