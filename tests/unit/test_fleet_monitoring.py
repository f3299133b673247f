"""Many homes through the monitoring and the actuation (issue 16, item 2).

Two homes of the monitoring's simulated person (tests/unit/test_monitoring.py): anna falls, ben does
not. The monitoring app is the real one (`create_app`) over real memory stores; the scheduler is the
recording emitter of test_monitoring.py (the seam between the monitoring and the SDK); the actuation
is the real per-home Notifier on a Maildir. A slow store is a real TCP listener that never answers.
"""

from __future__ import annotations

import email
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hometwin.adapters.influx import InfluxOptions, InfluxSource
from hometwin.adapters.mail import MaildirMailer
from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.memory_store import MemoryStore
from hometwin.components.monitoring import Monitor, create_app
from hometwin.components.monitoring_fleet import FleetMonitor
from hometwin.components.wiring import HomePorts, Ports
from hometwin.config import MailSettings, MonitoringSettings
from hometwin.domain.alerts import AlertPolicy
from hometwin.domain.detection import DetectionParams
from hometwin.domain.model import MODEL_KIND, BehaviourModel
from hometwin.ports import ObjectStore, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.home_mail import build_notifiers
from hometwin.services.homes import Home, Homes
from hometwin.services.training import model_metadata
from hometwin.sim import Resident
from tests.unit import test_monitoring
from tests.unit.test_monitoring import DAY, FrozenClock, Recorder

ANNA = Home(id="anna", tz="Europe/Berlin", caregivers=("daughter@example.org", "nurse@example.org"))
BEN = Home(id="ben", tz="Europe/Berlin", caregivers=("son@example.org",))


@pytest.fixture(scope="module")
def fallen() -> dict[str, Any]:
    """test_monitoring's person who falls; `quiet` is the same person's day without the fall."""
    home: dict[str, Any] = test_monitoring.home.__wrapped__()  # type: ignore[attr-defined]
    check_at = home["fall"].at + timedelta(hours=4)
    home["quiet"] = list(Resident(seed=5).events(DAY - timedelta(days=21), check_at))
    home["check_at"] = check_at
    return home


def register_model(models: ObjectStore, home_id: str, fallen: dict[str, Any]) -> ModelRegistry:
    """The model trained once for the module, registered for this home (training each is slow)."""
    registry = ModelRegistry(models, home_id)
    document = fallen["registry"].latest(MODEL_KIND).document
    registry.register(MODEL_KIND, document, model_metadata(BehaviourModel.from_dict(document)))
    return registry


def home_ports(home: Home, fallen: dict[str, Any], models: ObjectStore, state: ObjectStore,
               source: SensorSource | None = None, *, falls: bool = False) -> HomePorts:
    if source is None:
        store = MemoryEventStore()
        store.append(fallen["events"] if falls else fallen["quiet"])
        source = store
    return HomePorts(home, source, register_model(models, home.id, fallen), AlertStore(state, home.id))


def fleet_app(fallen: dict[str, Any], homes: list[HomePorts], state: ObjectStore, clock: FrozenClock,
              emit: Recorder, **settings: Any) -> Any:
    ports = Ports(homes[0].source, homes[0].registry, state, AlertStore(state, "home"), clock)  # type: ignore[arg-type]
    return create_app(MonitoringSettings(**settings), ports=ports, params=DetectionParams(),
                      policy=AlertPolicy(escalate_after=timedelta(minutes=30)), homes=homes, emit=emit)


def recipients(maildir: MaildirMailer) -> list[str]:
    return sorted(str(email.message_from_bytes(m.as_bytes())["To"]) for m in maildir.messages())


def test_a_fall_alerts_only_that_homes_caregivers(fallen: dict[str, Any], tmp_path: Path) -> None:
    models, state = MemoryStore(), MemoryStore()
    clock, emit = FrozenClock(fallen["check_at"]), Recorder()
    homes = [home_ports(ANNA, fallen, models, state, falls=True), home_ports(BEN, fallen, models, state)]
    app = fleet_app(fallen, homes, state, clock, emit)
    tick = app.state.fleet.check()
    assert set(tick["homes"]) == {"anna", "ben"}
    assert tick["homes"]["anna"]["status"] == "ok" and len(tick["homes"]["anna"]["notifications"]) == 1
    assert tick["homes"]["ben"]["status"] == "ok" and tick["homes"]["ben"]["notifications"] == []
    (alert,) = emit.named("EmergencyEvent")
    assert (alert["home_id"], alert["recipients"]) == ("anna", ["daughter@example.org"])
    assert AlertStore(state, "ben").load().open_alerts() == []
    assert len(AlertStore(state, "anna").load().open_alerts()) == 1

    mailer = MaildirMailer(tmp_path / "mail", "HomeTwin <hometwin@localhost>")
    notifiers = build_notifiers(Homes((ANNA, BEN)), mailer, state, MailSettings(data_dir=tmp_path),
                                ack_link_lifetime=timedelta(hours=48))
    assert notifiers.handle(alert, alert["notification_id"]) == "sent"

    clock.at += timedelta(minutes=31)  # unacknowledged: escalated within anna's list, never to ben's
    app.state.fleet.check()
    escalation = emit.named("EmergencyEvent")[-1]
    assert escalation["kind"] == "escalation" and escalation["home_id"] == "anna"
    assert escalation["recipients"] == ["daughter@example.org", "nurse@example.org"]
    assert notifiers.handle(escalation, escalation["notification_id"]) == "sent"
    assert recipients(mailer) == ["daughter@example.org", "daughter@example.org, nurse@example.org"]
    assert [k for k in state.list("state/anna/mail/sent/")] and not list(state.list("state/ben/mail/"))
    with pytest.raises(ValueError, match="not a home this actuation serves"):
        notifiers.handle({**emit.named("EmergencyEvent")[0], "home_id": "carla"}, "other")

    client = TestClient(app)
    status = client.get("/status").json()
    assert status["replica"] == "0/1" and set(status["homes"]) == {"anna", "ben"}
    assert status["homes"]["anna"]["last_outcome"]["status"] == "ok"
    metrics = client.get("/metrics").text
    assert 'hometwin_monitoring_checks_total{home="anna",status="ok"} 2.0' in metrics
    assert 'hometwin_monitoring_open_alerts{home="anna"} 1.0' in metrics
    assert 'hometwin_monitoring_open_alerts{home="ben"} 0.0' in metrics


@pytest.fixture
def hanging_server() -> Iterator[socket.socket]:
    """A TCP port that accepts connections (the kernel's backlog) and never answers: a stuck store."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener
    listener.close()


def test_a_broken_home_and_a_stuck_store_do_not_stop_another_homes_check(
        fallen: dict[str, Any], hanging_server: socket.socket) -> None:
    models, state = MemoryStore(), MemoryStore()
    clock, emit = FrozenClock(fallen["check_at"]), Recorder()
    host, port = hanging_server.getsockname()
    stuck = InfluxSource(f"http://{host}:{port}", InfluxOptions(timeout_seconds=60, retries=0))
    anna = home_ports(ANNA, fallen, models, state, falls=True)
    ben = home_ports(BEN, fallen, models, state)
    carla = home_ports(Home(id="carla"), fallen, models, state, source=stuck)

    def monitor(h: HomePorts, detector: Any = None) -> Monitor:
        extra = {"detector": detector} if detector is not None else {}
        return Monitor(source=h.source, registry=h.registry, alerts=h.alerts, clock=clock, emit=emit,
                       params=DetectionParams(), policy=AlertPolicy(escalation=h.home.caregivers),
                       home_id=h.home.id, **extra)

    def broken_data(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a corrupt event in ben's data")  # what any bug on one home's data looks like

    fleet = FleetMonitor({"carla": monitor(carla), "ben": monitor(ben, broken_data), "anna": monitor(anna)},
                         workers=4, timeout=5.0)
    try:
        began = time.monotonic()
        tick = fleet.check()
        assert time.monotonic() - began < 5.0 + 2.0  # the tick does not wait for carla's store
        homes = tick["homes"]
        assert homes["anna"]["status"] == "ok" and len(homes["anna"]["notifications"]) == 1
        assert homes["ben"]["status"] == "error" and "corrupt event" in homes["ben"]["detail"]
        assert homes["carla"]["status"] == "late" and tick["status"] == "degraded"
        clock.at += timedelta(minutes=1)
        again = fleet.check()["homes"]
        assert again["carla"]["status"] == "busy"  # still stuck: skipped, not piled up
        assert again["anna"]["status"] == "ok" and again["ben"]["status"] == "error"
        assert fleet.status()["homes"]["carla"]["checking_for_s"] > 0
    finally:
        hanging_server.close()  # the stuck connection is reset: carla's check ends
    deadline = time.monotonic() + 30
    while fleet.status()["homes"]["carla"]["last_outcome"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fleet.status()["homes"]["carla"]["last_outcome"]["status"] in ("ok", "no-model", "retry")
    assert [d["home_id"] for d in emit.named("EmergencyEvent")] == ["anna"]
    fleet.close()


def test_without_a_homes_file_the_monitoring_is_todays_single_home_one(
        fallen: dict[str, Any], tmp_path: Path) -> None:
    state, clock, emit = MemoryStore(), FrozenClock(fallen["check_at"]), Recorder()
    source = MemoryEventStore()
    source.append(fallen["events"])
    ports = Ports(source, fallen["registry"], state, AlertStore(state, "home"), clock)  # type: ignore[arg-type]
    app = create_app(MonitoringSettings(data_dir=tmp_path, home_id="home"), ports=ports, params=DetectionParams(),
                     policy=AlertPolicy(escalation=("a@example.org",)), emit=emit)
    assert not hasattr(app.state, "fleet")
    paths = {getattr(r, "path", "") for r in app.routes}
    assert "/api/check_emergency" in paths and "/metrics" not in paths
    result = TestClient(app).post("/api/check_emergency").json()
    assert result["status"] == "ok" and len(result["notifications"]) == 1 and "homes" not in result
    (data,) = emit.named("EmergencyEvent")
    assert data["home_id"] == "home" and data["recipients"] == ["a@example.org"]
    assert len(AlertStore(state, "home").load().open_alerts()) == 1  # the same key as before homes
    assert "last_check" in TestClient(app).get("/status").json()


def test_each_homes_e_mails_link_to_its_own_dashboard_pages_with_its_own_key(tmp_path: Path) -> None:
    from hometwin.domain.ack_links import home_key

    settings = MailSettings(data_dir=tmp_path, home_id="anna", public_dashboard_url="https://care.example.org/",
                            ack_secret="a-long-enough-ack-key-1234")
    notifiers = build_notifiers(Homes((ANNA, BEN)), MaildirMailer(tmp_path / "mail", settings.mail_from),
                                MemoryStore(), settings, ack_link_lifetime=timedelta(hours=48)).notifiers
    assert notifiers["anna"].messages.dashboard_url == "https://care.example.org/h/anna"
    assert notifiers["ben"].messages.dashboard_url == "https://care.example.org/h/ben"
    assert notifiers["ben"].settings.ack_key() == home_key("a-long-enough-ack-key-1234", "ben")
    assert notifiers["ben"].settings.ack_key() != notifiers["anna"].settings.ack_key()
    assert notifiers["ben"].settings.caregivers == ["son@example.org"] and notifiers["ben"].settings.home_id == "ben"


def test_replicas_without_a_homes_file_are_refused(fallen: dict[str, Any], tmp_path: Path) -> None:
    state = MemoryStore()
    ports = Ports(MemoryEventStore(), fallen["registry"], state, AlertStore(state, "home"),  # type: ignore[arg-type]
                  FrozenClock(fallen["check_at"]))
    with pytest.raises(ValueError, match="need a homes file"):
        create_app(MonitoringSettings(data_dir=tmp_path, monitoring_replica="1/2"), ports=ports,
                   params=DetectionParams(), policy=AlertPolicy(), emit=Recorder())
