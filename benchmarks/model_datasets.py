"""Figures for docs/model.md: the behaviour model trained on each public home.

    .venv/bin/python benchmarks/model_datasets.py [SHARED_DATA_DIR] [--plot-dir DIR]

Per home: days, events, stays, away and unknown time; per room: visits a day, mean / median /
p90 visit length, the robust log-normal spread (sigma of log seconds), the over-dispersion of
visit counts per hour-of-day cell (variance / mean, 1 = Poisson), and how the pooled answers for
the (room, weekday, hour) cells with visits are spread over the pooling levels. With `--plot-dir`
it also draws the weekday-by-hour heat maps of every home (commands/model_view.py `plot_heatmaps`).
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.adapters.datasets import load_dataset, public_homes
from hometwin.domain.model import BehaviourModel, train_model


def fmt(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 \
        else f"{seconds / 3600:.1f} h"


def dispersion(model: BehaviourModel, room: str) -> float:
    """Median variance/mean over the hour-of-day cells with a mean of at least 0.2 visits."""
    cells = model.visit_counts.get(room, {}).get("hour", {}).values()
    ratios = [c.var / c.mean for c in cells if c.mean >= 0.2]
    return statistics.median(ratios) if ratios else float("nan")


def pooling_levels(model: BehaviourModel) -> Counter[str]:
    """Which level answers stay_duration for the (room, weekday, hour) cells that saw visits."""
    levels: Counter[str] = Counter()
    zone = ZoneInfo(model.tz)
    monday = datetime(2024, 1, 1, tzinfo=zone)
    for room in model.rooms:
        for key in model.durations.get(room, {}).get("cell", {}):
            w, b = map(int, key.split(":"))
            at = monday + timedelta(days=w, minutes=b * model.bin_minutes)
            levels[model.stay_duration(room, at).level] += 1
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--plot-dir", default="")
    args = parser.parse_args()
    for name, path, fmt_name in public_homes(args.data):
        result = load_dataset(path, fmt_name)
        model = train_model(result.events, tz=result.tz, home_id=name)  # the dataset's own zone
        t = model.training
        start, end = (datetime.fromisoformat(t["period"][k]) for k in ("start", "end"))
        days = (end - start).total_seconds() / 86400
        levels = pooling_levels(model)
        first = model.first.get("hour", {}).get("")
        print(f"\n## {name}: {days:.0f} days, {t['n_events']} events, {t['n_stays']} stays, "
              f"away {t['away']['intervals']}x / {t['away']['hours']:.0f} h, "
              f"unknown {t['unknown']['intervals']}x / {t['unknown']['hours']:.0f} h; "
              f"first activity median {first.q[6] // 60:02.0f}:{first.q[6] % 60:02.0f}" if first else "")
        total = sum(levels.values())
        print("pooling of cells with visits: " + ", ".join(f"{lv} {n / total:.0%}" for lv, n in levels.most_common()))
        print("| room | visits/day | mean | median | p90 | sigma(log) | var/mean per hour cell |")
        print("|---|---|---|---|---|---|---|")
        for room in model.rooms:
            s = model.durations.get(room, {}).get("room", {}).get("")
            if s is None:
                continue
            parts = model.daily.get(room, {})
            per_day = sum(c.mean for p in ("night", "day") if (c := parts.get(p, {}).get("hour", {}).get("")))
            print(f"| {room} | {per_day:.1f} | {fmt(s.mean)} | {fmt(s.q[6])} | {fmt(s.q[10])} | "
                  f"{s.log_sigma:.2f} | {dispersion(model, room):.2f} |")
        if args.plot_dir:
            from hometwin.commands.model_view import plot_heatmaps

            out = Path(args.plot_dir) / f"model-{name}.png"
            plot_heatmaps(model, list(model.rooms), out)
            print(f"heat maps: {out}")


if __name__ == "__main__":
    main()
