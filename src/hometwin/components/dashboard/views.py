"""The HTML pages (Jinja2, rendered on the server; the only script-free way to be fast on a phone).

`router` holds one home's pages; app.py includes it at `/` (the legacy home, fleet.py) and at
`/h/{home_id}/`. `site_router` holds what is not about one home: the home list, the health probe,
the demo's e-mails.
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timedelta
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from hometwin.domain import ack_links
from hometwin.domain.errors import ExpiredAckToken, InvalidAckToken
from hometwin.domain.wording import finding_wording
from hometwin.services.trend_digest import TREND_WEEKS

from . import charts
from .api import ALERT_ID, do_acknowledge, gate, homes, homes_query, homes_view, service
from .auth import safe_next
from .errors import AlertStoreUnavailable, UnknownModelVersion
from .fleet import PAGE_SIZE, STATES, HomesQuery, UnknownHome
from .schemas import HomesView, IndicatorTrendView

router = APIRouter(include_in_schema=False)
site_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=FilePath(__file__).resolve().parent / "templates")

@pass_context
def _local(ctx: Context, value: datetime | str | None, fmt: str = "%a %d %b %H:%M") -> str:
    """A time in the home's zone (stored times are UTC); ISO strings from evidence too."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    elif value is None:
        return "–"
    else:
        when = value
    return when.astimezone(ZoneInfo(ctx["tz"])).strftime(fmt)


def _percent(p: float) -> str:
    """A percentile without false precision: 99.996 is "above 99.9", not "100.0"."""
    return "above 99.9" if p >= 99.95 else f"{p:.1f}" if p > 99 else f"{p:.0f}"


def _evidence(ev: dict[str, Any]) -> str:
    """The numbers behind an alert in one line, in the words the e-mails use."""
    wording = finding_wording(str(ev.get("kind", "")))
    parts = []
    if "observed" in ev:
        parts.append(f"observed {wording.value(float(ev['observed']))}")
    if "expected" in ev and wording.compared:
        parts.append(f"usual {wording.value(float(ev['expected']))}")
    if "threshold" in ev:
        parts.append(f"alert {wording.beyond} {wording.value(float(ev['threshold']))}")
    if "percentile" in ev and math.isfinite(float(ev["percentile"])) and wording.compared:
        parts.append(f"percentile {_percent(float(ev['percentile']))}")
    return ", ".join(parts)


templates.env.filters.update(
    dur=lambda s: charts.format_duration(s).replace(" ", "\u00a0"), local=_local, percent=_percent, evidence=_evidence,
    kind_label=lambda k: finding_wording(str(k)).label,
    count=charts.format_count,
)


STATUS_LABELS = {
    "open": "open (nobody told yet)",
    "notified": "e-mailed, waiting for someone to acknowledge",
    "acknowledged": "acknowledged",
    "resolved": "over (activity resumed)",
}


def render(request: Request, name: str, page: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; of the request's home when a route resolved one (`service`), else of the single home,
    or in a fleet of no home (the home list, the login)."""
    g = gate(request)
    session = request.state.session
    fleet = homes(request)
    svc = getattr(request.state, "home_service", None)
    if svc is None and not fleet.fleet:
        svc = fleet.get(None)
    home_id = svc.settings.home_id if svc is not None else None
    in_home = home_id is not None and "home_id" in request.path_params
    return templates.TemplateResponse(request, name, {
        "page": page, "home_id": home_id, "tz": svc.settings.tz if svc is not None else fleet.get(None).settings.tz,
        "home_name": fleet.names.get(home_id, home_id) if home_id else None, "fleet": fleet.fleet,
        "base": f"/h/{home_id}" if in_home else "",  # where this home's pages are
        "auth_required": g.required, "logged_in": session.logged_in, "accounts": g.accounts is not None,
        "csrf": g.signer.csrf(session), "demo_mail": svc is not None and svc.mail_dir is not None,
        "status_labels": STATUS_LABELS, **context,
    }, status_code=status_code)


log = logging.getLogger(__name__)
ERROR_TITLES = {403: "Not allowed", 404: "Not found"}


async def page_error(request: Request, exc: StarletteHTTPException) -> Response:
    """A refused or unknown page, as a page, for a browser (an old e-mail link to a home this login
    does not see, a form that expired); the API and other clients keep FastAPI's JSON answer."""
    browser = "text/html" in request.headers.get("accept", "")
    if exc.status_code in ERROR_TITLES and browser and not request.url.path.startswith("/api"):
        try:
            return render(request, "error.html", "error", status_code=exc.status_code,
                          title=ERROR_TITLES[exc.status_code], detail=str(exc.detail))
        except Exception:  # noqa: BLE001 - a page that cannot be drawn still gets its answer, as JSON
            log.exception("the %s page for %s could not be drawn", exc.status_code, request.url.path)
    return await http_exception_handler(request, exc)


@site_router.get("/healthz")
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@site_router.get("/homes", response_class=HTMLResponse)
def homes_page(request: Request, query: HomesQuery = Depends(homes_query)) -> HTMLResponse:
    view = homes_view(request, query)
    refresh = homes(request).get(None).settings.dashboard_refresh_seconds
    return render(request, "homes.html", "homes", view=view, states=STATES, refresh=refresh,
                  link=lambda **change: _homes_link(view, **change))


def _homes_link(view: HomesView, **change: object) -> str:
    """The home list's URL with the view's sort, filter and search, `change`d (a new filter: page 1)."""
    params: dict[str, object] = {"sort": view.sort, "status": view.status or "", "q": view.q, "page": view.page}
    if view.limit != PAGE_SIZE:
        params["limit"] = view.limit
    params.update(change)
    if params["page"] == 1:
        del params["page"]
    return "/homes?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


@site_router.get("/h/{home_id}")
def home_root(home_id: str = Path(..., max_length=63)) -> RedirectResponse:
    """The e-mails' dashboard link of a home (no trailing slash) opens its Now page."""
    return RedirectResponse(f"/h/{home_id}/", status_code=303)


@router.get("/", response_class=HTMLResponse, response_model=None)
def now_page(request: Request) -> Response:
    if homes(request).fleet and "home_id" not in request.path_params:
        return RedirectResponse("/homes", status_code=303)  # a service starts at its home list
    view = service(request).now_view()
    refresh = service(request).settings.dashboard_refresh_seconds
    return render(request, "now.html", "now", view=view, refresh=refresh)


@router.get("/today", response_class=HTMLResponse)
def today_page(request: Request, day: date | None = Query(None)) -> HTMLResponse:
    view = service(request).today_view(day)
    rooms = sorted({p.room for p in view.periods if p.room})
    lanes = rooms + [k for k in ("away", "unknown") if any(p.kind == k for p in view.periods)]
    segments = [charts.Segment(lane=p.room if p.kind == "stay" and p.room else p.kind, start=p.start,
                               end=p.end, label=f"{p.room or p.kind} {p.start:%H:%M}–{p.end:%H:%M} "
                                                f"({charts.format_duration(p.seconds)})")
                for p in view.periods]
    day_end = view.start + timedelta(days=1)
    svg = None
    if lanes:
        svg = charts.timeline_svg(segments, lanes, view.start, max(day_end, view.end),
                                  label=f"Where the person was on {view.day:%A %d %B}", now=view.at)
    return render(request, "today.html", "today", view=view, svg=svg,
                  prev_day=view.day - timedelta(days=1), next_day=view.day + timedelta(days=1),
                  is_today=view.day >= view.at.date())


@router.get("/routine", response_class=HTMLResponse)
def routine_page(request: Request) -> HTMLResponse:
    view = service(request).routine_view()
    maps = [{
        "room": r.room,
        "visits": charts.heatmap_svg(r.visits, label=f"{r.room}: visits per weekday and hour",
                                     value_format=lambda v: f"{charts.format_count(v)} visits"),
        "duration": charts.heatmap_svg(r.mean_duration,
                                       label=f"{r.room}: average visit duration per weekday and hour",
                                       value_format=charts.format_duration),
    } for r in view.rooms]
    bars = charts.bar_chart_svg(view.average_duration, label="Average visit duration per room") \
        if view.average_duration else None
    return render(request, "routine.html", "routine", view=view, maps=maps, bars=bars,
                  weekdays=charts.WEEKDAYS)


# Allowed distances between the value axis's ticks, per unit, so that a tick reads as a round value.
TICK_STEPS: dict[str, tuple[float, ...]] = {
    "clock": (15, 30, 60, 120, 180, 240, 360),  # minutes after midnight: 07:00, 07:30 ...
    "hours": (0.5, 1, 2, 3, 4, 6, 12),
    "minutes": (1, 2, 5, 10, 15, 30, 60, 120, 180, 240),
}


def trend_chart(indicator: IndicatorTrendView) -> Markup | None:
    """The SVG of one indicator of the Trends page; None when it has no day to show."""
    from hometwin.domain.trends_wording import value_text

    if not indicator.days:
        return None
    clock = indicator.unit == "clock"
    marks = [charts.ChangeMark(c.since, c.detected, c.sentence) for c in indicator.changes]
    return charts.trend_chart_svg(
        indicator.days, indicator.values, indicator.low, indicator.high,
        label=f"{indicator.label}, day by day, with the normal band for this person",
        value_format=lambda v: value_text(indicator.key, v), changes=marks,
        floor=None if clock else 0.0, tick_steps=TICK_STEPS.get(indicator.unit, ()))


@router.get("/trends", response_class=HTMLResponse)
def trends_page(request: Request, weeks: int = Query(TREND_WEEKS, ge=2, le=26)) -> HTMLResponse:
    view = service(request).trends_view(weeks)
    cards = [(indicator, trend_chart(indicator)) for indicator in view.indicators]
    return render(request, "trends.html", "trends", view=view, cards=cards)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, old: str | None = Query(None, max_length=100),
                new: str | None = Query(None, max_length=100)) -> HTMLResponse:
    svc = service(request)
    view = svc.models_view()
    comparison, error = None, None
    if old and new:
        try:
            comparison = svc.compare(old, new)
        except UnknownModelVersion as exc:
            error = f"There is no model version {exc.version!r}."
        except Exception as exc:  # noqa: BLE001 - show why, keep the list
            error = f"The models could not be compared: {exc}"
    return render(request, "models.html", "models", view=view, comparison=comparison, error=error,
                  old=old, new=new, status_code=404 if error and "no model version" in error else 200)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> HTMLResponse:
    return render(request, "alerts.html", "alerts", view=service(request).alerts_view())


@router.post("/alerts/{alert_id}/ack")
def acknowledge_form(request: Request, alert_id: str = Path(..., pattern=ALERT_ID), csrf: str = Form(""),
                     next: str = Form("/alerts")) -> Response:  # noqa: A002 - the form field's name
    g = gate(request)
    if not g.signer.csrf_ok(g.session(request), csrf):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    result = do_acknowledge(request, service(request), alert_id, g.who(request))
    target = safe_next(next)
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}acked={alert_id if result.acknowledged else ''}", status_code=303)


# -- the e-mail link ---------------------------------------------------------------------------

def _link_home(request: Request) -> None:
    """The home of an e-mail link, without a login: the link's signature is its authorisation.

    `/h/<home>/ack` links are signed with that home's key (`ack_links.home_key`); the old `/ack`
    links with the secret itself, for the legacy home (the only one whose e-mails had links)."""
    try:
        request.state.home_service = homes(request).get(request.path_params.get("home_id"))
    except UnknownHome as exc:
        raise HTTPException(404, str(exc)) from None


def _verify_link(request: Request, token: str) -> tuple[ack_links.AckTarget | None, str | None]:
    """(what it acknowledges, None) for a genuine link of the current episode, else (None, why not)."""
    _link_home(request)
    svc = service(request)
    secret = svc.settings.ack_key()
    if not secret:
        return None, "This dashboard has no HOMETWIN_ACK_SECRET, so e-mail links cannot be checked."
    if "home_id" in request.path_params:
        secret = ack_links.home_key(secret, svc.settings.home_id)
    try:
        target = ack_links.read(token, secret, svc.clock.now())
    except ExpiredAckToken:
        return None, "This acknowledgement link has expired. Open the dashboard to acknowledge."
    except (InvalidAckToken, ValueError):
        return None, "This acknowledgement link is not valid."
    try:
        current = svc.current_episode(target.alert_id) if target.episode is not None else None
    except AlertStoreUnavailable:
        raise HTTPException(503, "the alert store cannot be read right now; try the link again soon") from None
    if current not in (None, target.episode):
        return None, ("This link was for an earlier occurrence of this alert, which is over; the alert came "
                      "back since. Open the dashboard to see it and acknowledge it there.")
    return target, None


@router.get("/ack", response_class=HTMLResponse)
def ack_link(request: Request, token: str = Query("", max_length=256)) -> HTMLResponse:
    # Mail scanners open links on their own: the GET only shows a button that POSTs.
    target, problem = _verify_link(request, token)
    alert_id = target.alert_id if target is not None else None
    alert = None
    if alert_id is not None:
        alert = next((a for a in service(request).alerts_view().alerts if a.id == alert_id), None)
    return render(request, "ack.html", "ack", token=token, alert_id=alert_id, alert=alert, problem=problem,
                  done=None, status_code=200 if problem is None else 400)


@router.post("/ack", response_class=HTMLResponse)
def ack_link_confirm(request: Request, token: str = Form("", max_length=256)) -> HTMLResponse:
    target, problem = _verify_link(request, token)
    alert_id = target.alert_id if target is not None else None
    done = None
    if target is not None:
        done = do_acknowledge(request, service(request), target.alert_id, "e-mail link", episode=target.episode)
    return render(request, "ack.html", "ack", token=token, alert_id=alert_id, alert=None, problem=problem,
                  done=done, status_code=200 if problem is None else 400)


# -- mail (demo) -------------------------------------------------------------------------------

@site_router.get("/mail", response_class=HTMLResponse)
def mail_page(request: Request) -> HTMLResponse:
    view = service(request).mail_view()
    if not view.enabled:
        raise HTTPException(404, "no local mail in this deployment")
    return render(request, "mail.html", "mail", view=view)
