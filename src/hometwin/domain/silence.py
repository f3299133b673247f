"""The silence model: how long the home normally stays quiet after a given event.

A silence is the time from one sensor event to the next. Its normal length depends on what the
last event was and when: a bed mat switching on at 23:00 is followed by hours of quiet, a bathroom
motion at 10:00 by a minute or two. The model keeps, per context, a histogram of silence lengths
on a logarithmic grid (a heavy tail is the rule, so we never use mean + k*sd of raw minutes) and
answers with a smoothed survival function P(silence > s | context).

Contexts, from fine to coarse (a sparse cell borrows strength from the next coarser one):
  sensor+hour the last event's sensor and on/off (a toilet flush, a bed mat switching off), at its
              local hour (+- neighbours)
  state+hour  the last event's room, sensor kind and on/off at that hour
  room+hour   the last event's room at that hour
  hour        any room at that hour
  home        every silence of the home
The result is mixed with the context-free "home" distribution (weight `context_free_weight`), so a
few out-of-context silences in the training data cannot make a context look infinitely strict
or lax: one "six hours after a night-time toilet flush" is kept, but it does not dominate.

Pure: no I/O, no clock. JSON via `to_dict`/`from_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from hometwin.domain.events import SensorEvent
from hometwin.domain.stays import Timeline

SCHEMA_VERSION = 1
BINS_PER_DECADE = 16
MAX_SECONDS = 4 * 24 * 3600.0  # a longer gap is a data outage, not a silence we learn from
N_BINS = int(math.ceil(BINS_PER_DECADE * math.log10(MAX_SECONDS))) + 1
# Grid point i stands for a silence of 10**(i / BINS_PER_DECADE) seconds (1 s ... 4 days).
GRID_SECONDS = np.power(10.0, np.arange(N_BINS) / BINS_PER_DECADE)
_LOG_GRID = np.log(GRID_SECONDS)
LEVELS = ("sensor+hour", "state+hour", "room+hour", "hour", "home")


@dataclass(frozen=True, slots=True)
class SilenceParams:
    """Knobs of the silence model (JSON-able). Defaults were chosen on the public homes, see docs."""

    neighbour_weight: float = 0.5  # weight of silences starting in the adjacent local hours
    prior_strength: float = 4.0  # pseudo-count of the coarser level when pooling a cell
    context_free_weight: float = 0.002  # share of the context-free distribution in every answer
    bandwidth: float = 0.35  # kernel width in natural-log seconds (0.35 ~ +-40 %)
    min_seconds: float = 1.0  # shorter gaps (same-second events) count as this

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SilenceParams:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: float(v) for k, v in d.items() if k in known})


def state_key(event: SensorEvent) -> str:
    """The context an event leaves behind: room, sensor kind, on or off, and the sensor itself."""
    return f"{event.room}|{event.kind.value}|{'on' if event.value > 0 else 'off'}|{event.sensor}"


def _coarse(key: str) -> str:
    """room|kind|on-off of a context key (keys of schema 1 had no sensor part)."""
    return "|".join(key.split("|", 3)[:3])


def _bin_index(seconds: float) -> int:
    s = min(max(seconds, 1.0), MAX_SECONDS)
    return min(N_BINS - 1, int(round(BINS_PER_DECADE * math.log10(s))))


@dataclass(frozen=True, slots=True)
class SilenceContext:
    """Where an answer came from: the context key, the local hour, the finest level with data."""

    state: str
    room: str
    hour: int
    level: str
    n: float  # effective number of training silences at that level


@dataclass
class SilenceModel:
    """Silence-length distributions per context. Build with `SilenceModel.train`."""

    tz: str
    params: SilenceParams
    # counts[state][hour] = sparse histogram {grid index: count}
    counts: dict[str, dict[int, dict[int, float]]]
    n_silences: int = 0
    # share of the training days on which each sensor reported at least once (a sensor that reports
    # every day and then stays silent for half a day while others fire is probably dead)
    sensor_days: dict[str, float] = field(default_factory=dict)
    _cache: dict[tuple[str, int], tuple[np.ndarray, SilenceContext]] = field(
        default_factory=dict, repr=False, compare=False)
    _zone: ZoneInfo | None = field(default=None, repr=False, compare=False)

    # ---------------------------------------------------------------- training
    @classmethod
    def train(cls, events: Sequence[SensorEvent], timeline: Timeline | None = None, tz: str = "Europe/Berlin",
              params: SilenceParams = SilenceParams()) -> SilenceModel:
        """Learn from consecutive events: each gap is one silence in the context of its first event.

        `timeline` is accepted for the contract (and future use); gaps inside away intervals are kept
        on purpose: after the front door, a long silence is normal, and the model should know it.
        """
        zone = ZoneInfo(tz)
        ordered = sorted(events)
        counts: dict[str, dict[int, dict[int, float]]] = {}
        n = 0
        for prev, nxt in zip(ordered, ordered[1:], strict=False):
            gap = (nxt.time - prev.time).total_seconds()
            if gap > MAX_SECONDS:
                continue
            hour = prev.time.astimezone(zone).hour
            cell = counts.setdefault(state_key(prev), {}).setdefault(hour, {})
            b = _bin_index(max(gap, params.min_seconds))
            cell[b] = cell.get(b, 0.0) + 1.0
            n += 1
        return cls(tz=tz, params=params, counts=counts, n_silences=n, sensor_days=_sensor_days(ordered, zone))

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tz": self.tz,
            "params": self.params.to_dict(),
            "bins_per_decade": BINS_PER_DECADE,
            "n_silences": self.n_silences,
            "sensor_days": dict(sorted(self.sensor_days.items())),
            "counts": {s: {str(h): {str(b): c for b, c in sorted(cell.items())}
                           for h, cell in sorted(hours.items())}
                       for s, hours in sorted(self.counts.items())},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SilenceModel:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"silence model schema {d.get('schema_version')!r} is not {SCHEMA_VERSION}")
        if d.get("bins_per_decade") != BINS_PER_DECADE:
            raise ValueError("silence model uses a different duration grid")
        counts = {s: {int(h): {int(b): float(c) for b, c in cell.items()} for h, cell in hours.items()}
                  for s, hours in d["counts"].items()}
        return cls(tz=d["tz"], params=SilenceParams.from_dict(d.get("params", {})), counts=counts,
                   n_silences=int(d.get("n_silences", 0)),
                   sensor_days={str(k): float(v) for k, v in d.get("sensor_days", {}).items()})

    # ---------------------------------------------------------------- queries
    @property
    def states(self) -> list[str]:
        return sorted(self.counts)

    def daily_sensors(self, share: float) -> list[str]:
        """Sensors that reported on at least `share` of the training days."""
        return sorted(s for s, f in self.sensor_days.items() if f >= share)

    def local_hour(self, at: datetime) -> int:
        if self._zone is None:
            self._zone = ZoneInfo(self.tz)
        return at.astimezone(self._zone).hour

    def curve(self, event: SensorEvent) -> tuple[np.ndarray, SilenceContext]:
        """log P(silence > GRID_SECONDS[i]) after `event`, and the context it came from."""
        return self.curve_for(state_key(event), self.local_hour(event.time))

    def curve_for(self, state: str, hour: int) -> tuple[np.ndarray, SilenceContext]:
        key = (state, hour)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._build_curve(state, hour)
            self._cache[key] = hit
        return hit

    def survival(self, event: SensorEvent, seconds: float) -> float:
        """P(a silence after `event` lasts longer than `seconds`)."""
        log_s, _ = self.curve(event)
        return math.exp(_interp(log_s, seconds))

    def surprise(self, event: SensorEvent, seconds: float) -> float:
        """-log10 P(silence > seconds | context): 2 means 1 in 100, 4 means 1 in 10,000. Grows with time."""
        log_s, _ = self.curve(event)
        return -_interp(log_s, seconds) / math.log(10.0)

    def seconds_at_surprise(self, event: SensorEvent, surprise: float) -> float:
        """The silence length at which `surprise(event, .)` first reaches `surprise` (inverse)."""
        log_s, _ = self.curve(event)
        return _inverse(log_s, -surprise * math.log(10.0))

    def quantile(self, event: SensorEvent, q: float) -> float:
        """Silence length (seconds) that a fraction `q` of silences in this context stay below."""
        log_s, _ = self.curve(event)
        return _inverse(log_s, math.log(max(1e-300, 1.0 - q)))

    # ---------------------------------------------------------------- internals
    def _hist(self, states: Sequence[str], hour: int | None) -> np.ndarray:
        """Histogram over `states`; for an hour, the neighbouring hours count with a lower weight."""
        h = np.zeros(N_BINS)
        w_n = self.params.neighbour_weight
        for s in states:
            hours = self.counts.get(s, {})
            if hour is None:
                for cell in hours.values():
                    _add(h, cell, 1.0)
                continue
            for dh, w in ((0, 1.0), (-1, w_n), (1, w_n)):
                near = hours.get((hour + dh) % 24)
                if near and w > 0:
                    _add(h, near, w)
        return h

    def _build_curve(self, state: str, hour: int) -> tuple[np.ndarray, SilenceContext]:
        room = state.split("|", 1)[0]
        coarse = _coarse(state)
        same_state = [s for s in self.counts if _coarse(s) == coarse]
        room_states = [s for s in self.counts if s.split("|", 1)[0] == room]
        all_states = list(self.counts)
        hists = [self._hist([state], hour), self._hist(same_state, hour), self._hist(room_states, hour),
                 self._hist(all_states, hour), self._hist(all_states, None)]
        k = self.params.prior_strength
        home = _smooth_survival(hists[4], self.params.bandwidth)
        pooled = home
        level, n_level = "home", float(hists[4].sum())
        for i in (3, 2, 1, 0):  # coarse to fine: each level shrinks toward the pooled coarser one
            n = float(hists[i].sum())
            if n <= 0:
                continue
            own = _smooth_survival(hists[i], self.params.bandwidth)
            pooled = (n * own + k * pooled) / (n + k)
            level, n_level = LEVELS[i], n
        w = self.params.context_free_weight
        mixed = (1.0 - w) * pooled + w * home
        with np.errstate(divide="ignore"):
            log_s = np.log(np.maximum(mixed, 1e-300))
        return log_s, SilenceContext(state=state, room=room, hour=hour, level=level, n=n_level)


def _sensor_days(ordered: Sequence[SensorEvent], zone: ZoneInfo) -> dict[str, float]:
    """Share of the local calendar days from the first to the last event on which each sensor reported."""
    if not ordered:
        return {}
    first, last = ordered[0].time.astimezone(zone).date(), ordered[-1].time.astimezone(zone).date()
    n_days = (last - first).days + 1
    seen: dict[str, set[Any]] = {}
    for e in ordered:
        seen.setdefault(e.sensor, set()).add(e.time.astimezone(zone).date())
    return {s: len(days) / n_days for s, days in seen.items()}


def _add(h: np.ndarray, cell: dict[int, float], w: float) -> None:
    for b, c in cell.items():
        h[b] += w * c


def _smooth_survival(hist: np.ndarray, bandwidth: float) -> np.ndarray:
    """Survival at every grid point of a log-normal-kernel smoothing of the histogram.

    Each training silence spreads as a normal kernel in log seconds: the tail beyond the longest
    silence seen falls off smoothly instead of dropping to zero.
    """
    total = hist.sum()
    if total <= 0:
        return np.ones(N_BINS)
    idx = np.nonzero(hist)[0]
    z = (_LOG_GRID[:, None] - _LOG_GRID[idx][None, :]) / bandwidth
    tail = 0.5 * _erfc_vec(z / math.sqrt(2.0))
    surv = (tail * hist[idx][None, :]).sum(axis=1) / total
    return np.minimum(1.0, np.maximum.accumulate(surv[::-1])[::-1])


def _erfc_vec(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erfc, otypes=[float])(x)


def _interp(log_s: np.ndarray, seconds: float) -> float:
    x = math.log(min(max(seconds, 1.0), MAX_SECONDS))
    pos = x / math.log(10.0) * BINS_PER_DECADE
    i = min(int(pos), N_BINS - 2)
    f = pos - i
    return float(log_s[i] * (1.0 - f) + log_s[i + 1] * f)


def _inverse(log_s: np.ndarray, target: float) -> float:
    """Smallest silence (seconds) whose log survival is <= target; MAX_SECONDS if never."""
    below = np.nonzero(log_s <= target)[0]
    if below.size == 0:
        return MAX_SECONDS
    j = int(below[0])
    if j == 0:
        return 1.0
    a, b = float(log_s[j - 1]), float(log_s[j])
    f = 1.0 if a == b else (a - target) / (a - b)
    return float(10.0 ** ((j - 1 + f) / BINS_PER_DECADE))
