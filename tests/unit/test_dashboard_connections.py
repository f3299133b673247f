"""The dashboard's home list keeps no embedded SQLite connection open per home (issue 16, memory).

Reading a home's newest event opens its store's connection, which holds some 145 KiB of SQLite
caches; a list of N homes kept N of them open, most of the dashboard's memory per home
(docs/fleet.md). The homes here are tests/dashboard_fleet's: real SQLite files, over real HTTP.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from hometwin.adapters.sqlite import SQLiteEventStore
from tests.dashboard_fleet import STATUS, make_fleet
from tests.dashboard_helpers import serve


def test_the_home_list_closes_each_homes_store_connection_after_reading_it(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path)
    stores = {h.home.id: h.source for h in fleet.homes}
    assert all(isinstance(s, SQLiteEventStore) for s in stores.values())
    for store in stores.values():
        store.release()  # type: ignore[attr-defined]  # make_fleet wrote the events through them
    # Refresh 0: every load reads every home again, as the first load after each interval does.
    with serve(fleet.app(dashboard_refresh_seconds=0)) as url, httpx.Client(base_url=url) as client:
        listed = client.get("/api/homes").json()
        assert {h["id"]: h["status"] for h in listed["homes"]} == STATUS  # the reads happened, as before
        assert [h for h, s in stores.items() if s.is_open] == []  # type: ignore[attr-defined]
        # A home's own page opens its store again; the list's next read closes it after reading.
        assert client.get("/api/h/fred/now").status_code == 200
        assert stores["fred"].is_open  # type: ignore[attr-defined]
        again = client.get("/api/homes").json()
        assert [h for h, s in stores.items() if s.is_open] == []  # type: ignore[attr-defined]
    assert {h["id"]: (h["status"], h["last_activity"]) for h in again["homes"]} == \
        {h["id"]: (h["status"], h["last_activity"]) for h in listed["homes"]}  # reopened, read the same
    assert {h["id"]: h["last_activity"] is not None for h in listed["homes"]} == \
        {h: h != "dora" for h in STATUS}  # dora has no events
