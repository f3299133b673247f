"""Triggers: call an event fabric once or periodically, by cron spec or by Go-style duration.

Signatures are the course's (`runImmediate`, `cronSpec`) plus the older duration form of the slides
(`PeriodicTrigger(evt, "30s", wait_time="1m")`, `OneShotTrigger(evt, wait_time="10s")`).
Differences from sifec_base, on purpose:
- every trigger is a job of ONE shared scheduler thread (`hometwin.sdk.runner`);
- cron specs have standard crontab meaning (0 and 7 are Sunday), computed by croniter in the
  configured time zone (default HOMETWIN_TZ, Europe/Berlin), so DST days work;
- a bad cron spec, duration or time zone raises ValueError when the trigger is built;
- `runImmediate` fires right away (the course waited 30 s; our fabric retries instead);
- a one-shot is a single date job, released by the scheduler once it ran; `stop()` cancels any trigger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from croniter import croniter

from hometwin.sdk.durations import parse_duration
from hometwin.sdk.log import child
from hometwin.sdk.runner import shared_scheduler
from hometwin.sdk.settings import SdkSettings

log = child("trigger")

DEFAULT_CRON = "* * * * *"


def parse_cron(spec: str) -> str:
    """Validate a 5-field crontab spec (or an alias like `@hourly`); return it normalised."""
    if not isinstance(spec, str):
        raise ValueError(f"cron spec must be a string like '*/5 * * * *', got {spec!r}")
    normal = " ".join(spec.split())
    fields = normal.split(" ")
    if not normal.startswith("@") and len(fields) != 5:
        raise ValueError(f"invalid cron spec {spec!r}: expected 5 fields 'minute hour day-of-month month "
                         f"day-of-week' (e.g. '*/15 * * * *'), got {len(fields) if normal else 0}")
    try:
        croniter(normal)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"invalid cron spec {spec!r}: {exc} (fields: minute 0-59, hour 0-23, "
                         "day-of-month 1-31, month 1-12, day-of-week 0-7 with 0 and 7 = Sunday)") from None
    return normal


def zone(name: str | tzinfo | None) -> tzinfo:
    """The trigger time zone: the argument, else HOMETWIN_TZ (default Europe/Berlin)."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name or SdkSettings().tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)") from None


class CronSpecTrigger(BaseTrigger):
    """An APScheduler trigger whose fire times come from croniter (standard crontab semantics)."""

    def __init__(self, spec: str, timezone: str | tzinfo | None = None) -> None:
        self.spec = parse_cron(spec)
        self.timezone = zone(timezone)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        start = previous_fire_time if previous_fire_time is not None else now
        nxt: datetime = croniter(self.spec, start.astimezone(self.timezone)).get_next(datetime)
        return nxt

    def fire_times(self, after: datetime, count: int) -> list[datetime]:
        """The next `count` fire times strictly after `after` (for tests and docs)."""
        times: list[datetime] = []
        previous: datetime | None = None
        for _ in range(count):
            previous = self.get_next_fire_time(previous, after)
            times.append(previous)
        return times

    def __str__(self) -> str:
        return f"cron[{self.spec} {self.timezone}]"

    def __repr__(self) -> str:
        return f"<CronSpecTrigger {self.spec!r} tz={self.timezone}>"


class Trigger:
    """Calls `eventCallback()` at the planned times; see OneShotTrigger and PeriodicTrigger."""

    def __init__(self, eventCallback: Callable[[], Any], oneShot: bool, runImmediate: bool = False,
                 cronSpec: str = DEFAULT_CRON, *, duration: str | None = None,
                 wait_time: str | None = None, timezone: str | tzinfo | None = None,
                 scheduler: BaseScheduler | None = None) -> None:
        if not callable(eventCallback):
            raise TypeError(f"the trigger needs a callable event fabric, got {eventCallback!r}")
        if not isinstance(runImmediate, bool):
            raise TypeError(f"runImmediate must be True or False, got {runImmediate!r}")
        self.event_callback = eventCallback
        self.one_shot = oneShot
        self.timezone = zone(timezone)
        self.fired = 0
        self._lock = threading.Lock()
        # Everything is validated before any job exists, so a bad trigger leaves nothing behind.
        now = datetime.now(self.timezone)
        wait = parse_duration(wait_time) if wait_time is not None else timedelta(0)
        plan: list[BaseTrigger] = []
        if duration is not None:
            period = parse_duration(duration)
            self.description = f"every {duration} after {wait_time or '0s'}"
            if runImmediate:
                plan.append(DateTrigger(now, self.timezone))
            plan.append(DateTrigger(now + wait, self.timezone) if oneShot else
                        IntervalTrigger(seconds=period.total_seconds(), start_date=now + wait + period,
                                        timezone=self.timezone))
        elif wait_time is not None or (oneShot and runImmediate):
            self.description = f"once after {wait_time or '0s'}"
            plan.append(DateTrigger(now + wait, self.timezone))
        else:
            cron = CronSpecTrigger(cronSpec, self.timezone)
            self.description = f"cron '{cron.spec}' ({self.timezone})"
            if oneShot:
                self.description = f"once at the next '{cron.spec}' ({self.timezone})"
                plan.append(DateTrigger(cron.get_next_fire_time(None, now), self.timezone))
            else:
                if runImmediate:
                    plan.append(DateTrigger(now, self.timezone))
                plan.append(cron)
        self._scheduler = scheduler or shared_scheduler()
        name = f"{type(eventCallback).__name__} {self.description}"
        self.jobs: list[Job] = [self._scheduler.add_job(self._fire, trigger, name=name) for trigger in plan]
        log.info("trigger for %s scheduled: %s", type(eventCallback).__name__, self.description)

    def _fire(self) -> None:
        with self._lock:
            self.fired += 1
            if self.one_shot:
                self.jobs = []  # the scheduler removes a date job after its run
        try:
            self.event_callback()
        except Exception:
            log.exception("trigger for %s: the event fabric raised", type(self.event_callback).__name__)

    @property
    def next_fire_time(self) -> datetime | None:
        """When this trigger fires next (None once stopped or a one-shot has fired)."""
        times = [job.next_run_time for job in self._live_jobs() if job.next_run_time is not None]
        return min(times) if times else None

    @property
    def running(self) -> bool:
        return bool(self._live_jobs())

    def stop(self) -> None:
        """Cancel the trigger's jobs; calling it twice is harmless."""
        with self._lock:
            jobs, self.jobs = self.jobs, []
        for job in jobs:
            if self._scheduler.get_job(job.id) is not None:
                self._scheduler.remove_job(job.id)

    def _live_jobs(self) -> list[Job]:
        return [job for job in self.jobs if self._scheduler.get_job(job.id) is not None]


class OneShotTrigger(Trigger):
    """Fire once: now (`runImmediate=True`), at the next match of `cronSpec`, or after `wait_time`.

    `OneShotTrigger(evt)`, `OneShotTrigger(evt, runImmediate=False, cronSpec="0 7 * * *")`,
    `OneShotTrigger(evt, wait_time="10s")` (older form).
    """

    def __init__(self, evt_cb: Callable[[], Any], runImmediate: bool | str = True,
                 cronSpec: str = DEFAULT_CRON, *, wait_time: str | None = None,
                 timezone: str | tzinfo | None = None, scheduler: BaseScheduler | None = None) -> None:
        if isinstance(runImmediate, str):  # older positional form OneShotTrigger(evt, "10s")
            if wait_time is not None:
                raise TypeError("wait_time given twice")
            wait_time = runImmediate
            runImmediate = True
        super().__init__(evt_cb, oneShot=True, runImmediate=runImmediate, cronSpec=cronSpec,
                         wait_time=wait_time, timezone=timezone, scheduler=scheduler)


class PeriodicTrigger(Trigger):
    """Fire repeatedly by `cronSpec` (default every minute) or every Go-style `duration`.

    `PeriodicTrigger(evt, runImmediate=True, cronSpec="*/15 * * * *")`, or the older
    `PeriodicTrigger(evt, "30s", "1m")` = every 30 s, the first time 1 min + 30 s from now.
    """

    def __init__(self, evt_cb: Callable[[], Any], runImmediate: bool | str = False,
                 cronSpec: str = DEFAULT_CRON, *, duration: str | None = None,
                 wait_time: str | None = None, timezone: str | tzinfo | None = None,
                 scheduler: BaseScheduler | None = None) -> None:
        if isinstance(runImmediate, str):  # older positional form PeriodicTrigger(evt, "30s", "1m")
            if duration is not None:
                raise TypeError("duration given twice")
            if " " in runImmediate.strip():
                raise ValueError(f"{runImmediate!r} looks like a cron spec: pass it as cronSpec=...")
            duration, runImmediate = runImmediate, False
            if cronSpec != DEFAULT_CRON:
                if wait_time is not None:
                    raise TypeError("wait_time given twice")
                wait_time = cronSpec
        elif wait_time is not None and duration is None:
            raise TypeError("wait_time needs a duration: PeriodicTrigger(evt, '30s', wait_time='1m')")
        super().__init__(evt_cb, oneShot=False, runImmediate=runImmediate, cronSpec=cronSpec,
                         duration=duration, wait_time=wait_time, timezone=timezone,
                         scheduler=scheduler)
