"""HOMETWIN_MONITORING_SLOTS: a tick checks one slot of the fleet's homes, each home once per round."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hometwin.adapters.memory_store import MemoryStore
from hometwin.components.monitoring_fleet import FleetMonitor
from hometwin.services.book_keeper import BookKeeper
from hometwin.services.homes import Home
from tests.unit.test_fleet_monitoring import fallen, fleet_app, home_ports  # noqa: F401 - the module's fixture
from tests.unit.test_monitoring import FrozenClock, Recorder


class FakeHome:
    """A fake at the fleet's seam (its HomeMonitor protocol): counts its checks, which is all these tests
    ask of a home; the real Monitor behind a slot is the last test's."""

    def __init__(self, store: MemoryStore) -> None:
        from hometwin.services.alert_store import AlertStore

        self.book = BookKeeper(AlertStore(store, "fake"))
        self.checks = 0

    def check(self) -> Any:
        self.checks += 1
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok"}

    def status(self) -> dict[str, Any]:
        return {}


def test_each_home_is_checked_once_per_round_of_slots_in_balanced_slots() -> None:
    store = MemoryStore()
    homes = {f"home{i:02d}": FakeHome(store) for i in range(14)}
    fleet = FleetMonitor(homes, workers=2, slots=4)
    try:
        ticks = [fleet.check() for _ in range(8)]  # two rounds
    finally:
        fleet.close()
    assert [t["slot"] for t in ticks] == ["0/4", "1/4", "2/4", "3/4"] * 2
    assert sorted(len(t["homes"]) for t in ticks[:4]) == [3, 3, 4, 4]  # 14 homes: slots differ by one at most
    first_round = Counter(h for t in ticks[:4] for h in t["homes"])
    assert first_round == Counter(list(homes))  # every home once
    assert [set(t["homes"]) for t in ticks[:4]] == [set(t["homes"]) for t in ticks[4:]]  # a home keeps its slot
    assert all(home.checks == 2 for home in homes.values())
    assert fleet.status()["slots"] == 4


def test_one_slot_is_every_home_at_every_tick_as_before() -> None:
    store = MemoryStore()
    homes = {name: FakeHome(store) for name in ("a", "b", "c")}
    fleet = FleetMonitor(homes)
    try:
        tick = fleet.check()
    finally:
        fleet.close()
    assert set(tick["homes"]) == {"a", "b", "c"} and "slot" not in tick
    with pytest.raises(ValueError, match="slots must be 1 or more"):
        FleetMonitor(homes, slots=0)


def test_the_monitoring_app_checks_the_fall_in_its_homes_slot(fallen: dict[str, Any],  # noqa: F811
                                                              tmp_path: Path) -> None:
    models, state = MemoryStore(), MemoryStore()
    clock, emit = FrozenClock(fallen["check_at"]), Recorder()
    anna, ben = Home(id="anna", caregivers=("daughter@example.org",)), Home(id="ben", caregivers=("son@example.org",))
    homes = [home_ports(anna, fallen, models, state, falls=True), home_ports(ben, fallen, models, state)]
    app = fleet_app(fallen, homes, state, clock, emit, monitoring_slots=2)
    first = app.state.fleet.check()
    clock.at += timedelta(seconds=30)
    second = app.state.fleet.check()
    assert (first["slot"], set(first["homes"]), second["slot"], set(second["homes"])) == ("0/2", {"anna"}, "1/2",
                                                                                            {"ben"})
    assert len(first["homes"]["anna"]["notifications"]) == 1 and second["homes"]["ben"]["notifications"] == []
    (alert,) = emit.named("EmergencyEvent")
    assert alert["home_id"] == "anna"
