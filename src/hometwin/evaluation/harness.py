"""Replay homes through the detectors on a simulated clock and record every method's scores.

Per home: chronological split; train the behaviour model (the modeling code, `train_model`) on the
first part; then replay the rest at the monitoring cadence, each check seeing only the events of
the last `RECENT_WINDOW` up to "now" (what the monitoring reads). The unmodified replay gives the
false alarms; each injected emergency is replayed from its start for `horizon` with the events
after t removed. The scores are kept per check, so every knob value is evaluated from one replay
(see `metrics.py`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from hometwin.domain.detection import RECENT_WINDOW, DetectionParams
from hometwin.domain.events import SensorEvent
from hometwin.domain.stays import extract_timeline
from hometwin.evaluation.methods import HomeTwinMethod, Method, StayBaseline, TimerBaseline
from hometwin.evaluation.protocol import Injection, choose_injections, choose_stuck, split

Progress = Callable[[int], None]


@dataclass(frozen=True)
class HomeData:
    name: str
    events: Sequence[SensorEvent]  # sorted
    tz: str = "Europe/Berlin"


@dataclass(frozen=True)
class EvalConfig:
    train_fraction: float = 0.6
    injections: int = 200  # per home, half by day, half by night
    stuck: int = 40  # stuck-in-the-bathroom injections per home
    protocol: str = "anchored"
    seed: int = 1
    cadence: timedelta = timedelta(minutes=5)  # the monitoring's check interval
    horizon: timedelta = timedelta(hours=12)
    params: DetectionParams = field(default_factory=DetectionParams)
    model_params: Any = None  # a ModelParams, or None for the default

    def to_dict(self) -> dict[str, Any]:
        return {"train_fraction": self.train_fraction, "injections": self.injections, "stuck": self.stuck,
                "protocol": self.protocol, "seed": self.seed,
                "cadence_min": self.cadence.total_seconds() / 60,
                "horizon_h": self.horizon.total_seconds() / 3600,
                "detection_params": self.params.to_dict()}


@dataclass
class MethodScores:
    checks: np.ndarray  # score at every check of the unmodified test part
    labels: list[str]  # "detector:room" of the top finding at every check
    injected: list[np.ndarray] = field(default_factory=list)  # per injection: score per check


@dataclass
class HomeRun:
    name: str
    test_start: datetime
    test_end: datetime
    train_days: float
    check_times: np.ndarray  # epoch seconds
    injections: list[Injection]
    offsets: list[np.ndarray]  # per injection: minutes from t to each check
    scores: dict[str, MethodScores]
    methods: dict[str, Method]

    @property
    def test_days(self) -> float:
        return (self.test_end - self.test_start).total_seconds() / 86400


def run_home(home: HomeData, cfg: EvalConfig, progress: Progress | None = None) -> HomeRun:
    from hometwin.domain.model import train_model
    from hometwin.domain.model_params import ModelParams

    events = list(home.events)
    if len(events) < 10:
        raise ValueError(f"{home.name}: only {len(events)} events, too few to evaluate")
    start, cut, end = split(events, cfg.train_fraction)
    train = [e for e in events if e.time < cut]
    model = train_model(train, tz=home.tz, params=cfg.model_params or ModelParams(), start=start, end=cut,
                        home_id=home.name)
    timeline = extract_timeline(events)
    train_timeline = extract_timeline(train)
    methods: list[Method] = [HomeTwinMethod(model, cfg.params), TimerBaseline(),
                             StayBaseline.train(train_timeline, use_sd=True),
                             StayBaseline.train(train_timeline, use_sd=False)]
    seed = cfg.seed * 1_000_003 + sum(map(ord, home.name))
    rng = np.random.default_rng(seed)
    injections = choose_injections(home.name, events, timeline, cut, end, cfg.injections, cfg.protocol,
                                   cfg.horizon, home.tz, rng)
    injections += choose_stuck(home.name, events, timeline, cut, end, cfg.stuck, cfg.horizon, home.tz, rng)

    times = [e.time for e in events]
    step = cfg.cadence.total_seconds()
    first = _ceil(cut, step)
    check_times = np.arange(first, end.timestamp() + 1e-9, step)
    scores = {m.name: MethodScores(np.empty(len(check_times)), []) for m in methods}
    for k, ts in enumerate(check_times):
        now = datetime.fromtimestamp(float(ts), UTC)
        hi = bisect.bisect_right(times, now)
        lo = bisect.bisect_left(times, now - RECENT_WINDOW)
        recent = events[lo:hi]
        for m in methods:
            s, label = m.score(recent, now)
            scores[m.name].checks[k] = s
            scores[m.name].labels.append(label)
        if progress and k % 288 == 0:
            progress(min(288, len(check_times) - k))

    offsets: list[np.ndarray] = []
    for inj in injections:
        cut_idx = bisect.bisect_left(times, inj.t)
        t0 = _ceil(inj.t, step)
        ks = np.arange(t0, (inj.t + cfg.horizon).timestamp(), step)
        offsets.append((ks - inj.t.timestamp()) / 60.0)
        per = {m.name: np.empty(len(ks)) for m in methods}
        for k, ts in enumerate(ks):
            now = datetime.fromtimestamp(float(ts), UTC)
            lo = bisect.bisect_left(times, now - RECENT_WINDOW, 0, cut_idx)
            seen: Sequence[SensorEvent] = events[lo:cut_idx]
            if inj.extra:
                seen = [*seen, *(x for x in inj.extra if x.time <= now)]
            for m in methods:
                per[m.name][k] = m.emergency_score(seen, now)
        for m in methods:
            scores[m.name].injected.append(per[m.name])
        if progress:
            progress(0)
    return HomeRun(home.name, cut, end, (cut - start).total_seconds() / 86400, check_times, injections,
                   offsets, scores, {m.name: m for m in methods})


def _ceil(at: datetime, step: float) -> float:
    return math.ceil(at.timestamp() / step) * step
