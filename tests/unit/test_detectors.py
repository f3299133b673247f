"""Generic checks every registered detector must pass, run on each detector by itself (like river's
`check_estimator`), plus the registry and the model parameters the detectors read.

A new detector gets these checks by being registered in `hometwin.domain.detectors.DETECTORS`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from hometwin.domain.detection import RECENT_WINDOW
from hometwin.domain.detectors import DETECTORS, Assessment, DetectionParams, Detector, SharedParams, Situation
from hometwin.domain.detectors.unusual_frequency import UnusualFrequency
from hometwin.domain.detectors.unusual_silence import UnusualSilence
from hometwin.domain.events import SensorEvent, SensorKind
from hometwin.domain.findings import TECHNICAL_KINDS, FindingKind
from hometwin.domain.model import BehaviourModel, train_model
from tests.unit.drawn_home import TZ, at, drawn_events

TRAIN_DAYS = 28
STEP = timedelta(minutes=20)
HORIZON = timedelta(hours=30)  # past a midnight and a day start, whatever the scenario's start


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Recent events, then nothing: checks from `start` on see the same events at a later `now`."""

    name: str
    recent: Sequence[SensorEvent]
    start: datetime
    source_error_since: datetime | None = None

    def checks(self) -> list[datetime]:
        return [self.start + k * STEP for k in range(int(HORIZON / STEP) + 1)]


@pytest.fixture(scope="module")
def events() -> list[SensorEvent]:
    return drawn_events(35)


@pytest.fixture(scope="module")
def model(events: list[SensorEvent]) -> BehaviourModel:
    return train_model(events, tz=TZ, end=at(TRAIN_DAYS, 0))


def _until(events: Sequence[SensorEvent], end: datetime) -> list[SensorEvent]:
    return [e for e in events if end - RECENT_WINDOW <= e.time <= end]


@pytest.fixture(scope="module")
def scenarios(events: list[SensorEvent]) -> list[Scenario]:
    """Between them, every detector has something to say."""
    bathroom = [e for e in events if e.room == "bathroom" and e.time <= at(30, 10, 20)][-1]
    bed = [e for e in events if e.kind is SensorKind.PRESSURE and e.value == 1.0 and e.time <= at(30, 23, 1)][-1]
    door = [e for e in events if e.kind is SensorKind.DOOR and e.time <= at(30, 15)][-1]
    enter = at(30, 9, 40)
    stuck = [e for e in _until(events, enter) if e.time < enter] + [
        SensorEvent(enter + timedelta(minutes=15 * i), "pir_bathroom", "bathroom") for i in range(13)]
    cut = at(29, 9)  # a dead gateway: from here on only the kitchen motion reports
    kitchen = [SensorEvent(cut + timedelta(minutes=5 * i), "pir_kitchen", "kitchen") for i in range(12 * 28)]
    draught = at(30, 21)  # from here on the living-room motion sensor fires every 11 s (a stuck PIR)
    stuck_pir = sorted([e for e in _until(events, at(31, 1)) if e.sensor != "pir_livingroom" or e.time < draught]
                       + [SensorEvent(draught + timedelta(seconds=11 * i), "pir_livingroom", "livingroom")
                          for i in range(1300)])
    busy = _until(events, at(30, 23))
    for i in range(8):
        t = at(31, 0, 10) + timedelta(minutes=40 * i)
        busy += [SensorEvent(t, "bed_mat", "bedroom", SensorKind.PRESSURE, 0.0),
                 SensorEvent(t + timedelta(minutes=1), "pir_bathroom", "bathroom"),
                 SensorEvent(t + timedelta(minutes=5), "bed_mat", "bedroom", SensorKind.PRESSURE, 1.0)]
    return [
        Scenario("after a bathroom visit", _until(events, bathroom.time), bathroom.time),
        Scenario("asleep", _until(events, bed.time), bed.time),
        Scenario("gone out", _until(events, door.time), door.time),
        Scenario("stuck with rare movement", stuck, stuck[-1].time),
        Scenario("dead gateway", [e for e in _until(events, cut) if e.time < cut] + kitchen, kitchen[-1].time),
        Scenario("busy night", busy, busy[-1].time),
        Scenario("stuck motion sensor", stuck_pir, stuck_pir[-1].time),
        Scenario("source failing", _until(events, bathroom.time), bathroom.time, bathroom.time),
    ]


def _run(detector: Detector, model: BehaviourModel, s: Scenario, now: datetime,
         params: DetectionParams = DetectionParams()) -> list[Assessment]:
    return detector.assess(Situation(model, s.recent, now, params, s.source_error_since))


def _ids(d: Detector) -> str:
    return d.name


# ------------------------------------------------------------------------------ generic checks
@pytest.mark.parametrize("detector", DETECTORS, ids=_ids)
def test_score_never_falls_while_no_event_arrives(detector: Detector, model: BehaviourModel,
                                                  scenarios: list[Scenario]) -> None:
    """What the evaluation's exact sweep relies on (docs/evaluation.md): while nothing happens, an
    incident's margin (score - limit, -inf below the floor) never falls, and an incident that is no
    longer reported (a new day, a new night) never comes back, so one incident is one alarm episode."""
    seen_any = False
    for s in scenarios:
        history: dict[str, list[tuple[int, float, float]]] = {}  # incident -> (check, score, margin)
        for k, now in enumerate(s.checks()):
            for a in _run(detector, model, s, now):
                history.setdefault(a.finding.incident_key, []).append((k, a.score, a.margin))
        for key, rows in history.items():
            seen_any = True
            checks = [k for k, _, _ in rows]
            assert checks == list(range(checks[0], checks[0] + len(checks))), (
                f"{s.name}: {key} disappears and comes back at checks {checks}")
            for (k0, s0, m0), (k1, s1, m1) in zip(rows, rows[1:], strict=False):
                assert s1 >= s0 and m1 >= m0, (
                    f"{s.name}: {key} falls from score {s0} (margin {m0}) at check {k0} to {s1} ({m1}) at {k1}")
    assert seen_any, f"no scenario exercises {detector.name}: add one"


@pytest.mark.parametrize("detector", DETECTORS, ids=_ids)
def test_assess_is_deterministic(detector: Detector, model: BehaviourModel, scenarios: list[Scenario]) -> None:
    for s in scenarios:
        for now in s.checks()[::9]:
            situation = Situation(model, s.recent, now, DetectionParams(), s.source_error_since)
            first = repr(detector.assess(situation))
            assert repr(detector.assess(situation)) == first  # a reused situation (cached facts)
            assert repr(_run(detector, model, s, now)) == first  # a fresh one


@pytest.mark.parametrize("detector", DETECTORS, ids=_ids)
def test_findings_carry_the_evidence(detector: Detector, model: BehaviourModel,
                                     scenarios: list[Scenario]) -> None:
    """Observed, usual value, how unusual (percentile), from when on unusual, and a sentence."""
    for s in scenarios:
        for now in s.checks():
            for a in _run(detector, model, s, now):
                f = a.finding
                assert f.kind is detector.kind
                assert math.isfinite(f.observed) and f.observed >= 0
                assert math.isfinite(f.expected)
                assert 0.0 <= f.percentile <= 100.0
                assert f.started_at.tzinfo is not None and f.started_at <= now
                assert isinstance(f.message, str) and len(f.message) > 20
                assert not math.isnan(a.score) and math.isfinite(a.limit)
                if a.fires:
                    assert math.isfinite(f.threshold), f"{s.name}: a firing finding says from when on"
                    assert f.threshold <= f.observed or f.kind is FindingKind.UNUSUAL_FREQUENCY


@pytest.mark.parametrize("detector", DETECTORS, ids=_ids)
def test_nothing_to_say_without_events(detector: Detector, model: BehaviourModel) -> None:
    now = at(30, 12)
    assert detector.assess(Situation(model, [], now, DetectionParams())) == []


@pytest.mark.parametrize("detector", DETECTORS, ids=_ids)
def test_every_detector_uses_the_sensitivity(detector: Detector, model: BehaviourModel,
                                             scenarios: list[Scenario]) -> None:
    """A person-level or outing limit moves with `sensitivity`; technical findings keep their own limits."""
    for s in scenarios:
        for now in s.checks()[::6]:
            base = _run(detector, model, s, now)
            eager = _run(detector, model, s, now, DetectionParams(sensitivity=1.0))
            for a, b in zip(base, eager, strict=True):
                assert a.score == b.score or math.isnan(a.score)
                expected = a.limit if a.finding.kind in TECHNICAL_KINDS else a.limit - 1.0
                assert b.limit == pytest.approx(expected)


# ------------------------------------------------------------------------------------ registry
def test_registry_names_kinds_and_knobs() -> None:
    names = [d.name for d in DETECTORS]
    assert len(set(names)) == len(names)
    knobs: list[str] = []
    for d in DETECTORS:
        assert isinstance(d.kind, FindingKind)
        assert dataclasses.is_dataclass(d.params) and d.params.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert issubclass(DetectionParams, d.params), f"add {d.params.__name__} to DetectionParams' bases"
        knobs += [f.name for f in dataclasses.fields(d.params)]
    shared = [f.name for f in dataclasses.fields(SharedParams)]
    assert len(set(knobs + shared)) == len(knobs + shared), "two detectors declare the same knob"
    assert sorted(f.name for f in dataclasses.fields(DetectionParams)) == sorted(knobs + shared)
    for f in dataclasses.fields(DetectionParams):
        assert f.metadata.get("doc"), f"knob {f.name} has no description (declare it with `knob`)"


# ------------------------------------------------------------------- the model's parameters
def test_presence_follows_the_models_stay_params(model: BehaviourModel, events: list[SensorEvent]) -> None:
    # The person got up (bed mat OFF) and nothing followed. A mat is presence when it switches off,
    # unless the home's StayParams say otherwise: then the bathroom visit before is where they are.
    t = at(30, 22, 50)
    recent = [e for e in _until(events, t) if e.time < t] + [
        SensorEvent(t, "pir_bathroom", "bathroom"),
        SensorEvent(t + timedelta(minutes=5), "bed_mat", "bedroom", SensorKind.PRESSURE, 0.0)]
    now = t + timedelta(hours=2)
    found = UnusualSilence().assess(Situation(model, recent, now, DetectionParams()))
    assert found[0].finding.room == "bedroom"
    stays = dataclasses.replace(model.params.stays, off_means_present=frozenset({SensorKind.DOOR}))
    other = dataclasses.replace(model, params=dataclasses.replace(model.params, stays=stays))
    situation = Situation(other, recent, now, DetectionParams())
    assert situation.stay[0] == "bathroom"
    assert UnusualSilence().assess(situation)[0].finding.room == "bathroom"


def test_night_hours_are_the_models(model: BehaviourModel, events: list[SensorEvent]) -> None:
    recent = _until(events, at(31, 6, 30))
    now = at(31, 6, 30)
    assert UnusualFrequency().assess(Situation(model, recent, now, DetectionParams())) == []  # night till 07:00
    early = dataclasses.replace(model, params=dataclasses.replace(model.params, night_start_hour=22,
                                                                   night_end_hour=6))
    found = UnusualFrequency().assess(Situation(early, recent, now, DetectionParams()))
    assert found and all("during the night (22:00-06:00)" in a.finding.message for a in found)
    assert {a.finding.started_at for a in found} == {at(30, 22)}
