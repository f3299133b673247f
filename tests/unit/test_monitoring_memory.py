"""What a monitoring holds per home stays small however long it runs (issue 16, memory).

The model's hazard curves are cached as a check asks for them (domain/silence.py, stay_hazard.py);
with the default limit of 4096 curves a held model gathered some 100 KiB a day of checks (two
caches of up to 4,097 curves of ~0.5 KiB each). The monitoring keeps a handful
(`MONITORING_CURVE_CACHE`), and its findings are those of a model with the default cache, check
for check. It holds no version metadata either.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.components.monitoring import MONITORING_CURVE_CACHE, monitoring_model
from hometwin.domain.detection import RECENT_WINDOW, DetectionParams, detect
from hometwin.domain.model import MODEL_KIND, BehaviourModel
from tests.unit.test_monitoring import DAY, FrozenClock, Recorder, _monitor, home  # noqa: F401 - home: a fixture


def test_a_day_of_checks_keeps_a_handful_of_curves_and_finds_the_same(home: dict[str, Any]) -> None:  # noqa: F811
    source = MemoryEventStore()
    source.append(home["events"])
    clock, emit = FrozenClock(DAY - timedelta(hours=20)), Recorder()
    monitor = _monitor(home, clock, emit, source=source)
    reference = BehaviourModel.from_dict(home["registry"].latest(MODEL_KIND).document)  # the default cache
    checks = fired = 0
    while clock.at < home["fall"].at + timedelta(hours=4):
        result = monitor.check()
        assert result.status == "ok", result.detail
        expected = detect(reference, source.read(clock.at - RECENT_WINDOW, clock.at), clock.at, DetectionParams())
        assert [f.to_dict() for f in result.findings] == [f.to_dict() for f in expected], clock.at
        checks, fired = checks + 1, fired + bool(expected)
        clock.at += timedelta(minutes=5)
    held = monitor.models.model
    assert held is not None and held.stay_hazard is not None and reference.stay_hazard is not None
    assert checks > 24 * 12 and fired > 0  # a day of checks, the fall among them
    assert len(held.silence._cache) <= MONITORING_CURVE_CACHE + 1
    assert len(held.stay_hazard._cache) <= MONITORING_CURVE_CACHE + 1
    assert len(held.silence._by_context) <= MONITORING_CURVE_CACHE + 1
    # The hazard models' per-context parts (about 2 KiB each) are held within the same bound.
    assert len(held.silence.hazard._parts) <= MONITORING_CURVE_CACHE + 1
    assert len(held.stay_hazard.hazard._parts) <= MONITORING_CURVE_CACHE + 1
    assert len(reference.silence.hazard._parts) + len(reference.stay_hazard.hazard._parts) \
        > 2 * (MONITORING_CURVE_CACHE + 1)
    # The cells no check reads are not held, and the findings above were found without them.
    assert held.durations == {} and held.visit_counts == {} and held.training == {}
    assert reference.durations and reference.visit_counts and reference.training
    # Nor does it hold the version's metadata (about 3 KiB a home), which it never shows.
    assert monitor.models.version is not None and monitor.models.version.metadata == {}
    # What the default would have held by now: many times more (it is what grew by the day).
    assert len(reference.silence._cache) + len(reference.stay_hazard._cache) > 4 * (MONITORING_CURVE_CACHE + 1)


def test_a_model_without_a_stay_model_keeps_its_stay_durations(home: dict[str, Any]) -> None:  # noqa: F811
    """An older model's prolonged-stay detector reads the stay durations per time of day."""
    document = dict(home["registry"].latest(MODEL_KIND).document)
    document["stay_hazard"] = None
    held = monitoring_model(document)
    assert held.stay_hazard is None and held.durations == BehaviourModel.from_dict(document).durations
    assert held.durations and held.visit_counts == {}


def test_homes_with_the_same_rooms_share_the_hazard_models_names(home: dict[str, Any]) -> None:  # noqa: F811
    document = home["registry"].latest(MODEL_KIND).document
    one, other = monitoring_model(copy.deepcopy(document)), monitoring_model(copy.deepcopy(document))
    assert one.silence.hazard._index is other.silence.hazard._index
    assert one.silence.hazard.coef == other.silence.hazard.coef


def test_homes_with_the_same_names_hold_each_name_once(home: dict[str, Any]) -> None:  # noqa: F811
    # Each home's document is parsed on its own (json gives each its own strings); the held models share them.
    text = json.dumps(home["registry"].latest(MODEL_KIND).document)
    one, other = monitoring_model(json.loads(text)), monitoring_model(json.loads(text))
    assert one.rooms == other.rooms and all(a is b for a, b in zip(one.rooms, other.rooms, strict=True))
    pairs = [(a, b) for r in one.daily for a, b in zip(one.daily[r], other.daily[r], strict=True)]
    assert pairs and all(a is b for a, b in pairs)
    assert one == other
