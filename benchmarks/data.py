"""Sensor-data benchmark: a simulated year through the embedded store and stay extraction.

    .venv/bin/python benchmarks/data.py [--days 365] [--repeat 5] [--seed 1]

Prints, per phase, the median over the repeats (and min/max): simulation, bulk insert into a fresh
SQLite store (WAL), a one-week range query at several places in the year, a full streamed read,
stay extraction (`extract_timeline`), and the process's peak resident memory (ru_maxrss).
Targets (issue 4): extraction >= 1,000,000 events/s, bulk insert >= 100,000 events/s,
one-week range query < 50 ms.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.domain.stays import extract_timeline
from hometwin.sim import simulate


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def report(name: str, seconds: list[float], n: int | None = None, unit: str = "events/s") -> None:
    med = statistics.median(seconds)
    line = f"{name:<34} median {med * 1000:9.1f} ms  (min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f})"
    if n is not None:
        line += f"  -> {n / med:,.0f} {unit}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))

    sim_times, results = [], []
    for _ in range(args.repeat if args.repeat <= 2 else 2):  # simulation is not a target: two runs suffice
        seconds, result = timed(lambda: simulate(args.days, seed=args.seed, start=start))
        sim_times.append(seconds)
        results.append(result)
    events = results[0].events
    del results
    n = len(events)
    print(f"{args.days} simulated days, seed {args.seed}: {n:,} events; peak RSS so far {peak_mb():.0f} MB")
    report("simulate", sim_times, n)

    insert_times, store = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            store = SQLiteEventStore(Path(tmp) / f"events-{i}.sqlite")
            seconds, new = timed(lambda s=store: s.append(events))
            assert new == n, (new, n)
            insert_times.append(seconds)
            if i < args.repeat - 1:
                store.close()
        assert store is not None
        report("bulk insert (fresh SQLite, WAL)", insert_times, n)
        seconds, new = timed(lambda: store.append(events[: n // 10]))
        assert new == 0
        print(f"{'re-append 10% (all duplicates)':<34} {seconds * 1000:9.1f} ms  -> {n // 10 / seconds:,.0f} events/s")

        week_times, week_sizes = [], []
        for k in range(max(args.repeat, 5) * 4):
            lo = start + timedelta(days=(k * 37) % max(args.days - 7, 1))
            seconds, got = timed(lambda lo=lo: store.read(lo, lo + timedelta(days=7)))
            week_times.append(seconds)
            week_sizes.append(len(got))
        report(f"one-week read (~{statistics.median(week_sizes):,.0f} events)", week_times)

        stream_times = []
        for _ in range(min(args.repeat, 3)):
            seconds, count = timed(lambda: sum(1 for _ in store.stream(start, start + timedelta(days=args.days + 1))))
            assert count == n
            stream_times.append(seconds)
        report("stream the whole store", stream_times, n)
        size = sum(p.stat().st_size for p in Path(tmp).glob("events-*.sqlite*")) / args.repeat
        print(f"{'store size on disk':<34} {size / 1e6:9.1f} MB  ({size / n:.0f} bytes/event)")
        store.close()

    extract_times = []
    for _ in range(args.repeat):
        seconds, timeline = timed(lambda: extract_timeline(events))
        extract_times.append(seconds)
    report(f"extract_timeline ({len(timeline.stays):,} stays)", extract_times, n)
    print(f"peak RSS of the whole run: {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
