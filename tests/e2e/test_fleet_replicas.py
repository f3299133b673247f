"""Two monitoring replicas over the same homes and the same real S3 stores never alert twice
(issue 16, item 2): each replica checks the homes whose id hashes to it (HOMETWIN_MONITORING_REPLICA).

Two monitoring apps (`create_app`, as two pods would build them, each with its own S3 clients) tick
at the same time against one SeaweedFS; every home's person has fallen. The scheduler is the
recording emitter of tests/unit/test_monitoring.py (the seam between the monitoring and the SDK).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from hometwin.adapters.stores import open_object_store
from hometwin.components.monitoring import create_app
from hometwin.components.wiring import HomePorts, Ports, s3_options
from hometwin.config import MonitoringSettings
from hometwin.domain.alerts import AlertPolicy
from hometwin.domain.detection import DetectionParams
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.homes import Home
from tests.contract.test_object_stores import fresh_bucket, s3_settings
from tests.unit.test_fleet_monitoring import fallen, home_ports  # noqa: F401 - fallen is a fixture
from tests.unit.test_monitoring import FrozenClock, Recorder

IDS = ("anna", "ben", "carla", "dora", "emil", "fritz")


class SharedRecorder(Recorder):
    """The recording scheduler, shared by two replicas ticking in two threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def __call__(self, name: str, data: Any) -> bool:
        with self._lock:
            return super().__call__(name, data)


def test_two_replicas_share_the_homes_and_alert_each_fall_once(s3_server: Any, fallen: dict[str, Any]) -> None:  # noqa: F811
    bucket = fresh_bucket()
    settings = s3_settings(s3_server)

    def stores() -> tuple[Any, Any]:  # each replica opens its own clients, as a pod would
        return (open_object_store(f"s3://{bucket}/models", s3_options(settings)),
                open_object_store(f"s3://{bucket}/state", s3_options(settings)))

    homes = [Home(id=i, caregivers=(f"care-{i}@example.org",)) for i in IDS]
    models, state = stores()
    for home in homes:  # registers each home's model once, in the shared store
        home_ports(home, fallen, models, state, falls=True)
    clock, emit = FrozenClock(fallen["check_at"]), SharedRecorder()

    def replica(index: int) -> Any:
        models, state = stores()
        ports = []
        for home in homes:
            source = home_ports(home, fallen, open_object_store("memory://"), state, falls=True).source
            ports.append(HomePorts(home, source, ModelRegistry(models, home.id), AlertStore(state, home.id)))
        app_ports = Ports(ports[0].source, ports[0].registry, state, ports[0].alerts, clock)  # type: ignore[arg-type]
        return create_app(MonitoringSettings(monitoring_replica=f"{index}/2"), ports=app_ports,
                          params=DetectionParams(), policy=AlertPolicy(), homes=ports, emit=emit)

    apps = [replica(0), replica(1)]
    checked: list[set[str]] = [set(), set()]
    for _ in range(3):
        ticks: list[dict[str, Any]] = [{}, {}]

        def tick(index: int, ticks: list[dict[str, Any]] = ticks) -> None:
            ticks[index] = apps[index].state.fleet.check()

        threads = [threading.Thread(target=tick, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for index in (0, 1):
            assert all(r["status"] == "ok" for r in ticks[index]["homes"].values()), ticks[index]
            checked[index] |= set(ticks[index]["homes"])
        clock.at += timedelta(minutes=1)

    assert checked[0] and checked[1] and not checked[0] & checked[1]  # both work, never on the same home
    assert checked[0] | checked[1] == set(IDS)
    # Re-drives of an e-mail not yet sent repeat its id (the actuation drops the copies): count ids per home.
    emitted = emit.named("EmergencyEvent")
    alerts = {(d["home_id"], d["notification_id"]): d for d in emitted if d["kind"] == "alert"}.values()
    assert sorted(d["home_id"] for d in alerts) == sorted(IDS)  # one alert per fallen person, none twice
    assert all(d["recipients"] == [f"care-{d['home_id']}@example.org"] for d in alerts)
    _, state = stores()
    for home_id in IDS:
        (alert,) = AlertStore(state, home_id).load().open_alerts()
        assert [e["kind"] for e in alert.log if e["event"] == "notification"] == ["alert"]
