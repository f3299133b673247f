"""The `modeling` component: `TrainOccupancyModelEvent` -> train, register, `ModelTrainedEvent`.

Training is guarded by the invocation's Idempotency-Key (remembered in the state store), so a
duplicate delivery does not register a second model. Too little history is not an error state:
the answer says so and the monitoring asks again later.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from fastapi import Depends, HTTPException

from hometwin.components.common import Emitter, add_health
from hometwin.components.wiring import Ports
from hometwin.config import ModelingSettings
from hometwin.ports import PortError
from hometwin.sdk import IdempotencyGuard, Invocation, LocalGateway, ObjectStoreIdempotency
from hometwin.sdk.invocation import read_invocation
from hometwin.services.errors import NotEnoughData
from hometwin.services.training import train_and_register

log = logging.getLogger(__name__)


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
            log.info("registered model %s (previous %s)", data["version"], data["previous"])
            emit("ModelTrainedEvent", data)
            return {"status": "trained", **data}

    async def train_occupancy_model(invocation: Invocation = Depends(read_invocation)) -> Any:
        import asyncio

        return await guard.run(invocation.idempotency_key, lambda: asyncio.to_thread(train))

    app.deploy(train_occupancy_model, "train_occupancy_model", "TrainOccupancyModelEvent", method="POST")
    add_health(app)
    return app
