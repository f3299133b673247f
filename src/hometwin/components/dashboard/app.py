"""`create_app`: the dashboard as an ASGI app, built from its settings and its ports."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hometwin.clock import Clock
from hometwin.config import DashboardSettings
from hometwin.ports import SensorSource
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore

from . import api, home_admin, login, views
from .accounts import Accounts, AccountsFile
from .auth import COOKIE, Gate, SessionSigner
from .fleet import DashboardHomes, build_homes
from .home_admin import HomePortsFactory
from .login_throttle import LoginThrottle
from .revocations import RevokedSessions
from .service import DashboardService

if TYPE_CHECKING:
    from hometwin.components.wiring import HomePorts

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
# Reachable without logging in: the login itself, the stylesheet, the health probe and the
# e-mail link (its signed token is the authorisation, and it only ever acknowledges one alert).
PUBLIC = ("/login", "/static/", "/healthz", "/ack")
HOME_ACK_LINK = re.compile(r"/h/[^/]+/ack")  # a fleet home's e-mail link, as public as /ack
# The pages show health data: no caching, no referrer (the ack token must not leak), no framing.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'none'; frame-ancestors 'none'; form-action 'self'",
}


def _base_app(**kwargs: Any) -> FastAPI:
    # A component like the others, but it subscribes to no event: served, never registered.
    from hometwin.sdk import LocalGateway

    return LocalGateway(mock=True, **kwargs)


def create_app(settings: DashboardSettings, *, source: SensorSource | None = None,
               registry: ModelRegistry | None = None, alert_store: AlertStore | None = None,
               clock: Clock | None = None, mail_dir: Path | None = None,
               homes: Sequence[HomePorts] | None = None, accounts: Accounts | None = None,
               home_ports: HomePortsFactory | None = None) -> FastAPI:
    """The caregiver's dashboard.

    One home: `source` gives sensor events, `registry` the behaviour models
    (`hometwin.registry.ModelRegistry`), `alert_store` the alert book and acknowledgements
    (`hometwin.services.alert_store.AlertStore`). A fleet (a homes file): `homes`, every home's ports
    (`components.wiring.build_home_ports`); its pages are then under `/h/<home id>/` and `/homes`
    lists them. `accounts` (default: HOMETWIN_DASHBOARD_ACCOUNTS_FILE) are caregiver logins that see
    only their homes. `home_ports` opens a home declared through `PUT /api/homes/{id}` (without it
    the dashboard shows such a home after a restart). `mail_dir` (demo mode) is the local Maildir
    whose e-mails get their own page.
    """
    clock = clock or Clock.parse(settings.clock)
    if homes:
        fleet = build_homes([(DashboardService(settings.model_copy(update={"home_id": h.home.id, "tz": h.home.tz}),
                                               source=h.source, registry=h.registry, alert_store=h.alerts,
                                               clock=clock, mail_dir=mail_dir), h.home.name) for h in homes],
                            legacy=settings.home_id)
    elif source is None or registry is None or alert_store is None:
        raise TypeError("create_app needs source, registry and alert_store, or homes")
    else:
        fleet = DashboardHomes.single(DashboardService(settings, source=source, registry=registry,
                                                       alert_store=alert_store, clock=clock, mail_dir=mail_dir))
    logins: Accounts | AccountsFile | None = accounts
    if accounts is None and settings.dashboard_accounts_file is not None:
        logins = AccountsFile(settings.dashboard_accounts_file, lambda: list(fleet.services))
    key = settings.session_secret()
    # Logouts are kept on disk only when sessions can outlive the process (revocations.py).
    logouts = settings.data_dir / "dashboard" / f"logouts-{settings.home_id}.json" if key else None
    if key is None:
        key = secrets.token_urlsafe(32)
        log.info("no HOMETWIN_DASHBOARD_SESSION_SECRET: sessions end when this process stops")
    throttle = LoginThrottle(per_client=settings.dashboard_login_failures,
                             overall=settings.dashboard_login_failures_total,
                             window_s=settings.dashboard_login_window_minutes * 60)
    gate = Gate(SessionSigner(key.encode(), settings.dashboard_session_hours * 3600),
                token=settings.token(), password=settings.password(), revoked=RevokedSessions(logouts),
                throttle=throttle, secure_cookie=settings.dashboard_secure_cookie, accounts=logins)
    if not gate.required:
        log.warning("dashboard has no token or password: anyone who can reach it sees everything")

    app = _base_app(title="HomeTwin dashboard", docs_url="/api/docs", redoc_url=None,
                    openapi_url="/api/openapi.json")
    app.state.homes = fleet
    app.state.home_ports = home_ports
    app.state.gate = gate
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # Every home's pages and API under /h/<id>, and the same routes at the old paths for the legacy home.
    per_home = [Depends(api.home_param)]
    app.include_router(api.site_router)
    app.include_router(home_admin.router)
    app.include_router(api.router, prefix="/api")
    app.include_router(api.router, prefix="/api" + api.HOME_PATH, dependencies=per_home)
    app.include_router(login.router)
    app.include_router(views.site_router)
    app.include_router(views.router)
    app.include_router(views.router, prefix=api.HOME_PATH, dependencies=per_home)
    app.add_exception_handler(StarletteHTTPException, views.page_error)  # type: ignore[arg-type]

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        session = gate.session(request)
        request.state.session = session or gate.signer.new()
        public = any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC) or bool(
            HOME_ACK_LINK.fullmatch(path))
        response: Response
        wait = 0 if public else _throttle_bearer(gate, request)
        if wait:
            response = JSONResponse({"detail": "too many wrong secrets from this address; try again later"},
                                    status_code=429, headers={"Retry-After": str(wait)})
        elif not public and not gate.allowed(request):
            if path.startswith("/api/"):
                response = JSONResponse({"detail": "login required: a session or `Authorization: Bearer`"},
                                        status_code=401, headers={"WWW-Authenticate": "Bearer"})
            else:
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
        else:
            response = await call_next(request)
        if session is None and COOKIE not in response.headers.get("set-cookie", ""):
            # An anonymous session gives forms their CSRF token even before (or without) a login.
            gate.set_cookie(response, request.state.session, request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


def _throttle_bearer(gate: Gate, request: Request) -> int:
    """A bearer token is a secret too: wrong ones count like wrong logins. Seconds to wait, or 0."""
    if not gate.required or "authorization" not in request.headers:
        return 0
    client = gate.client(request)
    wait = gate.throttle.retry_after(client)
    if not wait and not gate.bearer_ok(request):
        gate.throttle.failed(client)
    return wait


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/")
