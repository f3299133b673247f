"""What every component shares: emitting events, scheduling triggers, health routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from hometwin.sdk import BaseEventFabric, PeriodicTrigger

log = logging.getLogger(__name__)


class Emitter(BaseEventFabric):
    """Emits any named event: `emitter("EmergencyEvent", data)` returns whether it was accepted."""

    def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        name, data = args
        return str(name), data


class Named(BaseEventFabric):
    """A fabric for a trigger: always the same event, its data computed at firing time."""

    def __init__(self, name: str, data: Callable[[], Any] = lambda: None) -> None:
        super().__init__()
        self.name, self.data = name, data

    def call(self, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        return self.name, self.data()


def every(fabric: BaseEventFabric, spec: str, *, timezone: str, run_immediate: bool = False) -> PeriodicTrigger:
    """A PeriodicTrigger from a cron spec ('*/5 * * * *') or a Go-style duration ('30s')."""
    if " " in spec.strip():
        return PeriodicTrigger(fabric, runImmediate=run_immediate, cronSpec=spec, timezone=timezone)
    return PeriodicTrigger(fabric, runImmediate=run_immediate, duration=spec, timezone=timezone)


def add_health(app: FastAPI, ready: Callable[[], tuple[bool, str]] = lambda: (True, "ok")) -> None:
    """`/healthz`: the process serves. `/readyz`: it can do its work now (reason when not)."""

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> Any:
        from fastapi.responses import JSONResponse

        ok, why = ready()
        return JSONResponse({"status": "ok" if ok else "not ready", "detail": why}, status_code=200 if ok else 503)
