"""The whole system over real HTTP: scheduler + monitoring + modeling + actuation as separate
processes, a real S3 server (SeaweedFS) for models and alert state, a real SMTP server (aiosmtpd).

A simulated person has three weeks of history; the live day is released up to a fall, then the
home goes silent while the shared accelerated clock runs on. We check that the model is trained
through the scheduler, that exactly one e-mail per notification arrives and names the right room,
that killing components in the middle neither duplicates an e-mail nor forgets the alert, and that
an acknowledgement stops the reminders.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.clock import Clock
from hometwin.components.wiring import open_store
from hometwin.config import StoreSettings
from hometwin.domain.events import SensorKind
from hometwin.launcher import Stack
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.sim import Fall, HomeLayout, Resident
from tests.servers import S3Server, SMTPServer, wait_until

pytestmark = pytest.mark.slow

TZ = "Europe/Berlin"
SPEED = 240.0  # one simulated hour is 15 real seconds
REPEAT_MIN = 40  # simulated minutes between reminders: 10 real seconds


def _messages(smtp: SMTPServer) -> list[email.message.EmailMessage]:
    out = []
    for msg in smtp.messages():
        out.append(email.message_from_bytes(msg.as_bytes(), policy=email.policy.default))
    return out


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict]:
    zone = ZoneInfo(TZ)
    resident = Resident(HomeLayout.default(TZ), seed=11)
    day = datetime(2026, 11, 24, tzinfo=zone)  # a Tuesday
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    history_start = day - timedelta(days=21)
    store.append(resident.events(history_start, day + timedelta(hours=10)))
    # The fall: half a minute after the first motion after 10:00.
    anchor = next(e for e in resident.events(day + timedelta(hours=10), day + timedelta(hours=14))
                  if e.kind is SensorKind.MOTION)
    fall = Fall(at=anchor.time + timedelta(seconds=30))
    live = [e for e in resident.events(day + timedelta(hours=10), day + timedelta(hours=12), [fall])
            if e.time <= fall.at]
    store.append(live)
    yield {"store": store, "anchor": anchor, "fall": fall}


def test_fall_is_mailed_once_survives_restarts_and_ack_stops_reminders(
        tmp_path: Path, home: dict, s3_server: S3Server, smtp_server: SMTPServer) -> None:
    clock = Clock.accelerate(home["fall"].at, SPEED)
    env = {
        "HOMETWIN_DATA_DIR": str(tmp_path),
        "HOMETWIN_TZ": TZ,
        "HOMETWIN_HOME_ID": "e2e",
        "HOMETWIN_CLOCK": clock.spec(),
        "HOMETWIN_EVENTS": f"sqlite:///{tmp_path / 'events.sqlite'}",
        "HOMETWIN_MODEL_STORE": "s3://hometwin-e2e-models/home",
        "HOMETWIN_STATE_STORE": "s3://hometwin-e2e-state/home",
        "HOMETWIN_S3_ENDPOINT": s3_server.url,
        "HOMETWIN_S3_ACCESS_KEY": s3_server.access_key,
        "HOMETWIN_S3_SECRET_KEY": s3_server.secret_key,
        "HOMETWIN_SMTP_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "HOMETWIN_SMTP_STARTTLS": "off",
        "HOMETWIN_CAREGIVERS": "anna@example.org,ben@example.org",
        "HOMETWIN_MONITORING_CHECK_EVERY": "2s",
        "HOMETWIN_MONITORING_MODEL_POLL_S": "1",
        "HOMETWIN_ACTUATION_RETRY_EVERY": "2s",
        "HOMETWIN_ALERT_REPEAT_MINUTES": str(REPEAT_MIN),
        "HOMETWIN_ALERT_ESCALATE_MINUTES": "600",
    }
    stack = Stack(tmp_path, env)
    settings = StoreSettings(model_store=env["HOMETWIN_MODEL_STORE"], state_store=env["HOMETWIN_STATE_STORE"],
                             s3_endpoint=s3_server.url, s3_access_key=s3_server.access_key,
                             s3_secret_key=s3_server.secret_key, home_id="e2e")
    registry = ModelRegistry(open_store(settings.model_store, settings), "e2e")
    alerts = AlertStore(open_store(settings.state_store, settings), "e2e")
    try:
        stack.start_all(["modeling", "actuation", "monitoring"])
        # The Stack generated a dispatch secret: everything below reaches the components only
        # because the scheduler signs it; nobody else can make the actuation mail or the modeling train.
        assert len(stack.env["HOMETWIN_DISPATCH_SECRET"]) >= 32
        for part, function in (("actuation", "send_emergency_email"), ("modeling", "train_occupancy_model")):
            forged = httpx.post(f"{stack.url(part)}/api/{function}", timeout=10,
                                json={"EmergencyEvent": {"data": {"alert_id": "forged"}}})
            assert forged.status_code == 401, (function, forged.text)
        # The monitoring finds no model, asks for one through the scheduler; the modeling trains it.
        wait_until(lambda: registry.latest("behaviour") is not None, timeout=90, what="first model")
        version = registry.latest("behaviour")
        assert version is not None and version.metadata["home_id"] == "e2e"

        def mails() -> list[email.message.EmailMessage]:
            # The SMTP server is shared by the session: this home's Message-IDs end in .e2e@hometwin.
            # Alerts and reminders only: on a loaded machine a slow first training makes the monitoring
            # ask again, and the second model's behaviour report (Message-ID <report-...>) is no alert.
            return [m for m in _messages(smtp_server) if ".e2e@hometwin" in str(m["Message-ID"])
                    and not str(m["Message-ID"]).startswith("<report-")]

        wait_until(lambda: len(mails()) >= 1, timeout=150, what="the alert e-mail")
        first = mails()[0]
        room = home["anchor"].room
        assert room in first["Subject"].lower(), first["Subject"]
        assert "emergency" in first["Subject"].lower() or "warning" in first["Subject"].lower()
        open_alerts = alerts.load().open_alerts()
        assert len(open_alerts) == 1 and open_alerts[0].finding.room == room

        # A crash of both the monitoring and the actuation in the middle: no duplicate, no lost alert.
        stack.restart("monitoring", kill=True)
        stack.restart("actuation", kill=True)
        wait_until(lambda: len(mails()) >= 2, timeout=90, what="a reminder after the restarts")
        ids = Counter(m["Message-ID"] for m in mails())
        assert all(n == 1 for n in ids.values()), f"an e-mail was sent twice: {ids}"
        book = alerts.load()
        assert [a.id for a in book.open_alerts()] == [open_alerts[0].id]

        # Acknowledged: no more reminders for several repeat intervals.
        assert alerts.record_ack(open_alerts[0].id, "anna@example.org", clock.now())
        wait_until(lambda: alerts.load().get(open_alerts[0].id).state.value == "acknowledged", timeout=30,
                   what="the acknowledgement to be merged")
        count = len(mails())
        quiet_until = clock.now() + timedelta(minutes=3 * REPEAT_MIN)
        wait_until(lambda: clock.now() >= quiet_until, timeout=60, what="three repeat intervals")
        assert len(mails()) == count, [m["Subject"] for m in mails()[count:]]
    finally:
        stack.stop_all()
        for name, process in stack.processes.items():
            print(f"--- {name} ---\n{process.tail(15)}")
