"""Training keeps BLAS and OpenMP on one thread (services/training.py, `numerics_on_one_thread`): their
spinning thread pools cost CPU time and gain nothing when the homes train in parallel processes. The
model must come out the same to the last digit, calibration included."""

from __future__ import annotations

import contextlib
import functools
import json
from datetime import UTC, datetime, timedelta

import pytest
from threadpoolctl import threadpool_info

from hometwin.adapters.memory_store import MemoryStore
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import MODEL_KIND
from hometwin.registry import ModelRegistry
from hometwin.services import training
from hometwin.sim import simulate

START = datetime(2024, 3, 4, tzinfo=UTC)
DAYS = 14  # enough for the calibration's 4 folds


@functools.cache
def events() -> list[SensorEvent]:
    return simulate(days=DAYS, seed=2, start=START).events


def trained_document() -> str:
    registry = ModelRegistry(MemoryStore(), "home")
    training.train_and_register(events(), registry, tz="Europe/Berlin", start=START,
                                end=START + timedelta(days=DAYS), false_alarm_budget=0.1)
    latest = registry.latest(MODEL_KIND)
    assert latest is not None and latest.document.get("calibration")  # calibrated: the replays ran too
    return json.dumps(latest.document, sort_keys=True)


def test_the_numeric_thread_pools_run_one_thread_while_a_model_trains() -> None:
    import sklearn.linear_model  # noqa: F401 - loads the OpenMP runtime the fits use

    with training.numerics_on_one_thread():
        inside = threadpool_info()
    assert inside and all(pool["num_threads"] == 1 for pool in inside), inside


def test_one_thread_trains_the_same_model(monkeypatch: pytest.MonkeyPatch) -> None:
    limited = trained_document()
    monkeypatch.setattr(training, "numerics_on_one_thread", contextlib.nullcontext)  # the pools as they come
    assert trained_document() == limited
