"""Training keeps BLAS and OpenMP on one thread (services/training.py, `numerics_on_one_thread`): their
spinning thread pools cost CPU time and gain nothing when the homes train in parallel processes. The
model must come out the same to the last digit, calibration included."""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import subprocess
import sys
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


def test_a_process_s_first_training_is_on_one_thread_too() -> None:
    """threadpoolctl limits only the runtimes loaded when it is entered: the first training of a fresh
    process (a worker's first home) must not load scikit-learn's OpenMP runtime unlimited."""
    script = ("import sys\n"
              "from threadpoolctl import threadpool_info\n"
              "from hometwin.services import training\n"
              "assert 'sklearn' not in sys.modules\n"
              "with training.numerics_on_one_thread():\n"
              "    from hometwin.domain.hazard import HazardModel, Design\n"
              "    import sklearn.linear_model\n"
              "    pools = threadpool_info()\n"
              "print(sorted({(p['internal_api'], p['num_threads']) for p in pools}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    pools = ast.literal_eval(out.strip())
    assert any(api == "openmp" for api, _ in pools), pools
    assert all(threads == 1 for _, threads in pools), pools
