"""Sanity figure for stay extraction on the public homes (issue 4, item 4).

    .venv/bin/python benchmarks/stay_sanity.py [SHARED_DATA_DIR]

For every labelled toileting/showering activity, is the person in a bathroom/toilet stay at the
activity's midpoint (and does any such stay overlap the activity)? Uses the importers with our
built-in room mappings and `extract_timeline` with its default parameters.
"""

from __future__ import annotations

import bisect
import sys
from pathlib import Path

from hometwin.adapters.datasets import load_dataset, public_homes
from hometwin.domain.stays import extract_timeline

LABELS = {"use-toilet", "take-shower", "toileting", "showering", "use toilet", "take shower"}


def wet_room(room: str) -> bool:
    return "bath" in room or "toilet" in room


def shares(path: Path, fmt: str) -> tuple[int, int, int]:
    result = load_dataset(path, fmt)
    stays = extract_timeline(result.events).stays
    starts = [s.start for s in stays]
    wanted = [a for a in result.activities if a.label.lower() in LABELS]
    at_mid = overlap = 0
    for activity in wanted:
        mid = activity.start + (activity.end - activity.start) / 2
        i = bisect.bisect_right(starts, mid) - 1
        if i >= 0 and stays[i].start <= mid < stays[i].end and wet_room(stays[i].room):
            at_mid += 1
        j = bisect.bisect_right(starts, activity.end)
        if any(wet_room(s.room) and s.end > activity.start for s in stays[max(i - 1, 0):j]):
            overlap += 1
    return len(wanted), at_mid, overlap


def main() -> None:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    print(f"{'home':<12} {'labelled':>8} {'in wet-room stay at midpoint':>30} {'overlapping one':>16}")
    total = [0, 0, 0]
    for name, path, fmt in public_homes(base):
        n, mid, over = shares(path, fmt)
        total = [total[0] + n, total[1] + mid, total[2] + over]
        print(f"{name:<12} {n:>8} {mid:>22} ({mid / n:4.0%}) {over:>9} ({over / n:4.0%})")
    n, mid, over = total
    print(f"{'all':<12} {n:>8} {mid:>22} ({mid / n:4.0%}) {over:>9} ({over / n:4.0%})")


if __name__ == "__main__":
    main()
