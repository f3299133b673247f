"""A fleet keeps no embedded SQLite connection open per home between checks (issue 16, memory).

An open connection holds some 145 KiB of SQLite caches; with one per home that was a third of each
home's memory in the monitoring (docs/fleet.md "Measured"). The homes here are real: the monitoring
app (`create_app`) over real SQLite files, one per home, with test_fleet_monitoring's person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hometwin.adapters.memory_store import MemoryStore
from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.components.wiring import RoomOverride
from hometwin.services.alert_store import AlertStore
from hometwin.services.homes import Home
from tests.unit.test_fleet_monitoring import fallen, fleet_app, home_ports  # noqa: F401 - fallen: a fixture
from tests.unit.test_monitoring import FrozenClock, Recorder


@pytest.mark.parametrize("rooms", [{}, {"pir_attic": "attic"}], ids=["plain", "rooms-override"])
def test_n_homes_stores_keep_no_connection_open_between_checks(fallen: dict[str, Any],  # noqa: F811
                                                               tmp_path: Path, rooms: dict[str, str]) -> None:
    # rooms-override: a home with `rooms:` in the homes file reads through `RoomOverride`, which must
    # pass the fleet's release on to its store.
    models, state = MemoryStore(), MemoryStore()
    clock, emit = FrozenClock(fallen["check_at"]), Recorder()
    stores = {}
    homes = []
    for i in range(6):
        home = Home(id=f"home{i}", caregivers=(f"carer{i}@example.org",))
        store = stores[home.id] = SQLiteEventStore(tmp_path / f"{home.id}.sqlite")
        store.append(fallen["events"] if i == 0 else fallen["quiet"])  # home0 falls
        store.release()
        homes.append(home_ports(home, fallen, models, state, RoomOverride(store, rooms) if rooms else store))
    app = fleet_app(fallen, homes, state, clock, emit, workers=3)
    try:
        for _ in range(2):  # the first check opens each store, the second reopens it
            tick = app.state.fleet.check()
            assert {h: r["status"] for h, r in tick["homes"].items()} == {h: "ok" for h in stores}
            assert [s for s in stores.values() if s.is_open] == []
    finally:
        app.state.fleet.close()
    # The checks read the same events as with the connections kept: home0's fall alerts, once.
    assert [d["home_id"] for d in emit.named("EmergencyEvent")] == ["home0"]
    assert len(AlertStore(state, "home0").load().open_alerts()) == 1
    assert all(AlertStore(state, h).load().open_alerts() == [] for h in stores if h != "home0")
