"""The weekly retrain of a fleet in worker processes (issue 16: HOMETWIN_MODELING_WORKERS > 1 uses
more than one core). The modeling app is the real one, built from a homes file over the embedded
stores (each home's SQLite events, the file-system model and state stores), as `hometwin component
modeling` builds it; the workers are real spawned processes. The scheduler is the recording emitter
of test_monitoring.py, so every ModelTrainedEvent seen here was emitted by the parent process."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.components.modeling import create_app
from hometwin.components.wiring import build_ports
from hometwin.config import ModelingSettings
from hometwin.domain.model import MODEL_KIND
from hometwin.registry import ModelRegistry, ModelVersion
from tests.unit.drawn_home import START, drawn_events
from tests.unit.test_monitoring import FrozenClock, Recorder

NOW = START + timedelta(days=10)
HOMES = {"anna": drawn_events(10, seed=0), "ben": drawn_events(10, seed=1),
         "carla": drawn_events(1, seed=2),  # one day: not enough data, answered without a model
         "dora": [*drawn_events(10, seed=3)[:1], drawn_events(10, seed=3)[-1]]}  # two events: a data error
WEEKLY = {"TrainOccupancyModelEvent": {"data": {"reason": "schedule"}, "timestamp": NOW.isoformat()}}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fleet of four homes on the embedded stores, configured through the environment only."""
    monkeypatch.setenv("HOMETWIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOMETWIN_HOMES_FILE", str(tmp_path / "homes.yaml"))
    monkeypatch.setenv("HOMETWIN_DETECT_FALSE_ALARM_BUDGET", "0")  # calibration is not what this tests
    for name in ("HOMETWIN_EVENTS", "HOMETWIN_MODEL_STORE", "HOMETWIN_STATE_STORE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "homes.yaml").write_text("homes:\n" + "".join(f"  - id: {h}\n" for h in HOMES))
    (tmp_path / "homes").mkdir()
    for home_id, events in HOMES.items():
        with SQLiteEventStore(tmp_path / "homes" / f"{home_id}.sqlite") as store:
            store.append(events)
    return tmp_path


def modeling(workers: int, emit: Recorder) -> TestClient:
    ports = dataclasses.replace(build_ports(), clock=FrozenClock(NOW))
    return TestClient(create_app(ModelingSettings(modeling_workers=workers), ports=ports, emit=emit))


def retrain(client: TestClient, key: str) -> httpx.Response:
    return client.post("/api/train_occupancy_model", json=WEEKLY, headers={"Idempotency-Key": key})


def latest(home_id: str) -> ModelVersion | None:
    return ModelRegistry(build_ports().registry.store, home_id).latest(MODEL_KIND)


def retrain_in_background(client: TestClient, key: str) -> tuple[threading.Thread, list[httpx.Response]]:
    """The weekly retrain started on a thread (the test watches the workers meanwhile), and where its
    answer will be."""
    answers: list[httpx.Response] = []
    call = threading.Thread(target=lambda: answers.append(retrain(client, key)))
    call.start()
    return call, answers


def workers_alive() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.is_alive()]


def test_the_workers_train_every_home_as_this_process_would(data_dir: Path) -> None:
    emit = Recorder()
    with modeling(2, emit) as client:
        call, answers = retrain_in_background(client, "weekly-1")
        seen: set[int | None] = set()
        while call.is_alive():
            seen.update(p.pid for p in workers_alive())
            time.sleep(0.01)
        (answer,) = answers
        assert answer.status_code == 200, answer.text
        assert len(seen) == 2  # the trainings ran in two worker processes ...
        assert workers_alive() == []  # ... stopped once the retrain was done (an idle worker keeps ~240 MiB)
        homes = answer.json()["homes"]
        assert homes["anna"]["status"] == homes["ben"]["status"] == "trained"
        assert homes["carla"]["status"] == "not-enough-data"
        assert homes["dora"]["status"] == "error" and homes["dora"]["detail"].startswith("ValueError: ")
        assert sorted(d["home_id"] for d in emit.named("ModelTrainedEvent")) == ["anna", "ben"]
        assert retrain(client, "weekly-1").status_code == 200  # a redelivery: nothing trained twice
        assert len(emit.named("ModelTrainedEvent")) == 2
    assert workers_alive() == []  # the app's shutdown stopped the workers
    by_workers = {h: latest(h) for h in ("anna", "ben")}
    assert latest("carla") is None

    with modeling(1, Recorder()) as client:  # the same homes trained in this process: the same models
        assert retrain(client, "weekly-2").status_code == 200
        assert workers_alive() == []  # one worker: no process started
    for home_id, version in by_workers.items():
        again = latest(home_id)
        assert version is not None and again is not None and again.version != version.version
        assert again.document == version.document and again.metadata["home_id"] == home_id


def test_a_killed_worker_loses_no_home(data_dir: Path) -> None:
    emit = Recorder()
    with modeling(2, emit) as client:
        call, answers = retrain_in_background(client, "weekly-1")
        deadline = time.monotonic() + 60
        while not workers_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = workers_alive()[0]
        os.kill(victim.pid or 0, signal.SIGKILL)  # mid-retrain: the homes in flight lose their worker
        call.join(120)
        (first,) = answers
        assert first.status_code == 503, first.text
        lost = [h for h in ("anna", "ben") if latest(h) is None]
        assert lost and all(h in first.json()["detail"] for h in lost)  # no home left out silently

        retry = retrain(client, "weekly-1")  # the scheduler's retry, in a new pool
        assert retry.status_code == 200, retry.text
        assert {h: r["status"] for h, r in retry.json()["homes"].items()} == {
            "anna": "trained", "ben": "trained", "carla": "not-enough-data", "dora": "error"}
        assert all(latest(h) is not None for h in ("anna", "ben"))
        assert {d["home_id"] for d in emit.named("ModelTrainedEvent")} == {"anna", "ben"}


def test_a_store_down_in_a_worker_is_retried(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (data_dir / "blocked").write_text("a file where the model store's folder should be")
    monkeypatch.setenv("HOMETWIN_MODEL_STORE", (data_dir / "blocked" / "models").as_uri())
    with modeling(2, Recorder()) as client:
        answer = retrain(client, "weekly-1")
    assert answer.status_code == 503 and "anna" in answer.json()["detail"] and "ben" in answer.json()["detail"]


def test_a_worker_sends_no_exception_object(data_dir: Path) -> None:
    """An exception raised in a worker comes back as data: one that does not pickle would break the pool."""
    from hometwin.components.modeling_pool import HomeOpener, TrainingJob, train_in_worker
    from hometwin.config import SourceSettings, StoreSettings
    from hometwin.services.homes import Home

    job = TrainingJob(Home(id="dora"), HomeOpener(StoreSettings(), SourceSettings()), NOW - timedelta(days=56), NOW,
                      3.0, 0.0)
    outcome = train_in_worker(job)
    assert outcome["outcome"] == "error" and outcome["type"] == "ValueError"
    assert "Traceback" in outcome["traceback"] and isinstance(outcome["detail"], str)



def test_a_home_whose_pool_went_away_is_answered_lost_not_error(data_dir: Path) -> None:
    """A pool closed (shutdown) or shut down by another home's dead worker before this home's job was
    submitted: `lost`, which the modeling answers 503 so that the scheduler's retry trains the home,
    never `error` (a data error, not retried)."""
    import asyncio

    from hometwin.components.modeling_pool import HomeOpener, TrainingJob, TrainingPool
    from hometwin.config import SourceSettings, StoreSettings
    from hometwin.services.homes import Home

    job = TrainingJob(Home(id="anna"), HomeOpener(StoreSettings(), SourceSettings()), NOW - timedelta(days=56), NOW,
                      3.0, 0.0)
    closed = TrainingPool(2)
    closed.close()
    assert asyncio.run(closed.train(job))["outcome"] == "lost"

    pool = TrainingPool(2)

    async def submitted_after_its_pool_was_shut_down() -> str:
        executor = pool._current()  # what a job holds while another home's broken worker discards the pool
        pool._discard(executor)
        pool._executor = executor  # the job goes on with the executor it had taken
        try:
            return str((await pool.train(job))["outcome"])
        finally:
            pool.close()

    assert asyncio.run(submitted_after_its_pool_was_shut_down()) == "lost"
    assert latest("anna") is None
