"""The homes one dashboard shows: a `DashboardService` per home, and each home's status at a glance.

Without a homes file there is one home and the dashboard is today's: every page at its old URL. With
one, each home's pages are under `/h/<home id>/` (and `/api/h/<home id>/`), the service's home list
is `/homes`, and the old URLs (the e-mail links sent before homes existed) mean the home of
`HOMETWIN_HOME_ID`, else the first home ("the legacy home").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from .home_status import STATES, HomeRef, StatusSnapshots
from .schemas import HomeState, HomeSummary, HomesView
from .service import DashboardService

_RANK = {state: rank for rank, state in enumerate(STATES)}
SortKey = Literal["status", "name"]
PAGE_SIZE = 50  # rows per page of the home list unless `limit` says otherwise
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class HomesQuery:
    """Which part of the home list: sorted over all the visible homes first, then filtered and paged."""

    sort: SortKey = "status"
    status: HomeState | None = None
    q: str = ""  # part of the name or id, any case
    page: int = 1
    limit: int = PAGE_SIZE


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
    snapshots: StatusSnapshots = field(init=False)

    def __post_init__(self) -> None:
        if not self.services:
            raise ValueError("a dashboard needs at least one home")
        # A snapshot is at most as old as the page's own refresh interval (0: read on every load).
        refresh = next(iter(self.services.values())).settings.dashboard_refresh_seconds
        self.snapshots = StatusSnapshots(timedelta(seconds=refresh))
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

    def view(self, visible: Callable[[str], bool], query: HomesQuery, now: datetime,
             data_missing_after: timedelta) -> HomesView:
        """One page of the visible homes with their status. The counts, the sort and the filter cover
        every visible home (the open alerts come first across pages), never a home the login cannot see."""
        shown = [HomeRef(s, self.names.get(home_id, home_id), self.url(home_id))
                 for home_id, s in self.services.items() if visible(home_id)]
        summaries = self.snapshots.summaries(shown, now, data_missing_after)
        counts = {state: sum(1 for h in summaries if h.status == state) for state in STATES}
        needle = query.q.strip().lower()
        matching = [h for h in summaries if (query.status is None or h.status == query.status)
                    and (not needle or needle in h.name.lower() or needle in h.id.lower())]
        matching.sort(key=_by_status if query.sort == "status" else _by_name)
        pages = max(1, math.ceil(len(matching) / query.limit))
        page = min(query.page, pages)  # past the end (the list got shorter): its last page
        rows = matching[(page - 1) * query.limit:page * query.limit]
        oldest = min((h.checked_at for h in rows if h.checked_at), default=now)
        return HomesView(at=now, sort=query.sort, homes=rows, counts=counts, total=len(matching), page=page,
                         pages=pages, limit=query.limit, status=query.status, q=query.q, oldest=oldest,
                         max_age_s=self.snapshots.max_age.total_seconds())


def _by_status(home: HomeSummary) -> tuple[int, float, str, str]:
    newest = max((a.opened_at.timestamp() for a in home.open_alerts if a.opened_at), default=0.0)
    return _RANK[home.status], -newest, home.name.lower(), home.id


def _by_name(home: HomeSummary) -> tuple[str, str]:
    return home.name.lower(), home.id


def build_homes(services: Sequence[tuple[DashboardService, str]], legacy: str) -> DashboardHomes:
    """A fleet's homes: (service, display name) in file order."""
    return DashboardHomes({s.settings.home_id: s for s, _ in services},
                          {s.settings.home_id: name for s, name in services}, fleet=True, legacy=legacy)
