"""The calibration's replay asks the detectors for scores only (`assess(..., scores_only=True)`,
domain/detectors/base.py `Situation.scores_only`): the findings come without words, and every
number the replay reads must be the one a full check computes, to the bit."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta

from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, assess
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.sim import simulate

TZ = "Europe/Berlin"
START = datetime(2024, 3, 4, tzinfo=UTC)
TRAIN_DAYS = 21
DAYS = 4


@functools.cache
def home(seed: int) -> tuple[BehaviourModel, list[SensorEvent]]:
    """A model of three weeks, and four days after them: an ordinary one, one silent from 10:00 to
    18:00 (a fall), then two with every sensor but one room's dead (dead sensors after 24 h)."""
    events = sorted(simulate(days=TRAIN_DAYS + DAYS, seed=seed, start=START).events)
    cut = START + timedelta(days=TRAIN_DAYS)
    model = train_model([e for e in events if e.time < cut], tz=TZ, checks_only=True)
    silent = (cut + timedelta(days=1, hours=10), cut + timedelta(days=1, hours=18))
    dead_from, alive = cut + timedelta(days=2), events[-1].room
    kept = [e for e in events
            if not silent[0] <= e.time < silent[1] and not (e.time >= dead_from and e.room != alive)]
    return model, kept


def _numbers(model: BehaviourModel, recent: list[SensorEvent], now: datetime, scores_only: bool) -> list[tuple]:
    """What the replay reads of each assessment. Not which of several firing person-level findings is
    suppressed (that follows the crossing times a scores-only check does not compute): the margin
    ignores suppression, and blocking is decided before it."""
    return [(a.finding.kind, a.finding.severity, a.score, a.limit, a.blocked, a.blocks,
             a.score >= a.limit and not a.blocked,
             math.copysign(1.0, a.margin) if math.isinf(a.margin) else a.margin)
            for a in assess(model, recent, now, DetectionParams(sensitivity=0.0), scores_only=scores_only)]


def test_scores_only_assessments_carry_the_full_checks_numbers() -> None:
    fired: set[str] = set()
    for seed in (3, 8):
        model, events = home(seed)
        times = [e.time for e in events]
        day0 = START + timedelta(days=TRAIN_DAYS)
        for i in range(DAYS * 144):
            now = day0 + i * timedelta(minutes=10)
            recent = events[_bisect(times, now - RECENT_WINDOW):_bisect(times, now, right=True)]
            full = _numbers(model, recent, now, scores_only=False)
            assert _numbers(model, recent, now, scores_only=True) == full
            fired |= {kind.value for kind, *_, fires, _margin in full if fires}
    # the days hold what a scores-only check shortcuts: a silence, dead sensors (which block stays)
    assert {"unusual_silence", "sensor_data_missing"} <= fired


def test_a_scores_only_finding_has_no_words() -> None:
    model, events = home(3)
    shortcut = {"unusual_silence", "prolonged_stay", "missing_routine", "sensor_data_missing", "sensor_stuck"}
    seen: set[str] = set()
    for hour in range(0, 4 * 24, 2):
        now = START + timedelta(days=TRAIN_DAYS, hours=hour)
        recent = [e for e in events if now - RECENT_WINDOW <= e.time <= now]
        lean = {a.finding.kind.value: a.finding for a in assess(model, recent, now, scores_only=True)}
        full = {a.finding.kind.value: a.finding for a in assess(model, recent, now)}
        assert lean.keys() == full.keys()
        for kind, finding in lean.items():
            assert (finding.severity, finding.room) == (full[kind].severity, full[kind].room)
            assert full[kind].message and (finding.message == "") == (kind in shortcut)
        seen |= lean.keys() & shortcut
    assert seen == shortcut


def _bisect(times: list[datetime], at: datetime, *, right: bool = False) -> int:
    from bisect import bisect_left, bisect_right

    return (bisect_right if right else bisect_left)(times, at)


def test_a_stay_is_judged_from_its_own_contexts_as_from_all_of_them() -> None:
    """The prolonged-stay detector reads `Situation.stay_contexts` (from the stay's first event on),
    not every recent event's context: the pauses and the room before are the same."""
    from hometwin.domain.detectors.base import Situation
    from hometwin.domain.detectors.prolonged_stay import quiet_evidence

    model, events = home(8)
    compared = 0
    for i in range(0, DAYS * 144, 6):
        now = START + timedelta(days=TRAIN_DAYS) + i * timedelta(minutes=10)
        recent = [e for e in events if now - RECENT_WINDOW <= e.time <= now]
        situation = Situation.at(model, recent, now, DetectionParams())
        if not recent:
            continue
        start = situation.stay[1]
        for limit in (3.5, math.inf):
            assert (quiet_evidence(model.silence, situation.stay_contexts, start, now, 2.0, limit)
                    == quiet_evidence(model.silence, situation.contexts, start, now, 2.0, limit))
        first = [c for c in situation.contexts if c is not None and c.time >= start][:1]
        assert [c for c in situation.stay_contexts if c is not None and c.time >= start][:1] == first
        compared += len(situation.contexts) > len(situation.stay_contexts)
    assert compared > 40  # the contexts before the stay were there to skip


def test_the_dead_sensor_check_finds_each_daily_sensors_last_event() -> None:
    """It reads the events back only until every daily sensor is found: the same last times as a
    pass over all of them, for drawn event lists where some sensors are missing."""
    import random

    from hometwin.domain.detectors.dead_sensors import _last_times

    rng = random.Random(4)
    sensors = [f"s{i}" for i in range(8)]
    for _ in range(300):
        t = START
        recent = []
        for _ in range(rng.randint(1, 60)):
            t += timedelta(seconds=rng.choice([0, 1, 90]))
            recent.append(SensorEvent(t, rng.choice(sensors[:rng.randint(1, 8)]), "hall"))
        daily = rng.sample(sensors, rng.randint(1, 8))
        everything = {e.sensor: e.time for e in recent}
        assert _last_times(recent, daily) == {s: everything[s] for s in daily if s in everything}
