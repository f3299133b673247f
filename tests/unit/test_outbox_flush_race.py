"""A notification queued while a flush of the outbox runs is not forgotten by that flush.

Found by the outage matrix (tests/e2e/test_outages.py, mail server down): an e-mail queued by a
delivery while the actuation's periodic flush was between listing the outbox and finishing came a
minute late (30 minutes of the home's clock at the suite's 30x), because the flush, having found
nothing to wait for in its listing, declared the outbox empty and the next flushes skipped it.

FAKE, at the ObjectStore seam, and why: `HookedStore` is a real MemoryStore that runs a delivery
right after the flush listed the outbox, which two threads would hit only by chance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hometwin.adapters.mail import MaildirMailer
from hometwin.adapters.memory_store import MemoryStore
from hometwin.config import MailSettings
from hometwin.domain.alerts import AlertBook, AlertPolicy
from hometwin.domain.findings import Finding, FindingKind, Severity
from hometwin.services.outbox import FlushReport, Notifier

T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


class HookedStore(MemoryStore):
    """A MemoryStore that calls `hook` once, right after the first listing of the outbox."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Callable[[], None] | None = None

    def list(self, prefix: str) -> list[str]:
        keys = super().list(prefix)
        if self.hook is not None and prefix.endswith("/mail/outbox/"):
            hook, self.hook = self.hook, None
            hook()
        return keys


def test_a_notification_queued_during_a_flush_is_retried_when_due(tmp_path: Path) -> None:
    settings = MailSettings(data_dir=tmp_path, caregivers=["anna@example.org"], home_id="oma",
                            mail_retry_initial=15, mail_retry_max=60)
    now = [T0 + timedelta(hours=1)]
    blocked = tmp_path / "mail"
    blocked.write_text("a file where the mail folder should be: the mail server is down")
    store = HookedStore()
    notifier = Notifier(MaildirMailer(blocked, settings.mail_from), store, settings, clock=lambda: now[0])
    finding = Finding(FindingKind.PROLONGED_STAY, Severity.EMERGENCY, "bathroom", T0, observed=3120,
                      expected=360, threshold=1140, percentile=99.7, message="In the bathroom for 52 min")
    [note] = AlertBook().advance([finding], now[0], AlertPolicy(escalation=("anna@example.org",)))
    outcomes: list[str] = []
    store.hook = lambda: outcomes.append(notifier.handle(note.to_event_data(), "invocation-1"))

    assert notifier.flush_outbox() == FlushReport(0, 0)  # listed an empty outbox; then the delivery came
    assert outcomes == ["queued"]

    blocked.unlink()  # the mail server is back
    now[0] += timedelta(seconds=16)  # the first retry is due, well within the minute between scans
    assert notifier.flush_outbox() == FlushReport(1, 0)
    assert len(MaildirMailer(blocked, settings.mail_from).messages()) == 1
