"""The scheduler app on the in-memory state backend: the whole API in this process (uvicorn in a
thread), no database file. The e2e tests run the real subprocess on SQLite; this shows the port is
all the app needs, and that a named memory:// state survives a restart of the app.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from hometwin.config import SchedulerSettings
from hometwin.scheduler.app import create_app
from tests.unit.test_sdk_support import ThreadedServer


@contextmanager
def running(state: str, tmp_path: Path) -> Iterator[httpx.Client]:
    server = ThreadedServer(create_app(SchedulerSettings(scheduler_state=state, data_dir=tmp_path))).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def test_the_app_runs_on_memory_state_and_a_named_one_survives_a_restart(tmp_path: Path):
    state = f"memory://app-{uuid.uuid4().hex}"
    with running(state, tmp_path) as client:
        registered = client.post("/api/function", json={"name": "m", "subs": ["A", "B"],
                                                        "url": "127.0.0.1:9/m", "mock": True})
        assert registered.status_code == 200 and registered.json()["created"] is True
        assert client.post("/api/event", json={"name": "A", "data": 1}).status_code == 202
        (row,) = client.get("/api/status").json()
        assert row["events"] == [{"ready": ["A"], "waiting": ["B"]}]
    assert list(tmp_path.iterdir()) == []  # no database file was created

    with running(state, tmp_path) as client:  # the same name: a restart
        joined = client.post("/api/event", json={"name": "B", "data": 2}).json()
        assert len(joined["invocations"]) == 1
        (row,) = client.get("/api/status").json()
        assert row["events"] == [] and row["last_invoke"] is not None
        (inv,) = client.get("/api/invocations").json()
        assert inv["status"] == "delivered" and inv["body"]["A"]["data"] == 1  # a mock: consumed
