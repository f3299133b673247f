"""Train a behaviour model on a period of events and register it: shared by `hometwin train` and
the `modeling` component, so both store exactly the same metadata.

Each new model is compared with the one before it; the behaviour-change summary is registered as
its own write-once document (kind `behaviour-change`) that names both versions, so the model
document stays exactly what `BehaviourModel.to_dict` wrote.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from threadpoolctl import threadpool_limits

from hometwin.config import ModelingSettings
from hometwin.domain.calibration import calibrate_or_prior
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import MODEL_KIND, BehaviourModel, OutdatedModel, train_model
from hometwin.domain.model_compare import compare_models
from hometwin.domain.model_params import ModelParams
from hometwin.ports import SensorSource
from hometwin.registry import ModelRegistry, ModelVersion
from hometwin.services.errors import NotEnoughData

log = logging.getLogger(__name__)
CHANGE_KIND = "behaviour-change"
UNOBSERVED = timedelta(hours=12)
_time = attrgetter("time")


@dataclass(frozen=True)
class Trained:
    version: ModelVersion
    previous: str | None
    change: dict[str, Any] | None

    def event_data(self) -> dict[str, Any]:
        """The `ModelTrainedEvent` payload; `report` is what the weekly e-mail shows."""
        meta = self.version.metadata
        period = f"{meta['training_start'][:10]} to {meta['training_end'][:10]}"
        data: dict[str, Any] = {"version": self.version.version, "previous": self.previous,
                                "training_start": meta["training_start"], "training_end": meta["training_end"]}
        if self.change is not None:
            data["report"] = {"title": "Weekly HomeTwin report: changes in the routine", "period": period,
                              "lines": list(self.change.get("lines", [])),
                              "rooms": self.change.get("rooms", {})}
        return data


def model_metadata(model: BehaviourModel) -> dict[str, Any]:
    training = model.training
    return {
        "training_start": training["period"]["start"],
        "training_end": training["period"]["end"],
        "home_id": model.home_id,
        "tz": model.tz,
        "n_events": training["n_events"],
        "n_stays": training["n_stays"],
        "events_per_room": training["events_per_room"],
        "stays_per_room": training["stays_per_room"],
        "params": training["params"],
        "fingerprint": training["fingerprint"],
    }


@contextmanager
def numerics_on_one_thread() -> Iterator[None]:
    """BLAS and OpenMP (scikit-learn's hazard fits, domain/hazard.py) on one thread while a model trains.

    Their pools start a thread per core and spin while waiting for work: on the shared 2-core machine a
    home-year took 4.9-5.7 s of CPU with them and 3.2 s without (benchmarks/retrain_fleet.py), for the
    same model to the last digit (tests/unit/test_training_threads.py: the fits' per-sample work is
    independent, the matrices small). Parallel homes come from the modeling's worker processes instead.

    The fits' libraries are imported first: threadpoolctl limits only the runtimes already loaded, and
    scikit-learn loads its OpenMP runtime on import, so a process's first training (a worker's first
    home) fitted on every core's threads otherwise: 1.5 s more CPU for a home-year's calibration.
    """
    import scipy.sparse  # noqa: F401, PLC0415 - only to load the runtimes before they are limited
    import sklearn.linear_model  # noqa: F401, PLC0415

    with threadpool_limits(limits=1):
        yield


def train_and_register(events: Sequence[SensorEvent], registry: ModelRegistry, *, tz: str, start: datetime,
                       end: datetime, params: ModelParams | None = None, min_days: float = 0.0,
                       false_alarm_budget: float | None = None) -> Trained:
    """Learn from `events` in [start, end), calibrate its alarm limits to `false_alarm_budget` (alarms
    a day; default `HOMETWIN_DETECT_FALSE_ALARM_BUDGET`, 0 turns it off; domain/calibration.py),
    register the model and its change summary."""
    if not events:
        raise NotEnoughData(f"no sensor events between {start.isoformat()} and {end.isoformat()}")
    first, last = min(map(_time, events)), max(map(_time, events))
    covered_days = (last - first).total_seconds() / 86400
    if covered_days < min_days:
        raise NotEnoughData(f"only {covered_days:.1f} days of events, at least {min_days:g} are needed")
    # The metadata states the period the model learned from, not a window far wider than the data
    # (half a day without any data is an unknown stretch, as in the stays).
    if first - start > UNOBSERVED:
        start = first
    budget = ModelingSettings().detect_false_alarm_budget if false_alarm_budget is None else false_alarm_budget
    with numerics_on_one_thread():
        model = train_model(events, tz=tz, params=params or ModelParams(), start=start, end=end,
                            home_id=registry.home_id)
        if budget > 0:
            # Events read for [start, end) are all in it: no copy of a home-year to filter nothing out.
            window = events if start <= first and last < end else [e for e in events if start <= e.time < end]
            model.calibration = calibrate_or_prior(window, tz=tz, budget=budget, params=model.params)
    previous = registry.latest(MODEL_KIND)
    version = registry.register(MODEL_KIND, model.to_dict(), model_metadata(model))
    change = None
    try:
        before = BehaviourModel.from_dict(previous.document) if previous is not None else None
    except OutdatedModel:  # an older schema: there is nothing comparable to summarise
        before = None
    if previous is not None and before is not None:
        change = compare_models(before, model)
        registry.register(CHANGE_KIND, {"model_version": version.version, "previous_version": previous.version,
                                        "change": change},
                          {"training_start": version.metadata["training_start"],
                           "training_end": version.metadata["training_end"], "model_version": version.version})
    return Trained(version, previous.version if previous else None, change)


def report_trends(source: SensorSource, events: Sequence[SensorEvent], start: datetime, end: datetime, *,
                  tz: str) -> dict[str, Any] | None:
    """The weekly e-mail's trends (services/trend_digest.py) from the same days of events as the
    dashboard's Trends page: the charted weeks and the older days their baselines need, taken from
    the training events (`start` to `end`, sorted) and from `source` before them. None when they
    cannot be computed: the report then goes out without them rather than not at all."""
    from hometwin.domain.change import trend_report_from_events
    from hometwin.services.trend_digest import history_days, trend_digest

    try:
        since = end - timedelta(days=history_days())
        # A longer training window (a home-year) would only cost time here and could make the e-mail's
        # charts differ from the dashboard's, whose online baselines start at `since` too.
        recent = events[bisect.bisect_left(events, since, key=attrgetter("time")):]
        history = [*(source.read(since, start) if since < start else []), *recent]
        return trend_digest(trend_report_from_events(history, tz=tz, now=end))
    except Exception:  # noqa: BLE001 - logged with its traceback; the model and its report stand
        log.exception("the weekly report goes out without trends: they could not be computed")
        return None


def train_window(source: SensorSource, registry: ModelRegistry, *, tz: str, start: datetime, end: datetime,
                 min_days: float, false_alarm_budget: float | None = None) -> dict[str, Any]:
    """One home's training as the modeling component runs it, in its process or in a worker process:
    read [start, end) from `source`, train and register, add the weekly report's trends. Returns the
    `ModelTrainedEvent` data; raises NotEnoughData, and PortError or OSError when a store is down."""
    events = source.read(start, end)
    trained = train_and_register(events, registry, tz=tz, start=start, end=end, min_days=min_days,
                                 false_alarm_budget=false_alarm_budget)
    data = trained.event_data()
    if "report" in data:
        data["report"]["trends"] = report_trends(source, events, start, end, tz=tz)
    return data
