"""One monitoring step (`Monitor.check`) with real stores and sources, and a test clock.

The model is trained on a simulated person; the home then goes silent after a fall. The emitter
is a plain function recording what the scheduler would receive: the seam between the monitoring and
the SDK, which the end-to-end test covers over real HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.stores import open_object_store
from hometwin.components.monitoring import Monitor
from hometwin.components.wiring import open_events as open_source
from hometwin.components.wiring import s3_options
from hometwin.config import SourceSettings, StoreSettings
from hometwin.domain.alerts import AlertPolicy
from hometwin.domain.detection import DetectionParams
from hometwin.domain.events import SensorKind
from hometwin.domain.findings import FindingKind
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.training import train_and_register
from hometwin.sim import Fall, Resident
from tests.servers import free_port

TZ = "Europe/Berlin"
DAY = datetime(2026, 3, 24, tzinfo=ZoneInfo(TZ))  # a Tuesday


@dataclass
class FrozenClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.accept = True

    def __call__(self, name: str, data: Any) -> bool:
        if self.accept:
            self.events.append((name, data))
        return self.accept

    def named(self, name: str) -> list[Any]:
        return [d for n, d in self.events if n == name]


@pytest.fixture(scope="module")
def home() -> dict[str, Any]:
    resident = Resident(seed=5)
    history = list(resident.events(DAY - timedelta(days=21), DAY + timedelta(hours=10)))
    anchor = next(e for e in resident.events(DAY + timedelta(hours=10), DAY + timedelta(hours=14))
                  if e.kind is SensorKind.MOTION and e.room in ("kitchen", "livingroom"))
    fall = Fall(at=anchor.time + timedelta(seconds=30))
    live = [e for e in resident.events(DAY + timedelta(hours=10), DAY + timedelta(hours=12), [fall])
            if e.time <= fall.at]
    registry = ModelRegistry(open_object_store("memory://"), "home")
    train_and_register(history, registry, tz=TZ, start=DAY - timedelta(days=21), end=DAY)
    return {"events": history + live, "anchor": anchor, "fall": fall, "registry": registry}


def _monitor(home: dict[str, Any], clock: FrozenClock, emit: Recorder, *, source: Any = None,
             state: Any = None, registry: Any = None) -> Monitor:
    if source is None:
        source = MemoryEventStore()
        source.append(home["events"])
    alerts = AlertStore(state or open_object_store("memory://"), "home")
    return Monitor(source=source, registry=registry or home["registry"], alerts=alerts, clock=clock, emit=emit,
                   params=DetectionParams(), policy=AlertPolicy(escalation=("a@example.org",)))


def test_without_a_model_it_asks_for_training_once_an_hour() -> None:
    clock, emit = FrozenClock(DAY), Recorder()
    monitor = _monitor({"events": []}, clock, emit, registry=ModelRegistry(open_object_store("memory://"), "h"))
    assert monitor.check().status == "no-model"
    clock.at += timedelta(minutes=5)
    assert monitor.check().status == "no-model"
    assert len(emit.named("TrainOccupancyModelEvent")) == 1
    clock.at += timedelta(hours=1)
    monitor.check()
    assert len(emit.named("TrainOccupancyModelEvent")) == 2


def test_a_fall_gives_one_alert_in_the_right_room_and_no_duplicate(home: dict[str, Any]) -> None:
    clock, emit = FrozenClock(home["fall"].at + timedelta(minutes=10)), Recorder()
    monitor = _monitor(home, clock, emit)
    assert monitor.check().notifications == []  # ten quiet minutes are normal
    clock.at = home["fall"].at + timedelta(hours=4)
    result = monitor.check()
    assert result.status == "ok" and len(result.notifications) == 1
    assert monitor.model_version == result.model_version == home["registry"].latest("behaviour").version
    (data,) = emit.named("EmergencyEvent")
    assert data["room"] == home["anchor"].room and data["kind"] == "alert"
    clock.at += timedelta(minutes=1)
    assert monitor.check().notifications == []  # the same incident: no second e-mail


def test_a_notification_the_scheduler_refused_is_emitted_again_with_the_same_id(home: dict[str, Any]) -> None:
    clock, emit = FrozenClock(home["fall"].at + timedelta(hours=4)), Recorder()
    state = open_object_store("memory://")
    emit.accept = False
    assert _monitor(home, clock, emit, state=state).check().status == "retry"
    assert AlertStore(state, "home").load().open_alerts() == []  # nothing saved
    emit.accept = True
    restarted = _monitor(home, clock, emit, state=state)  # also survives a restart in between
    assert restarted.check().status == "ok"
    (data,) = emit.named("EmergencyEvent")
    assert data["notification_id"].endswith("-1")


def test_an_unreachable_source_raises_sensor_data_missing(home: dict[str, Any]) -> None:
    clock, emit = FrozenClock(home["fall"].at - timedelta(minutes=30)), Recorder()
    source = MemoryEventStore()
    source.append(home["events"])
    monitor = _monitor(home, clock, emit, source=source)
    assert monitor.check().status == "ok"
    # The same monitor now reads from an InfluxDB that does not answer (nothing listens on the port).
    settings = SourceSettings(influxdb_retries=0, influxdb_timeout_seconds=2)
    monitor.source = open_source(f"influxdb://127.0.0.1:{free_port()}", settings)
    kinds = {f.kind for f in monitor.check().findings}
    assert FindingKind.SENSOR_DATA_MISSING not in kinds  # not yet: it may be a short hiccup
    clock.at += timedelta(minutes=DetectionParams().source_error_after_min + 1)
    findings = monitor.check().findings
    missing = [f for f in findings if f.kind is FindingKind.SENSOR_DATA_MISSING]
    assert missing and "sensor" in missing[0].message.lower()


def test_an_unreachable_state_store_means_retry_not_a_lost_alert(home: dict[str, Any]) -> None:
    clock, emit = FrozenClock(home["fall"].at + timedelta(hours=4)), Recorder()
    settings = StoreSettings(s3_endpoint=f"http://127.0.0.1:{free_port()}", s3_access_key="k", s3_secret_key="s",
                             s3_timeout_seconds=2)
    down = open_object_store("s3://hometwin-state/x", s3_options(settings))
    result = _monitor(home, clock, emit, state=down).check()
    assert result.status == "retry" and "alert state" in result.detail
