"""The `monitoring` component: every check runs the detectors and advances the alerts.

A PeriodicTrigger emits `CheckEmergencyEvent`; the scheduler invokes `check_emergency`, which
takes the newest model (`services.latest_model`: cached, polled, kept while the registry is away),
reads the recent events, runs `detect` with the current time, merges acknowledgements, advances the
alert book and emits one `EmergencyEvent` per notification due.

A notification is done only once the mail server accepted it (the outbox's `sent` marker): until
then the book keeps it as undelivered and each check re-emits it, with the same id, when
`HOMETWIN_MONITORING_REDRIVE_INITIAL_S` (doubling up to `..._MAX_S`) has passed since the last
time; the actuation drops the copies of what it sent already. The book is saved after the
notifications were emitted; a check whose new notifications the scheduler refused saves nothing
and is simply run again (the ids are stable). With the object store down the check still detects
on the model it holds and alerts from the book kept in memory (`services.book_keeper`), which is
saved when the store is back.

With a remote store (S3) the monitoring also keeps a local copy of its model and book under
`<data dir>/monitoring/<home id>/` (`services.local_copy`): a monitoring started, or restarted,
while the store is down detects and alerts from it, and /status (`local_copy`) and /metrics
(`hometwin_monitoring_local_copy`) say so. Each S3 call of a check gives up after
`HOMETWIN_S3_WAIT_SECONDS` (`services.store_deadline`), so a store that hangs instead of refusing
delays a check by seconds, not by the S3 client's timeout times its retries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hometwin.backoff import Backoff
from hometwin.clock import Clock
from hometwin.components.common import Emitter, Named, add_health, every
from hometwin.components.monitoring_fleet import FleetMetrics, FleetMonitor
from hometwin.components.wiring import HomePorts, Ports, build_home_ports, homes_from_settings
from hometwin.config import MonitoringSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy, Delivery, Notification
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, detect
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding
from hometwin.domain.model import MODEL_KIND, BehaviourModel, checks_only_document
from hometwin.domain.packed_events import PackedEvents
from hometwin.ports import PortError, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.sdk import LocalGateway, PeriodicTrigger
from hometwin.services.alert_store import AlertStore
from hometwin.services.book_keeper import BookKeeper, Delivered
from hometwin.services.homes import replica_of, share
from hometwin.services.latest_model import LatestModel
from hometwin.services.local_copy import LocalCopy
from hometwin.services.store_deadline import DeadlineStore, remote

log = logging.getLogger(__name__)

Emit = Callable[[str, Any], bool]
# Hazard curves a held model keeps (SilenceModel / StayHazard `cache_limit`). With the default
# 4096 a home's model gathered some 100 KiB of curves a day of checks (two caches of up to 4,097
# curves of ~0.5 KiB); a check reuses only the few of the current silence and stay, and computing
# one again costs microseconds (docs/fleet.md "Where the memory per home went in session 6").
MONITORING_CURVE_CACHE = 8


def _interned(value: Any) -> Any:
    """The document with its strings interned: a parsed document has its own copy of every name
    (rooms, sensors, levels, time-of-day parts) that the model then keeps, and homes share most
    names, so a fleet holds each once (about 3 KiB a home, docs/fleet.md)."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    return value


def monitoring_model(document: dict[str, Any]) -> BehaviourModel:
    """`BehaviourModel.from_dict` with what a fleet can hold per home: small curve caches, and without
    what no check reads (`checks_only_document`): about 78 of a 120-day model's 86 KiB of cells
    (docs/fleet.md, "Where the memory per home went in session 6")."""
    model = BehaviourModel.from_dict(_interned(checks_only_document(document)))
    model.silence.cache_limit = MONITORING_CURVE_CACHE
    model.silence.hazard.parts_limit = MONITORING_CURVE_CACHE
    if model.stay_hazard is not None:
        model.stay_hazard.cache_limit = MONITORING_CURVE_CACHE
        model.stay_hazard.hazard.parts_limit = MONITORING_CURVE_CACHE
    return model


@dataclass(frozen=True, slots=True)
class Redrive:
    """When an undelivered notification is handed to the scheduler again (docs/alerts.md)."""

    initial: timedelta = timedelta(minutes=2)
    cap: timedelta = timedelta(minutes=10)
    after_resolved: timedelta = timedelta(hours=24)  # how long an all clear is re-driven

    def due(self, delivery: Delivery, now: datetime) -> bool:
        if delivery.emitted_at is None:
            return True  # never accepted by the scheduler
        wait = Backoff(self.initial.total_seconds(), self.cap.total_seconds()).ceiling(max(delivery.emits, 1))
        return now - delivery.emitted_at >= timedelta(seconds=wait)


@dataclass
class CheckResult:
    status: str  # "ok", "no-model", "retry"
    now: datetime
    findings: list[Finding] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)  # new ones, accepted by the scheduler
    model_version: str | None = None
    detail: str = ""
    redriven: list[str] = field(default_factory=list)  # undelivered ones handed on again
    degraded: list[str] = field(default_factory=list)  # what is down, while the check goes on

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "now": self.now.isoformat(), "model_version": self.model_version,
                "findings": [f.to_dict() for f in self.findings], "notifications": self.notifications,
                "redriven": self.redriven, "degraded": self.degraded, "detail": self.detail}


class Monitor:
    """The monitoring's logic, independent of HTTP: `check()` is one monitoring step."""

    def __init__(self, *, source: SensorSource, registry: ModelRegistry, alerts: AlertStore, clock: Clock,
                 emit: Emit, params: DetectionParams, policy: AlertPolicy,
                 model_poll: timedelta = timedelta(minutes=1), train_retry: timedelta = timedelta(hours=1),
                 redrive: Redrive | None = None, delivered: Delivered | None = None,
                 detector: Callable[..., list[Finding]] = detect, home_id: str | None = None,
                 local_models: LocalCopy | None = None, local_book: LocalCopy | None = None):
        self.home_id = home_id  # carried on every emitted event, so the actuation mails this home's caregivers
        self.source, self.registry, self.alerts, self.clock = source, registry, alerts, clock
        self.emit, self.params, self.policy = emit, params, policy
        self.train_retry = train_retry
        self.detector = detector  # `detect`; a seam for tests that script the findings
        self.redrive = redrive or Redrive()
        # The local copies (None: no copy, e.g. an embedded store already on this disk).
        self.models = LatestModel(registry, MODEL_KIND, monitoring_model, poll=model_poll, local=local_models,
                                  metadata=False)  # /status shows the version's name only
        self.book = BookKeeper(alerts, sent=delivered, local=local_book)
        self._lock = threading.Lock()  # one check at a time, even if the scheduler overlaps two
        self._train_requested: datetime | None = None
        self._source_error_since: datetime | None = None
        self._last_events = PackedEvents()  # packed: a fleet keeps one per home (domain/packed_events.py)
        self.last_result: CheckResult | None = None

    @property
    def model_version(self) -> str | None:
        return self.models.model_version

    def model(self, now: datetime) -> BehaviourModel | None:
        """The newest model; the registry is asked again only every `model_poll`."""
        return self.models.get(now)

    def request_training(self, now: datetime, why: str) -> bool:
        """Emit `TrainOccupancyModelEvent`, at most once per `train_retry` unless forced by schedule."""
        if self._train_requested is not None and now - self._train_requested < self.train_retry:
            return False
        accepted = self.emit("TrainOccupancyModelEvent", self._for_home({"reason": why,
                                                                         "requested_at": now.isoformat()}))
        if accepted:
            self._train_requested = now
        log.info("asked for a model (%s): %s", why, "accepted" if accepted else "scheduler unavailable")
        return accepted

    def _recent_events(self, now: datetime) -> list[SensorEvent]:
        try:
            events = self.source.read(now - RECENT_WINDOW, now)
            if not events:  # a silence longer than the window must still be seen as one
                latest = self.source.latest()
                events = [latest] if latest is not None and latest.time <= now else []
        except (PortError, OSError) as exc:
            if self._source_error_since is None:
                self._source_error_since = now
                log.error("sensor source unavailable: %s", exc)
            return [e for e in self._last_events.events() if e.time <= now]
        if self._source_error_since is not None:
            log.info("sensor source is back after %s", now - self._source_error_since)
        self._source_error_since = None
        self._last_events = PackedEvents(events)
        return events

    def check(self) -> CheckResult:
        with self._lock:
            now = self.clock.now()
            model = self.models.get(now)
            degraded = []
            if self.models.failure is not None:
                failure = self.models.failure
                if model is None and failure.what == "registry":  # nothing held to detect with
                    return self._done(CheckResult("retry", now, detail=f"model store: {failure.reason}"))
                if model is None:  # the newest version cannot be used (e.g. an older schema): train anew
                    self.request_training(now, f"model {failure.version} unusable")
                    return self._done(CheckResult("no-model", now, detail=f"model version {failure.version} "
                                                                          f"unusable: {failure.reason}"))
                degraded.append(f"model registry: {failure.reason}" if failure.what == "registry" else
                                f"model version {failure.version} unreadable: {failure.reason}")
            if self.models.from_local:
                degraded.append(f"model: the local copy of version {self.model_version}")
            if model is None:
                self.request_training(now, "no model yet")
                return self._done(CheckResult("no-model", now, detail="no model yet: training first"))
            events = self._recent_events(now)
            findings = self.detector(model, events, now, self.params, source_error_since=self._source_error_since)
            try:
                book = self.book.open(now)
            except PortError as exc:
                log.error("alert state unavailable, will retry: %s", exc)
                return self._done(CheckResult("retry", now, findings, [], self.model_version,
                                              f"alert state: {exc}", degraded=degraded))
            return self._done(self._alert(book, findings, now, degraded))

    def _alert(self, book: AlertBook, findings: list[Finding], now: datetime, degraded: list[str]) -> CheckResult:
        notifications = book.advance(findings, now, self.policy)
        self.book.confirm(book, now)
        for given_up in book.give_up_undelivered(now, self.redrive.after_resolved):
            log.error("e-mail %s (%s) was never confirmed as sent; its alert is over since more than %s: "
                      "given up", given_up.notification.id, given_up.notification.kind.value,
                      self.redrive.after_resolved)
        new = {n.id for n in notifications}
        again = [d.notification for d in book.undelivered()
                 if d.notification.id not in new and self.redrive.due(d, now)]
        accepted = [n.id for n in [*notifications, *again] if self._emit(n)]
        book.emitted(accepted, now)
        sent = [i for i in accepted if i in new]
        redriven = [i for i in accepted if i not in new]
        if redriven:
            log.warning("re-emitted %d e-mail(s) not yet confirmed as sent: %s", len(redriven), ", ".join(redriven))
        if len(sent) < len(notifications):
            # Not saved: the next check produces the same notifications again.
            return CheckResult("retry", now, findings, sent, self.model_version,
                               "scheduler did not accept every notification", redriven, degraded)
        if not self.book.save(book, now):
            kept = "in memory and on disk" if self.book.local is not None else "in memory"
            degraded.append(f"alert state store: {self.book.store_error} (book kept {kept})")
        elif self.book.store_error is not None:
            degraded.append(f"alert state store: {self.book.store_error}")
        return CheckResult("ok", now, findings, sent, self.model_version, "; ".join(degraded), redriven, degraded)

    def _emit(self, note: Notification) -> bool:
        return self.emit("EmergencyEvent", self._for_home(note.to_event_data()))

    def _for_home(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "home_id": self.home_id} if self.home_id is not None else data

    def status(self) -> dict[str, Any]:
        """What /status shows: the model, the stores, the undelivered e-mails, the last check."""
        last = self.last_result
        book = self.book.book
        failure = self.models.failure
        return {
            "model_version": self.model_version,
            "model_registry": {"ok": failure is None, "failure": failure.to_dict() if failure else None},
            "alert_state": {"ok": self.book.store_ok, "error": self.book.store_error,
                            "down_since": self.book.store_down_since.isoformat() if self.book.store_down_since
                            else None, "unsaved": self.book.unsaved},
            "local_copy": self.local_copy_status(),
            "undelivered": [{"id": d.notification.id, "kind": d.notification.kind.value,
                             "alert_id": d.notification.alert_id, "created_at": d.notification.at.isoformat(),
                             "emitted_at": d.emitted_at.isoformat() if d.emitted_at else None, "emits": d.emits}
                            for d in (book.undelivered() if book is not None else [])],
            "last_check": last.to_dict() if last else None,
        }

    def local_copy_in_use(self) -> dict[str, bool]:
        """Which parts run on the local copy: taken from disk, and the store has not answered since."""
        return {"model": self.models.from_local, "book": self.book.on_local}

    def local_copy_status(self) -> dict[str, Any]:
        copies = [c for c in (self.book.local, self.models.local) if c is not None]
        errors = [c.error for c in copies if c.error]  # the disk refused the last write
        return {"in_use": self.local_copy_in_use(),
                "folder": str(copies[0].folder) if copies else None,
                "kept": {"model": self.models.local is not None, "book": self.book.local is not None},
                "error": errors[0] if errors else None}

    def _done(self, result: CheckResult) -> CheckResult:
        self.last_result = result
        return result


def create_app(settings: MonitoringSettings, *, ports: Ports, params: DetectionParams,
               policy: AlertPolicy, homes: list[HomePorts] | None = None, emit: Emit | None = None) -> LocalGateway:
    """The monitoring service: `check_emergency` on `CheckEmergencyEvent`, plus its triggers.

    `homes`: the fleet's homes (default: from HOMETWIN_HOMES_FILE, if set), of which this replica
    checks its share (HOMETWIN_MONITORING_REPLICA); each gets its own Monitor with `policy` escalating
    to its own caregivers (docs/fleet.md). `emit`: where events go (default: the scheduler)."""
    emitter: Emit = emit or Emitter()
    redrive = Redrive(timedelta(seconds=settings.monitoring_redrive_initial_s),
                      timedelta(seconds=settings.monitoring_redrive_max_s),
                      timedelta(hours=settings.monitoring_redrive_resolved_hours))
    index, count = settings.replica()
    if homes is None and settings.homes_file is not None:
        homes = build_home_ports(share(homes_from_settings(settings), index, count), ports)
    elif homes is not None:
        homes = [h for h in homes if replica_of(h.home.id, count) == index]
    elif count > 1:  # every replica would check the one home: double alerts
        raise ValueError(f"HOMETWIN_MONITORING_REPLICA={settings.monitoring_replica}: several monitoring replicas "
                         "need a homes file (HOMETWIN_HOMES_FILE) to share; one home is checked by one replica")

    def monitor_of(source: SensorSource, registry: ModelRegistry, alerts: AlertStore, home_policy: AlertPolicy,
                   home_id: str) -> Monitor:
        local = LocalCopy(settings.data_dir / "monitoring", home_id)
        models_remote, state_remote = remote(registry.store), remote(alerts.store)
        if models_remote:
            registry = ModelRegistry(DeadlineStore(registry.store, ports.store_wait), registry.home_id)
        if state_remote:
            alerts = AlertStore(DeadlineStore(alerts.store, ports.store_wait), alerts.home_id)
        return Monitor(source=source, registry=registry, alerts=alerts, clock=ports.clock, emit=emitter,
                       params=params, policy=home_policy, redrive=redrive, home_id=home_id,
                       model_poll=timedelta(seconds=settings.monitoring_model_poll_s),
                       local_models=local if models_remote else None, local_book=local if state_remote else None)

    fleet: FleetMonitor | None = None
    if homes is None:
        monitor = monitor_of(ports.source, ports.registry, ports.alerts, policy, settings.home_id)
    else:
        fleet = FleetMonitor({h.home.id: monitor_of(h.source, h.registry, h.alerts,
                                                    dataclasses.replace(policy, escalation=h.home.caregivers),
                                                    h.home.id) for h in homes},
                             workers=settings.monitoring_workers, timeout=settings.monitoring_home_timeout_s,
                             replica=(index, count), slots=settings.monitoring_slots)
    # Each replica has its own tick event and function, so the scheduler invokes every replica once a
    # minute for its own share of the homes (one shared name would reach whichever pod the Service picks).
    suffix = f"_{index}of{count}" if count > 1 else ""
    triggers: list[PeriodicTrigger] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        triggers.append(every(Named("CheckEmergencyEvent" + suffix), settings.monitoring_check_every,
                              timezone=settings.tz))
        if index == 0:  # one weekly retrain of the fleet, not one per replica
            triggers.append(every(Named("TrainOccupancyModelEvent", lambda: {"reason": "schedule"}),
                                  settings.monitoring_train_cron, timezone=settings.tz))
        yield
        for trigger in triggers:
            trigger.stop()
        if fleet is not None:
            fleet.close()

    app = LocalGateway(title="HomeTwin monitoring", lifespan=lifespan)

    if fleet is None:
        app.state.monitor = monitor
        metrics = FleetMetrics()

        def check_emergency() -> dict[str, Any]:
            result = monitor.check().to_dict()
            metrics.observe_local_copy(settings.home_id, monitor)
            return result

        def status() -> dict[str, Any]:
            return monitor.status()
    else:
        app.state.fleet = fleet
        check_emergency, status = fleet.check, fleet.status

    app.deploy(check_emergency, "check_emergency" + suffix, "CheckEmergencyEvent" + suffix, method="POST",
               path="/check_emergency" + suffix)
    if fleet is not None:
        add_metrics(app, fleet.metrics.registry)
    elif monitor.models.local is not None or monitor.book.local is not None:
        add_metrics(app, metrics.registry)  # one home: only the local-copy gauge says anything
    app.add_api_route("/status", status, methods=["GET"])
    # Always ready: an unready monitor would no longer receive the check that makes it ready
    # again. How the last check went is on /status.
    add_health(app)
    return app


def add_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    from fastapi import Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
