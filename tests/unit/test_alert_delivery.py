"""An alert e-mail counts as done only when the mail server accepted it (issue 13, items 3 and 4).

The monitoring (`Monitor.check`) runs on a model trained on a simulated person who falls; the
actuation side is the real `Notifier` on a Maildir, sharing the state store, so "sent" is the
outbox's real `sent` marker. The scheduler is the recording emitter of test_monitoring.py (the
seam between the monitoring and the SDK). Outages use tests/outages.py (a fake, see why there).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hometwin.adapters.mail import MaildirMailer
from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.memory_store import MemoryStore
from hometwin.components.monitoring import Monitor, Redrive
from hometwin.config import MailSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy, Delivery
from hometwin.domain.detection import DetectionParams
from hometwin.domain.events import SensorEvent
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore, upgrade_document
from hometwin.services.outbox import Notifier, delivered
from tests.outages import FakeOutageStore
from tests.unit import test_monitoring
from tests.unit.test_alert_episodes import VERSION_1_BOOK
from tests.unit.test_monitoring import FrozenClock, Recorder

MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def home() -> dict[str, Any]:
    """test_monitoring's simulated person who falls, with a model trained on three weeks before."""
    return test_monitoring.home.__wrapped__()  # type: ignore[attr-defined]


def monitor_for(home: dict[str, Any], clock: FrozenClock, emit: Recorder, state: Any, *,
                registry: ModelRegistry | None = None, source: MemoryEventStore | None = None) -> Monitor:
    if source is None:
        source = MemoryEventStore()
        source.append(home["events"])
    return Monitor(source=source, registry=registry or home["registry"], alerts=AlertStore(state, "home"),
                   clock=clock, emit=emit, params=DetectionParams(),
                   # Reminders every 2 h: within these tests every e-mail is the first one or an all clear.
                   policy=AlertPolicy(escalation=("anna@example.org",), repeat_every=timedelta(hours=2)),
                   redrive=Redrive(initial=2 * MINUTE, cap=8 * MINUTE, after_resolved=timedelta(hours=6)))


def actuation(tmp_path: Path, state: Any) -> tuple[Notifier, MaildirMailer]:
    settings = MailSettings(data_dir=tmp_path, caregivers=["anna@example.org"], home_id="home")
    mailer = MaildirMailer(tmp_path / "mail", settings.mail_from)
    return Notifier(mailer, state, settings), mailer


def emitted_ids(emit: Recorder) -> list[str]:
    return [d["notification_id"] for d in emit.named("EmergencyEvent")]


def test_an_email_not_yet_sent_is_emitted_again_with_the_same_id_until_it_is(
        home: dict[str, Any], tmp_path: Path) -> None:
    clock, emit, state = FrozenClock(home["fall"].at + timedelta(hours=4)), Recorder(), MemoryStore()
    monitor = monitor_for(home, clock, emit, state)
    [note_id] = monitor.check().notifications
    # The invocation died on the way (actuation down for hours): nothing marks it sent.
    times = [clock.at]
    for _ in range(20):
        clock.at += MINUTE
        if monitor.check().redriven == [note_id]:
            times.append(clock.at)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps == [2 * MINUTE, 4 * MINUTE, 8 * MINUTE], gaps  # doubling up to the cap (8 here)
    assert set(emitted_ids(emit)) == {note_id}  # always the same id: the actuation drops copies
    assert [u["id"] for u in monitor.status()["undelivered"]] == [note_id]

    notifier, mailer = actuation(tmp_path, state)
    assert notifier.handle(emit.named("EmergencyEvent")[-1], "late") == "sent"
    assert delivered(state, "home", [note_id, "unknown-1-1"]) == {note_id}
    clock.at += MINUTE
    monitor.check()
    assert monitor.status()["undelivered"] == []
    alert = AlertStore(state, "home").load().open_alerts()[0]
    assert [e["id"] for e in alert.log if e["event"] == "delivered"] == [note_id]
    before = len(emit.named("EmergencyEvent"))
    clock.at += 10 * MINUTE
    assert monitor.check().redriven == [] and len(emit.named("EmergencyEvent")) == before
    assert len(mailer.messages()) == 1


def test_an_all_clear_is_re_driven_until_sent_and_given_up_after_the_bound(home: dict[str, Any]) -> None:
    clock, emit, state = FrozenClock(home["fall"].at + timedelta(hours=4)), Recorder(), MemoryStore()
    source = MemoryEventStore()
    source.append(home["events"])
    monitor = monitor_for(home, clock, emit, state, source=source)
    [first] = monitor.check().notifications
    # The person gets up: an event in another room ends the incident (the all clear is held 10 min).
    other = next(r for r in ("livingroom", "kitchen", "bedroom") if r != home["anchor"].room)
    clock.at += MINUTE
    source.append([SensorEvent(clock.at - timedelta(seconds=20), f"{other}_motion", other)])
    cleared, clear = None, None
    while clear is None and clock.at < home["fall"].at + timedelta(hours=4, minutes=20):
        result = monitor.check()
        kinds = {d["notification_id"]: d["kind"] for d in emit.named("EmergencyEvent")}
        clear = next((i for i in result.notifications if kinds[i] == "all_clear"), None)
        cleared = clock.at
        clock.at += MINUTE
    assert clear is not None and cleared == home["fall"].at + timedelta(hours=4, minutes=10)
    redriven: set[str] = set()
    for _ in range(10):
        clock.at += MINUTE
        redriven |= set(monitor.check().redriven)
    assert redriven == {first, clear}  # the alert is over, its e-mails are not
    clock.at += timedelta(hours=6)
    monitor.check()
    waiting = {u["id"] for u in monitor.status()["undelivered"]}  # (a new silence may have begun)
    assert not waiting & {first, clear}  # given up, after the documented bound
    alert = AlertStore(state, "home").load().history()[0]
    assert {e["id"] for e in alert.log if e["event"] == "undelivered"} == {first, clear}


def test_with_the_object_store_down_detection_and_alerting_go_on_and_the_book_is_saved_after(
        home: dict[str, Any]) -> None:
    models, state = FakeOutageStore(home["registry"].store), FakeOutageStore()
    clock, emit = FrozenClock(home["fall"].at + timedelta(minutes=10)), Recorder()
    monitor = monitor_for(home, clock, emit, state, registry=ModelRegistry(models, "home"))
    assert monitor.check().status == "ok"  # model and (empty) book loaded once

    models.down = state.down = True
    clock.at = home["fall"].at + timedelta(hours=4)
    result = monitor.check()
    assert result.status == "ok" and len(result.notifications) == 1, result.detail
    assert any("model registry" in d for d in result.degraded) and any("alert state" in d for d in result.degraded)
    status = monitor.status()
    assert status["model_registry"]["ok"] is False and status["model_registry"]["failure"]["what"] == "registry"
    assert status["alert_state"]["ok"] is False and status["alert_state"]["unsaved"] is True
    assert [u["id"] for u in status["undelivered"]] == result.notifications
    clock.at += 2 * MINUTE
    assert monitor.check().redriven == result.notifications  # nothing can confirm it: re-driven

    models.down = state.down = False
    # Meanwhile (the store just back) the caregiver acknowledged on the dashboard.
    alert_id = emit.named("EmergencyEvent")[0]["alert_id"]
    assert AlertStore(state, "home").record_ack(alert_id, "anna@example.org", clock.at, episode=1)
    clock.at += MINUTE
    after = monitor.check()
    assert after.degraded == [] and monitor.status()["alert_state"]["unsaved"] is False
    stored = AlertStore(state, "home").load()
    alert = stored.get(alert_id)
    assert alert is not None and alert.state.value == "acknowledged" and alert.acknowledged_by == "anna@example.org"
    assert [d.notification.id for d in stored.undelivered()] == result.notifications


def test_a_monitoring_started_while_the_store_is_down_waits_for_it(home: dict[str, Any]) -> None:
    state = FakeOutageStore()
    state.down = True
    clock, emit = FrozenClock(home["fall"].at + timedelta(hours=4)), Recorder()
    monitor = monitor_for(home, clock, emit, state)
    result = monitor.check()
    assert result.status == "retry" and "alert state" in result.detail and emit.named("EmergencyEvent") == []
    state.down = False
    clock.at += MINUTE
    assert len(monitor.check().notifications) == 1


def test_undelivered_notifications_survive_a_save_and_older_books_load_with_none() -> None:
    from tests.unit.test_notifier import notes

    book = AlertBook()
    alert, *_ = notes()
    book._undelivered[alert.id] = Delivery(alert, alert.at, 2)  # as a check leaves it
    again = AlertBook.from_dict(json.loads(json.dumps(book.to_dict())))
    [delivery] = again.undelivered()
    assert (delivery.notification, delivery.emitted_at, delivery.emits) == (alert, alert.at, 2)
    version_2 = {k: v for k, v in book.to_dict().items() if k != "deliveries"}  # written before deliveries
    assert AlertBook.from_dict(version_2).undelivered() == []
    upgraded = AlertBook.from_dict(upgrade_document(VERSION_1_BOOK))
    assert upgraded.undelivered() == [] and upgraded.to_dict()["schema_version"] == 2
