"""The homes one dashboard shows: a `DashboardService` per home, and each home's status at a glance.

Without a homes file there is one home and the dashboard is today's: every page at its old URL. With
one, each home's pages are under `/h/<home id>/` (and `/api/h/<home id>/`), the service's home list
is `/homes`, and the old URLs (the e-mail links sent before homes existed) mean the home of
`HOMETWIN_HOME_ID`, else the first home ("the legacy home").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from hometwin.domain.model import MODEL_KIND

from .schemas import AlertView, HomeState, HomeSummary, HomesView, Status
from .service import DashboardService, _reason

log = logging.getLogger(__name__)

# Sorted by this rank: what needs someone first.
STATES: dict[HomeState, str] = {
    "alert": "Open alert",
    "warning": "Warning",
    "data_missing": "Data missing",
    "no_model": "No model yet",
    "well": "All well",
}
_RANK = {state: rank for rank, state in enumerate(STATES)}
SortKey = Literal["status", "name"]
# The home list reads every home's alert book, newest event and latest alias: a few at a time.
_WORKERS = 8


class UnknownHome(LookupError):
    """No such home on this dashboard, or not one this login may see (both HTTP 404, same words,
    so that an account cannot find out which other homes exist)."""

    def __init__(self, home_id: str) -> None:
        super().__init__(f"There is no home {home_id!r} on this dashboard (or your login does not see it). "
                         "The homes you can see are listed at /homes.")
        self.home_id = home_id


@dataclass
class DashboardHomes:
    """Every home's service, in the homes file's order. `fleet`: a homes file is in use."""

    services: dict[str, DashboardService]
    names: dict[str, str]
    fleet: bool
    legacy: str

    def __post_init__(self) -> None:
        if not self.services:
            raise ValueError("a dashboard needs at least one home")
        if self.legacy not in self.services:
            self.legacy = next(iter(self.services))

    @classmethod
    def single(cls, service: DashboardService) -> DashboardHomes:
        home_id = service.settings.home_id
        return cls({home_id: service}, {home_id: home_id}, fleet=False, legacy=home_id)

    def get(self, home_id: str | None) -> DashboardService:
        """The home's service (`None`: the legacy home of the old URLs); UnknownHome."""
        service = self.services.get(self.legacy if home_id is None else home_id)
        if service is None:
            raise UnknownHome(str(home_id))
        return service

    def url(self, home_id: str) -> str:
        return f"/h/{home_id}/" if self.fleet else "/"

    def view(self, visible: Callable[[str], bool], sort: SortKey, now: datetime,
             data_missing_after: timedelta) -> HomesView:
        """The visible homes with their status, sorted."""
        shown = [s for home_id, s in self.services.items() if visible(home_id)]
        with ThreadPoolExecutor(max_workers=max(1, min(_WORKERS, len(shown))),
                                thread_name_prefix="home-status") as pool:
            summaries = list(pool.map(lambda s: self._summary(s, now, data_missing_after), shown))
        summaries.sort(key=_by_status if sort == "status" else _by_name)
        counts = {state: sum(1 for h in summaries if h.status == state) for state in STATES}
        return HomesView(at=now, sort=sort, homes=summaries, counts=counts)

    def _summary(self, service: DashboardService, now: datetime, data_missing_after: timedelta) -> HomeSummary:
        home_id = service.settings.home_id
        try:
            return home_summary(service, self.names.get(home_id, home_id), self.url(home_id), now,
                                data_missing_after)
        except Exception as exc:  # noqa: BLE001 - one broken home must not hide the others
            log.warning("status of home %s: %s", home_id, exc)
            return HomeSummary(id=home_id, name=self.names.get(home_id, home_id), tz=service.settings.tz,
                               status="warning", status_label=STATES["warning"], problems=[_reason(exc)],
                               url=self.url(home_id))


def home_summary(service: DashboardService, name: str, url: str, now: datetime,
                 data_missing_after: timedelta) -> HomeSummary:
    """One home's status from its alert book, its newest sensor event and its latest model alias."""
    status = Status()
    alerts = [a for a in service.alerts_view(status).alerts if a.status != "resolved"]
    last: datetime | None = None
    try:
        event = service.source.latest()
        last = event.time if event is not None else None
    except Exception as exc:  # noqa: BLE001 - the source is down: that is the status
        status.source_ok, status.source_error = False, _reason(exc)
    version = None
    try:
        version = service.registry.latest_name(MODEL_KIND)
    except Exception as exc:  # noqa: BLE001
        status.model_error = _reason(exc)
    state = home_state(alerts, status, last, version, now, data_missing_after)
    problems = list(status.problems)
    if state == "data_missing" and status.source_ok:
        since = f"{last.astimezone(service.tz):%a %d %b %H:%M}" if last else ""
        problems.append("No sensor event yet." if last is None else
                        f"No sensor event for {_hours(now - last)} (since {since}).")
    return HomeSummary(id=service.settings.home_id, name=name, tz=service.settings.tz, status=state,
                       status_label=STATES[state], open_alerts=alerts,
                       last_activity=last.astimezone(service.tz) if last else None, model_version=version,
                       problems=problems, url=url)


def home_state(alerts: Sequence[AlertView], status: Status, last: datetime | None, version: str | None,
               now: datetime, data_missing_after: timedelta) -> HomeState:
    """The worst that applies, in the order of STATES."""
    unacknowledged = [a for a in alerts if a.open]
    if any(a.severity == "emergency" for a in unacknowledged):
        return "alert"
    if alerts or not status.alerts_ok or status.model_error:
        return "warning"
    if not status.source_ok or last is None or now - last > data_missing_after:
        return "data_missing"
    if version is None:
        return "no_model"
    return "well"


def _by_status(home: HomeSummary) -> tuple[int, float, str, str]:
    newest = max((a.opened_at.timestamp() for a in home.open_alerts if a.opened_at), default=0.0)
    return _RANK[home.status], -newest, home.name.lower(), home.id


def _by_name(home: HomeSummary) -> tuple[str, str]:
    return home.name.lower(), home.id


def _hours(gap: timedelta) -> str:
    hours = gap.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def build_homes(services: Sequence[tuple[DashboardService, str]], legacy: str) -> DashboardHomes:
    """A fleet's homes: (service, display name) in file order."""
    return DashboardHomes({s.settings.home_id: s for s, _ in services},
                          {s.settings.home_id: name for s, name in services}, fleet=True, legacy=legacy)
