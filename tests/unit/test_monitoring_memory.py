"""What a monitoring holds per home stays small however long it runs (issue 16, memory).

The model's hazard curves are cached as a check asks for them (domain/silence.py, stay_hazard.py);
with the default limit of 4096 curves a held model gathered some 100 KiB a day of checks (two
caches of up to 4,097 curves of ~0.5 KiB each). The monitoring keeps a handful
(`MONITORING_CURVE_CACHE`), and its findings are those of a model with the default cache, check
for check. It holds no version metadata either.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hometwin.adapters.memory_source import MemoryEventStore
from hometwin.components.monitoring import MONITORING_CURVE_CACHE
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
    # Nor does it hold the version's metadata (about 3 KiB a home), which it never shows.
    assert monitor.models.version is not None and monitor.models.version.metadata == {}
    # What the default would have held by now: many times more (it is what grew by the day).
    assert len(reference.silence._cache) + len(reference.stay_hazard._cache) > 4 * (MONITORING_CURVE_CACHE + 1)
