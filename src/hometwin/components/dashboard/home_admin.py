"""Declaring a home through the dashboard's API: `PUT /api/homes/{home_id}` (service admins only).

The body is the home's entry of the homes file without its id (name, tz, caregivers, sensors,
rooms), validated as the file is, with the same messages. The dashboard writes the homes file
(`HOMETWIN_HOMES_FILE`, atomically) and shows the home at once; the monitoring, the modeling and
the actuation read the file when they start, so they serve the new home after their next restart
(the answer says so). One writer at a time in this process; several dashboard replicas writing one
file would overwrite each other's declarations, so declare homes through one replica.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request
from pydantic import BaseModel, Field

from hometwin.services.homes import HOME_ID, Home, HomesFileError, check_home, load_homes, save_homes

from .api import gate, homes
from .service import DashboardService

if TYPE_CHECKING:
    from hometwin.components.wiring import HomePorts

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["dashboard"])
_writing = threading.Lock()

# Opens a declared home's ports (its events, its registry entries, its alert book).
HomePortsFactory = Callable[[Home], "HomePorts"]


class HomeDeclared(BaseModel):
    home: dict[str, Any] = Field(description="The home as the homes file now declares it.")
    created: bool = Field(description="False: an existing home's declaration was replaced.")
    shown: bool = Field(description="Whether this dashboard shows it already (else after its restart).")
    detail: str


@router.put("/homes/{home_id}", response_model=HomeDeclared)
def declare_home(request: Request, home_id: str = Path(..., pattern=HOME_ID),
                 declaration: dict[str, Any] = Body(..., examples=[{
                     "name": "Anna Berger", "tz": "Europe/Vienna", "caregivers": ["daughter@example.org"],
                     "sensors": {"influx_user": "anna"}}])) -> HomeDeclared:
    """Declare a home, or replace its declaration (a service admin's login; 422 names the field)."""
    g = gate(request)
    if not g.required:
        raise HTTPException(403, "declaring homes needs a login: set HOMETWIN_DASHBOARD_TOKEN (docs/dashboard.md)")
    if not g.may_mutate_api(request) or not g.admin(request):
        raise HTTPException(403, "declaring homes needs a service admin: the dashboard's token or password, or an "
                                 "account with `homes: all`")
    settings = request.app.state.settings
    if settings.homes_file is None:
        raise HTTPException(409, "this dashboard has no homes file (HOMETWIN_HOMES_FILE): declare the first homes "
                                 "there (docs/fleet.md)")
    if "id" in declaration and declaration["id"] != home_id:
        raise HTTPException(422, f"home {home_id!r}, field id: the body names another home ({declaration['id']!r})")
    try:
        home = check_home({**declaration, "id": home_id}, default_tz=settings.tz)
    except HomesFileError as exc:
        raise HTTPException(422, str(exc)) from None
    with _writing:
        try:
            current = load_homes(settings.homes_file, default_tz=settings.tz)
        except HomesFileError as exc:
            raise HTTPException(503, f"the homes file cannot be read now: {exc}") from None
        created = current.get(home_id) is None
        declared = [home if h.id == home_id else h for h in current] + ([home] if created else [])
        try:
            save_homes(settings.homes_file, declared)
        except OSError as exc:
            raise HTTPException(503, f"the homes file {settings.homes_file} cannot be written "
                                     f"({exc.strerror or exc}); a ConfigMap is read-only: keep it on a volume "
                                     "the dashboard may write, or edit it there") from None
        shown = _show(request, home)
    log.info("home %s %s through the API", home_id, "declared" if created else "re-declared")
    return HomeDeclared(home=home.model_dump(mode="json"), created=created, shown=shown,
                        detail="written to the homes file; restart the monitoring, the modeling and the "
                               "actuation to serve it" + ("" if shown else ", and the dashboard to show it"))


def _show(request: Request, home: Home) -> bool:
    """Add the home to the running dashboard (or replace its service); False without a ports factory."""
    factory: HomePortsFactory | None = request.app.state.home_ports
    fleet = homes(request)
    if factory is None or not fleet.fleet:
        return False
    try:
        ports = factory(home)
    except Exception as exc:  # noqa: BLE001 - the file is written; the dashboard shows it after a restart
        log.warning("home %s declared, but its ports cannot be opened now: %s", home.id, exc)
        return False
    template = fleet.get(None)
    settings = template.settings.model_copy(update={"home_id": home.id, "tz": home.tz})
    service = DashboardService(settings, source=ports.source, registry=ports.registry, alert_store=ports.alerts,
                               clock=template.clock, mail_dir=template.mail_dir)
    # New dicts, not changes in place: requests listing the homes meanwhile keep iterating the old ones.
    fleet.services = {**fleet.services, home.id: service}
    fleet.names = {**fleet.names, home.id: home.name}
    return True
