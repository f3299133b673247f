"""The weekly report from training to the e-mail, through the real components over real HTTP: the
modeling trains a second model and answers with its `ModelTrainedEvent` data (the report with the
trends digest); the actuation receives that as its invocation and mails it, with the trend charts
inline. No scheduler: its part (carrying the event) is covered in tests/e2e; the SDK runs in its
debugging mode (SCH_SERVICE_NAME unset), so emitted events are logged, not posted."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hometwin.adapters.mail import MaildirMailer
from hometwin.adapters.sources import open_source
from hometwin.adapters.stores import open_object_store
from hometwin.clock import Clock
from hometwin.components import actuation, modeling
from hometwin.components.wiring import Ports
from hometwin.config import ActuationSettings, MailSettings, ModelingSettings
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.outbox import Notifier
from hometwin.services.training import train_and_register
from tests.dashboard_helpers import serve
from tests.trend_home import TZ, trend_events

pytestmark = pytest.mark.slow  # simulates twelve weeks and trains a model twice


def test_second_training_mails_the_weekly_report_with_trend_charts(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCH_SERVICE_NAME", raising=False)
    events, now = trend_events(84, more_toilet_nights=10)
    source = open_source(f"sqlite:///{tmp_path / 'events.sqlite'}")
    source.append(events)  # type: ignore[attr-defined]
    state = open_object_store((tmp_path / "state").as_uri())
    registry = ModelRegistry(open_object_store((tmp_path / "models").as_uri()), "home")
    week_ago = now - timedelta(days=7)
    train_and_register([e for e in events if week_ago - timedelta(days=56) <= e.time < week_ago], registry,
                       tz=TZ, start=week_ago - timedelta(days=56), end=week_ago, false_alarm_budget=0)
    ports = Ports(source, registry, state, AlertStore(state, "home"), Clock(now, 1.0, time.time()))
    settings = ModelingSettings(data_dir=tmp_path, tz=TZ, detect_false_alarm_budget=0)
    with serve(modeling.create_app(settings, ports=ports)) as url:
        trained = httpx.post(f"{url}/api/train_occupancy_model", json={"TrainOccupancyModelEvent": {"data": {}}},
                             headers={"Idempotency-Key": "train-1"}, timeout=300)
    assert trained.status_code == 200, trained.text
    data = trained.json()
    assert data["status"] == "trained" and data["previous"] is not None
    trends = data["report"]["trends"]
    assert len(trends["days"]) == 56 and trends["days"][-1] == (now.date() - timedelta(days=1)).isoformat()

    mail_settings = MailSettings(data_dir=tmp_path, caregivers=["anna@example.org"], tz=TZ)
    mailer = MaildirMailer(tmp_path / "mail", mail_settings.mail_from)
    notifier = Notifier(mailer, open_object_store("memory://"), mail_settings)
    event = {k: v for k, v in data.items() if k != "status"}
    with serve(actuation.create_app(ActuationSettings(data_dir=tmp_path, tz=TZ), notifier=notifier)) as url:
        sent = [httpx.post(f"{url}/api/send_weekly_report", json={"ModelTrainedEvent": {"data": event}},
                           headers={"Idempotency-Key": "report-1"}, timeout=120) for _ in range(2)]
    assert [r.json()["status"] for r in sent] == ["sent", "duplicate"]
    [stored] = mailer.messages()
    msg = email.message_from_bytes(stored.as_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Changes in daily life" in text and "goes to the toilet" in text
    assert len([p for p in msg.walk() if p.get_content_type() == "image/png"]) == 11
