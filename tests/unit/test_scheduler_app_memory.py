"""The scheduler app on the in-memory state backend: the whole API in-process, no files, no server.

(The e2e tests run the real subprocess on SQLite; this shows the port is all the app needs.)
"""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from hometwin.config import SchedulerSettings
from hometwin.scheduler.app import create_app


def settings(state: str, tmp_path: Path) -> SchedulerSettings:
    return SchedulerSettings(scheduler_state=state, data_dir=tmp_path)


def test_the_app_runs_on_memory_state_and_a_named_one_survives_a_restart(tmp_path: Path):
    state = f"memory://app-{uuid.uuid4().hex}"
    with TestClient(create_app(settings(state, tmp_path))) as client:
        registered = client.post("/api/function", json={"name": "m", "subs": ["A", "B"],
                                                        "url": "127.0.0.1:9/m", "mock": True})
        assert registered.status_code == 200 and registered.json()["created"] is True
        assert client.post("/api/event", json={"name": "A", "data": 1}).status_code == 202
        (row,) = client.get("/api/status").json()
        assert row["events"] == [{"ready": ["A"], "waiting": ["B"]}]
    assert list(tmp_path.iterdir()) == []  # no database file was created

    with TestClient(create_app(settings(state, tmp_path))) as client:  # the same name: a restart
        joined = client.post("/api/event", json={"name": "B", "data": 2}).json()
        assert len(joined["invocations"]) == 1
        (row,) = client.get("/api/status").json()
        assert row["events"] == [] and row["last_invoke"] is not None
        (inv,) = client.get("/api/invocations").json()
        assert inv["status"] == "delivered" and inv["body"]["A"]["data"] == 1  # a mock: consumed
