"""How long a stay in a room lasts, given the room, where the person came from and the time of day.

The prolonged-stay detector asks "is this stay far longer than this home's stays in that room at
that hour?". With a few weeks of data a (room, weekday, hour) cell holds a handful of stays, and
pooling it toward "this room at any time" compares a night in bed or an evening on the sofa with
the short daytime visits to the same room. This model is the hazard regression of
domain/hazard.py on the stays of the timeline: the rate at which a stay ends has a shared shape
along its length, shifted and tilted by the room and the room before it, and varying with the
time of day *now* (per room too): a stay in the bedroom that began at 23:00 ends around the home's
wake-up, one on the sofa at 19:00 around its bedtime. A stay cut by a data outage or by the ends of
the data counts as censored: it lasted at least that long.

Pure: no I/O, no clock. JSON via `to_dict`/`from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.hazard import Design, HazardModel, mix, scale_free_tail, seconds_at, survival_at
from hometwin.domain.localtime import DAY, LocalClock
from hometwin.domain.stays import Timeline, room_key

DESIGN = Design(groups=("room", "prev"), clock_groups=("room",))
_LN10 = math.log(10.0)


@dataclass
class StayHazard:
    """Stay lengths by room, previous room and time of day. Build with `StayHazard.train`."""

    tz: str
    hazard: HazardModel
    n_stays: int
    _cache: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _zone: ZoneInfo | None = field(default=None, repr=False, compare=False)
    # Curves kept for reuse (a replay asks for the same ones day after day); a monitoring holding
    # thousands of homes' models keeps fewer (components/monitoring.py: MONITORING_CACHE_LIMIT).
    cache_limit: int = field(default=4096, repr=False, compare=False)

    @classmethod
    def train(cls, timeline: Timeline, tz: str, complete: np.ndarray, prior_sd: float = 1.0) -> StayHazard | None:
        """`complete[i]` says whether stay i ended inside the observed data (else it is censored).
        None when there are too few stays to learn from."""
        stays = timeline.stays
        if len(stays) < 2:
            return None
        start = np.array([s.start.timestamp() for s in stays])
        seconds = np.array([s.duration.total_seconds() for s in stays])
        levels: list[dict[str, str]] = []
        index: dict[tuple[str, str], int] = {}
        ctx = np.empty(len(stays), dtype=np.int64)
        for i, s in enumerate(stays):
            key = (room_key(s.room), room_key(stays[i - 1].room) if i else "")
            if key not in index:
                index[key] = len(levels)
                levels.append({"room": key[0], "prev": key[1]})
            ctx[i] = index[key]
        clock = LocalClock(tz, float(start[0]), float(start[-1]))
        hours = np.mod(clock.wall(start), DAY) / 3600.0
        keep = seconds > 0
        hazard = HazardModel.fit(DESIGN, levels, ctx[keep], hours[keep], seconds[keep], complete[keep], prior_sd)
        return cls(tz, hazard, int(keep.sum()))

    # ------------------------------------------------------------------------------ queries
    def _cum(self, room: str, prev: str, start: datetime) -> np.ndarray:
        if self._zone is None:
            self._zone = ZoneInfo(self.tz)
        local = start.astimezone(self._zone)
        slot = local.hour * 12 + local.minute // 5
        key = (room_key(room), room_key(prev), slot)
        hit = self._cache.get(key)
        if hit is None:
            w = 1.0 / max(self.n_stays, 1)  # one stay in n may fit no context (see silence.py)
            own = self.hazard.cumulative({"room": key[0], "prev": key[1]}, slot / 12.0)
            hit = mix([own, scale_free_tail(own)], [1.0 - w, w])
            if len(self._cache) > self.cache_limit:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def surprise(self, room: str, prev: str, start: datetime, seconds: float) -> float:
        """-log10 P(a stay in `room` that began at `start` lasts longer than `seconds`)."""
        return survival_at(self._cum(room, prev, start), seconds) / _LN10

    def seconds_at_surprise(self, room: str, prev: str, start: datetime, surprise: float) -> float:
        return seconds_at(self._cum(room, prev, start), surprise * _LN10)

    def quantile(self, room: str, prev: str, start: datetime, q: float) -> float:
        return seconds_at(self._cum(room, prev, start), -math.log(max(1e-300, 1.0 - q)))

    # ------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {"tz": self.tz, "n_stays": self.n_stays, "hazard": self.hazard.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StayHazard:
        return cls(str(d["tz"]), HazardModel.from_dict(d["hazard"]), int(d["n_stays"]))
