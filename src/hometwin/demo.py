"""`hometwin demo`: the whole system on one machine, with a simulated home in accelerated time.

1. Simulates weeks of history of one person into the embedded event store (progress bar).
2. Starts a local SMTP server (aiosmtpd, delivering into a Maildir the dashboard shows), the
   scheduler and the four components as real HTTP services on 127.0.0.1, sharing an accelerated
   clock. The monitoring finds no model and asks for one; the modeling trains and registers it.
3. Feeds the simulated person's live events as the accelerated clock passes them; a few minutes
   in, the person falls. The newcomer watches the alert on the dashboard and the e-mail arrive.
Ctrl-C stops every process. Nothing here is special-cased for the demo: it is configuration.
"""

from __future__ import annotations

import mailbox
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.clock import Clock
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.launcher import ChildProcess, Stack, free_port
from hometwin.sim import Fall, HomeLayout, Resident

CAREGIVERS = "caregiver@example.org,neighbour@example.org"
HOME_FOR = timedelta(minutes=15)  # the demo's fall comes once the person has been home this long


@dataclass
class DemoPlan:
    """What the demo simulates: history before `live_start`, then the live day with a fall."""

    run_dir: Path
    tz: str = "Europe/Berlin"
    history_days: int = 28
    speed: float = 60.0
    inject_after: timedelta = timedelta(minutes=3)  # real time after the live start
    seed: int = 7
    live_start: datetime = field(init=False)

    def __post_init__(self) -> None:
        zone = ZoneInfo(self.tz)
        today = datetime.now(zone).date()
        self.live_start = datetime(today.year, today.month, today.day, 7, 30, tzinfo=zone)

    def fall(self, resident: Resident) -> tuple[Fall, SensorEvent]:
        """The fall: half a minute after the first indoor motion once `inject_after` has passed and
        the person has been home for a quarter of an hour. A fall within a minute of coming home is
        a known gap (docs/detection.md, "coming home after an outing"): the demo shows a fall at home."""
        after = self.live_start + self.inject_after * self.speed
        door: datetime | None = None
        for event in resident.events(after, after + timedelta(hours=12)):
            if event.kind is SensorKind.DOOR:
                door = event.time
            elif event.kind is SensorKind.MOTION and (door is None or event.time - door >= HOME_FOR):
                return Fall(at=event.time + timedelta(seconds=30)), event
        raise RuntimeError("the simulated person never moves after the injection time")


def fill_history(plan: DemoPlan, store: SQLiteEventStore, resident: Resident, console: Console) -> int:
    start = plan.live_start - timedelta(days=plan.history_days)
    total = 0
    columns = (TextColumn("simulating history"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("history", total=plan.history_days)
        for day in range(plan.history_days):
            lo = start + timedelta(days=day)
            total += store.append(resident.events(lo, lo + timedelta(days=1)))
            progress.advance(task)
    return total


def demo_env(plan: DemoPlan, clock: Clock, smtp_port: int, maildir: Path, dashboard_port: int) -> dict[str, str]:
    return {
        "HOMETWIN_DATA_DIR": str(plan.run_dir),
        "HOMETWIN_TZ": plan.tz,
        "HOMETWIN_HOME_ID": "demo",
        "HOMETWIN_CLOCK": clock.spec(),
        "HOMETWIN_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "HOMETWIN_SMTP_STARTTLS": "off",
        "HOMETWIN_CAREGIVERS": CAREGIVERS,
        "HOMETWIN_DASHBOARD_MAIL_DIR": str(maildir),
        "HOMETWIN_ACK_SECRET": secrets.token_urlsafe(32),
        # New at every start: the scheduler signs each invocation with it, the components check it.
        "HOMETWIN_DISPATCH_SECRET": secrets.token_hex(32),
        "HOMETWIN_PUBLIC_DASHBOARD_URL": f"http://127.0.0.1:{dashboard_port}",
        "HOMETWIN_MONITORING_CHECK_EVERY": "5s",
        "HOMETWIN_MONITORING_MODEL_POLL_S": "5",
        "HOMETWIN_ACTUATION_RETRY_EVERY": "5s",
        "HOMETWIN_DASHBOARD_REFRESH_SECONDS": "5",
        "HOMETWIN_ALERT_REPEAT_MINUTES": "30",
        "HOMETWIN_ALERT_ESCALATE_MINUTES": "60",
    }


def start_smtp(run_dir: Path) -> tuple[ChildProcess, int, Path]:
    port = free_port()
    maildir = run_dir / "mail"  # aiosmtpd creates it: a pre-made empty folder makes it fail
    smtp = ChildProcess([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)], run_dir / "logs" / "smtp.log").start()
    return smtp, port, maildir


def run(plan: DemoPlan, *, duration: float | None = None, console: Console | None = None) -> Stack:
    """Run the demo; returns when `duration` real seconds have passed (None: until Ctrl-C)."""
    console = console or Console()
    # A SIGTERM (a test, a service manager) must stop the children too, like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    resident = Resident(HomeLayout.default(plan.tz), plan.seed)
    store = SQLiteEventStore(plan.run_dir / "events.sqlite")
    n = fill_history(plan, store, resident, console)
    console.print(f"[green]history:[/] {n:,} sensor events of {plan.history_days} days in {store.path}")
    fall, anchor = plan.fall(resident)
    live = list(resident.events(plan.live_start, plan.live_start + timedelta(days=1), [fall]))
    zone = ZoneInfo(plan.tz)

    smtp, smtp_port, maildir = start_smtp(plan.run_dir)
    dashboard_port = free_port()
    clock = Clock.accelerate(plan.live_start, plan.speed)
    stack = Stack(plan.run_dir, demo_env(plan, clock, smtp_port, maildir, dashboard_port),
                  ports={"dashboard": dashboard_port})
    try:
        stack.start_all()
        console.print(f"\n[bold]Dashboard:[/] {stack.url('dashboard')}    (Ctrl-C stops everything)")
        console.print(f"The home runs {plan.speed:g}x faster than real time from "
                      f"{plan.live_start:%A %H:%M}. At {fall.at.astimezone(zone):%H:%M} simulated time "
                      f"(about {(fall.at - plan.live_start).total_seconds() / plan.speed / 60:.0f} min from now) "
                      f"the person falls in the {anchor.room}.\n"
                      f"E-mails land in {maildir} and on the dashboard's mail page.\n")
        feed(live, store, clock, stack, maildir, console, duration)
    except KeyboardInterrupt:
        console.print("\nstopping ...")
    finally:
        # A second Ctrl-C or SIGTERM (make forwards one) must not cut the shutdown short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop_all()
        smtp.stop()
    return stack


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def feed(live: list[SensorEvent], store: SQLiteEventStore, clock: Clock, stack: Stack, maildir: Path,
         console: Console, duration: float | None) -> None:
    """Release the live events as the clock passes them; report what the system does."""
    started, i, mails = time.monotonic(), 0, 0
    zone = ZoneInfo(str(stack.env.get("HOMETWIN_TZ", "Europe/Berlin")))
    while duration is None or time.monotonic() - started < duration:
        now = clock.now()
        j = i
        while j < len(live) and live[j].time <= now:
            j += 1
        if j > i:
            store.append(live[i:j])
            i = j
        count = len(mailbox.Maildir(str(maildir), create=False)) if maildir.exists() else 0
        if count > mails:
            console.print(f"[bold red]{count - mails} new e-mail(s)[/] for the caregiver "
                          f"(simulated time {now.astimezone(zone):%H:%M})")
            mails = count
        for name, process in stack.processes.items():
            if not process.alive():
                raise RuntimeError(f"{name} stopped unexpectedly:\n{process.tail()}")
        time.sleep(0.5)
