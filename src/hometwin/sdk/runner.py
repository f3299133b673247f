"""The one background scheduler thread every trigger of a process shares.

sifec_base started a new APScheduler (a new thread) for every trigger, so a component that fired a
OneShotTrigger per request grew a thread per request. Here all triggers and the event queue's
retries are jobs of one `BackgroundScheduler`, created on first use (never at import).
"""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from hometwin.sdk.log import child
from hometwin.sdk.settings import SdkSettings

log = child("runner")

_scheduler: BackgroundScheduler | None = None
_lock = threading.Lock()


def shared_scheduler() -> BackgroundScheduler:
    """The process's running trigger scheduler (started on first use)."""
    global _scheduler
    with _lock:
        if _scheduler is None or not _scheduler.running:
            tz = ZoneInfo(SdkSettings().tz)
            _scheduler = BackgroundScheduler(
                timezone=tz,
                executors={"default": ThreadPoolExecutor(max_workers=8)},
                # A late firing (machine asleep, busy CPU) runs once rather than in a burst.
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
                daemon=True,
            )
            _scheduler.start()
            log.info("trigger scheduler started (time zone %s)", tz.key)
        return _scheduler


def shutdown_shared_scheduler(wait: bool = False) -> None:
    """Stop the shared scheduler (tests; a process normally keeps it until exit)."""
    global _scheduler
    with _lock:
        if _scheduler is not None and _scheduler.running:
            _scheduler.shutdown(wait=wait)
        _scheduler = None
