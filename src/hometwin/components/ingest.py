"""The `ingest` component: the live MQTT ingest as a service with health, status and metrics routes.

The work is done by services/ingest.py in its own threads; this app starts and stops it with the
server and shows how it is doing. `/readyz` is ready while the broker connection is up (a store
outage does not make it unready: the ingest keeps buffering, see `/status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hometwin.components.common import add_health
from hometwin.services.ingest import IngestService


def create_app(service: IngestService) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(service.start)
        try:
            yield
        finally:
            await asyncio.to_thread(service.stop)

    app = FastAPI(title="HomeTwin ingest", lifespan=lifespan)

    def ready() -> tuple[bool, str]:
        status = service.status()
        return (True, "ok") if status.connected else (False, f"MQTT broker: {status.broker_error}")

    add_health(app, ready)

    @app.get("/status")
    def status() -> dict[str, Any]:
        return dataclasses.asdict(service.status())

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
