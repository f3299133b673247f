"""The scheduler's HTTP API (FastAPI), wire-compatible with the course's sif_edge.

Course routes: POST /api/event, POST and DELETE /api/function, GET /api/status.
Ours in addition: GET /api/invocations, POST /api/invocations/replay, POST /api/invocations/{id}/replay,
GET /healthz, GET /readyz, GET /metrics. See docs/scheduler.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hometwin.config import SchedulerSettings
from hometwin.dispatch_signature import DispatchSigner
from hometwin.scheduler.core import METHODS, FunctionSpec, Registration, normalise_url
from hometwin.scheduler.dispatch import DeliveryPolicy, Dispatcher
from hometwin.scheduler.errors import LimitExceeded, StoreUnavailable
from hometwin.scheduler.fastpath import EventFastPath
from hometwin.scheduler.json_input import StrictJsonRoute
from hometwin.scheduler.limits import BodySizeLimit
from hometwin.scheduler.metrics import SchedulerMetrics
from hometwin.scheduler.state import (
    AddEvent,
    Claim,
    Delete,
    EventAccepted,
    Expire,
    Invocation,
    ListInvocations,
    Prune,
    Register,
    Replay,
    Status,
    open_state,
)
from hometwin.scheduler.transport import AiohttpTransport
from hometwin.scheduler.writer import StoreWriter

log = logging.getLogger("hometwin.scheduler")

Name = Annotated[str, Field(min_length=1, max_length=200, strict=True)]


class EventRequest(BaseModel):
    name: Name
    data: Any = None


class FunctionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    subs: list[Name] = Field(min_length=1, max_length=64)
    url: Annotated[str, Field(min_length=1, max_length=2000, strict=True)]
    method: str = "GET"
    mock: bool = False
    # Our extensions (optional; the course SDK never sends them):
    timeout: float | None = Field(None, gt=0, le=3600)
    max_attempts: int | None = Field(None, ge=1, le=1000)
    concurrency: int | None = Field(None, ge=1, le=256)
    join_window: float | None = Field(None, ge=0)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        method = value.upper()
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}")
        return method

    @field_validator("subs")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("subs must not repeat an event name")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = normalise_url(value)
        try:
            parsed = httpx.URL(url)
        except Exception as exc:  # noqa: BLE001 - httpx raises several types for bad URLs
            raise ValueError(f"not a usable URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("url must be http(s)://host[:port]/path or host[:port]/path")
        return url


class DeleteRequest(BaseModel):
    name: Name


class ReplayRequest(BaseModel):
    ids: list[Name] = Field(default_factory=list)
    function: Name | None = None


InvocationStatus = Literal["pending", "delivered", "dead"]


def create_app(settings: SchedulerSettings | None = None) -> FastAPI:
    settings = settings or SchedulerSettings()
    token = settings.token()
    dispatch_key = settings.dispatch_key()
    if dispatch_key is None:
        log.warning("HOMETWIN_DISPATCH_SECRET is unset: invocations are sent unsigned, and components "
                    "without a secret accept invocations from anyone who can reach them")
    store = open_state(settings.state_url(), synchronous=settings.scheduler_synchronous)
    policy = DeliveryPolicy(settings.scheduler_timeout, settings.scheduler_max_attempts,
                            settings.scheduler_concurrency, settings.scheduler_backoff_initial,
                            settings.scheduler_backoff_max)
    state: dict[str, Any] = {}

    def outbox_depth() -> float:
        dispatcher = state.get("dispatcher")
        return float(len(dispatcher.outstanding)) if dispatcher else 0.0

    metrics = SchedulerMetrics(outbox_depth)

    def default_window(spec: FunctionSpec) -> FunctionSpec:
        if spec.join_window is None and settings.scheduler_join_window:
            return dataclasses.replace(spec, join_window=settings.scheduler_join_window)
        return spec

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        transport = AiohttpTransport(settings.scheduler_verify_tls, settings.scheduler_max_reply_bytes)
        await transport.open()

        async def replay_exhausted(function: str) -> list[Invocation]:
            replayed: list[Invocation] = await writer.submit(Replay(
                (), function, time.time(), exhausted_only=True, limit=settings.scheduler_auto_replay_batch))
            return replayed

        dispatcher = Dispatcher(transport, policy, store.spec,
                                lambda outcome: writer.submit_nowait(outcome), metrics,
                                replay_exhausted if settings.scheduler_auto_replay else None,
                                signer=DispatchSigner(dispatch_key) if dispatch_key else None)
        writer = StoreWriter(store, settings.scheduler_max_batch, dispatcher.enqueue, metrics.batch.observe)
        try:
            recovered = await writer.open()
        except (OSError, StoreUnavailable) as exc:
            await transport.close()
            log.error("cannot open the scheduler state %s: %s", store.location, exc)
            raise
        writer.start()
        dispatcher.enqueue(recovered)
        state.update(writer=writer, dispatcher=dispatcher)
        housekeeping = asyncio.create_task(
            _housekeeping(writer, settings.scheduler_retention_hours, settings.scheduler_dead_retention_days,
                          metrics))
        leases = asyncio.create_task(_keep_leases(writer, store.claim_interval)) if store.claim_interval else None
        log.info("scheduler ready: state %s, %d undelivered invocations recovered%s",
                 store.location, len(recovered), " (shared with other replicas)" if leases else "")
        try:
            yield
        finally:
            housekeeping.cancel()
            if leases is not None:
                leases.cancel()
            await dispatcher.close()
            await writer.stop()
            await transport.close()
            state.clear()

    def ready() -> bool:
        writer = state.get("writer")
        return writer is not None and writer.running

    async def accept_event(name: str, data: Any, size: int) -> bytes:
        """Commit one event (`size`: its request's bytes); the 202 body. Shared by the fast path and
        the route. LimitExceeded when its fan-out is over budget."""
        accepted: EventAccepted = await state["writer"].submit(
            AddEvent(name, data, time.time(), size, settings.scheduler_fanout_budget_bytes))
        (metrics.events_subscribed if accepted.subscribers else metrics.events_unsubscribed).inc()
        return json.dumps({"id": accepted.event_id, "subscribers": accepted.subscribers,
                           "invocations": [inv.id for inv in accepted.invocations]}).encode()

    # With a token, the API description is served by routes behind it (below), not FastAPI's open ones.
    open_docs = token is None
    app = FastAPI(title="HomeTwin scheduler", lifespan=lifespan, docs_url="/docs" if open_docs else None,
                  redoc_url="/redoc" if open_docs else None,
                  openapi_url="/openapi.json" if open_docs else None)
    app.router.route_class = StrictJsonRoute  # before the routes: their bodies are parsed strictly
    # Added first, so it runs inside BodySizeLimit: the size limit holds on the fast path too.
    app.add_middleware(EventFastPath, accept=accept_event, ready=ready, token=token)
    app.add_middleware(BodySizeLimit, max_bytes=settings.scheduler_max_body_bytes)

    async def authorised(request: Request) -> None:  # async: a sync dependency would hop to a thread
        if token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def writer_of() -> StoreWriter:
        if not ready():
            raise HTTPException(503, "scheduler is starting or stopping")
        writer: StoreWriter = state["writer"]
        return writer

    async def submit(command: Any) -> Any:
        try:
            return await writer_of().submit(command)
        except StoreUnavailable as exc:
            raise HTTPException(503, f"state store unavailable: {exc}") from None

    auth = [Depends(authorised)]
    if token is not None:
        _add_docs_behind(app, auth)

    @app.post("/api/event", status_code=202, dependencies=auth, response_class=Response)
    async def post_event(event: EventRequest, request: Request) -> Response:
        """Answers 202 only once the event and everything it caused are committed. Plain good
        requests are answered by EventFastPath before they get here (fastpath.py)."""
        writer_of()
        try:
            body = await accept_event(event.name, event.data, len(await request.body()))
        except StoreUnavailable as exc:
            raise HTTPException(503, f"state store unavailable: {exc}") from None
        except LimitExceeded as exc:
            raise HTTPException(exc.http_status, str(exc)) from None
        return Response(body, status_code=202, media_type="application/json")

    @app.post("/api/function", dependencies=auth)
    async def register_function(fn: FunctionRequest) -> dict[str, Any]:
        spec = default_window(FunctionSpec(fn.name, tuple(fn.subs), fn.url, fn.method, fn.mock, fn.timeout,
                                           fn.max_attempts, fn.concurrency, fn.join_window))
        try:
            registration: Registration = await submit(Register(spec, settings.scheduler_max_functions))
        except LimitExceeded as exc:
            raise HTTPException(exc.http_status, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        for dropped in registration.dropped:
            metrics.dropped.labels(dropped.reason).inc()
        if registration.changed:
            log.info("function %s %s (subs %s -> %s)", spec.name,
                     "registered" if registration.created else "updated", list(spec.subs), spec.url)
        return {"name": spec.name, "created": registration.created, "changed": registration.changed,
                "subs_changed": registration.subs_changed, "dropped_events": len(registration.dropped)}

    @app.delete("/api/function", dependencies=auth)
    async def delete_function(fn: DeleteRequest) -> dict[str, Any]:
        dropped = await submit(Delete(fn.name))
        if dropped is None:
            return {"name": fn.name, "deleted": False, "dropped_events": 0}
        for d in dropped:
            metrics.dropped.labels(d.reason).inc()
        log.info("function %s deleted, %d queued events dropped", fn.name, len(dropped))
        return {"name": fn.name, "deleted": True, "dropped_events": len(dropped)}

    @app.get("/api/status", dependencies=auth)
    async def status() -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await submit(Status())
        return result

    @app.get("/api/invocations", dependencies=auth)
    async def invocations(status: InvocationStatus | None = None, function: str | None = None,
                          limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        rows: list[Invocation] = await submit(ListInvocations(status, function, limit))
        return [inv.to_dict() for inv in rows]

    @app.post("/api/invocations/replay", dependencies=auth)
    async def replay(request: ReplayRequest | None = None) -> dict[str, Any]:
        request = request or ReplayRequest()
        replayed: list[Invocation] = await submit(Replay(tuple(request.ids), request.function, time.time()))
        return {"replayed": [inv.id for inv in replayed]}

    @app.post("/api/invocations/{invocation_id}/replay", dependencies=auth)
    async def replay_one(invocation_id: str) -> dict[str, Any]:
        replayed: list[Invocation] = await submit(Replay((invocation_id,), None, time.time()))
        if not replayed:
            raise HTTPException(404, f"no dead invocation with id {invocation_id!r}")
        return {"replayed": [inv.id for inv in replayed]}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        writer = state.get("writer")
        if writer is None or not writer.running:
            return JSONResponse({"status": "starting"}, status_code=503)
        if writer.failing:  # until a commit succeeds again (housekeeping tries one every second)
            return JSONResponse({"status": "state store unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", dependencies=auth)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _add_docs_behind(app: FastAPI, auth: list[Any]) -> None:
    """/openapi.json, /docs and /redoc, each needing the bearer token like every other route."""

    @app.get("/openapi.json", dependencies=auth, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=auth, include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    @app.get("/redoc", dependencies=auth, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")


async def _keep_leases(writer: StoreWriter, interval: float) -> None:
    """A state shared by several replicas: renew this replica's leases on its undelivered rows and
    take over those of replicas that stopped renewing theirs (the writer hands them to the dispatcher)."""
    while True:
        await asyncio.sleep(interval)
        try:
            claimed: list[Invocation] = await writer.submit(Claim())
        except Exception as exc:  # noqa: BLE001 - StoreUnavailable: try again next time
            log.warning("renewing the invocation leases failed: %s", exc)
            continue
        if claimed:
            log.warning("took over %d undelivered invocations whose replica's lease ran out", len(claimed))


async def _housekeeping(writer: StoreWriter, retention_hours: float, dead_retention_days: float,
                        metrics: SchedulerMetrics) -> None:
    """Expire joins past their window every second; delete old delivered and dead rows every ten minutes."""
    last_prune = 0.0
    while True:
        await asyncio.sleep(1.0)
        now = time.time()
        try:
            for dropped in await writer.submit(Expire(now)):
                metrics.dropped.labels(dropped.reason).inc()
                log.info("event %s (%s) for %s expired after its join window", dropped.event.event_id,
                         dropped.event.name, dropped.function)
            if now - last_prune > 600:
                last_prune = now
                await writer.submit(Prune(now - retention_hours * 3600, now - dead_retention_days * 86400))
        except Exception:  # noqa: BLE001 - housekeeping retries next tick
            log.exception("housekeeping failed")
