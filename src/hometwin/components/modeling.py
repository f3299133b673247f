"""The `modeling` component: `TrainOccupancyModelEvent` -> train, register, `ModelTrainedEvent`.

The event's `report` (the weekly e-mail, sent by the actuation) also carries the daily indicators'
trends of the last weeks (`report.trends`), computed here because this is where the events are read.

Training is guarded by the invocation's Idempotency-Key (remembered in the state store), so a
duplicate delivery does not register a second model. Too little history is not an error state:
the answer says so and the monitoring asks again later.

A fleet (HOMETWIN_HOMES_FILE, docs/fleet.md): an event naming a `home_id` trains that home; one
naming none (the weekly schedule) retrains every home, `HOMETWIN_MODELING_WORKERS` at a time. Each
home has its own registry entries (`models/<home>/...`, its own `latest`) and its own idempotency
record, so when a store fails for some homes the scheduler's retry trains only those. With more
than one worker and the homes built from the settings, the homes train in worker processes
(components/modeling_pool.py: one core each); with one worker, or with ports handed in that another
process cannot open again (memory stores), in this process as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI, HTTPException

from hometwin.components.common import Emitter, add_health
from hometwin.components.modeling_pool import HomeOpener, TrainingJob, TrainingPool
from hometwin.components.wiring import HomePorts, Ports, build_home_ports, homes_from_settings
from hometwin.config import ModelingSettings, SourceSettings, StoreSettings
from hometwin.ports import PortError, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.sdk import IdempotencyGuard, Invocation, LocalGateway, ObjectStoreIdempotency
from hometwin.sdk.invocation import read_invocation
from hometwin.services.errors import NotEnoughData
from hometwin.services.homes import Home
from hometwin.services.training import report_trends as report_trends  # the component's own name for it
from hometwin.services.training import train_window

log = logging.getLogger(__name__)
EVENT = "TrainOccupancyModelEvent"


@dataclass
class _Trainee:
    """One home as the modeling sees it."""

    home_id: str
    tz: str
    source: SensorSource
    registry: ModelRegistry
    guard: IdempotencyGuard
    home: Home | None = None  # what a worker process needs to open this home again (a fleet's home)


class WorkerError(Exception):
    """A home's training raised `kind` in a worker process (the traceback stays in the log)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def create_app(settings: ModelingSettings, *, ports: Ports, homes: list[HomePorts] | None = None,
               emit: Callable[[str, Any], bool] | None = None) -> LocalGateway:
    """`homes`: the fleet's homes (default: from HOMETWIN_HOMES_FILE, if set); none: the one home of `ports`.
    `emit`: where events go (default: the scheduler). Homes built here from the settings train in
    worker processes when HOMETWIN_MODELING_WORKERS > 1; the workers open the stores the settings name,
    as `build_ports` does. Homes handed in train on threads of this process."""
    emit = emit or Emitter()
    lock = threading.Lock()  # one training at a time; a Pi has little memory to spare
    pool: TrainingPool | None = None
    opener: HomeOpener | None = None
    if homes is None and settings.homes_file is not None:
        homes = build_home_ports(homes_from_settings(settings), ports)
        if settings.modeling_workers > 1:
            pool, opener = TrainingPool(settings.modeling_workers), HomeOpener(StoreSettings(), SourceSettings())
    fleet = homes is not None
    trainees = {h.home.id: _Trainee(h.home.id, h.home.tz, h.source, h.registry, _guard(ports, h.home.id), h.home)
                for h in homes} if homes is not None else {
        settings.home_id: _Trainee(settings.home_id, settings.tz, ports.source, ports.registry,
                                   _guard(ports, settings.home_id))}
    if fleet:
        log.info("the weekly retrain trains %d home(s), %d at a time, %s", len(trainees), settings.modeling_workers,
                 "in worker processes" if pool else "in this process")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if pool is not None:
            await asyncio.to_thread(pool.close)

    app = LocalGateway(title="HomeTwin modeling", lifespan=lifespan)

    def window() -> tuple[datetime, datetime]:
        end = ports.clock.now()
        return end - timedelta(days=settings.modeling_window_days), end

    def trained(trainee: _Trainee, data: dict[str, Any]) -> dict[str, Any]:
        if fleet:
            data["home_id"] = trainee.home_id  # the actuation mails the report to this home's caregivers
        log.info("home %s: registered model %s (previous %s)", trainee.home_id, data["version"], data["previous"])
        emit("ModelTrainedEvent", data)
        return {"status": "trained", **data}

    def not_enough(trainee: _Trainee, detail: str) -> dict[str, Any]:
        log.warning("home %s: not training yet: %s", trainee.home_id, detail)
        return {"status": "not-enough-data", "detail": detail}

    def unavailable(trainee: _Trainee, detail: str) -> HTTPException:
        log.error("home %s: training failed, the scheduler will retry: %s", trainee.home_id, detail)
        return HTTPException(503, f"a dependency is unavailable: {detail}")

    def train(trainee: _Trainee) -> dict[str, Any]:
        start, end = window()
        try:
            data = train_window(trainee.source, trainee.registry, tz=trainee.tz, start=start, end=end,
                                min_days=settings.modeling_min_days)
        except NotEnoughData as exc:
            return not_enough(trainee, str(exc))
        except (PortError, OSError) as exc:
            raise unavailable(trainee, str(exc)) from exc
        return trained(trainee, data)

    async def train_in_worker(trainee: _Trainee) -> dict[str, Any]:
        assert pool is not None and opener is not None and trainee.home is not None
        start, end = window()
        # Read here, as train_and_register reads it in this process: a worker sees the same budget.
        budget = ModelingSettings().detect_false_alarm_budget
        outcome = await pool.train(TrainingJob(trainee.home, opener, start, end, settings.modeling_min_days, budget))
        kind = outcome["outcome"]
        if kind == "trained":
            return await asyncio.to_thread(trained, trainee, outcome["data"])  # emit may wait for the scheduler
        if kind == "not-enough-data":
            return not_enough(trainee, outcome["detail"])
        if kind in ("unavailable", "lost"):
            raise unavailable(trainee, outcome["detail"])
        log.error("home %s: training failed in its worker process:\n%s", trainee.home_id, outcome["traceback"])
        raise WorkerError(outcome["type"], outcome["detail"])

    def train_locked(trainee: _Trainee) -> dict[str, Any]:
        with lock:
            return train(trainee)

    workers = asyncio.Semaphore(settings.modeling_workers)  # bounds every invocation together

    async def train_fleet(key: str | None, chosen: list[_Trainee]) -> dict[str, Any]:
        async def one(trainee: _Trainee) -> dict[str, Any]:
            async with workers:
                run = (lambda: train_in_worker(trainee)) if pool else (lambda: asyncio.to_thread(train, trainee))
                result: dict[str, Any] = await trainee.guard.run(key, run)
                return result

        outcomes = await asyncio.gather(*(one(t) for t in chosen), return_exceptions=True)
        if pool is not None:  # the last retrain in flight stops the idle workers (their memory)
            await asyncio.to_thread(pool.release_if_idle)
        results: dict[str, Any] = {}
        failed = []
        for trainee, outcome in zip(chosen, outcomes, strict=True):
            if isinstance(outcome, HTTPException):  # a store is down: worth a retry
                failed.append(trainee.home_id)
                results[trainee.home_id] = {"status": "unavailable", "detail": str(outcome.detail)[:300]}
            elif isinstance(outcome, WorkerError):  # logged with the worker's traceback above
                results[trainee.home_id] = {"status": "error", "detail": f"{outcome.kind}: {outcome}"[:300]}
            elif isinstance(outcome, Exception):  # this home's data breaks the training: retrying will not help
                log.error("home %s: training failed", trainee.home_id, exc_info=outcome)
                results[trainee.home_id] = {"status": "error", "detail": f"{type(outcome).__name__}: {outcome}"[:300]}
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results[trainee.home_id] = outcome
        if failed:  # retried by the scheduler; the homes done already answer from their records
            raise HTTPException(503, f"training failed for {len(failed)} home(s): {', '.join(failed[:20])}")
        return {"status": "done", "homes": results}

    async def train_occupancy_model(invocation: Invocation = Depends(read_invocation)) -> Any:
        if not fleet:
            (trainee,) = trainees.values()
            return await trainee.guard.run(invocation.idempotency_key,
                                           lambda: asyncio.to_thread(train_locked, trainee))
        data = invocation[EVENT].data if EVENT in invocation else None
        home_id = data.get("home_id") if isinstance(data, dict) else None
        if home_id is None:
            return await train_fleet(invocation.idempotency_key, list(trainees.values()))
        if not isinstance(home_id, str) or home_id not in trainees:
            raise HTTPException(422, f"{EVENT}: home_id {home_id!r} is not a home this modeling serves")
        return await train_fleet(invocation.idempotency_key, [trainees[home_id]])

    app.deploy(train_occupancy_model, "train_occupancy_model", EVENT, method="POST")
    add_health(app)
    return app


def _guard(ports: Ports, home_id: str) -> IdempotencyGuard:
    return IdempotencyGuard(ObjectStoreIdempotency(ports.state, prefix=f"state/{home_id}/modeling/"))
