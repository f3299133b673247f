"""The whole night for the night-time indicators: the night's rest, joined across toilet visits.

`domain/rest.py` finds the longest rest of an evening; it merges quiet stretches across a short
waking spell only when the spells are close together (`BREAK`). Two toilet visits 40 minutes apart
at 02:00 and 02:40 split the night, and the longest piece (02:45 to 07:00) would say "went to bed
at 02:45, 4 h in bed, no toilet visit". The trends need the whole night, so here the rest is
extended, on either side, across a waking spell when

- the spell lasts at most `SPELL` and every waking event in it is in a toilet or bathroom room
  (a night-time visit, not the evening in the living room), and
- the quiet on its far side lasts at least `QUIET` (back to sleep), without a data gap, and
- the far side stays in the night: not before `EARLIEST_BED` nor after `LATEST_WAKE` local time.

The wake-up then moves to the end of the extended rest, with the same getting-up chain as
rest.py (bedroom events up to `WAKE_CHAIN` before leaving the bedroom). Pure numpy.
"""

from __future__ import annotations

import numpy as np

from hometwin.domain.localtime import DAY
from hometwin.domain.rest import WAKE_CHAIN

SPELL = 60 * 60.0
QUIET = 20 * 60.0
EARLIEST_BED = 21 * 3600.0  # seconds after the evening's midnight
LATEST_WAKE = 12 * 3600.0  # seconds after the morning's midnight


def whole_nights(tw: np.ndarray, wall: np.ndarray, blocked: np.ndarray, toilet: np.ndarray,
                 bed_t: np.ndarray, wake_t: np.ndarray, presence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extended (bedtime, wake-up) per night. `tw`/`wall`: waking events' UTC and wall seconds
    (sorted); `blocked[k]`: the gap after event k overlaps time away or without data; `toilet[k]`:
    event k is in a toilet or bathroom room; `presence`: every presence event's time (sorted)."""
    beds, wakes = bed_t.copy(), wake_t.copy()
    n = len(tw)
    for m, (bed, wake) in enumerate(zip(bed_t.tolist(), wake_t.tolist(), strict=True)):
        i = int(np.searchsorted(tw, bed, side="left"))
        if i >= n:
            continue
        evening_midnight = np.floor((wall[i] - DAY / 2) / DAY) * DAY
        # backwards: the spell ending at event i, then the quiet before it
        while True:
            j = i
            while j > 0 and tw[j] - tw[j - 1] < QUIET:
                j -= 1
            if (j == 0 or tw[i] - tw[j] > SPELL or not toilet[j:i + 1].all() or blocked[j - 1]
                    or wall[j - 1] - evening_midnight < EARLIEST_BED):
                break
            i = j - 1
        beds[m] = tw[i]
        e = int(np.searchsorted(tw, wake, side="left"))
        if e >= n:
            continue
        extended = False
        morning_midnight = np.floor(wall[e] / DAY) * DAY
        while True:
            j = e
            while j < n - 1 and tw[j + 1] - tw[j] < QUIET:
                j += 1
            if (j >= n - 1 or tw[j] - tw[e] > SPELL or not toilet[e:j + 1].all() or blocked[j]
                    or wall[j + 1] - morning_midnight > LATEST_WAKE):
                break
            e = j + 1
            extended = True
        if extended:
            wakes[m] = _getting_up(float(tw[e]), float(tw[e - 1]), presence)
    return beds, wakes


def _getting_up(first_waking: float, last_quiet: float, presence: np.ndarray) -> float:
    """The first waking event after the rest, or the bedroom events just before it (rest.py)."""
    if not len(presence):
        return first_waking
    i = min(int(np.searchsorted(presence, first_waking, side="left")), len(presence) - 1)
    while i > 0 and presence[i - 1] > last_quiet and first_waking - presence[i - 1] <= WAKE_CHAIN:
        i -= 1
    return min(first_waking, float(presence[i]))
