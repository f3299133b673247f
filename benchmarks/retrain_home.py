"""One home's weekly retrain as the modeling component runs it, phase by phase.

    nice .venv/bin/python benchmarks/retrain_home.py [--days 365] [--window-days N] [--repeat 5] [--seed 1]

Setup: `--days` of the resident simulator (`hometwin.sim.simulate`) in the embedded SQLite store,
and a file-system model registry holding the home's first model. Then `--repeat` weekly retrains of
the whole period (or of its last `--window-days`, as HOMETWIN_MODELING_WINDOW_DAYS makes the
component do), each as `services.training.train_window` does it: read the events from the store,
train, calibrate and register the model (with the change summary against the previous one), and
the weekly report's trends. Prints the CPU time of each phase (`time.process_time`, one numeric
thread as in the component), median and range over the repeats, and what 1,000 such homes cost on
2 cores by CPU time. Figures vary with the machine's load (30 % from run to run on a shared one):
compare code versions in pairs, each run of the old code (a second checkout, e.g. `git worktree add`,
run with `PYTHONPATH` at its `src`) followed by one of the new, and take the median of the ratios.
docs/fleet.md ("Retraining a fleet") has the results.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hometwin.adapters.filesystem import FileSystemStore
from hometwin.adapters.sqlite import SQLiteEventStore
from hometwin.registry import ModelRegistry
from hometwin.services.training import report_trends, train_and_register
from hometwin.sim import simulate

TZ = "Europe/Berlin"
START = datetime(2024, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window-days", type=int, default=None, help="train on the last N days (default: all)")
    args = parser.parse_args()

    end = START + timedelta(days=args.days)
    root = Path(tempfile.mkdtemp(prefix="retrain-home-"))
    with SQLiteEventStore(root / "home.sqlite") as store:
        store.append(simulate(days=args.days, seed=args.seed, start=START).events)
    source = SQLiteEventStore(root / "home.sqlite")
    registry = ModelRegistry(FileSystemStore(root / "registry"), "home0000", clock=lambda: end)
    start = end - timedelta(days=args.window_days) if args.window_days else START
    train_and_register(source.read(start, end), registry, tz=TZ, start=start, end=end)  # the first model

    phases: dict[str, list[float]] = {"read": [], "train, calibrate, register": [], "trends": []}
    for _ in range(args.repeat):
        t0 = time.process_time()
        events = source.read(start, end)
        t1 = time.process_time()
        train_and_register(events, registry, tz=TZ, start=start, end=end)
        t2 = time.process_time()
        report_trends(source, events, start, end, tz=TZ)
        t3 = time.process_time()
        for name, spent in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            phases[name].append(spent)
    window = f", trained on the last {args.window_days}" if args.window_days else ""
    print(f"one home of {args.days} days{window} ({len(events):,} events read), {args.repeat} weekly retrains, "
          "CPU seconds:")
    total = 0.0
    for name, seconds in phases.items():
        med = statistics.median(seconds)
        total += med
        print(f"  {name:<28} median {med:6.2f} s  (min {min(seconds):.2f}, max {max(seconds):.2f})")
    print(f"  {'all (medians added)':<28}        {total:6.2f} s;"
          f" 1,000 such homes on 2 cores by CPU time: {1000 * total / 2 / 60:.0f} min")


if __name__ == "__main__":
    main()
