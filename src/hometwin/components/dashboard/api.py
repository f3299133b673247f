"""The JSON API behind the pages: each page's data as a typed response, plus acknowledge.

Each home's API is under `/api/h/<home id>/`; without a homes file the old paths (`/api/now`, ...)
are the one home's, and with one they mean the legacy home (fleet.py). `GET /api/homes` lists the
homes the caller may see with their status, a page at a time (`?page=&limit=`, `?status=`, `?q=`).

Reads need a session or `Authorization: Bearer <token>` when a token or password is set (the
guard in app.py); the acknowledge POST additionally needs the bearer token or the session's CSRF
token in `X-CSRF-Token` (see auth.Gate.may_mutate_api).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from hometwin.services.errors import EpisodeOver
from hometwin.services.trend_digest import TREND_WEEKS

from .auth import Gate
from .errors import AlertStoreUnavailable, RegistryUnavailable, UnknownAlert, UnknownModelVersion
from .fleet import MAX_PAGE_SIZE, PAGE_SIZE, DashboardHomes, HomesQuery, UnknownHome
from .schemas import (
    AckResult,
    AlertsView,
    Comparison,
    HomeState,
    HomesView,
    MailView,
    ModelsView,
    NowView,
    RoutineView,
    TodayView,
    TrendsView,
)
from .service import DashboardService

# Included twice by app.py: under /api (the legacy home) and under /api/h/{home_id} (any home).
router = APIRouter(tags=["dashboard"])
# Routes that are not about one home: included once, under /api.
site_router = APIRouter(prefix="/api", tags=["dashboard"])
ALERT_ID = r"^[A-Za-z0-9_-]{1,64}$"
HOME_PATH = "/h/{home_id}"


def home_param(home_id: str = Path(..., max_length=63, description="The home's id (see `GET /api/homes`).")) -> str:
    """Declares the `home_id` of the per-home routes (the lookup itself is `service`)."""
    return home_id


def homes(request: Request) -> DashboardHomes:
    h: DashboardHomes = request.app.state.homes
    return h


def service(request: Request) -> DashboardService:
    """The service of the request's home (`/h/<home id>/...`, else the legacy home), when this login
    may see it; HTTP 404 otherwise, with the same words for "no such home" and "not yours"."""
    cached: DashboardService | None = getattr(request.state, "home_service", None)
    if cached is not None:
        return cached
    home_id = request.path_params.get("home_id")
    try:
        svc = homes(request).get(home_id)
    except UnknownHome as exc:
        raise HTTPException(404, str(exc)) from None
    if not gate(request).sees(request, svc.settings.home_id):
        raise HTTPException(404, str(UnknownHome(svc.settings.home_id)))
    request.state.home_service = svc
    return svc


def gate(request: Request) -> Gate:
    g: Gate = request.app.state.gate
    return g


@router.get("/now", response_model=NowView)
def now(request: Request) -> NowView:
    """Where the person is, what the routine expects at this hour, the open alerts."""
    return service(request).now_view()


@router.get("/today", response_model=TodayView)
def today(request: Request,
          day: date | None = Query(None, description="Local date; default today.")) -> TodayView:
    """The day's stays, away and unknown periods, in the home's time zone."""
    return service(request).today_view(day)


@router.get("/routine", response_model=RoutineView)
def routine(request: Request) -> RoutineView:
    """Per room: visits and mean visit duration by weekday and time of day; mean duration per room."""
    return service(request).routine_view()


@router.get("/trends", response_model=TrendsView)
def trends(request: Request, weeks: int = Query(TREND_WEEKS, ge=2, le=26,
                                                description="How many weeks of days to return.")) -> TrendsView:
    """The daily health indicators of the last weeks, each with the person's normal band and the
    changes found against it (docs/trends.md), plus the sentences of the recent changes."""
    return service(request).trends_view(weeks)


@router.get("/models", response_model=ModelsView)
def models(request: Request) -> ModelsView:
    """Every model version, newest first, with its metadata."""
    return service(request).models_view()


@router.get("/models/compare", response_model=Comparison)
def compare(request: Request, old: str = Query(..., min_length=1, max_length=100),
            new: str = Query(..., min_length=1, max_length=100)) -> Comparison:
    """The behaviour-change summary between two model versions."""
    try:
        return service(request).compare(old, new)
    except UnknownModelVersion as exc:
        raise HTTPException(404, str(exc)) from None
    except RegistryUnavailable as exc:
        raise HTTPException(503, f"the model registry is unavailable, try again: {exc}") from None


@router.get("/alerts", response_model=AlertsView)
def alerts(request: Request) -> AlertsView:
    """Every alert kept, open ones first, each with its evidence."""
    return service(request).alerts_view()


@router.post("/alerts/{alert_id}/ack", response_model=AckResult)
def acknowledge(request: Request, alert_id: str = Path(..., pattern=ALERT_ID)) -> AckResult:
    """Someone takes care: the monitoring stops the reminders at its next check."""
    g = gate(request)
    if not g.may_mutate_api(request):
        raise HTTPException(403, "acknowledging needs the bearer token or the X-CSRF-Token of the session")
    return do_acknowledge(request, service(request), alert_id, g.who(request))


def do_acknowledge(request: Request, svc: DashboardService, alert_id: str, by: str,
                   episode: int | None = None) -> AckResult:
    try:
        result = svc.acknowledge(alert_id, by, episode=episode)
        homes(request).snapshots.forget(svc.settings.home_id)  # the home list shows the ack at once
        return result
    except UnknownAlert as exc:
        raise HTTPException(404, str(exc)) from None
    except EpisodeOver as exc:  # the alert came back between the link's check and the record
        raise HTTPException(409, str(exc)) from None
    except AlertStoreUnavailable as exc:
        raise HTTPException(503, f"the alert store is unavailable, try again: {exc}") from None


def homes_query(
        sort: Literal["status", "name"] = Query(
            "status", description="`status`: open alerts first, then warnings, data missing, no model, well; "
                                  "`name`. Over all the homes, not per page."),
        status: HomeState | Literal[""] | None = Query(
            None, description="Only the homes in this status (empty: any, as the page's form sends it)."),
        q: str = Query("", max_length=100, description="Only the homes whose name or id contains this (any case)."),
        page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1 (past the end: the last page)."),
        limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Homes per page.")) -> HomesQuery:
    return HomesQuery(sort=sort, status=status or None, q=q, page=page, limit=limit)


@site_router.get("/homes", response_model=HomesView)
def home_list(request: Request, query: HomesQuery = Depends(homes_query)) -> HomesView:
    """One page of the homes this login may see, each with its status at a glance."""
    return homes_view(request, query)


def homes_view(request: Request, query: HomesQuery) -> HomesView:
    h, g = homes(request), gate(request)
    hours = request.app.state.settings.dashboard_data_missing_hours
    return h.view(lambda home_id: g.sees(request, home_id), query, h.get(None).now(), timedelta(hours=hours))


@site_router.get("/mail", response_model=MailView)
def mail(request: Request) -> MailView:
    """Demo mode: the e-mails the actuation delivered into the local Maildir."""
    return service(request).mail_view()
