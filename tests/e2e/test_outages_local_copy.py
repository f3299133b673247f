"""The object store hanging, and the monitoring SIGKILLed while the store is down: the monitoring
goes on from its local copy (docs/reliability.md, "Outages").

The whole alerting path as real processes (tests/e2e/alerting_stack.py: scheduler, monitoring,
actuation, SeaweedFS, aiosmtpd, the event source), 30 simulated seconds per real second, an
unacknowledged emergency reminded every 2 minutes of the home's clock. In order:

1. The store hangs for 6 minutes: SeaweedFS is stopped and a listener that accepts connections and
   never answers takes its port (tests/hanging_server.py, a real socket server). Every check still
   finds the emergency, and every reminder comes within 2 minutes of falling due, as if nothing
   were wrong (before, each check waited the S3 client's timeout times its retries).
2. The store is stopped; 3 minutes in, the monitoring is SIGKILLed and started again while the
   store is still down, which stays so until two more reminders fell due. It detects and alerts
   from its local copy; once the store is back its book (with the e-mails of the outage, from
   before and after the kill) is the one saved: no reminder is missing, none of the outage's
   e-mails is sent twice, no id is reused.
3. The caregiver acknowledges (as the dashboard records it): the reminders stop, the episode is the
   one the e-mails named.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.e2e.alerting_stack import AlertingStack, Scale, running_stack
from tests.e2e.outage_plan import MARGIN_MINUTES, Window, _last_check_after, _watch_findings, judge, reminder_gaps
from tests.hanging_server import HangingServer
from tests.servers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCALE = Scale(speed=30.0)
MINUTES = 6.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    yield from running_stack(tmp_path_factory.mktemp("local-copy"), SCALE, first_mails=2,
                             what="the emergency e-mail and a reminder")


@pytest.fixture(scope="module")
def windows() -> list[Window]:
    return []  # the outages of this module, in order, for the verdicts


def settle(stack: AlertingStack, window: Window, watch: bool, seen: set[str]) -> None:
    """Wait for the check in flight when the store came back to end (as outage_plan.run_outage)."""
    deadline = time.time() + 15.0
    while time.time() < deadline and not _last_check_after(stack, window.back):
        if watch:
            _watch_findings(stack, window, seen)
        time.sleep(0.3)
    window.settled = time.time()


def created_between(stack: AlertingStack, start: float, end: float) -> list[str]:
    return [i for i, at in stack.notifications() if stack.sim(start) <= at <= stack.sim(end)]


def local_created_between(stack: AlertingStack, start: float, end: float) -> list[str]:
    return [i for i, at in stack.local_notifications() if stack.sim(start) <= at <= stack.sim(end)]


def test_a_hanging_store_delays_neither_detection_nor_the_emails(stack: AlertingStack,
                                                                  windows: list[Window]) -> None:
    port = int(stack.s3.endpoint.rsplit(":", 1)[1])
    window = Window(("store",), MINUTES, time.time())
    stack.stop("store")
    seen: set[str] = set()
    with HangingServer(port) as hang:
        until = window.down + SCALE.real(MINUTES)
        while time.time() < until:
            _watch_findings(stack, window, seen)
            time.sleep(0.5)
        accepted = hang.accepted
    stack.start_again("store")
    window.back = time.time()
    settle(stack, window, True, seen)

    def book_saved() -> bool:
        state = stack.status("monitoring")["alert_state"]
        return bool(state["ok"]) and not state["unsaved"]

    # The calls that hung end only when the S3 client gives up on them (HOMETWIN_S3_TIMEOUT_SECONDS, 5 s
    # here, per try); until then the store still counts as down and the book waits in memory and on disk.
    wait_until(book_saved, timeout=90, interval=0.5, what="the alert book saved after the hang")
    window.settled = max(window.settled, time.time())
    windows.append(window)
    time.sleep(SCALE.real(MARGIN_MINUTES) + 1.0)

    assert accepted >= 1, "nobody called the hanging store: the test proves nothing"
    assert window.detection_went_on(), window
    assert window.checks_seen >= 0.6 * MINUTES, f"checks stalled: {window.checks_seen} in {MINUTES:g} min"
    verdict = judge(stack, windows)
    # On time judged as if nothing were down: every e-mail within 2 minutes of its creation. (Copies,
    # counted, are allowed as with any store outage: the exactly-once check needs the store.)
    strict = judge(stack, [])
    print(f"store hanging {MINUTES:g} min: {strict.summary()}; actuation {stack.status('actuation')['counts']}")
    assert verdict.ok and not strict.missing and not strict.late, f"{strict.summary()}\n{stack.logs(15)}"
    assert len(created_between(stack, window.down, window.back)) >= 2, "no reminder fell due while it hung"
    # Judged as if nothing were down: every reminder within 2 minutes of falling due.
    gaps = reminder_gaps(stack, [])
    print(f"reminders: {len(gaps)}, at most {max(i.after_due for i in gaps):.1f} min after falling due")
    late = [i for i in gaps if not i.on_time(MARGIN_MINUTES)]
    assert not late, f"reminders delayed by the hanging store: {late}"


def test_a_monitoring_killed_while_the_store_is_down_goes_on_from_its_local_copy(
        stack: AlertingStack, windows: list[Window]) -> None:
    window = Window(("store",), MINUTES, time.time())
    stack.stop("store")
    # A reminder falls due (within 3 min of the home's clock): kept in memory and on disk only. Waited
    # for on the disk, not for a fixed time: a loaded machine may run the check late.
    wait_until(lambda: bool(local_created_between(stack, window.down, time.time())),
               timeout=SCALE.real(3.0) + 60, interval=0.3, what="a reminder kept on the monitoring's disk")
    killed = time.time()
    stack.stop("monitoring", kill=True)
    stack.start_again("monitoring")

    def runs_on_its_local_copy() -> bool:
        status = stack.status("monitoring")
        last = status.get("last_check") or {}
        return (status["local_copy"]["in_use"] == {"model": True, "book": True} and last.get("status") == "ok"
                and len(last.get("findings") or []) >= 1)

    wait_until(runs_on_its_local_copy, timeout=20, interval=0.3, what="checks from the local copy")
    checks_back = time.time()  # the checks run again: the first one from the local copy has ended
    # The store stays away until two more reminders fell due after the restart (a loaded machine may
    # take minutes of the home's clock to restart a process).
    time.sleep(max(0.0, checks_back + SCALE.real(2 * SCALE.repeat_minutes + 0.5) - time.time()))
    stack.start_again("store")
    window.back = time.time()
    settle(stack, window, False, set())
    windows.append(window)
    time.sleep(SCALE.real(MARGIN_MINUTES) + 1.0)

    status = stack.status("monitoring")
    assert status["local_copy"]["in_use"] == {"model": False, "book": False}, status["local_copy"]
    assert status["alert_state"]["ok"] and not status["alert_state"]["unsaved"], status["alert_state"]
    verdict = judge(stack, windows)
    print(f"store down {SCALE.speed * (window.back - window.down) / 60:.1f} min, monitoring killed in it: "
          f"{verdict.summary()}; "
          f"actuation {stack.status('actuation')['counts']}")
    assert verdict.ok, f"{verdict.summary()}\n{stack.logs(15)}"
    during = created_between(stack, window.down, window.back)
    # In the stored book: the e-mails of the killed process (on its disk only when it died) and those
    # of the restarted one, made from the local copy.
    assert created_between(stack, window.down, killed), f"none before the kill in the stored book: {during}"
    assert created_between(stack, checks_back, window.back), f"none from the local copy in the stored book: {during}"
    # Nothing the restarted monitoring worked out again from its local copy was mailed twice. (An e-mail
    # sent just before the outage may be: it is re-driven while nothing can confirm it, and the
    # actuation cannot check its marker: at least once, counted, docs/alerts.md.)
    mailed = Counter(m.notification_id for m in stack.mails())
    assert all(mailed[i] == 1 for i in during), {i: mailed[i] for i in during}
    # No emergency unreminded: late only by the time from the kill to the first check from the local copy.
    monitoring_down = Window(("monitoring",), 0.0, killed, checks_back)
    gaps = reminder_gaps(stack, [monitoring_down])
    print(f"kill to the first check from the local copy: {stack.scale.speed * (checks_back - killed) / 60:.1f} min; "
          f"reminders at most {max(i.after_due - i.checks_down for i in gaps):.1f} min after due (less the downtime)")
    late = [i for i in gaps if not i.on_time(MARGIN_MINUTES)]
    assert not late, f"reminders missing or late after the restart from the local copy: {late}"


def test_an_acknowledgement_after_the_outage_stops_the_reminders_of_its_episode(stack: AlertingStack) -> None:
    book = stack.alerts.load()
    (alert,) = book.open_alerts()
    episode = alert.episode
    named = {e["episode"] for e in alert.log if e.get("event") == "notification"}
    assert named == {episode}, named  # every e-mail of this incident named the episode now acknowledged
    acked = time.time()
    assert stack.alerts.record_ack(alert.id, "anna@example.org", stack.sim(acked))
    wait_until(lambda: stack.alerts.load().get(alert.id).acknowledged_at is not None,  # type: ignore[union-attr]
               timeout=20, interval=0.3, what="the acknowledgement merged")
    merged = time.time()
    time.sleep(SCALE.real(2 * SCALE.repeat_minutes + 1))
    after = [i for i, at in stack.notifications() if at > stack.sim(merged) + (stack.sim(merged) - stack.sim(acked))]
    assert after == [], f"reminded after the acknowledgement: {after}"
    stored = stack.alerts.load().get(alert.id)
    assert stored is not None and stored.episode == episode and stored.acknowledged_by == "anna@example.org"
    assert isinstance(stored.acknowledged_at, datetime)
