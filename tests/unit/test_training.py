"""Training on a window wider than the data, and the shared train-and-register step."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hometwin.adapters.stores import open_object_store
from hometwin.domain.model import train_model
from hometwin.registry import ModelRegistry
from hometwin.services.errors import NotEnoughData
from hometwin.services.training import CHANGE_KIND, MODEL_KIND, train_and_register
from hometwin.sim import simulate

TZ = "Europe/Berlin"
START = datetime(2026, 3, 2, tzinfo=ZoneInfo(TZ))


@pytest.fixture(scope="module")
def events():
    return simulate(14, seed=3, start=START).events


def test_a_window_wider_than_the_data_does_not_dilute_visits(events) -> None:
    end = START + timedelta(days=14)
    tight = train_model(events, tz=TZ, start=START, end=end)
    wide = train_model(events, tz=TZ, start=START - timedelta(days=42), end=end)
    at = START + timedelta(days=7, hours=8)
    for room in tight.rooms:
        a, b = tight.visits(room, at).mean, wide.visits(room, at).mean
        assert b == pytest.approx(a, rel=0.05, abs=0.02), (room, a, b)


def test_train_and_register_keeps_the_change_summary_with_the_model(events) -> None:
    registry = ModelRegistry(open_object_store("memory://"), "home")
    first = train_and_register(events[: len(events) // 2], registry, tz=TZ, start=START,
                               end=START + timedelta(days=7), min_days=3)
    assert first.previous is None and first.change is None and "report" not in first.event_data()
    second = train_and_register(events, registry, tz=TZ, start=START, end=START + timedelta(days=14), min_days=3)
    assert second.previous == first.version.version
    assert registry.latest(MODEL_KIND).version == second.version.version
    change = registry.latest(CHANGE_KIND)
    assert change is not None and change.document["model_version"] == second.version.version
    assert second.event_data()["report"]["lines"] == second.change["lines"]
    assert second.version.metadata["fingerprint"].startswith("sha256:")


def test_too_little_history_is_refused_with_the_amount(events) -> None:
    registry = ModelRegistry(open_object_store("memory://"), "home")
    with pytest.raises(NotEnoughData, match=r"only 0\.\d days of events, at least 3"):
        train_and_register([e for e in events if e.time < START + timedelta(days=1)], registry, tz=TZ,
                           start=START, end=START + timedelta(days=1), min_days=3)
    with pytest.raises(NotEnoughData, match="no sensor events"):
        train_and_register([], registry, tz=TZ, start=START, end=START + timedelta(days=1))


def test_the_training_period_is_the_data_not_a_wider_window(events) -> None:
    registry = ModelRegistry(open_object_store("memory://"), "home")
    trained = train_and_register(events, registry, tz=TZ, start=START - timedelta(days=40),
                                 end=START + timedelta(days=14))
    first = min(e.time for e in events)
    assert datetime.fromisoformat(trained.version.metadata["training_start"]) == first
