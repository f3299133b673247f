"""How each change of the evaluation protocol moves HomeTwin's false alarms, home by home.

Replays the unmodified data only (no injections, so it is quick) under the earlier protocol
(`split`, plain counting), the split with honest counting, and the rolling origin with plain and
with honest counting, and prints false alarms, test days and the rate of each; with --by-fold, the
rolling protocol's false alarms per model (week).

Run: .venv/bin/python benchmarks/evaluation_protocols.py [--data ../shared/data] [--by-fold]
Needs the public datasets (docs/data.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hometwin.evaluation.harness import EvalConfig, run_home
from hometwin.evaluation.metrics import episode_starts, false_alarms
from hometwin.evaluation.sources import load_homes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VARIANTS = (("split", "plain"), ("split", "honest"), ("rolling", "plain"), ("rolling", "honest"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--by-fold", action="store_true")
    args = ap.parse_args()
    homes = load_homes([args.data], "kasteren")
    totals = {v: [0, 0.0] for v in VARIANTS}
    print("home        " + "  ".join(f"{p}/{c}: FA in days" for p, c in VARIANTS))
    for home in homes:
        cells = []
        for protocol, counting in VARIANTS:
            run = run_home(home, EvalConfig(injections=0, stuck=0, protocol=protocol, counting=counting))
            n, _ = false_alarms(run, "hometwin", 0.0)
            totals[(protocol, counting)][0] += n
            totals[(protocol, counting)][1] += run.test_days
            cells.append(f"{n:3d} in {run.test_days:5.1f} ({n / run.test_days:.2f}/day)")
            if args.by_fold and (protocol, counting) == ("rolling", "plain"):
                starts = episode_starts(run.scores["hometwin"].checks, 0.0)
                per = np.bincount(run.check_fold[starts], minlength=len(run.folds))
                labels = [run.scores["hometwin"].labels[i] for i in starts]
                print(f"  {home.name} per model: {per.tolist()} ({', '.join(labels)})")
        print(f"{home.name:12s}" + "  ".join(cells))
    print("pooled      " + "  ".join(f"{n:3d} in {d:5.1f} ({n / d:.2f}/day)" for n, d in totals.values()))


if __name__ == "__main__":
    main()
