"""The night's rest: when this home goes to bed and gets up, learned from its own events.

Sleep is not "no event": bed mats and bedroom motion fire while someone turns over, and a night
often has a toilet visit. So the rest is read from the *waking* events, the signs of presence
outside the sleeping rooms (all presence events in a home that has no sensor in a bedroom):

- a quiet stretch is a gap of at least `MIN_REST` between two waking events;
- stretches separated by at most `BREAK` of waking activity are one rest (a toilet visit at 03:00
  does not end the night);
- the night of an evening is the longest rest that begins between 18:00 that evening and 06:00
  the next morning; it must not overlap time away or without data (nothing was observed then).

Bedtime is the last waking event before the rest. The wake-up is the first waking event after it,
or the first of the bedroom events in the `WAKE_CHAIN` before it (getting up and dressing): "the
day starts" then, not at the first event after some fixed hour (a bed mat that fires during sleep
would otherwise start the day at 04:30). Pure: numpy arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np

from hometwin.domain.localtime import DAY

WAKE_CHAIN = 60 * 60.0  # bedroom events this long before leaving the bedroom are getting up
MIN_REST = 3600.0  # a shorter gap between waking events is an ordinary pause, not rest
BREAK = 20 * 60.0  # waking activity this short between two quiet stretches is a night-time visit
EVENING = 18 * 3600  # a night's rest begins between 18:00 ...
MORNING = 30 * 3600  # ... and 06:00 the next morning (seconds after the evening's midnight)


def waking_mask(present: np.ndarray, sleeping_room: np.ndarray) -> np.ndarray:
    """Presence events outside the sleeping rooms; every presence event if no sleeping room reports."""
    in_bed_room = present & sleeping_room
    return present & ~sleeping_room if in_bed_room.any() and (present & ~sleeping_room).any() else present


def night_rests(t: np.ndarray, wall: np.ndarray, blocked: np.ndarray | None = None,
                presence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bedtime, wake-up) in UTC epoch seconds, one pair per night found, from the waking events'
    times `t` (sorted) and their local wall-clock seconds `wall`. `blocked[k]` marks a gap after
    event k that overlaps time away or without data; `presence` (sorted) are the times of every
    presence event, bedrooms included (for the start of getting up)."""
    if len(t) < 2:
        return np.empty(0), np.empty(0)
    gap = np.diff(t)
    quiet = gap >= MIN_REST
    if blocked is not None:
        quiet &= ~blocked[: len(gap)]
    idx = np.nonzero(quiet)[0]
    if len(idx) == 0:
        return np.empty(0), np.empty(0)
    # Merge quiet stretches separated by a short break: stretch k runs t[idx[k]] .. t[idx[k] + 1].
    starts, ends, walls = [int(idx[0])], [int(idx[0]) + 1], [float(wall[idx[0]])]
    for k in idx[1:].tolist():
        if t[k] - t[ends[-1]] <= BREAK:
            ends[-1] = k + 1
        else:
            starts.append(k)
            ends.append(k + 1)
            walls.append(float(wall[k]))
    s, e, w = np.array(starts), np.array(ends), np.array(walls)
    length = t[e] - t[s]
    # The evening a rest belongs to: its start, shifted so that 18:00 .. 06:00 next day is one night.
    evening = np.floor((w - EVENING) / DAY).astype(np.int64)
    offset = w - evening * DAY
    ok = (offset >= EVENING) & (offset < MORNING)
    if not ok.any():
        return np.empty(0), np.empty(0)
    s, e, evening, length = s[ok], e[ok], evening[ok], length[ok]
    order = np.lexsort((-length, evening))  # per evening, the longest first
    first = np.concatenate(([True], evening[order][1:] != evening[order][:-1]))
    chosen = order[first]
    bed, wake = t[s[chosen]], t[e[chosen]].copy()
    if presence is not None and len(presence):
        for n, (b, w) in enumerate(zip(bed.tolist(), wake.tolist(), strict=True)):
            i = min(int(np.searchsorted(presence, w, side="left")), len(presence) - 1)  # the wake-up itself
            while i > 0 and presence[i - 1] > b and w - presence[i - 1] <= WAKE_CHAIN:
                i -= 1
            wake[n] = min(w, float(presence[i]))
    return bed, wake
