"""The weekly retrain of a fleet on more than one core: homes trained in worker processes.

Python runs one thread's bytecode at a time, so homes trained on threads keep about one core busy
whatever `HOMETWIN_MODELING_WORKERS` says. With more than one worker the modeling trains each home
of a fleet in a process of a `ProcessPoolExecutor` of that many workers. The processes are started
with "spawn", not "fork": the component has threads (the event loop's, the SDK's registrar), and a
forked child inherits their locks in whatever state they were.

A worker gets a `TrainingJob`: the home, its training window and the settings naming the stores,
all picklable, no open connection. It opens the home's events and model registry itself (as
`build_ports` / `build_home_ports` do), trains and registers exactly as the in-process training
(`services.training.train_window`), and answers with plain data: an outcome, never an exception
object (one that does not pickle would break the pool). The parent keeps everything else: the
idempotency guard, the `ModelTrainedEvent`, the logging and what an outcome means for the
invocation.

A worker that dies (killed, out of memory) breaks the whole pool: every home then in flight is
answered `lost`, which the modeling reports as unavailable (503), so the scheduler's retry trains it,
and the next training starts a new pool. A home whose model was registered just before its worker
died is trained again by that retry: one version more, never a home left out.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hometwin.components.wiring import home_events, open_store
from hometwin.config import SourceSettings, StoreSettings
from hometwin.ports import ObjectStore, PortError, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.services.errors import NotEnoughData
from hometwin.services.homes import Home
from hometwin.services.training import train_window

# What a worker answers: {"outcome": one of these, ...}. "trained" carries "data" (the
# ModelTrainedEvent's), the others "detail"; "error" also "type" and "traceback".
OUTCOMES = ("trained", "not-enough-data", "unavailable", "error", "lost")


@dataclass(frozen=True)
class HomeOpener:
    """How a worker process opens a fleet home's events and models: the settings `build_ports` reads
    (store URLs and their connections; secrets are read from their files in the worker)."""

    stores: StoreSettings
    sources: SourceSettings

    def registry(self, home: Home) -> ModelRegistry:
        return ModelRegistry(_model_store(self.stores), home.id)

    def events(self, home: Home) -> SensorSource:
        return home_events(home, self.sources)


@dataclass(frozen=True)
class TrainingJob:
    """One home's training, as sent to a worker process."""

    home: Home
    opener: HomeOpener
    start: datetime
    end: datetime
    min_days: float
    false_alarm_budget: float


_stores: dict[str, ObjectStore] = {}  # per worker process: one client per model store, reused by every home
_stores_lock = threading.Lock()


def _model_store(stores: StoreSettings) -> ObjectStore:
    key = stores.model_dump_json()
    with _stores_lock:
        if key not in _stores:
            _stores[key] = open_store(stores.model_store, stores)
        return _stores[key]


def train_in_worker(job: TrainingJob) -> dict[str, Any]:
    """Train one home (runs in a worker process): the outcome, classified as the modeling does."""
    source: SensorSource | None = None
    try:
        source = job.opener.events(job.home)
        data = train_window(source, job.opener.registry(job.home), tz=job.home.tz, start=job.start,
                            end=job.end, min_days=job.min_days, false_alarm_budget=job.false_alarm_budget)
    except NotEnoughData as exc:
        return {"outcome": "not-enough-data", "detail": str(exc)}
    except (PortError, OSError) as exc:
        return {"outcome": "unavailable", "detail": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the parent reports it as this home's error
        return {"outcome": "error", "type": type(exc).__name__, "detail": str(exc),
                "traceback": traceback.format_exc()}
    finally:
        _close(source)
    return {"outcome": "trained", "data": data}


def _close(source: SensorSource | None) -> None:
    """A worker trains many homes: it closes each home's connection (a RoomOverride wraps one)."""
    inner = getattr(source, "source", source)
    close = getattr(inner, "close", None)
    if callable(close):
        close()


class TrainingPool:
    """`workers` processes, started when a training needs them and stopped once no training is left
    (`release_if_idle`, after each retrain) or by `close`: an idle worker keeps about 240 MiB, which a
    Raspberry Pi should not hold for a week to save two seconds of start-up at the next retrain."""

    def __init__(self, workers: int) -> None:
        if workers < 2:
            raise ValueError(f"a training pool needs at least 2 workers, got {workers} (1 trains in-process)")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._in_flight = 0  # trainings submitted and not yet answered
        self._lock = threading.Lock()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the training pool is closed (the component is shutting down)")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            self._in_flight += 1
            return self._executor

    async def train(self, job: TrainingJob) -> dict[str, Any]:
        """The worker's outcome for `job`; `lost` when its worker (or another one) died meanwhile."""
        try:
            executor = self._current()
        except RuntimeError as exc:  # closing: answered like a lost worker, so the retry trains the home
            return {"outcome": "lost", "detail": f"{exc}; the retry trains this home again"}
        try:
            outcome: dict[str, Any] = await asyncio.wrap_future(executor.submit(train_in_worker, job))
        except (BrokenProcessPool, RuntimeError) as exc:
            # RuntimeError: submitted to a pool that another home's broken worker shut down meanwhile
            self._discard(executor)
            return {"outcome": "lost", "detail": f"a training worker process died ({exc}); the retry trains "
                                                 "this home again"}
        finally:
            with self._lock:
                self._in_flight -= 1
        return outcome

    def release_if_idle(self) -> bool:
        """Stop the workers when no training is in flight (the next one starts new ones)."""
        with self._lock:
            if self._in_flight or self._executor is None:
                return False
            executor, self._executor = self._executor, None
        executor.shutdown(wait=True)  # nothing queued: the workers exit at once
        return True

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """A broken pool is never used again; the next training starts a new one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers; a training in progress ends first (its home is registered or not at all)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
