"""How long `hometwin evaluate`'s replay takes: 200 injections (+ 40 stuck) on one month of data.

Run: .venv/bin/python benchmarks/evaluate_speed.py [--repeat 3] [--home kasteren-A] [--protocol rolling|split]
Needs the public datasets in ../shared/data. Prints each run's seconds and the median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from hometwin.evaluation.harness import EvalConfig, run_home
from hometwin.evaluation.sources import load_homes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--home", default="kasteren-A")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--protocol", default="rolling", choices=("rolling", "split"))
    args = ap.parse_args()
    home = next(h for h in load_homes([args.data], "kasteren") if h.name == args.home)
    days = (home.events[-1].time - home.events[0].time).total_seconds() / 86400
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        run = run_home(home, EvalConfig(injections=200, stuck=40, protocol=args.protocol))
        times.append(time.perf_counter() - t)
        print(f"{home.name} ({args.protocol}): {days:.1f} days, {len(run.folds)} model(s), "
              f"{len(run.injections)} injections, {len(run.check_times)} checks: {times[-1]:.2f} s")
    print(f"median {statistics.median(times):.2f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()
