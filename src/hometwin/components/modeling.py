"""The `modeling` component: `TrainOccupancyModelEvent` -> train, register, `ModelTrainedEvent`.

The event's `report` (the weekly e-mail, sent by the actuation) also carries the daily indicators'
trends of the last weeks (`report.trends`), computed here because this is where the events are read.

Training is guarded by the invocation's Idempotency-Key (remembered in the state store), so a
duplicate delivery does not register a second model. Too little history is not an error state:
the answer says so and the monitoring asks again later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, HTTPException

from hometwin.components.common import Emitter, add_health
from hometwin.components.wiring import Ports
from hometwin.config import ModelingSettings
from hometwin.domain.events import SensorEvent
from hometwin.ports import PortError, SensorSource
from hometwin.sdk import IdempotencyGuard, Invocation, LocalGateway, ObjectStoreIdempotency
from hometwin.sdk.invocation import read_invocation
from hometwin.services.errors import NotEnoughData
from hometwin.services.training import train_and_register

log = logging.getLogger(__name__)


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


def create_app(settings: ModelingSettings, *, ports: Ports) -> LocalGateway:
    emit = Emitter()
    lock = threading.Lock()  # one training at a time; a Pi has little memory to spare
    guard = IdempotencyGuard(ObjectStoreIdempotency(ports.state, prefix=f"state/{settings.home_id}/modeling/"))
    app = LocalGateway(title="HomeTwin modeling")

    def train() -> dict[str, Any]:
        with lock:
            end = ports.clock.now()
            start = end - timedelta(days=settings.modeling_window_days)
            try:
                events = ports.source.read(start, end)
                trained = train_and_register(events, ports.registry, tz=settings.tz, start=start, end=end,
                                             min_days=settings.modeling_min_days)
            except NotEnoughData as exc:
                log.warning("not training yet: %s", exc)
                return {"status": "not-enough-data", "detail": str(exc)}
            except (PortError, OSError) as exc:
                log.error("training failed, the scheduler will retry: %s", exc)
                raise HTTPException(503, f"a dependency is unavailable: {exc}") from exc
            data = trained.event_data()
            if "report" in data:
                data["report"]["trends"] = report_trends(ports.source, events, start, end, tz=settings.tz)
            log.info("registered model %s (previous %s)", data["version"], data["previous"])
            emit("ModelTrainedEvent", data)
            return {"status": "trained", **data}

    async def train_occupancy_model(invocation: Invocation = Depends(read_invocation)) -> Any:
        import asyncio

        return await guard.run(invocation.idempotency_key, lambda: asyncio.to_thread(train))

    app.deploy(train_occupancy_model, "train_occupancy_model", "TrainOccupancyModelEvent", method="POST")
    add_health(app)
    return app
