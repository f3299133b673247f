"""The modeling of a fleet (issue 16, item 2): the weekly retrain trains every home, each into its own
registry entries; a request naming a home trains that home only. The modeling app is the real one
over real memory stores; the scheduler is the recording emitter of test_monitoring.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.memory_store import MemoryStore
from hometwin.components.modeling import create_app
from hometwin.components.wiring import HomePorts, Ports
from hometwin.config import ModelingSettings
from hometwin.domain.model import MODEL_KIND
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.homes import Home
from tests.unit.drawn_home import START, drawn_events
from tests.unit.test_monitoring import FrozenClock, Recorder

NOW = START + timedelta(days=10)


def invocation(data: dict[str, Any]) -> dict[str, Any]:
    return {"TrainOccupancyModelEvent": {"data": data, "timestamp": NOW.isoformat()}}


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("HOMETWIN_DETECT_FALSE_ALARM_BUDGET", "0")  # calibration is not what this tests
    models, state, emit = MemoryStore(), MemoryStore(), Recorder()
    homes = []
    for seed, home_id in enumerate(("anna", "ben", "carla")):
        source = MemoryEventStore()
        source.append(drawn_events(10, seed=seed) if home_id != "carla" else drawn_events(1, seed=seed))
        homes.append(HomePorts(Home(id=home_id), source, ModelRegistry(models, home_id), AlertStore(state, home_id)))
    ports = Ports(homes[0].source, homes[0].registry, state, homes[0].alerts, FrozenClock(NOW))  # type: ignore[arg-type]
    app = create_app(ModelingSettings(data_dir=tmp_path, modeling_workers=2), ports=ports, homes=homes, emit=emit)
    return {"client": TestClient(app), "models": models, "emit": emit}


def latest(models: MemoryStore, home_id: str) -> Any:
    return ModelRegistry(models, home_id).latest(MODEL_KIND)


def test_the_weekly_retrain_trains_every_home_into_its_own_registry_entries(fleet: dict[str, Any]) -> None:
    client, models, emit = fleet["client"], fleet["models"], fleet["emit"]
    answer = client.post("/api/train_occupancy_model", json=invocation({"reason": "schedule"}),
                         headers={"Idempotency-Key": "weekly-1"})
    assert answer.status_code == 200, answer.text
    homes = answer.json()["homes"]
    assert homes["anna"]["status"] == homes["ben"]["status"] == "trained"
    assert homes["carla"]["status"] == "not-enough-data"  # one day of data: that home waits, the others do not
    anna, ben = latest(models, "anna"), latest(models, "ben")
    assert anna.version != ben.version and (anna.metadata["home_id"], ben.metadata["home_id"]) == ("anna", "ben")
    assert anna.metadata["fingerprint"] != ben.metadata["fingerprint"]  # each learned from its own events
    assert latest(models, "carla") is None
    assert {k.split("/")[1] for k in models.list("models/")} == {"anna", "ben"}
    assert sorted(d["home_id"] for d in emit.named("ModelTrainedEvent")) == ["anna", "ben"]

    again = client.post("/api/train_occupancy_model", json=invocation({"reason": "schedule"}),
                        headers={"Idempotency-Key": "weekly-1"})  # a redelivery: nothing trained twice
    assert again.status_code == 200 and len(emit.named("ModelTrainedEvent")) == 2


def test_a_request_naming_a_home_trains_that_home_only(fleet: dict[str, Any]) -> None:
    client, models, emit = fleet["client"], fleet["models"], fleet["emit"]
    answer = client.post("/api/train_occupancy_model", json=invocation({"reason": "no model yet", "home_id": "ben"}),
                         headers={"Idempotency-Key": "ask-ben"})
    assert answer.status_code == 200 and set(answer.json()["homes"]) == {"ben"}
    assert latest(models, "ben") is not None and latest(models, "anna") is None
    assert [d["home_id"] for d in emit.named("ModelTrainedEvent")] == ["ben"]
    unknown = client.post("/api/train_occupancy_model", json=invocation({"home_id": "dora"}),
                          headers={"Idempotency-Key": "ask-dora"})
    assert unknown.status_code == 422 and "dora" in unknown.text
