"""The `modeling` component: `TrainOccupancyModelEvent` -> train, register, `ModelTrainedEvent`.

The event's `report` (the weekly e-mail, sent by the actuation) also carries the daily indicators'
trends of the last weeks (`report.trends`), computed here because this is where the events are read.

Training is guarded by the invocation's Idempotency-Key (remembered in the state store), so a
duplicate delivery does not register a second model. Too little history is not an error state:
the answer says so and the monitoring asks again later.

A fleet (HOMETWIN_HOMES_FILE, docs/fleet.md): an event naming a `home_id` trains that home; one
naming none (the weekly schedule) retrains every home, `HOMETWIN_MODELING_WORKERS` at a time. Each
home has its own registry entries (`models/<home>/...`, its own `latest`) and its own idempotency
record, so when a store fails for some homes the scheduler's retry trains only those.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, HTTPException

from hometwin.components.common import Emitter, add_health
from hometwin.components.wiring import HomePorts, Ports, build_home_ports, homes_from_settings
from hometwin.config import ModelingSettings
from hometwin.domain.events import SensorEvent
from hometwin.ports import PortError, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.sdk import IdempotencyGuard, Invocation, LocalGateway, ObjectStoreIdempotency
from hometwin.sdk.invocation import read_invocation
from hometwin.services.errors import NotEnoughData
from hometwin.services.training import train_and_register

log = logging.getLogger(__name__)
EVENT = "TrainOccupancyModelEvent"


def report_trends(source: SensorSource, events: Sequence[SensorEvent], start: datetime, end: datetime, *,
                  tz: str) -> dict[str, Any] | None:
    """The weekly e-mail's trends (services/trend_digest.py), from the training events (`start` to
    `end`) plus the older ones from `source` that the baselines of the first charted weeks need.
    None when they cannot be computed: the report then goes out without them rather than not at all."""
    from hometwin.domain.change import trend_report_from_events
    from hometwin.services.trend_digest import history_days, trend_digest

    try:
        since = end - timedelta(days=history_days())
        history = [*(source.read(since, start) if since < start else []), *events]
        return trend_digest(trend_report_from_events(history, tz=tz, now=end))
    except Exception:  # noqa: BLE001 - logged with its traceback; the model and its report stand
        log.exception("the weekly report goes out without trends: they could not be computed")
        return None


@dataclass
class _Trainee:
    """One home as the modeling sees it."""

    home_id: str
    tz: str
    source: SensorSource
    registry: ModelRegistry
    guard: IdempotencyGuard


def create_app(settings: ModelingSettings, *, ports: Ports, homes: list[HomePorts] | None = None,
               emit: Callable[[str, Any], bool] | None = None) -> LocalGateway:
    """`homes`: the fleet's homes (default: from HOMETWIN_HOMES_FILE, if set); none: the one home of `ports`.
    `emit`: where events go (default: the scheduler)."""
    emit = emit or Emitter()
    lock = threading.Lock()  # one training at a time; a Pi has little memory to spare
    if homes is None and settings.homes_file is not None:
        homes = build_home_ports(homes_from_settings(settings), ports)
    fleet = homes is not None
    trainees = {h.home.id: _Trainee(h.home.id, h.home.tz, h.source, h.registry, _guard(ports, h.home.id))
                for h in homes} if homes is not None else {
        settings.home_id: _Trainee(settings.home_id, settings.tz, ports.source, ports.registry,
                                   _guard(ports, settings.home_id))}
    app = LocalGateway(title="HomeTwin modeling")

    def train(trainee: _Trainee) -> dict[str, Any]:
        end = ports.clock.now()
        start = end - timedelta(days=settings.modeling_window_days)
        try:
            events = trainee.source.read(start, end)
            trained = train_and_register(events, trainee.registry, tz=trainee.tz, start=start, end=end,
                                         min_days=settings.modeling_min_days)
        except NotEnoughData as exc:
            log.warning("home %s: not training yet: %s", trainee.home_id, exc)
            return {"status": "not-enough-data", "detail": str(exc)}
        except (PortError, OSError) as exc:
            log.error("home %s: training failed, the scheduler will retry: %s", trainee.home_id, exc)
            raise HTTPException(503, f"a dependency is unavailable: {exc}") from exc
        data = trained.event_data()
        if "report" in data:
            data["report"]["trends"] = report_trends(trainee.source, events, start, end, tz=trainee.tz)
        if fleet:
            data["home_id"] = trainee.home_id  # the actuation mails the report to this home's caregivers
        log.info("home %s: registered model %s (previous %s)", trainee.home_id, data["version"], data["previous"])
        emit("ModelTrainedEvent", data)
        return {"status": "trained", **data}

    def train_locked(trainee: _Trainee) -> dict[str, Any]:
        with lock:
            return train(trainee)

    workers = asyncio.Semaphore(settings.modeling_workers)  # bounds every invocation together

    async def train_fleet(key: str | None, chosen: list[_Trainee]) -> dict[str, Any]:
        async def one(trainee: _Trainee) -> dict[str, Any]:
            async with workers:
                result: dict[str, Any] = await trainee.guard.run(key, lambda: asyncio.to_thread(train, trainee))
                return result

        outcomes = await asyncio.gather(*(one(t) for t in chosen), return_exceptions=True)
        results: dict[str, Any] = {}
        failed = []
        for trainee, outcome in zip(chosen, outcomes, strict=True):
            if isinstance(outcome, HTTPException):  # a store is down: worth a retry
                failed.append(trainee.home_id)
                results[trainee.home_id] = {"status": "unavailable", "detail": str(outcome.detail)[:300]}
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
