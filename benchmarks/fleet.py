"""Fleet benchmark: many simulated homes through the monitoring's fan-out, and the per-home training.

    nice .venv/bin/python benchmarks/fleet.py [--homes 100,1000,5000] [--distinct 3] [--days 365]

1. Training: `--distinct` homes of the resident simulator (`hometwin.sim.simulate`, one seed each)
   for `--days`, each trained and registered as the modeling does (`services.training.
   train_and_register`, calibration included). CPU time per home (process time); the weekly
   retrain's whole fan-out is measured by benchmarks/retrain_fleet.py.
2. Monitoring: N homes (cumulative: 100, then 1,000, ...), each with its own embedded SQLite event
   database (the last 2 days of one of the distinct homes, copied: a check reads 36 h), its own
   model registered under its id (the distinct homes' models reused: training every home would take
   N x the training time) and its own alert book, on the local file-system object store. One
   `Monitor` per home inside one `FleetMonitor` (the pool of `HOMETWIN_MONITORING_WORKERS`), as the
   monitoring's `create_app` builds it; the scheduler is a function that accepts every event.
   Per N: one cold round (every home loads its model), then `--ticks` simulated minutes, each one
   tick (or `--slots` ticks 60/slots s apart, each checking one slot of the homes, as with
   HOMETWIN_MONITORING_SLOTS): CPU time of each home's check (thread CPU time), the tick's wall
   time (median and longest: with slots it must stay under 60/slots s to hold the cadence), each
   home's lateness (from its tick's start until its check ended), and the process's resident
   memory (VmRSS of /proc/self/status) after the ticks, giving KiB per home between sizes.
   The ticks run back to back; the simulated clock advances between them.
Prints a table; docs/fleet.md "Measured" explains the figures and the arithmetic.

`--replica i/n --paced`: one monitoring replica of n (HOMETWIN_MONITORING_REPLICA=i/n): the process
sets up and checks only its share of the homes, and its warm ticks are due at wall-clock multiples
of 60/slots s, so n processes started together tick together as replicas fed by one scheduler do:

    for i in 0 1; do nice .venv/bin/python benchmarks/fleet.py --homes 5000 --slots 6 --replica $i/2 --paced & done

`--trace-memory`: also what holds the memory added per home between the first two sizes
(tracemalloc, grouped by where it was allocated). Tracing slows every allocation: the CPU and
lateness figures of such a run are not the monitoring's; run it apart.
"""

from __future__ import annotations

import argparse
import gc
import math
import shutil
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hometwin.adapters.filesystem import FileSystemStore
from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.clock import Clock
from hometwin.components.monitoring import CheckResult, Monitor
from hometwin.components.monitoring_fleet import FleetMonitor
from hometwin.domain.alerts import AlertPolicy
from hometwin.domain.detection import DetectionParams
from hometwin.domain.model import MODEL_KIND
from hometwin.ports import SensorSource
from hometwin.registry import ModelRegistry
from hometwin.services.alert_store import AlertStore
from hometwin.services.book_keeper import BookKeeper
from hometwin.services.homes import replica_of
from hometwin.services.training import train_and_register
from hometwin.sim import simulate

TZ = "Europe/Berlin"
START = datetime(2024, 1, 1, tzinfo=UTC)


class TickClock(Clock):
    """The simulated minute of the current tick, set by the benchmark (the monitoring reads `now()`)."""

    def __init__(self, at: datetime) -> None:
        object.__setattr__(self, "at", at)

    def now(self) -> datetime:
        return self.at  # type: ignore[attr-defined, no-any-return]

    def advance(self, by: timedelta) -> None:
        object.__setattr__(self, "at", self.now() + by)


@dataclass
class Timed:
    """A home's Monitor, recording its check's thread CPU time and when it ended."""

    monitor: Monitor
    cpu: list[float] = field(default_factory=list)
    ended: float = 0.0
    book: BookKeeper = field(init=False)  # the fleet reads the home's open alerts from it
    source: SensorSource = field(init=False)  # the fleet releases its idle connection after a check

    def __post_init__(self) -> None:
        self.book, self.source = self.monitor.book, self.monitor.source

    def check(self) -> CheckResult:
        t0 = time.thread_time()
        result = self.monitor.check()
        self.cpu.append(time.thread_time() - t0)
        self.ended = time.monotonic()
        return result

    def status(self) -> dict[str, Any]:
        return self.monitor.status()


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def train_distinct(count: int, days: int, window: int, root: Path
                   ) -> tuple[list[dict[str, Any]], list[Path], list[float], list[float], datetime]:
    """Simulate and train `count` homes; returns their model documents, event-database templates,
    CPU seconds per training of the whole period and of the modeling's window, and the period's end."""
    models = FileSystemStore(root / "templates")
    documents, templates, cpu, cpu_window = [], [], [], []
    end = START + timedelta(days=days)
    for seed in range(1, count + 1):
        events = simulate(days=days, seed=seed, start=START).events
        registry = ModelRegistry(models, f"template{seed}")
        t0 = time.process_time()
        train_and_register(events, registry, tz=TZ, start=START, end=end)
        cpu.append(time.process_time() - t0)
        recent = [e for e in events if e.time >= end - timedelta(days=window)]
        t0 = time.process_time()
        train_and_register(recent, ModelRegistry(models, f"window{seed}"), tz=TZ, start=end - timedelta(days=window),
                           end=end)
        cpu_window.append(time.process_time() - t0)
        latest = registry.latest(MODEL_KIND)
        assert latest is not None
        documents.append({"document": latest.document, "metadata": latest.metadata})
        path = root / f"template{seed}.sqlite"
        with SQLiteEventStore(path) as store:
            store.append(e for e in events if e.time >= end - timedelta(days=2))
        templates.append(path)
        if seed == 1:  # the embedded store's size per event: one whole simulated period in one file
            whole = root / "whole.sqlite"
            with SQLiteEventStore(whole) as store:
                store.append(events)
            size = whole.stat().st_size + sum(f.stat().st_size for f in root.glob("whole.sqlite-*"))
            print(f"event store: {len(events) / days:.0f} events per home per day, "
                  f"{size / len(events):.0f} bytes per event in SQLite ({size / 2**20:.0f} MiB for {days} days)")
        print(f"trained home {seed} ({days} days): {len(events):,} events, {cpu[-1]:.1f} s CPU (calibration included); "
              f"its last {window} days: {cpu_window[-1]:.1f} s",
              flush=True)
    return documents, templates, cpu, cpu_window, end


def add_homes(monitors: dict[str, Timed], upto: int, root: Path, documents: list[dict[str, Any]],
              templates: list[Path], clock: TickClock, replica: tuple[int, int] = (0, 1), first: int = 0) -> int:
    """Homes `first`..`upto`-1 that replica `replica` = (i, n) serves (as HOMETWIN_MONITORING_REPLICA=i/n
    assigns them), each with its own database, registry entries and alert book; returns `upto`."""
    models, state = FileSystemStore(root / "models"), FileSystemStore(root / "state")
    policy = AlertPolicy(escalate_after=timedelta(minutes=30))
    for i in range(first, upto):
        home_id = f"home{i:05d}"
        if replica_of(home_id, replica[1]) != replica[0]:
            continue
        which = i % len(templates)
        db = root / "homes" / f"{home_id}.sqlite"
        db.parent.mkdir(exist_ok=True)
        shutil.copyfile(templates[which], db)
        registry = ModelRegistry(models, home_id)
        registry.register(MODEL_KIND, documents[which]["document"], documents[which]["metadata"])
        monitors[home_id] = Timed(Monitor(source=SQLiteEventStore(db), registry=registry,
                                          alerts=AlertStore(state, home_id), clock=clock,
                                          emit=lambda name, data: True, params=DetectionParams(),
                                          policy=policy, home_id=home_id))
    return upto


def measure(monitors: dict[str, Timed], clock: TickClock, workers: int, ticks: int, slots: int,
            gc_freeze: bool = False, paced: bool = False) -> dict[str, float]:
    """With `slots` > 1 a simulated minute is `slots` ticks 60/slots s apart, each checking one slot;
    a home's lateness counts from the start of its slot's tick. `paced`: each warm tick is due at the
    next multiple of 60/slots s of the wall clock, as the scheduler's ticks are (so replicas started
    as separate processes tick together), and lateness counts from when it was due."""
    fleet = FleetMonitor(monitors, workers=workers, timeout=600.0, slots=slots)
    try:
        began = time.monotonic()
        for _ in range(slots):  # one round: every home loads its model
            cold = fleet.check()
            assert all(r["status"] == "ok" for r in cold["homes"].values()), "a home's check did not answer ok"
        cold_s = time.monotonic() - began
        if gc_freeze:  # what survived the cold round (models, stores) leaves the collector's generations
            gc.collect()
            gc.freeze()
        for timed in monitors.values():
            timed.cpu.clear()
        walls: list[float] = []
        lateness: list[float] = []
        period = 60.0 / slots
        for _ in range(ticks * slots):
            clock.advance(timedelta(minutes=1) / slots)
            began = time.monotonic()
            if paced:  # due at the next boundary; a tick that overran its period makes the next one late
                wait = math.ceil(time.time() / period) * period - time.time()
                if wait < period - 0.001:  # not the boundary just passed: sleep until the next one
                    time.sleep(wait)
                    began += wait
                else:
                    began = time.monotonic()
            tick = fleet.check()
            walls.append(time.monotonic() - began)
            lateness.extend(monitors[home].ended - began for home in tick["homes"])
    finally:
        fleet.close()
    cpu = [c for t in monitors.values() for c in t.cpu]
    return {"cold_s": cold_s, "tick_s": statistics.median(walls), "tick_max_s": max(walls),
            "late_p99_s": pct(lateness, 0.99), "cpu_med_ms": statistics.median(cpu) * 1000,
            "cpu_p99_ms": pct(cpu, 0.99) * 1000, "rss_mib": rss_kib() / 1024}


def print_memory_sites(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, homes: int) -> None:
    """The allocation sites that grew, per home added (the innermost frames of HomeTwin's code)."""
    grown = [d for d in after.compare_to(before, "traceback") if d.size_diff > 0]
    by_file = after.compare_to(before, "filename")
    total = sum(d.size_diff for d in by_file)
    print(f"\ntraced memory added: {total / 1024 / homes:.1f} KiB per home; by file:")
    for diff in [d for d in by_file if d.size_diff > 0][:15]:
        where = diff.traceback[0].filename
        print(f"  {diff.size_diff / 1024 / homes:7.1f} KiB  {diff.count_diff / homes:7.0f} blocks  "
              f"{'/'.join(Path(where).parts[-2:])}")
    print("the largest sites:")
    for diff in grown[:12]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in reversed(diff.traceback)
                  if "hometwin" in f.filename or "benchmarks" in f.filename][:4]
        print(f"  {diff.size_diff / 1024 / homes:7.1f} KiB  {diff.count_diff / homes:7.0f} blocks  "
              f"{' <- '.join(frames) or diff.traceback[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", default="100,1000,5000", help="fleet sizes, ascending (comma-separated)")
    parser.add_argument("--distinct", type=int, default=3, help="homes simulated and trained (models reused)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--window-days", type=int, default=56, help="HOMETWIN_MODELING_WINDOW_DAYS")
    parser.add_argument("--workers", type=int, default=8, help="HOMETWIN_MONITORING_WORKERS")
    parser.add_argument("--ticks", type=int, default=3, help="warm minutes per fleet size")
    parser.add_argument("--slots", type=int, default=1, help="HOMETWIN_MONITORING_SLOTS (ticks a minute)")
    parser.add_argument("--replica", default="0/1",
                        help="i/n: set up and check only the homes replica i of n serves (run n processes at once)")
    parser.add_argument("--paced", action="store_true",
                        help="warm ticks due at wall-clock multiples of 60/slots s (for replicas run at once)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after each cold round (tried for the p99 CPU per check)")
    parser.add_argument("--trace-memory", action="store_true",
                        help="print what holds the memory per home between the first two sizes (slow)")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.homes.split(","))
    index, _, count = args.replica.partition("/")
    replica = (int(index), int(count or 1))
    if not 0 <= replica[0] < replica[1]:
        parser.error(f"--replica {args.replica!r}: expected i/n with 0 <= i < n")

    root = Path(tempfile.mkdtemp(prefix="hometwin-fleet-"))
    try:
        documents, templates, train_cpu, window_cpu, end = train_distinct(args.distinct, args.days,
                                                                         args.window_days, root)
        clock = TickClock(end)
        monitors: dict[str, Timed] = {}
        added = 0
        base = rss_kib() / 1024
        print(f"resident memory before the homes: {base:.0f} MiB", flush=True)
        rows = []
        for i, n in enumerate(sizes):
            if args.trace_memory and i == 1:
                gc.collect()
                tracemalloc.start(12)
                before = tracemalloc.take_snapshot()
            t0 = time.monotonic()
            added = add_homes(monitors, n, root, documents, templates, clock, replica, added)
            print(f"{n} homes set up in {time.monotonic() - t0:.0f} s ({len(monitors)} of them this replica's)",
                  flush=True)
            figures = measure(monitors, clock, args.workers, args.ticks, args.slots, args.gc_freeze, args.paced)
            rows.append((n, len(monitors), figures))
            print(f"{n} homes measured", flush=True)
            if args.trace_memory and i == 1:
                gc.collect()
                print_memory_sites(before, tracemalloc.take_snapshot(), n - sizes[0])
                tracemalloc.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nmonitoring: {args.workers} workers, {args.ticks} warm minutes per size, {args.slots} slot(s): "
          f"a tick every {60 / args.slots:.0f} s checks 1/{args.slots} of the homes; one check = one home"
          + (f"; replica {replica[0]} of {replica[1]}: this process checks its share of the homes, "
             "RSS and KiB/home are its own" if replica[1] > 1 else "") + ("; paced ticks" if args.paced else ""))
    print(f"{'homes':>6} {'check CPU med':>14} {'p99':>8} {'cold round':>11} {'warm tick':>10} {'longest':>8} "
          f"{'lateness p99':>13} {'RSS':>8} {'KiB/home':>9}")
    previous = (0, base)
    for n, held, r in rows:
        per_home = (r["rss_mib"] - previous[1]) * 1024 / (held - previous[0])
        previous = (held, r["rss_mib"])
        print(f"{n:>6} {r['cpu_med_ms']:>11.2f} ms {r['cpu_p99_ms']:>5.2f} ms {r['cold_s']:>9.1f} s "
              f"{r['tick_s']:>8.2f} s {r['tick_max_s']:>6.2f} s {r['late_p99_s']:>11.2f} s {r['rss_mib']:>4.0f} MiB "
              f"{per_home:>9.0f}")
    training = statistics.median(train_cpu)
    print(f"\ntraining: {training:.1f} s CPU per home of {args.days} days (median of {len(train_cpu)}, "
          f"calibration included); 1,000 such homes on 2 cores by CPU time: {1000 * training / 2 / 60:.0f} min "
          "(the component's fan-out: benchmarks/retrain_fleet.py)")
    per_window = statistics.median(window_cpu)
    print(f"the weekly retrain's window ({args.window_days} days): {per_window:.1f} s CPU per home; "
          f"1,000 homes on 2 cores: {1000 * per_window / 2 / 60:.0f} min")

if __name__ == "__main__":
    main()
