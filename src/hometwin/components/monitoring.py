"""The `monitoring` component: every check runs the detectors and advances the alerts.

A PeriodicTrigger emits `CheckEmergencyEvent`; the scheduler invokes `check_emergency`, which
loads the newest model (cached, reloaded when a newer version appears), reads the recent events,
runs `detect` with the current time, merges acknowledgements, advances the alert book and emits one
`EmergencyEvent` per notification due. The book is saved only after every notification was
accepted by the scheduler: a check that fails half-way is simply run again, and because
notification ids are stable the actuation drops what it already sent. So nothing is lost and
nothing is mailed twice, whichever process restarts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI

from hometwin.clock import Clock
from hometwin.components.common import Emitter, Named, add_health, every
from hometwin.components.wiring import Ports
from hometwin.config import MonitoringSettings
from hometwin.domain.alerts import AlertPolicy
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, detect
from hometwin.domain.events import SensorEvent
from hometwin.domain.findings import Finding
from hometwin.domain.model import MODEL_KIND, BehaviourModel, OutdatedModel
from hometwin.ports import PortError, SensorSource
from hometwin.registry import ModelRegistry
from hometwin.sdk import LocalGateway, PeriodicTrigger
from hometwin.services.alert_store import AlertStore

log = logging.getLogger(__name__)

Emit = Callable[[str, Any], bool]


@dataclass
class CheckResult:
    status: str  # "ok", "no-model", "retry"
    now: datetime
    findings: list[Finding] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    model_version: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "now": self.now.isoformat(), "model_version": self.model_version,
                "findings": [f.to_dict() for f in self.findings], "notifications": self.notifications,
                "detail": self.detail}


class Monitor:
    """The monitoring's logic, independent of HTTP: `check()` is one monitoring step."""

    def __init__(self, *, source: SensorSource, registry: ModelRegistry, alerts: AlertStore, clock: Clock,
                 emit: Emit, params: DetectionParams, policy: AlertPolicy,
                 model_poll: timedelta = timedelta(minutes=1), train_retry: timedelta = timedelta(hours=1)):
        self.source, self.registry, self.alerts, self.clock = source, registry, alerts, clock
        self.emit, self.params, self.policy = emit, params, policy
        self.model_poll, self.train_retry = model_poll, train_retry
        self._lock = threading.Lock()  # one check at a time, even if the scheduler overlaps two
        self._model: BehaviourModel | None = None
        self._model_version: str | None = None
        self._model_checked: datetime | None = None
        self._train_requested: datetime | None = None
        self._source_error_since: datetime | None = None
        self._last_events: list[SensorEvent] = []
        self.last_result: CheckResult | None = None

    @property
    def model_version(self) -> str | None:
        return self._model_version

    def model(self, now: datetime) -> BehaviourModel | None:
        """The newest model; the registry is asked again only every `model_poll`."""
        if self._model_checked is None or now - self._model_checked >= self.model_poll or self._model is None:
            latest = self.registry.latest(MODEL_KIND)
            self._model_checked = now
            if latest is not None and latest.version != self._model_version:
                try:
                    self._model = BehaviourModel.from_dict(latest.document)
                except OutdatedModel as exc:  # an older schema: no usable model, so a new one is trained
                    log.warning("model %s cannot be used: %s", latest.version, exc)
                    return None
                self._model_version = latest.version
                log.info("monitoring uses model %s", latest.version)
        return self._model

    def request_training(self, now: datetime, why: str) -> bool:
        """Emit `TrainOccupancyModelEvent`, at most once per `train_retry` unless forced by schedule."""
        if self._train_requested is not None and now - self._train_requested < self.train_retry:
            return False
        accepted = self.emit("TrainOccupancyModelEvent", {"reason": why, "requested_at": now.isoformat()})
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
            return [e for e in self._last_events if e.time <= now]
        if self._source_error_since is not None:
            log.info("sensor source is back after %s", now - self._source_error_since)
        self._source_error_since = None
        self._last_events = events
        return events

    def check(self) -> CheckResult:
        with self._lock:
            now = self.clock.now()
            try:
                model = self.model(now)
            except (PortError, OSError, ValueError) as exc:
                log.error("cannot load the model: %s", exc)
                return self._done(CheckResult("retry", now, detail=f"model store: {exc}"))
            if model is None:
                self.request_training(now, "no model yet")
                return self._done(CheckResult("no-model", now, detail="no model yet: training first"))
            events = self._recent_events(now)
            findings = detect(model, events, now, self.params, source_error_since=self._source_error_since)
            try:
                book = self.alerts.load()
                self.alerts.merge_acks(book)
                notifications = book.advance(findings, now, self.policy)
                sent = [n.id for n in notifications if self.emit("EmergencyEvent", n.to_event_data())]
                if len(sent) < len(notifications):
                    # Not saved: the next check produces the same notifications again.
                    return self._done(CheckResult("retry", now, findings, sent, self._model_version,
                                                  "scheduler did not accept every notification"))
                self.alerts.save(book)
            except PortError as exc:
                log.error("alert state unavailable, will retry: %s", exc)
                return self._done(CheckResult("retry", now, findings, [], self._model_version, str(exc)))
            return self._done(CheckResult("ok", now, findings, sent, self._model_version))

    def _done(self, result: CheckResult) -> CheckResult:
        self.last_result = result
        return result


def create_app(settings: MonitoringSettings, *, ports: Ports, params: DetectionParams,
               policy: AlertPolicy) -> LocalGateway:
    """The monitoring service: `check_emergency` on `CheckEmergencyEvent`, plus its triggers."""
    emitter = Emitter()
    monitor = Monitor(source=ports.source, registry=ports.registry, alerts=ports.alerts, clock=ports.clock,
                      emit=emitter, params=params, policy=policy,
                      model_poll=timedelta(seconds=settings.monitoring_model_poll_s))
    triggers: list[PeriodicTrigger] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        triggers.append(every(Named("CheckEmergencyEvent"), settings.monitoring_check_every, timezone=settings.tz))
        triggers.append(every(Named("TrainOccupancyModelEvent", lambda: {"reason": "schedule"}),
                              settings.monitoring_train_cron, timezone=settings.tz))
        yield
        for trigger in triggers:
            trigger.stop()

    app = LocalGateway(title="HomeTwin monitoring", lifespan=lifespan)
    app.state.monitor = monitor

    def check_emergency() -> dict[str, Any]:
        return monitor.check().to_dict()

    def status() -> dict[str, Any]:
        last = monitor.last_result
        return {"model_version": monitor.model_version, "last_check": last.to_dict() if last else None}

    app.deploy(check_emergency, "check_emergency", "CheckEmergencyEvent", method="POST")
    app.add_api_route("/status", status, methods=["GET"])
    # Always ready: an unready monitor would no longer receive the check that makes it ready
    # again. How the last check went is on /status.
    add_health(app)
    return app
