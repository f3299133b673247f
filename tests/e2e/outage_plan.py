"""Outages of the alerting stack and the verdict on its e-mail: shared by tests/e2e/test_outages.py
(a representative subset, in `make test`) and benchmarks/reliability.py (the full matrix).

The rule judged (docs/reliability.md): every notification id in the alert book reaches the mailbox
within 2 minutes of its creation on the home's clock, extended to 2 minutes after the end of any
outage that overlaps that span (`Window.end`: when every stopped part answers again, and for the
object store when the check in flight meanwhile has ended); exactly once, unless a copy arrived
while the object store was down (or within the margin after), then at least once with the copies
counted; and no invocation of an
alerting function ends dead. And the reminders keep their schedule (`reminder_gaps`): one that fell
due while the checks could not run (the scheduler or the monitoring was down) or ran slowly (the
object store was down: each store call waits out the S3 client's retries) comes at most 2 minutes
after they run again.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.e2e.alerting_stack import CAREGIVERS, AlertingStack

MARGIN_MINUTES = 2.0


@dataclass
class Window:
    """One outage: which parts were down, from `down` until all answered again at `back` (real epoch s)."""

    parts: tuple[str, ...]
    minutes: float  # the planned outage on the home's clock
    down: float
    back: float = 0.0  # every part answers again
    settled: float = 0.0  # store outages: the check in flight while the store came back has ended
    findings_seen: list[int] = field(default_factory=list)  # findings of each check run while the store was down
    checks_seen: int = 0  # checks begun while the store was down, seen on the monitoring's /status

    @property
    def end(self) -> float:
        """When the alerting path has the parts back: `back`, or later when a check was still waiting
        out the S3 client's retries (real seconds, not scaled: minutes on the home's clock at 30x)."""
        return max(self.back, self.settled)

    def detection_went_on(self) -> bool:
        """Every check begun while the store was down ran detection (status ok) and found the emergency."""
        return self.checks_seen >= 1 and len(self.findings_seen) == self.checks_seen and min(self.findings_seen) >= 1


@dataclass
class Verdict:
    notifications: int = 0  # judged: their deadline has passed
    delivered: int = 0
    missing: list[str] = field(default_factory=list)
    late: list[tuple[str, float]] = field(default_factory=list)  # id, minutes after its deadline
    copies: int = 0  # e-mails beyond the first of an id (all while or just after the store was down)
    unexplained_copies: list[str] = field(default_factory=list)
    worst_delay_minutes: float = 0.0  # creation to first arrival, home's clock
    dead: list[dict[str, Any]] = field(default_factory=list)
    # Per outage (index into the windows judged): how many e-mails were on their way when it began
    # or created during it, and the latest first arrival of those after it ended (minutes, home's
    # clock; negative: all of them arrived before it ended).
    held: dict[int, int] = field(default_factory=dict)
    after_back: dict[int, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.late or self.unexplained_copies or self.dead)

    def summary(self) -> str:
        return (f"{self.delivered}/{self.notifications} delivered, missing {self.missing}, late {self.late}, "
                f"copies {self.copies} (unexplained {self.unexplained_copies}), "
                f"worst delay {self.worst_delay_minutes:.1f} min, dead {len(self.dead)}")


def run_outage(stack: AlertingStack, parts: tuple[str, ...], minutes: float) -> Window:
    """Stop `parts` together for `minutes` of the home's clock, then start them again."""
    window = Window(parts, minutes, time.time())
    for part in parts:
        stack.stop(part)
    watch_checks = "store" in parts and not {"monitoring", "scheduler"} & set(parts)
    until = window.down + stack.scale.real(minutes)
    seen: set[str] = set()
    while time.time() < until:
        if watch_checks:
            _watch_findings(stack, window, seen)
        time.sleep(min(0.5, max(0.0, until - time.time())))
    for part in parts:
        stack.start_again(part)
    window.back = time.time()
    if "store" in parts:
        # A check that began while the store was down may end after it is back (also one begun after
        # the scheduler or the monitoring returned, before the store did): with the store down each
        # store call first waits out the S3 client's retries (about 1.5 real seconds, not scaled).
        deadline = time.time() + 15.0
        while time.time() < deadline and not _last_check_after(stack, window.back):
            if watch_checks:
                _watch_findings(stack, window, seen)
            time.sleep(0.3)
        if watch_checks:
            _watch_findings(stack, window, seen)
        window.settled = time.time()
    return window


def _last_check_after(stack: AlertingStack, real: float) -> bool:
    try:
        at = (stack.status("monitoring").get("last_check") or {}).get("now")
    except Exception:  # noqa: BLE001 - busy: not yet
        return False
    return bool(at) and datetime.fromisoformat(at) >= stack.sim(real)


def _watch_findings(stack: AlertingStack, window: Window, seen: set[str]) -> None:
    """Record each check that began while the object store was down (once)."""
    try:
        last = stack.status("monitoring").get("last_check") or {}
    except Exception:  # noqa: BLE001 - a busy monitoring: look again next time
        return
    at = last.get("now")
    if not at or at in seen:
        return
    began = datetime.fromisoformat(at)
    if began <= stack.sim(window.down) or (window.back and began >= stack.sim(window.back)):
        return
    seen.add(at)
    window.checks_seen += 1
    if last.get("status") == "ok":
        window.findings_seen.append(len(last.get("findings") or []))


def judge(stack: AlertingStack, windows: list[Window], margin_minutes: float = MARGIN_MINUTES) -> Verdict:
    """The verdict on every notification whose deadline has passed (see the module docstring)."""
    margin = timedelta(minutes=margin_minutes)
    spans = [(stack.sim(w.down), stack.sim(w.end), "store" in w.parts) for w in windows]
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    now = stack.sim(time.time())
    mails = stack.mails()
    arrivals: dict[str, list[datetime]] = {}
    for mail in mails:
        arrivals.setdefault(mail.notification_id, []).append(stack.sim(mail.arrived))
    verdict = Verdict(dead=stack.dead_alerting_invocations())
    for note_id, created in stack.notifications():
        deadline, holding = created + margin, []
        for i in order:
            down, back, _ = spans[i]
            if down <= deadline and back >= created:
                deadline = max(deadline, back + margin)
                holding.append(i)
        got = arrivals.get(note_id, [])
        if deadline > now and not got:
            continue  # not due yet
        verdict.notifications += 1
        if not got:
            verdict.missing.append(note_id)
            continue
        verdict.delivered += 1
        first = min(got)
        for i in holding:
            down, back, _ = spans[i]
            if created <= back and first > down:  # it was still on its way when the outage began
                verdict.held[i] = verdict.held.get(i, 0) + 1
                after = (first - back).total_seconds() / 60
                verdict.after_back[i] = max(verdict.after_back.get(i, after), after)
        verdict.worst_delay_minutes = max(verdict.worst_delay_minutes, (first - created).total_seconds() / 60)
        if first > deadline:
            verdict.late.append((note_id, round((first - deadline).total_seconds() / 60, 2)))
    for note_id, count in Counter(m.notification_id for m in mails).items():
        if count < 2:
            continue
        verdict.copies += count - 1
        store_down = any(down <= t <= back + margin for t in arrivals[note_id] for down, back, store in spans
                         if store)
        if not store_down:
            verdict.unexplained_copies.append(note_id)
    return verdict


def reminder_gaps(stack: AlertingStack, windows: list[Window]) -> list[Interval]:
    """Each e-mail after the first of every unacknowledged emergency in the stored book, against
    its schedule: a reminder is due `repeat` after the e-mail before it, an escalation `escalate`
    after the previous escalation (or the first alert) while there is someone left to add."""
    checks_down = [(stack.sim(w.down), stack.sim(w.end)) for w in windows
                   if {"scheduler", "monitoring", "store"} & set(w.parts)]
    repeat = timedelta(minutes=stack.scale.repeat_minutes)
    escalate = timedelta(minutes=stack.scale.escalate_minutes)
    out: list[Interval] = []
    for alert in stack.alerts.load().history():
        if alert.acknowledged_at is not None:
            continue
        sent = [(e["kind"], datetime.fromisoformat(e["at"])) for e in alert.log
                if e.get("event") == "notification" and e.get("kind") != "all_clear"]
        if not sent:
            continue
        last, last_escalation, escalations = sent[0][1], sent[0][1], 0
        for kind, at in sent[1:]:
            due = last + repeat
            if escalations < len(CAREGIVERS) - 1:
                due = min(due, last_escalation + escalate)
            earliest = last_escalation + escalate if kind == "escalation" else last + repeat
            down = sum(max(timedelta(0), min(at, end) - max(last, start)) / timedelta(minutes=1)
                       for start, end in checks_down)
            out.append(Interval(kind, (at - last) / timedelta(minutes=1), (at - earliest) / timedelta(minutes=1),
                                (at - due) / timedelta(minutes=1), down))
            if kind == "escalation":
                last_escalation, escalations = at, escalations + 1
            last = at
    return out


@dataclass(frozen=True)
class Interval:
    """One e-mail of a running emergency against its schedule (minutes, home's clock)."""

    kind: str  # reminder or escalation
    gap: float  # since the e-mail before
    after_earliest: float  # negative: earlier than the policy allows
    after_due: float  # how late after it fell due
    checks_down: float  # minutes of the span the checks could not run or ran slowly (scheduler, monitoring, store)

    def on_time(self, margin: float) -> bool:
        return self.after_earliest >= -0.01 and self.after_due <= margin + self.checks_down
