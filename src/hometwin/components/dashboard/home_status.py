"""Each home's status at a glance, kept between loads of the home list.

Reading a home's status costs three reads (its alert book, its newest sensor event, its `latest`
alias), so a list of thousands of homes cannot redo them on every load. A snapshot is kept per home
and taken again on a load that finds it older than `max_age` (the list page's refresh interval):
a load never shows a status older than that, so an alert open for longer than `max_age` always shows,
never a stale "All well". An acknowledgement through the dashboard drops the home's snapshot, so the
nurse sees its effect at once.

Whether a home's latest model can be read is asked once per version (versions are write-once), by
one background thread: reading a model costs ~15 ms of CPU, which thousands of homes must not add
to a load (after the weekly retrain every home has a new version). Until its check is done a home
shows by its other reads; a version that cannot be read then makes it a "Warning", as its own pages
say, from the next load on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from hometwin.domain.model import MODEL_KIND

from .schemas import AlertView, HomeState, HomeSummary, Status
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
# Stale homes are read a few at a time: the stores are I/O bound, the machine may be small.
_WORKERS = 8


@dataclass(frozen=True)
class HomeRef:
    """What the list knows of a home without reading its stores."""

    service: DashboardService
    name: str
    url: str

    @property
    def id(self) -> str:
        return self.service.settings.home_id


@dataclass(frozen=True)
class _Snapshot:
    summary: HomeSummary
    taken: float  # monotonic seconds
    service: DashboardService  # a home declared anew (PUT /api/homes/<id>) has a new one: read it again


class StatusSnapshots:
    """The kept status of every home that was listed; `timer` is monotonic seconds (a seam for tests)."""

    def __init__(self, max_age: timedelta, *, timer: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._timer = timer
        self._snapshots: dict[str, _Snapshot] = {}
        self._readable: dict[str, tuple[str, str | None]] = {}  # home -> (version, why it cannot be read)
        self._checks: queue.SimpleQueue[tuple[DashboardService, str]] = queue.SimpleQueue()
        self._pending: set[tuple[str, str]] = set()
        self._checker: threading.Thread | None = None
        self._checker_lock = threading.Lock()
        # Homes to read again on the next load whatever their snapshot's age; marked, not dropped, so
        # a mark made while a refresh is running is not lost when that refresh stores its snapshot.
        self._changed: set[str] = set()
        self._changed_lock = threading.Lock()
        # One refresh at a time: a second load waits and then finds the snapshots fresh, instead of
        # reading every stale home a second time.
        self._refreshing = threading.Lock()

    def summaries(self, homes: Sequence[HomeRef], now: datetime, data_missing_after: timedelta) -> list[HomeSummary]:
        """Every home's status, none older than `max_age`."""
        with self._refreshing:
            at = self._timer()
            limit = self.max_age.total_seconds()
            with self._changed_lock:
                changed, self._changed = self._changed, set()
            stale = [h for h in homes if h.id in changed or (s := self._snapshots.get(h.id)) is None
                     or at - s.taken >= limit or s.service is not h.service]
            with self._changed_lock:  # the changed homes this load does not list wait for the next one
                self._changed |= changed - {h.id for h in homes}
            if stale:
                with ThreadPoolExecutor(max_workers=min(_WORKERS, len(stale)),
                                        thread_name_prefix="home-status") as pool:
                    fresh = list(pool.map(lambda h: self._summary(h, now, data_missing_after), stale))
                taken = self._timer()
                for home, summary in zip(stale, fresh, strict=True):
                    self._snapshots[home.id] = _Snapshot(summary, taken, home.service)
            return [self._snapshots[h.id].summary for h in homes]

    def forget(self, home_id: str) -> None:
        """The home changed (an acknowledgement through this dashboard, its model found unreadable):
        read it again on the next load."""
        with self._changed_lock:
            self._changed.add(home_id)

    def _summary(self, home: HomeRef, now: datetime, data_missing_after: timedelta) -> HomeSummary:
        try:
            return home_summary(home, now, data_missing_after, self._model_problem)
        except Exception as exc:  # noqa: BLE001 - one broken home must not hide the others
            log.warning("status of home %s: %s", home.id, exc)
            return HomeSummary(id=home.id, name=home.name, tz=home.service.settings.tz, status="warning",
                               status_label=STATES["warning"], problems=[_reason(exc)], url=home.url, checked_at=now)

    def _model_problem(self, service: DashboardService, version: str) -> str | None:
        """Why the home's `version` cannot be read, None when it can or is not checked yet (then the
        check is queued)."""
        home_id = service.settings.home_id
        known = self._readable.get(home_id)
        if known is not None and known[0] == version:
            return known[1]
        with self._checker_lock:
            if (home_id, version) not in self._pending:
                self._pending.add((home_id, version))
                self._checks.put((service, version))
                if self._checker is None:
                    self._checker = threading.Thread(target=self._check_models, name="model-check", daemon=True)
                    self._checker.start()
        return None

    def _check_models(self) -> None:
        """Reads the queued versions; ends when the queue stays empty for a second (a new version
        starts it again), so an idle dashboard holds no thread."""
        while True:
            try:
                service, version = self._checks.get(timeout=1.0)
            except queue.Empty:
                with self._checker_lock:
                    if self._checks.empty():
                        self._checker = None
                        return
                continue
            home_id = service.settings.home_id
            try:
                service.registry.get(MODEL_KIND, version)
                problem = None
            except Exception as exc:  # noqa: BLE001 - missing, damaged or unreachable: the home shows why
                problem = f"version {version} cannot be read: {_reason(exc)}"
            self._readable[home_id] = (version, problem)
            with self._checker_lock:
                self._pending.discard((home_id, version))
            if problem is not None:
                self.forget(home_id)  # its snapshot says nothing of it yet


def home_summary(home: HomeRef, now: datetime, data_missing_after: timedelta,
                 model_problem: Callable[[DashboardService, str], str | None]) -> HomeSummary:
    """One home's status from its alert book, its newest sensor event and its latest model."""
    service = home.service
    status = Status()
    alerts = [a for a in service.alerts_view(status).alerts if a.status != "resolved"]
    last: datetime | None = None
    try:
        event = service.source.latest()
        last = event.time if event is not None else None
    except Exception as exc:  # noqa: BLE001 - the source is down: that is the status
        status.source_ok, status.source_error = False, _reason(exc)
    finally:
        release_idle_source(home.id, service.source)
    version = None
    try:
        version = service.registry.latest_name(MODEL_KIND)
    except Exception as exc:  # noqa: BLE001
        status.model_error = _reason(exc)
    if version is not None:
        status.model_error = model_problem(service, version)
    state = home_state(alerts, status, last, version, now, data_missing_after)
    problems = list(status.problems)
    if state == "data_missing" and status.source_ok:
        since = f"{last.astimezone(service.tz):%a %d %b %H:%M}" if last else ""
        problems.append("No sensor event yet." if last is None else
                        f"No sensor event for {_hours(now - last)} (since {since}).")
    return HomeSummary(id=home.id, name=home.name, tz=service.settings.tz, status=state,
                       status_label=STATES[state], open_alerts=alerts,
                       last_activity=last.astimezone(service.tz) if last else None, model_version=version,
                       problems=problems, url=home.url, checked_at=now)


def release_idle_source(home_id: str, source: object) -> None:
    """Close the home's idle store connection after the list read its newest event
    (`SQLiteEventStore.release`, as the monitoring's fleet does after a check): an open embedded
    SQLite connection holds some 145 KiB of caches, so a list of N homes kept N of them, most of the
    dashboard's memory per home (docs/fleet.md). The home's pages open it again when they read."""
    release = getattr(source, "release", None)
    if release is None:  # a source without connections to close (memory, InfluxDB over HTTP)
        return
    try:
        release()
    except Exception:  # noqa: BLE001 - closing is housekeeping: the status read stands
        log.exception("home %s: closing the idle store connection failed", home_id)


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


def _hours(gap: timedelta) -> str:
    hours = gap.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
