"""`LocalGateway`: a FastAPI app whose `deploy` serves a function and registers it with the scheduler.

Registration runs in the app's lifespan, in the background (`hometwin.sdk.registrar`), so the
component starts whether or not the scheduler is up, and registers again after the scheduler
forgets it. `mock=True` only adds the routes (no scheduler needed).

With a dispatch secret (HOMETWIN_DISPATCH_SECRET or ..._FILE, the scheduler's), the whole app sits
behind `DispatchGuard` (sdk/dispatch_guard.py): functions accept only invocations the scheduler
signed, every other route but the health ones needs the secret as bearer token. Without one the
gateway logs, at start, that it accepts invocations from anyone. Mock mode registers nothing, so
the scheduler never invokes it: it is not guarded (the dashboard is such an app, with its own login).

Run it as any FastAPI app: `uvicorn main:app --host 0.0.0.0 --port 8000`. The gateway cannot see
uvicorn's port, so it reads PORT or UVICORN_PORT (uvicorn itself reads UVICORN_PORT), default
8000, unless PUBLIC_URL or the Kubernetes service variables say where it is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from hometwin.dispatch_signature import DispatchSigner
from hometwin.sdk.address import CallbackBase, callback_base
from hometwin.sdk.dispatch_guard import DispatchGuard
from hometwin.sdk.log import child
from hometwin.sdk.registrar import Registrar, Registration
from hometwin.sdk.settings import SdkSettings

log = child("gateway")

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def api_path(cb: Callable[..., Any], path: str | None) -> str:
    """`/api/<cb.__name__>`, or `path` forced under `/api` (the course's rule)."""
    endpoint = path or f"/api/{cb.__name__}"
    if not endpoint.startswith("/api"):
        endpoint = "/api/" + endpoint.lstrip("/")
    return endpoint


class LocalGateway(FastAPI):
    """FastAPI plus `deploy`. `LocalGateway(mock=False, *args, **kwargs)`; the extra keyword
    `settings` (an `SdkSettings`) overrides the environment, mainly for tests."""

    def __init__(self, mock: bool = False, *args: Any, settings: SdkSettings | None = None,
                 **kwargs: Any) -> None:
        self._user_lifespan = kwargs.pop("lifespan", None)
        super().__init__(*args, lifespan=self._lifespan, **kwargs)
        self.mock = mock
        self.sdk_settings = settings or SdkSettings()
        self.scheduler = self.sdk_settings.scheduler_url
        self.registrar: Registrar | None = None
        self.callback: CallbackBase | None = None
        self._function_paths: set[str] = set()
        # Read (and checked: ValueError naming the variable) only where it is used.
        dispatch_key = None if mock else self.sdk_settings.dispatch_key()
        self.signer = DispatchSigner(dispatch_key) if dispatch_key else None
        if not mock and self.signer is None:
            log.warning("HOMETWIN_DISPATCH_SECRET is unset: this component accepts invocations from anyone "
                        "who can reach it (set the scheduler's dispatch secret here too, docs/sdk.md)")
        if mock:
            log.info("LocalGateway in mock mode: functions are served, not registered")
        elif self.scheduler is None:
            log.warning("SCH_SERVICE_NAME is unset: debugging mode, functions are served, not registered")
        else:
            self.callback = callback_base(self.sdk_settings)
            log.info("the scheduler at %s will call this component at %s (from %s)",
                     self.scheduler, self.callback.url, self.callback.source)
            self.registrar = Registrar(self.sdk_settings, self.callback)

    # Kept for course code that read these attributes.
    @property
    def local_ip(self) -> str | None:
        return self.callback.url.split("://", 1)[1].rsplit(":", 1)[0] if self.callback else None

    @property
    def local_port(self) -> str | None:
        return self.callback.url.rsplit(":", 1)[1] if self.callback else None

    def deploy(self, cb: Callable[..., Any], name: str, evts: list[str] | str, method: str = "GET",
               path: str | None = None) -> None:
        """Serve `cb` at `/api/<cb.__name__>` (or `path`, under `/api`) and register it as function
        `name` subscribed to `evts` (one event name or a list), invoked with HTTP `method`."""
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        subs = [evts] if isinstance(evts, str) else list(evts)
        if not name or not subs or not all(isinstance(e, str) and e for e in subs):
            raise ValueError(f"deploy needs a function name and event names, got name={name!r} evts={evts!r}")
        endpoint = api_path(cb, path)
        # Re-deploying (e.g. from a handler that runs on every event) replaces the route, not piles up.
        self.router.routes = [
            route for route in self.router.routes
            if not (isinstance(route, APIRoute) and route.path == endpoint
                    and method in (route.methods or set()))]
        self.add_api_route(endpoint, cb, methods=[method])
        self._function_paths.add(endpoint)
        self.openapi_schema = None
        if self.registrar is not None:
            self.registrar.add(Registration(name, tuple(subs), endpoint, method))
            log.info("deployed %s at %s for events %s; registering with %s", name, endpoint, subs,
                     self.scheduler)
        else:
            log.info("deployed %s at %s for events %s (not registered)", name, endpoint, subs)

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, around FastAPI's error handling and any middleware the component adds, so
        # nothing reaches a route before the guard decided.
        app = super().build_middleware_stack()
        if self.signer is None:
            return app
        return DispatchGuard(app, signer=self.signer, is_function=self._function_paths.__contains__)

    def registered(self) -> set[str]:
        """Function names the scheduler has confirmed."""
        return self.registrar.registered() if self.registrar else set()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[Any]:
        task = asyncio.create_task(self.registrar.run(), name="hometwin-sdk-registrar") \
            if self.registrar is not None else None
        try:
            if self._user_lifespan is not None:
                async with self._user_lifespan(app) as state:
                    yield state
            else:
                yield None
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
