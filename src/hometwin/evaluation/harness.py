"""Replay homes through the detectors on a simulated clock and record every method's scores.

Per home: the folds of the protocol (`protocol.folds`: by default a new model every 7 days on all
data so far, as the modeling component retrains in production; or the earlier single 60/40 split).
Each fold trains the behaviour model with the modeling code (`train_model`) once on every event
before its origin, and the baselines on the same data; the fold's test days are replayed at the
monitoring cadence with that fold's methods, each check seeing only the events of the last
`RECENT_WINDOW` up to "now" (what the monitoring reads). The unmodified replay gives the false
alarms; each injected emergency is replayed from its start for `horizon` with the events after t
removed, by the methods of the fold it falls in. The scores are kept per check, so every knob value
is evaluated from one replay (see `metrics.py`).
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
from hometwin.evaluation.exclusions import GAP, REACHABLE, Interval, Intervals, data_gaps, residual
from hometwin.evaluation.methods import HomeTwinMethod, Method, StayBaseline, TimerBaseline
from hometwin.evaluation.protocol import Fold, Injection, choose_injections, choose_stuck, folds

Progress = Callable[[int, int], None]  # (work done, work in total) for the home being replayed
SensorFault = tuple[datetime, datetime, str]  # start, end, room of a sensor that is dead or stuck
PROTOCOLS = ("rolling", "split")


@dataclass(frozen=True)
class HomeData:
    name: str
    events: Sequence[SensorEvent]  # sorted
    tz: str = "Europe/Berlin"
    # No test time and no injection here (known outages, a simulator's ground truth): like a data gap.
    excluded: tuple[Interval, ...] = ()
    # Labelled absences: no injection (nobody falls at home while out), but still test time: an
    # alarm while the person is out reaches the family, so it is counted.
    absent: tuple[Interval, ...] = ()
    # Known sensor faults (a simulator's ground truth: a dead or stuck sensor): (start, end, room).
    # A technical finding in that room while one lasts notices the fault; it is no false alarm.
    faults: tuple[SensorFault, ...] = ()


@dataclass(frozen=True)
class EvalConfig:
    train_fraction: float = 0.6  # the split protocol only
    injections: int = 200  # per home, half by day, half by night
    stuck: int = 40  # stuck-in-the-bathroom injections per home
    injection: str = "anchored"  # anchored | random
    protocol: str = "rolling"  # rolling | split
    # honest | plain; None: the protocol's own (honest for rolling, plain for split, as before)
    counting: str | None = None
    # loho (a chosen knob never sees the home it is measured on) | pooled; None: the protocol's own
    selection: str | None = None
    min_train: timedelta = timedelta(days=7)
    retrain_every: timedelta = timedelta(days=7)
    # Each rolling model learns from at most this much history before its origin, as the modeling
    # component does (`HOMETWIN_MODELING_WINDOW_DAYS`, 56 days); shorter homes: all data so far.
    train_window: timedelta = timedelta(days=56)
    gap: timedelta = GAP
    reachable: timedelta = REACHABLE
    target_rate: float = 0.1  # false alarms per day that the leave-one-home-out selection aims at
    seed: int = 1
    cadence: timedelta = timedelta(minutes=5)  # the monitoring's check interval
    horizon: timedelta = timedelta(hours=12)
    params: DetectionParams = field(default_factory=DetectionParams)
    model_params: Any = None  # a ModelParams, or None for the default
    # Alarms a day each rolling model is calibrated to on its own training days, as the modeling
    # component does (`HOMETWIN_DETECT_FALSE_ALARM_BUDGET`); 0: uncalibrated. The split protocol never
    # calibrates (it is kept to reproduce the earlier figures' method).
    false_alarm_budget: float = 0.0
    # Honest counting takes a technical finding during a known sensor fault of its room for what it is,
    # the fault noticed (metrics.fault_notices); True counts it as a false alarm, as before.
    faults_as_false_alarms: bool = False

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if self.counting not in (None, "honest", "plain"):
            raise ValueError(f"counting {self.counting!r} is not honest or plain")
        if self.selection not in (None, "loho", "pooled"):
            raise ValueError(f"selection {self.selection!r} is not loho or pooled")

    @property
    def honest(self) -> bool:
        return (self.counting or ("plain" if self.protocol == "split" else "honest")) == "honest"

    @property
    def loho(self) -> bool:
        return (self.selection or ("pooled" if self.protocol == "split" else "loho")) == "loho"

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "counting": "honest" if self.honest else "plain",
                "faults_as_false_alarms": self.faults_as_false_alarms,
                "selection": "loho" if self.loho else "pooled",
                "train_fraction": self.train_fraction if self.protocol == "split" else None,
                "min_train_days": self.min_train.total_seconds() / 86400,
                "retrain_every_days": self.retrain_every.total_seconds() / 86400,
                "train_window_days": self.train_window.total_seconds() / 86400,
                "gap_h": self.gap.total_seconds() / 3600, "reachable_min": self.reachable.total_seconds() / 60,
                "target_rate": self.target_rate,
                "injections": self.injections, "stuck": self.stuck, "injection": self.injection,
                "seed": self.seed, "cadence_min": self.cadence.total_seconds() / 60,
                "horizon_h": self.horizon.total_seconds() / 3600,
                "detection_params": self.params.to_dict()}


@dataclass
class MethodScores:
    checks: np.ndarray  # score at every check of the unmodified test part
    labels: list[str]  # "detector:room" of the top finding at every check
    technical: np.ndarray  # largest technical margin at every check (-inf if none)
    injected: list[np.ndarray] = field(default_factory=list)  # per injection: score per check


@dataclass
class HomeRun:
    name: str
    test_start: datetime
    test_end: datetime
    train_days: float  # the first fold's training span
    test_days: float  # the tested span, minus data gaps and excluded time under honest counting
    cadence_s: float
    folds: list[Fold]
    check_times: np.ndarray  # epoch seconds
    check_fold: np.ndarray  # index of the fold (model) of every check
    uncounted: np.ndarray  # per check: inside a data gap or excluded time (honest counting only)
    injections: list[Injection]
    offsets: list[np.ndarray]  # per injection: minutes from t to each check
    residuals: np.ndarray  # per injection: minutes from t to the next real event (inf: none)
    scores: dict[str, MethodScores]
    fold_methods: list[dict[str, Method]]  # per fold: the methods trained for it
    fold_test_days: tuple[float, ...] = ()  # test days of every fold (same rule as test_days)
    honest: bool = True  # count as the honest protocol does (metrics.py)
    reachable_min: float = 30.0  # an injection is reachable when its residual is at most this
    tz: str = "UTC"  # the home's zone: false alarms are listed in its local time
    faults: tuple[SensorFault, ...] = ()  # known sensor faults whose technical notices are no false alarms

    @property
    def methods(self) -> dict[str, Method]:
        """The last fold's methods: names, labels, knobs and sweeps are the same in every fold."""
        return self.fold_methods[-1]

    def fold_at(self, at: datetime) -> int:
        """The fold whose model is in use at `at`."""
        return max(bisect.bisect_right([f.origin for f in self.folds], at) - 1, 0)


def _train(events: Sequence[SensorEvent], times: Sequence[datetime], origin: datetime, home: HomeData,
           cfg: EvalConfig) -> dict[str, Method]:
    from hometwin.domain.model import train_model
    from hometwin.domain.model_params import ModelParams

    start = events[0].time
    if cfg.protocol == "rolling":
        start = max(start, origin - cfg.train_window)
    train = list(events[bisect.bisect_left(times, start):bisect.bisect_left(times, origin)])
    model = train_model(train, tz=home.tz, params=cfg.model_params or ModelParams(), start=start, end=origin,
                        home_id=home.name)
    if cfg.protocol == "rolling" and cfg.false_alarm_budget > 0:
        from hometwin.domain.calibration import calibrate_or_prior

        model.calibration = calibrate_or_prior(train, tz=home.tz, budget=cfg.false_alarm_budget, params=model.params,
                                      detection=cfg.params)
    timeline = extract_timeline(train)
    methods: list[Method] = [HomeTwinMethod(model, cfg.params), TimerBaseline(),
                             StayBaseline.train(timeline, use_sd=True), StayBaseline.train(timeline, use_sd=False)]
    return {m.name: m for m in methods}


def run_home(home: HomeData, cfg: EvalConfig, progress: Progress | None = None) -> HomeRun:
    events = list(home.events)
    if len(events) < 10:
        raise ValueError(f"{home.name}: only {len(events)} events, too few to evaluate")
    times = [e.time for e in events]
    plan = folds(events, cfg.protocol, train_fraction=cfg.train_fraction, min_train=cfg.min_train,
                 retrain_every=cfg.retrain_every)
    first, end = plan[0].origin, plan[-1].end
    # Under honest counting, data gaps and excluded time are no test time; absences only keep
    # injections out. Plain counting is the earlier protocol: nothing left out.
    uncountable = (data_gaps(events, cfg.gap) | Intervals(home.excluded)) if cfg.honest else Intervals()
    blocked = (uncountable | Intervals(home.absent)) if cfg.honest else None
    fold_methods = [_train(events, times, f.origin, home, cfg) for f in plan]

    timeline = extract_timeline(events)
    rng = np.random.default_rng(cfg.seed * 1_000_003 + sum(map(ord, home.name)))
    injections = choose_injections(home.name, events, timeline, first, end, cfg.injections, cfg.injection,
                                   cfg.horizon, home.tz, rng, blocked)
    injections += choose_stuck(home.name, events, timeline, first, end, cfg.stuck, cfg.horizon, home.tz, rng,
                               blocked)

    step = cfg.cadence.total_seconds()
    check_times = np.arange(_ceil(first, step), end.timestamp() + 1e-9, step)
    origins = np.array([f.origin.timestamp() for f in plan])
    check_fold = np.searchsorted(origins, check_times, side="right") - 1
    total = len(check_times) + len(injections)
    names = list(fold_methods[0])
    scores = {n: MethodScores(np.empty(len(check_times)), [], np.empty(len(check_times))) for n in names}
    for k, ts in enumerate(check_times):
        now = datetime.fromtimestamp(float(ts), UTC)
        recent = events[bisect.bisect_left(times, now - RECENT_WINDOW):bisect.bisect_right(times, now)]
        for name, m in fold_methods[int(check_fold[k])].items():
            s, label, technical = m.score(recent, now)
            scores[name].checks[k] = s
            scores[name].labels.append(label)
            scores[name].technical[k] = technical
        if progress and k % 288 == 0:
            progress(k, total)

    offsets: list[np.ndarray] = []
    for j, inj in enumerate(injections):
        offsets.append(_replay_injection(events, times, inj, fold_methods[_fold_of(origins, inj.t)], cfg,
                                         scores))
        if progress:
            progress(len(check_times) + j + 1, total)
    res = [residual(times, inj.t) for inj in injections]
    return HomeRun(
        home.name, first, end, (first - events[0].time).total_seconds() / 86400,
        ((end - first) - uncountable.overlap(first, end)).total_seconds() / 86400, step, plan,
        check_times, check_fold,
        np.array(uncountable.mask(check_times), dtype=bool) if uncountable else np.zeros(len(check_times), bool),
        injections, offsets, np.array([math.inf if r is None else r.total_seconds() / 60 for r in res]),
        scores, fold_methods,
        tuple(((f.end - f.origin) - uncountable.overlap(f.origin, f.end)).total_seconds() / 86400 for f in plan),
        cfg.honest, cfg.reachable.total_seconds() / 60, home.tz,
        home.faults if cfg.honest and not cfg.faults_as_false_alarms else ())


def _replay_injection(events: Sequence[SensorEvent], times: Sequence[datetime], inj: Injection,
                      methods: dict[str, Method], cfg: EvalConfig, scores: dict[str, MethodScores]) -> np.ndarray:
    """Score every check from t to t + horizon with the events after t removed (plus the variant's
    synthetic events); returns the checks' offsets from t in minutes."""
    step = cfg.cadence.total_seconds()
    cut_idx = bisect.bisect_left(times, inj.t)
    ks = np.arange(_ceil(inj.t, step), (inj.t + cfg.horizon).timestamp(), step)
    per = {name: np.full(len(ks), math.inf) for name in methods}
    # Only the first check at or above each knob matters for a delay: once a method's score reaches
    # every knob it can be evaluated at, its later checks are left at +inf unevaluated.
    cap = {name: max(max(m.sweep), m.default_theta) for name, m in methods.items()}
    live = set(methods)
    for k, ts in enumerate(ks):
        if not live:
            break
        now = datetime.fromtimestamp(float(ts), UTC)
        lo = bisect.bisect_left(times, now - RECENT_WINDOW, 0, cut_idx)
        seen: Sequence[SensorEvent] = events[lo:cut_idx]
        if inj.extra:
            seen = [*seen, *(x for x in inj.extra if x.time <= now)]
        for name in list(live):
            s = methods[name].emergency_score(seen, now)
            per[name][k] = s
            if s >= cap[name]:
                live.discard(name)
    for name in methods:
        scores[name].injected.append(per[name])
    return (ks - inj.t.timestamp()) / 60.0


def _fold_of(origins: np.ndarray, t: datetime) -> int:
    return max(int(np.searchsorted(origins, t.timestamp(), side="right")) - 1, 0)


def _ceil(at: datetime, step: float) -> float:
    return math.ceil(at.timestamp() / step) * step
