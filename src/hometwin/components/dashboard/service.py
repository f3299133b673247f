"""What the pages show, gathered from the ports: the source, the model registry and the alert store.

Every dependency may be down. Each view records what failed in its `Status` and still returns
whatever the other dependencies could give, so a page always renders and says what is missing.
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hometwin.adapters.mail import StoredMail, read_maildir
from hometwin.clock import Clock
from hometwin.config import DashboardSettings
from hometwin.domain.alerts import Alert
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import MODEL_KIND
from hometwin.domain.wording import clock_text
from hometwin.ports import NotFound, PortError, SensorSource
from hometwin.registry import ModelRegistry, ModelVersion
from hometwin.services.alert_store import AlertStore
from hometwin.services.latest_model import LatestModel

from .errors import AlertStoreUnavailable, RegistryUnavailable, UnknownAlert, UnknownModelVersion
from .schemas import (
    AckResult,
    Activity,
    AlertsView,
    AlertView,
    Comparison,
    Expectation,
    Mail,
    MailView,
    ModelInfo,
    ModelsView,
    NowView,
    Period,
    Place,
    RoomRoutine,
    RoutineView,
    Status,
    TodayView,
    TrendsView,
)

if TYPE_CHECKING:  # the model and the stays load on first use, not when the dashboard starts
    from hometwin.domain.change import TrendReport
    from hometwin.domain.model import BehaviourModel
    from hometwin.domain.stays import Timeline

    from .trends import TrendCache

log = logging.getLogger(__name__)
# A stay that began before midnight still shows on today's timeline: read this much earlier.
_LOOKBACK = timedelta(hours=12)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def model_info(version: ModelVersion) -> ModelInfo:
    """A registry `ModelVersion` as shown on the pages (metadata kept JSON-able as is)."""
    meta = dict(version.metadata or {})
    training = (version.document or {}).get("training") or {}
    return ModelInfo(
        version=str(version.version), created_at=version.created_at,
        training_start=_dt(meta.get("training_start") or training.get("start")),
        training_end=_dt(meta.get("training_end") or training.get("end")),
        metadata=meta,
    )


class DashboardService:
    """Reads the ports for the pages. Holds no state but a cache of the parsed latest model."""

    def __init__(self, settings: DashboardSettings, *, source: SensorSource, registry: ModelRegistry,
                 alert_store: AlertStore, clock: Clock, mail_dir: Path | None = None) -> None:
        self.settings = settings
        self.source = source
        self.registry = registry
        self.alert_store = alert_store
        self.clock = clock
        self.mail_dir = mail_dir
        self.tz = ZoneInfo(settings.tz)
        self._model_cache: LatestModel[BehaviourModel] | None = None
        self._trends: TrendCache | None = None

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    # -- model ---------------------------------------------------------------------------------

    def latest_model(self, status: Status) -> BehaviourModel | None:
        """The newest BehaviourModel (parsed once per version), recording problems in `status`."""
        latest = self._latest_model()
        model = latest.get(self.clock.now())
        failure = latest.failure
        if failure is not None and failure.what == "registry":
            status.model_error = failure.reason
            return None
        if latest.version is None:
            return None
        status.model = model_info(latest.version)
        if failure is not None:
            status.model_error = f"version {failure.version} cannot be read: {failure.reason}"
            return None
        return model

    def _latest_model(self) -> LatestModel[BehaviourModel]:
        if self._model_cache is None:
            from hometwin.domain.model import BehaviourModel

            # poll=0: the registry is asked at every page, as a page shows what is stored now.
            self._model_cache = LatestModel(self.registry, MODEL_KIND, BehaviourModel.from_dict,
                                            poll=timedelta(0))
        return self._model_cache

    # -- events ----------------------------------------------------------------------------------

    def _read(self, start: datetime, end: datetime, status: Status) -> list[SensorEvent] | None:
        try:
            return self.source.read(start, end)
        except Exception as exc:  # noqa: BLE001 - source down: say so, keep serving
            status.source_ok, status.source_error = False, _reason(exc)
            log.warning("sensor source unavailable: %s", exc)
            return None

    @staticmethod
    def _timeline(events: list[SensorEvent]) -> Timeline:
        from hometwin.domain.stays import extract_timeline

        return extract_timeline(events)

    # -- alerts ----------------------------------------------------------------------------------

    def _alerts(self, status: Status) -> list[AlertView]:
        try:
            book = self.alert_store.load()
        except Exception as exc:  # noqa: BLE001
            status.alerts_ok, status.alerts_error = False, _reason(exc)
            return []
        pending: set[str] = set()
        try:
            pending = {ack.alert_id for ack in self.alert_store.pending_acks()}
        except Exception as exc:  # noqa: BLE001 - the alerts still show, only without local acks
            log.warning("pending acknowledgements unreadable: %s", exc)
        return [self._alert_view(a, a.id in pending) for a in book.history()]

    @staticmethod
    def _alert_view(alert: Alert, ack_pending: bool) -> AlertView:
        notes = [e for e in alert.log if e.get("event") == "notification"]
        state = alert.state.value
        return AlertView(
            id=alert.id, kind=alert.finding.kind.value, room=alert.finding.room,
            severity=alert.severity.value, status=state,
            opened_at=alert.opened_at, last_seen=alert.last_seen, acknowledged_by=alert.acknowledged_by,
            acknowledged_at=alert.acknowledged_at, resolved_at=alert.resolved_at,
            ack_pending=ack_pending and state in ("open", "notified"),
            message=alert.finding.message, evidence=alert.finding.to_dict(), notifications=len(notes),
        )

    def current_episode(self, alert_id: str) -> int | None:
        """The alert's current episode in the stored book; None for an unknown alert."""
        try:
            episode: int | None = self.alert_store.load().current_episode(alert_id)
        except (PortError, OSError) as exc:
            raise AlertStoreUnavailable(str(exc)) from exc
        return episode

    def acknowledge(self, alert_id: str, by: str, episode: int | None = None) -> AckResult:
        """Record that `by` takes care of the alert's `episode` (the current one when None);
        UnknownAlert, EpisodeOver, AlertStoreUnavailable."""
        at = self.clock.now()
        status = Status()
        known = {a.id: a for a in self._alerts(status)}
        if not status.alerts_ok:
            raise AlertStoreUnavailable(status.alerts_error or "the alert store cannot be read")
        alert = known.get(alert_id)
        if alert is None:
            raise UnknownAlert(alert_id)
        if not alert.open:
            return AckResult(alert_id=alert_id, acknowledged=False, by=by, at=at,
                             detail=f"already {'acknowledged' if alert.ack_pending else alert.status}")
        try:
            self.alert_store.record_ack(alert_id, by, at, episode=episode)
        except (PortError, OSError) as exc:
            raise AlertStoreUnavailable(str(exc)) from exc
        return AckResult(alert_id=alert_id, acknowledged=True, by=by, at=at, detail="acknowledged")

    # -- pages -----------------------------------------------------------------------------------

    def now_view(self) -> NowView:
        now = self.now()
        status = Status()
        view = NowView(home_id=self.settings.home_id, at=now, tz=self.settings.tz, status=status)
        model = self.latest_model(status)
        events = self._read(now - timedelta(hours=self.settings.dashboard_history_hours), now, status)
        if events:
            last = events[-1]
            view.last_activity = Activity(time=last.time.astimezone(self.tz), sensor=last.sensor,
                                          room=last.room, kind=last.kind.value,
                                          ago_seconds=(now - last.time).total_seconds())
            view.place = self._place(events, now, model)
        if model is not None:
            view.expected = self._expectations(model, now)
            busiest = max(view.expected, key=lambda e: e.visits * e.median_seconds, default=None)
            view.usual_room = busiest.room if busiest and busiest.visits > 0.05 else None
            try:
                view.first_activity_usual = clock_text(float(model.first_activity(now).median))
            except Exception as exc:  # noqa: BLE001 - optional detail
                log.debug("no first-activity expectation: %s", exc)
        view.open_alerts = [a for a in self._alerts(status) if a.status != "resolved"]
        return view

    def _place(self, events: list[SensorEvent], now: datetime, model: BehaviourModel | None) -> Place | None:
        """The newest period of the timeline: the ongoing stay, or away, or unknown."""
        timeline = self._timeline(events)
        periods: list[tuple[str, str | None, datetime]] = [("room", s.room, s.start) for s in timeline.stays]
        periods += [(i.kind.value, None, i.start) for i in (*timeline.away, *timeline.unknown)]
        if not periods:  # only readings (battery, air): nobody was seen
            return None
        kind, room, since = max(periods, key=lambda p: p[2])
        place = Place(state=kind, room=room, since=since.astimezone(self.tz),  # type: ignore[arg-type]
                      for_seconds=(now - since).total_seconds())
        if model is not None and room is not None and room in model.rooms:
            dist = model.stay_duration(room, since)
            place.usual_seconds, place.p95_seconds = float(dist.median), float(dist.p95)
            place.percentile = float(dist.percentile(place.for_seconds))
        return place

    @staticmethod
    def _expectations(model: BehaviourModel, now: datetime) -> list[Expectation]:
        out = []
        for room in model.rooms:
            visits = model.visits(room, now)
            dist = model.stay_duration(room, now)
            out.append(Expectation(room=room, visits=float(visits.mean), median_seconds=float(dist.median),
                                   p95_seconds=float(dist.p95), level=str(dist.level)))
        return sorted(out, key=lambda e: -e.visits)

    def today_view(self, day: date | None = None) -> TodayView:
        now = self.now()
        day = day or now.date()
        start = datetime.combine(day, time(0), self.tz)
        end = min(now, datetime.combine(day + timedelta(days=1), time(0), self.tz))
        status = Status()
        view = TodayView(home_id=self.settings.home_id, day=day, start=start,
                         end=max(end, start + timedelta(minutes=1)), at=now, status=status)
        if end <= start:
            return view
        events = self._read(start - _LOOKBACK, end, status)
        if not events:
            return view
        timeline = self._timeline(events)
        periods = [Period(kind="stay", room=s.room, start=s.start, end=s.end, seconds=0)
                   for s in timeline.stays]
        periods += [Period(kind=i.kind.value, start=i.start, end=i.end, seconds=0)
                    for i in (*timeline.away, *timeline.unknown)]
        clipped = []
        for p in sorted(periods, key=lambda p: p.start):
            s, e = max(p.start, start), min(p.end, end)
            if e <= s:
                continue
            clipped.append(p.model_copy(update={"start": s.astimezone(self.tz), "end": e.astimezone(self.tz),
                                                "seconds": (e - s).total_seconds()}))
            if p.kind == "stay" and p.room:
                spent = view.seconds_per_room.get(p.room, 0.0)
                view.seconds_per_room[p.room] = spent + (e - s).total_seconds()
        view.periods = clipped
        return view

    def routine_view(self) -> RoutineView:
        status = Status()
        view = RoutineView(home_id=self.settings.home_id, status=status)
        model = self.latest_model(status)
        if model is None:
            return view
        view.bin_minutes = int(model.bin_minutes)
        for room in model.rooms:
            view.rooms.append(RoomRoutine(
                room=room, visits=_finite_grid(model.grid(room, "visits")),
                mean_duration=_finite_grid(model.grid(room, "mean_duration"))))
        view.average_duration = {r: float(s) for r, s in model.room_average_duration().items()}
        return view

    def trends_view(self, weeks: int) -> TrendsView:
        """The daily indicators of the last `weeks`, each against the person's own normal."""
        from hometwin.domain.change import trend_report_from_events
        from hometwin.services.trend_digest import history_days

        from .trends import TrendCache, fill_trends_view

        if self._trends is None:
            self._trends = TrendCache()
        now = self.now()
        status = Status()
        view = TrendsView(home_id=self.settings.home_id, status=status, at=now, weeks=weeks)

        def compute() -> TrendReport | None:
            # Enough history that even the first charted day has its full baseline window.
            events = self._read(now - timedelta(days=history_days(weeks)), now, status)
            if events is None:
                return None
            return trend_report_from_events(events, tz=self.settings.tz, now=now)

        report = self._trends.get(now.date().isoformat(), weeks, now, compute)
        return fill_trends_view(view, report) if report is not None else view

    def models_view(self) -> ModelsView:
        status = Status()
        view = ModelsView(home_id=self.settings.home_id, status=status)
        try:
            versions = self.registry.history(MODEL_KIND)
        except Exception as exc:  # noqa: BLE001
            status.model_error = _reason(exc)
            return view
        view.versions = [model_info(v) for v in reversed(versions)]
        status.model = view.versions[0] if view.versions else None
        return view

    def compare(self, old: str, new: str) -> Comparison:
        """Behaviour change from version `old` to `new` (UnknownModelVersion, RegistryUnavailable)."""
        from hometwin.domain.model import BehaviourModel
        from hometwin.domain.model_compare import compare_models

        a, b = self._version(old), self._version(new)
        summary = compare_models(BehaviourModel.from_dict(a.document), BehaviourModel.from_dict(b.document))
        return Comparison(old=model_info(a), new=model_info(b), lines=summary_lines(summary), summary=summary)

    def _version(self, version: str) -> ModelVersion:
        try:
            return self.registry.get(MODEL_KIND, version)
        except NotFound:
            raise UnknownModelVersion(version) from None
        except (PortError, OSError) as exc:
            raise RegistryUnavailable(str(exc)) from exc

    def alerts_view(self, status: Status | None = None) -> AlertsView:
        status = Status() if status is None else status
        alerts = self._alerts(status)
        alerts.sort(key=lambda a: (not a.open, -(a.opened_at.timestamp() if a.opened_at else 0)))
        return AlertsView(home_id=self.settings.home_id, status=status, alerts=alerts)

    def mail_view(self, limit: int = 50) -> MailView:
        """The e-mails of the demo's local maildir, newest first (None mail_dir: not in demo mode)."""
        if self.mail_dir is None:
            return MailView(enabled=False)
        try:
            mails = read_maildir(self.mail_dir, limit)
        except PortError as exc:  # a broken mail file must not break the page
            return MailView(enabled=True, error=_reason(exc))
        return MailView(enabled=True, mails=[_mail(m) for m in mails])


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The plain-language lines of a `compare_models` result: overall ones, then per room."""
    lines = [str(x) for x in summary.get("lines", [])]
    rooms = summary.get("rooms", {})
    if isinstance(rooms, dict):
        for room, detail in rooms.items():
            if isinstance(detail, dict):
                room_lines = map(str, detail.get("lines", []))
                lines += [line if room in line else f"{room}: {line}" for line in room_lines]
    return lines


def _finite_grid(grid: list[list[float]]) -> list[list[float]]:
    """JSON has no NaN: cells without data become 0 visits / 0 s."""
    return [[float(v) if math.isfinite(v) else 0.0 for v in row] for row in grid]


def _mail(mail: StoredMail) -> Mail:
    return Mail(key=mail.key, subject=mail.subject, to=mail.to, sender=mail.sender, date=mail.date,
                text=mail.text)
