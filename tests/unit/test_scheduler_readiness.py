"""/readyz follows the state store: 503 while commits fail, 200 again once one succeeds.

The scheduler app runs under uvicorn in a thread on a real SQLite file; another connection takes
the database's write lock, so the scheduler's commits fail (after SQLite's 5 s busy timeout) until
the lock is released. Nothing is faked.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from hometwin.config import SchedulerSettings
from hometwin.scheduler.app import create_app
from tests.servers import wait_until
from tests.unit.test_sdk_support import ThreadedServer


def test_readyz_is_unready_while_commits_fail_and_ready_again_after(tmp_path: Path):
    path = tmp_path / "state.sqlite"
    server = ThreadedServer(create_app(SchedulerSettings(scheduler_state=f"sqlite:///{path}",
                                                         data_dir=tmp_path))).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/readyz").status_code == 200
            lock = sqlite3.connect(path, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")  # the housekeeping's commit every second now fails
            try:
                wait_until(lambda: client.get("/readyz").status_code == 503, 20, what="unready")
                assert client.get("/readyz").json() == {"status": "state store unavailable"}
                assert client.get("/healthz").status_code == 200  # alive all the same
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            wait_until(lambda: client.get("/readyz").status_code == 200, 20, what="ready again")
            assert client.post("/api/event", json={"name": "E"}).status_code == 202
    finally:
        server.stop()
