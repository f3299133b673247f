"""The monitoring of a fleet: each minute's tick fans out over the homes (docs/fleet.md).

Every home has its own `Monitor` (its source, model, alert book and caregivers). A tick submits
each home's check to a bounded thread pool, so the checks of different homes run side by side and
one home never waits for another:
- A home whose check raises (broken data, a bug in a corner case) answers `error` for that home
  only; the exception is logged with the home id.
- A home whose check takes longer than `timeout` (a slow or hanging store) is answered `late`; the
  tick returns without it, its check goes on in the background and sets the home's status when it
  ends. While it runs, later ticks skip that home (`busy`) instead of piling up threads behind it,
  so a hanging store holds at most one worker.
The tick returns once every home answered or `timeout` passed. /status and /metrics show each home.

With `slots` > 1 a tick checks one slot of the homes, the next tick the next slot, and so on: with
the tick every 60/slots seconds (HOMETWIN_MONITORING_CHECK_EVERY) each home is still checked once a
minute, but the checks no longer all start at the top of the minute, so a home waits behind a
slot's checks rather than behind the whole fleet's (lateness: docs/fleet.md "Measured").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from hometwin.services.book_keeper import BookKeeper

log = logging.getLogger(__name__)


class CheckResult(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class HomeMonitor(Protocol):
    """One home's monitoring (`components.monitoring.Monitor`)."""

    book: BookKeeper

    def check(self) -> CheckResult: ...

    def status(self) -> dict[str, Any]: ...


@dataclass
class _Running:
    """One home's check in the pool."""

    future: Future[dict[str, Any]] = field(default_factory=Future)  # the pool's, once submitted
    started: float | None = None  # monotonic; None while queued behind other homes


class FleetMetrics:
    """Prometheus metrics labelled by home (own registry, so tests can run several fleets in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.checks = Counter("hometwin_monitoring_checks", "Checks per home and outcome (ok, no-model, retry, "
                              "error, late, busy)", ["home", "status"], registry=self.registry)
        self.seconds = Gauge("hometwin_monitoring_check_seconds", "Duration of the home's last check",
                             ["home"], registry=self.registry)
        self.open_alerts = Gauge("hometwin_monitoring_open_alerts", "Open alerts in the home's book",
                                 ["home"], registry=self.registry)
        self.tick_seconds = Gauge("hometwin_monitoring_tick_seconds", "Duration of the last fan-out tick",
                                  registry=self.registry)
        self.local_copy = Gauge("hometwin_monitoring_local_copy", "1 while the home's check runs on the local "
                                "copy of its model or alert book (part), taken while the store did not answer",
                                ["home", "part"], registry=self.registry)

    def observe_local_copy(self, home_id: str, monitor: HomeMonitor) -> None:
        # Optional for a HomeMonitor (a wrapper such as benchmarks/fleet.py's need not have it).
        in_use: Callable[[], dict[str, bool]] | None = getattr(monitor, "local_copy_in_use", None)
        if in_use is None:
            return
        for part, on in in_use().items():
            self.local_copy.labels(home_id, part).set(1 if on else 0)


class FleetMonitor:
    """Runs the checks of many homes, concurrently with a bound; `check()` is one tick."""

    def __init__(self, monitors: Mapping[str, HomeMonitor], *, workers: int = 8, timeout: float = 8.0,
                 replica: tuple[int, int] = (0, 1), slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"slots must be 1 or more, got {slots}")
        self.monitors = dict(monitors)
        self.timeout, self.replica, self.slots = timeout, replica, slots
        # Round robin over the sorted ids: slots differ by one home at most, and a home keeps its slot
        # while the homes file is unchanged.
        self._slot_homes = [sorted(self.monitors)[slot::slots] for slot in range(slots)]
        self._next_slot = 0
        self.metrics = FleetMetrics()
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(self.monitors) or 1)),
                                        thread_name_prefix="hometwin-check")
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._outcome: dict[str, dict[str, Any]] = {}  # home -> status, detail, seconds, finished_at

    def check(self) -> dict[str, Any]:
        """One tick over every home of the next slot: {"status", "homes": {id: result}} (and "slot": "i/n"
        with several slots); never raises for one home."""
        began = time.monotonic()
        results: dict[str, dict[str, Any]] = {}
        started: dict[str, _Running] = {}
        with self._lock:
            slot = self._next_slot
            self._next_slot = (slot + 1) % self.slots
            homes = self._slot_homes[slot] if self.slots > 1 else self.monitors
            for home_id in homes:
                running = self._running.get(home_id)
                if running is not None and not running.future.done():
                    results[home_id] = self._not_answered(home_id, "busy", running)
                    continue
                entry = _Running()
                entry.future = self._pool.submit(self._check_one, home_id, entry)
                self._running[home_id] = started[home_id] = entry
        pending = {entry.future for entry in started.values()}
        deadline = began + self.timeout
        while pending and time.monotonic() < deadline:
            _, pending = wait(pending, timeout=deadline - time.monotonic(), return_when=FIRST_COMPLETED)
        for home_id, entry in started.items():
            if entry.future.done():
                results[home_id] = entry.future.result()
            else:
                results[home_id] = self._not_answered(home_id, "late", entry)
        self.metrics.tick_seconds.set(time.monotonic() - began)
        answer: dict[str, Any] = {"status": _overall(results), "homes": results}
        if self.slots > 1:
            answer["slot"] = f"{slot}/{self.slots}"
        return answer

    def _check_one(self, home_id: str, entry: _Running) -> dict[str, Any]:
        entry.started = time.monotonic()
        monitor = self.monitors[home_id]
        try:
            result = monitor.check().to_dict()
        except Exception as exc:  # noqa: BLE001 - one home's failure must not reach the others
            log.exception("home %s: the check failed", home_id)
            result = {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            _release_source(home_id, monitor)
        seconds = time.monotonic() - entry.started
        self.metrics.checks.labels(home_id, result["status"]).inc()
        self.metrics.seconds.labels(home_id).set(seconds)
        self.metrics.observe_local_copy(home_id, monitor)
        book = monitor.book.book
        if book is not None:
            self.metrics.open_alerts.labels(home_id).set(len(book.open_alerts()))
        self._outcome[home_id] = {"status": result["status"], "detail": result.get("detail", ""),
                                  "seconds": round(seconds, 3), "finished_at": time.time()}
        return result

    def _not_answered(self, home_id: str, status: str, entry: _Running) -> dict[str, Any]:
        running_for = time.monotonic() - entry.started if entry.started is not None else 0.0
        if status == "late" and entry.started is None:
            detail = "queued behind other homes' checks (more homes than HOMETWIN_MONITORING_WORKERS)"
        else:
            detail = f"the check has been running for {running_for:.1f} s"
        if status == "late" or running_for > self.timeout:
            log.warning("home %s: %s (%s)", home_id, status, detail)
        self.metrics.checks.labels(home_id, status).inc()
        return {"status": status, "detail": detail}

    def status(self) -> dict[str, Any]:
        """Each home's monitoring status, plus how its last check went and whether one runs now."""
        homes = {}
        for home_id, monitor in self.monitors.items():
            running = self._running.get(home_id)
            busy = running is not None and not running.future.done()
            homes[home_id] = {**monitor.status(), "last_outcome": self._outcome.get(home_id),
                              "checking_for_s": round(time.monotonic() - running.started, 1)
                              if busy and running is not None and running.started is not None else None}
        index, count = self.replica
        return {"replica": f"{index}/{count}", "slots": self.slots, "homes": homes}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _release_source(home_id: str, monitor: HomeMonitor) -> None:
    """Close the home's idle store connection until its next check (`SQLiteEventStore.release`): an open
    embedded SQLite connection holds some 145 KiB of caches, and with a thousand homes per process
    that was a third of each home's memory, while reopening costs a fraction of a check
    (docs/fleet.md "Measured"). Optional for a source, like `local_copy_in_use` for a monitor."""
    release: Callable[[], object] | None = getattr(getattr(monitor, "source", None), "release", None)
    if release is None:
        return
    try:
        release()
    except Exception:  # noqa: BLE001 - closing is housekeeping: the check's answer stands
        log.exception("home %s: closing the idle store connection failed", home_id)


def _overall(results: Mapping[str, Mapping[str, Any]]) -> str:
    """`ok` when every home's check went through, else `degraded` (each home says why)."""
    return "ok" if all(r.get("status") in ("ok", "no-model") for r in results.values()) else "degraded"
