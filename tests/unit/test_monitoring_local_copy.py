"""A monitoring (re)started while the object store is down goes on from its local copy (issue: the
power cut after which the Pi is up before MinIO; the monitoring killed during an outage).

The monitoring runs on test_monitoring's simulated person who falls; the stores are the outage
fake of tests/outages.py (why a fake: the outage is switched between two checks). A "restart" is a
new `Monitor` on the same local folder: what the killed process held in memory is gone.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.adapters.s3 import S3Options, S3Store
from hometwin.components.monitoring import Monitor, Redrive, create_app
from hometwin.components.wiring import Ports
from hometwin.config import MonitoringSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy
from hometwin.domain.detection import DetectionParams
from hometwin.domain.model import MODEL_KIND
from hometwin.ports import Unavailable
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.local_copy import LocalCopy
from tests.outages import FakeOutageStore
from tests.unit import test_monitoring
from tests.unit.test_monitoring import FrozenClock, Recorder

MINUTE = timedelta(minutes=1)
REPEAT = timedelta(minutes=30)


@pytest.fixture(scope="module")
def home() -> dict[str, Any]:
    return test_monitoring.home.__wrapped__()  # type: ignore[attr-defined]


@pytest.fixture
def stores(home: dict[str, Any]) -> tuple[FakeOutageStore, FakeOutageStore]:
    return FakeOutageStore(home["registry"].store), FakeOutageStore()


def start(home: dict[str, Any], models: FakeOutageStore, state: FakeOutageStore, clock: FrozenClock,
          emit: Recorder, folder: Path | None) -> Monitor:
    """One monitoring process; `folder`: its local copy (None: none, as before)."""
    source = MemoryEventStore()
    source.append(home["events"])
    local = LocalCopy(folder, "home") if folder is not None else None
    return Monitor(source=source, registry=ModelRegistry(models, "home"), alerts=AlertStore(state, "home"),
                   clock=clock, emit=emit, params=DetectionParams(),
                   policy=AlertPolicy(escalation=("anna@example.org",), repeat_every=REPEAT),
                   redrive=Redrive(initial=2 * MINUTE, cap=8 * MINUTE), local_models=local, local_book=local)


def ids(emit: Recorder) -> list[str]:
    return [d["notification_id"] for d in emit.named("EmergencyEvent")]


def test_a_monitoring_started_while_the_store_is_down_detects_and_alerts_from_its_local_copy(
        home: dict[str, Any], stores: tuple[FakeOutageStore, FakeOutageStore], tmp_path: Path) -> None:
    models, state = stores
    clock, emit = FrozenClock(home["fall"].at + 10 * MINUTE), Recorder()
    assert start(home, models, state, clock, emit, tmp_path).check().status == "ok"  # before the power cut

    models.down = state.down = True  # the Pi is back, the store is not
    clock.at = home["fall"].at + timedelta(hours=4)
    monitor = start(home, models, state, clock, emit, tmp_path)
    result = monitor.check()
    assert result.status == "ok" and len(result.notifications) == 1, result.detail
    assert any("local copy" in d for d in result.degraded), result.degraded
    status = monitor.status()
    assert status["local_copy"]["in_use"] == {"model": True, "book": True}
    assert status["model_version"] == home["registry"].latest_name(MODEL_KIND)
    # Without the copy the same start would watch nobody (test_alert_delivery: it answers `retry`).
    assert start(home, models, state, clock, Recorder(), None).check().status == "retry"

    models.down = state.down = False
    clock.at += MINUTE
    after = monitor.check()
    assert after.status == "ok" and after.degraded == [], after.degraded
    assert monitor.status()["local_copy"]["in_use"] == {"model": False, "book": False}
    stored = AlertStore(state, "home").load()
    assert [d.notification.id for d in stored.undelivered()] == result.notifications  # kept, saved


def test_a_monitoring_killed_during_the_outage_loses_nothing_and_repeats_no_id(
        home: dict[str, Any], stores: tuple[FakeOutageStore, FakeOutageStore], tmp_path: Path) -> None:
    models, state = stores
    clock, emit = FrozenClock(home["fall"].at + 10 * MINUTE), Recorder()
    monitor = start(home, models, state, clock, emit, tmp_path)
    monitor.check()
    state.down = models.down = True
    clock.at = home["fall"].at + timedelta(hours=4)
    first = monitor.check().notifications  # the first alert, only in memory and on disk
    clock.at += REPEAT
    reminder = monitor.check().notifications
    assert len(first) == 1 and len(reminder) == 1 and reminder != first

    # SIGKILL: the memory is gone; the store is still down.
    clock.at += REPEAT
    monitor = start(home, models, state, clock, emit, tmp_path)
    again = monitor.check()
    assert again.status == "ok" and len(again.notifications) == 1, again.detail
    assert again.notifications[0] not in first + reminder  # the third e-mail, not the first again
    assert set(first + reminder) <= set(ids(emit))  # handed on again with their ids, to be confirmed

    state.down = models.down = False
    alert_id = emit.named("EmergencyEvent")[0]["alert_id"]
    clock.at += MINUTE
    monitor.check()
    stored = AlertStore(state, "home").load()
    alert = stored.get(alert_id)
    assert alert is not None
    logged = [e["id"] for e in alert.log if e.get("event") == "notification"]
    assert logged == [*first, *reminder, *again.notifications]  # every e-mail of the outage is in the book
    # An acknowledgement now is for this episode and stops the reminders.
    assert AlertStore(state, "home").record_ack(alert_id, "anna@example.org", clock.at)
    clock.at += REPEAT + MINUTE
    assert monitor.check().notifications == []


def test_a_local_book_older_than_the_store_loses(home: dict[str, Any],
                                                 stores: tuple[FakeOutageStore, FakeOutageStore],
                                                 tmp_path: Path) -> None:
    """Only the monitoring writes the book, but a pod on another node (no local copy here) may have
    run meanwhile: the stored book is then newer than this disk's, whatever the disk says."""
    models, state = stores
    clock, emit = FrozenClock(home["fall"].at + 10 * MINUTE), Recorder()
    monitor = start(home, models, state, clock, emit, tmp_path)
    monitor.check()
    state.down = True
    clock.at = home["fall"].at + timedelta(hours=4)
    stale = monitor.check().notifications  # unsaved, on this disk only
    assert len(stale) == 1 and LocalCopy(tmp_path, "home").load_book().unsaved  # type: ignore[union-attr]
    state.down = False

    elsewhere = Recorder()
    clock.at += REPEAT
    other_at = clock.at
    other = start(home, models, state, clock, elsewhere, None).check()  # the other node: the alert anew
    assert other.status == "ok" and len(other.notifications) == 1

    clock.at += MINUTE
    back = start(home, models, state, clock, emit, tmp_path)
    back.check()
    book = back.book.book
    assert book is not None and not back.book.unsaved
    assert AlertStore(state, "home").load().to_dict() == book.to_dict()
    (alert,) = book.history()
    sent = [e["at"] for e in alert.log if e.get("event") == "notification"]
    assert sent == [other_at.isoformat()]  # the other node's e-mail, not this disk's stale one
    assert back.status()["local_copy"]["in_use"] == {"model": False, "book": False}


def test_the_stores_newer_model_wins_over_the_local_copy(home: dict[str, Any],
                                                         stores: tuple[FakeOutageStore, FakeOutageStore],
                                                         tmp_path: Path) -> None:
    models, state = stores
    clock, emit = FrozenClock(home["fall"].at + 10 * MINUTE), Recorder()
    start(home, models, state, clock, emit, tmp_path).check()
    held = home["registry"].latest_name(MODEL_KIND)
    models.down = True
    monitor = start(home, models, state, clock, emit, tmp_path)
    monitor.check()
    assert monitor.model_version == held and monitor.models.from_local

    newer = ModelRegistry(models.inner, "home")
    version = newer.register(MODEL_KIND, newer.get(MODEL_KIND, held).document,
                             {"training_start": home["fall"].at - timedelta(days=21),
                              "training_end": home["fall"].at}).version
    models.down = False
    clock.at += 2 * MINUTE  # past the model poll
    monitor.check()
    assert monitor.model_version == version != held and not monitor.models.from_local
    assert LocalCopy(tmp_path, "home").load_model().version == version  # type: ignore[union-attr]


def test_the_monitoring_service_on_an_unreachable_s3_starts_from_its_local_copy(home: dict[str, Any],
                                                                                 tmp_path: Path) -> None:
    """The whole service as `hometwin component monitoring` builds it, on a real S3 client whose server
    is gone (a closed port): the copy an earlier run left under the data dir carries the first check."""
    earlier = LocalCopy(tmp_path / "monitoring", "home")
    version = home["registry"].latest_name(MODEL_KIND)
    assert earlier.save_model(version, home["registry"].get(MODEL_KIND, version).document)
    assert earlier.save_book(AlertBook().to_dict(), base=None, unsaved=False, now=home["fall"].at)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{probe.getsockname()[1]}"
    options = S3Options(endpoint=gone, access_key="key", secret_key="secret", timeout_seconds=1)
    models, state = S3Store.open("models", "", options), S3Store.open("state", "", options)
    source = MemoryEventStore()
    source.append(home["events"])
    emit = Recorder()
    ports = Ports(source, ModelRegistry(models, "home"), state, AlertStore(state, "home"),  # type: ignore[arg-type]
                  FrozenClock(home["fall"].at + timedelta(hours=4)), store_wait=1.0)
    app = create_app(MonitoringSettings(data_dir=tmp_path, home_id="home"), ports=ports, params=DetectionParams(),
                     policy=AlertPolicy(escalation=("anna@example.org",)), emit=emit)
    client = TestClient(app)
    began = time.monotonic()
    result = client.post("/api/check_emergency").json()
    assert result["status"] == "ok" and len(result["notifications"]) == 1, result
    assert time.monotonic() - began < 10  # two store waits of 1 s, not the client's retries per call
    assert [d["notification_id"] for d in emit.named("EmergencyEvent")] == result["notifications"]
    status = client.get("/status").json()
    assert status["local_copy"]["in_use"] == {"model": True, "book": True}, status["local_copy"]
    assert status["local_copy"]["folder"] == str(tmp_path / "monitoring" / "home")
    assert status["local_copy"]["kept"] == {"model": True, "book": True} and status["local_copy"]["error"] is None
    metrics = client.get("/metrics").text
    assert 'hometwin_monitoring_local_copy{home="home",part="book"} 1.0' in metrics, metrics
    kept = LocalCopy(tmp_path / "monitoring", "home").load_book()
    assert kept is not None and kept.unsaved  # the first alert is on disk, for the store when it is back


class LostAnswerStore(FakeOutageStore):
    """The outage fake, plus writes that land while their answer is lost (a put that timed out at the
    client after the server had stored it): what a store that hangs mid-request can do."""

    lose_answers = False

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None,
            *, overwrite: bool = True) -> str | None:
        version = super().put(key, data, metadata, overwrite=overwrite)
        if self.lose_answers:
            raise Unavailable("fake: the write landed, its answer did not")
        return version


def test_a_write_that_landed_unanswered_does_not_make_the_local_book_lose(home: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    models, state = FakeOutageStore(home["registry"].store), LostAnswerStore()
    clock, emit = FrozenClock(home["fall"].at + 10 * MINUTE), Recorder()
    monitor = start(home, models, state, clock, emit, tmp_path)
    monitor.check()
    state.lose_answers = True
    clock.at = home["fall"].at + timedelta(hours=4)
    first = monitor.check().notifications  # stored, but the monitoring cannot know
    state.down = True
    clock.at += REPEAT
    reminded_at = clock.at
    reminder = monitor.check().notifications  # on disk only
    assert len(first) == 1 and len(reminder) == 1

    state.down = state.lose_answers = False
    clock.at += MINUTE
    restarted = start(home, models, state, clock, emit, tmp_path)  # after a SIGKILL
    restarted.check()
    (alert,) = AlertStore(state, "home").load().history()
    sent = [(e["id"], e["at"]) for e in alert.log if e.get("event") == "notification"]
    assert [i for i, _ in sent] == first + reminder
    assert sent[-1][1] == reminded_at.isoformat()  # the reminder that went out, not one worked out anew
