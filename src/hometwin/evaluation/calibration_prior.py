"""Learn the calibration prior (domain/calibration_prior.py) on development homes of the simulated
population: in each home, a model trained on the first `--train-days` days is replayed on the next
`--replay-days` days at the calibration's pace, and every detector's false-alarm episodes a day at
every limit shift are pooled over all replayed days. Prints the table to paste into
`PRIOR_RATES`, and the shift each detector's share of a 0.1 budget asks for.

    PYTHONPATH=src python -m hometwin.evaluation.calibration_prior --seed 1 --homes 40 --days 14

Only development seeds are accepted (hometwin.sim.population.DEVELOPMENT_SEEDS): the held-out
seeds must stay unseen.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import numpy as np

from hometwin.domain.calibration import replay_day
from hometwin.domain.calibration_prior import ALARM_DETECTORS, SHIFTS, pooled_rates
from hometwin.domain.detection import DetectionParams
from hometwin.domain.model import train_model
from hometwin.sim.faults import GatewayOutage
from hometwin.sim.population import DEVELOPMENT_SEEDS, iter_population


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--homes", type=int, default=40)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--train-days", type=float, default=7.0)
    parser.add_argument("--replay-days", type=float, default=7.0)
    parser.add_argument("--budget", type=float, default=0.1)
    args = parser.parse_args()
    if args.seed not in DEVELOPMENT_SEEDS:
        raise SystemExit(f"seed {args.seed} is not a development seed: the held-out homes must stay unseen")
    margins: dict[str, list[np.ndarray]] = {name: [] for name in ALARM_DETECTORS}
    days = 0.0
    cadence = timedelta(minutes=10)
    for home in iter_population(args.seed, args.homes, args.days):
        events = sorted(home.events)
        times = [e.time for e in events]
        # Gateway outages are no test time in the evaluation (evaluation/exclusions.py): no day
        # touching one is replayed, so that a silence in missing data does not raise the prior.
        outages = [(f.start, f.end) for f in home.faults if isinstance(f, GatewayOutage)]
        cut = events[0].time + timedelta(days=args.train_days)
        try:
            model = train_model([e for e in events if e.time < cut], tz=home.tz)
        except ValueError:
            continue
        n = 0
        for d in range(int(args.replay_days)):
            day0 = cut + timedelta(days=d)
            if day0 + timedelta(days=1) > events[-1].time:
                break
            if any(a < day0 + timedelta(days=1) and b > day0 for a, b in outages):
                continue
            for name, row in replay_day(model, events, times, day0, cadence, DetectionParams()).items():
                margins[name].append(row)
            n += 1
        days += n
        print(f"{home.name}: {n} days replayed", flush=True)
    rates = pooled_rates(margins, days)
    share = args.budget / len(ALARM_DETECTORS)
    print(f"\n{days:g} days replayed in {args.homes} homes (population seed {args.seed})")
    print("PRIOR_RATES: dict[str, tuple[float, ...]] = {")
    for name, rate_row in rates.items():
        print(f'    "{name}": ({", ".join(f"{v:g}" for v in rate_row)}),')
    print("}")
    for name, rate_row in rates.items():
        ok = [float(s) for s, r in zip(SHIFTS.tolist(), rate_row, strict=True) if r <= share]
        print(f"{name}: {rate_row[int(np.searchsorted(SHIFTS, 0.0))]:.3f} a day at the default limit; "
              f"share {share:g} met from shift {ok[0] if ok else '> ' + str(SHIFTS[-1])}")


if __name__ == "__main__":
    main()
