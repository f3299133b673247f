"""A model document of schema 1 (before the silence model became a hazard regression) is refused
with a message that says to retrain; the monitoring then asks for training, and training over it
registers a new model without a change summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hometwin.adapters.stores import open_object_store
from hometwin.domain.model import MODEL_KIND, BehaviourModel, OutdatedModel, train_model
from hometwin.registry import ModelRegistry
from hometwin.services.training import model_metadata, train_and_register
from tests.unit.drawn_home import TZ, at, drawn_events
from tests.unit.test_monitoring import FrozenClock, Recorder, _monitor


def test_schema_1_is_refused_with_a_retrain_message() -> None:
    doc = {**train_model(drawn_events(8), tz=TZ).to_dict(), "schema_version": 1}
    with pytest.raises(OutdatedModel, match="retrain the model"):
        BehaviourModel.from_dict(doc)


def test_the_monitoring_asks_for_a_new_model_and_then_uses_it() -> None:
    events = drawn_events(15)
    old = train_model(events, tz=TZ, end=at(14, 0))
    registry = ModelRegistry(open_object_store("memory://"), "home")
    registry.register(MODEL_KIND, {**old.to_dict(), "schema_version": 1}, model_metadata(old))
    clock, emit = FrozenClock(at(14, 10)), Recorder()
    monitor = _monitor({"events": events}, clock, emit, registry=registry)
    assert monitor.check().status == "no-model"
    assert len(emit.named("TrainOccupancyModelEvent")) == 1
    trained = train_and_register(events, registry, tz=TZ, start=at(0, 0), end=at(14, 0))
    assert trained.previous is not None and trained.change is None
    clock.at += timedelta(minutes=5)
    assert monitor.check().status == "ok" and monitor.model_version == trained.version.version
