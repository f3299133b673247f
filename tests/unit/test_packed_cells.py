"""A parsed model keeps its cells packed (domain/packed_cells.py): smaller, and the same answers.

The reference is the model parsed the way it was before packing: every cell a `Sketch` or
`CountStats` object in a dict. Detection on both must give identical findings.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from hometwin.domain.detection import RECENT_WINDOW, detect
from hometwin.domain.distributions import CountStats, Sketch
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.domain.packed_cells import PackedCells
from tests.unit.drawn_home import TZ, at, drawn_events

TRAIN_DAYS = 28


def _cells(levels: dict[str, dict[str, Any]], parse: Callable[[Any], Any]) -> dict[str, dict[str, Any]]:
    return {level: {key: parse(value) for key, value in cells.items()} for level, cells in levels.items()}


def unpacked(document: dict[str, Any]) -> BehaviourModel:
    """The model as parsed before packing: plain dicts of cell objects."""
    model = BehaviourModel.from_dict(document)
    sk, cs = Sketch.from_json, CountStats.from_json
    return dataclasses.replace(
        model, durations={r: _cells(lv, sk) for r, lv in document["durations"].items()},
        visit_counts={r: _cells(lv, cs) for r, lv in document["visits"].items()},
        daily={r: {p: _cells(lv, cs) for p, lv in parts.items()} for r, parts in document["daily_visits"].items()},
        first=_cells(document["first_activity"], sk), away=_cells(document["away"], sk),
        bedtimes=_cells(document["bedtime"], sk))


@pytest.fixture(scope="module")
def events() -> list[SensorEvent]:
    return drawn_events(35)


@pytest.fixture(scope="module")
def document(events: list[SensorEvent]) -> dict[str, Any]:
    model = train_model(events, tz=TZ, end=at(TRAIN_DAYS, 0))
    return dict(json.loads(json.dumps(model.to_dict())))  # as the registry hands it over


def test_a_parsed_model_is_packed_and_answers_every_cell_as_the_document_says(document: dict[str, Any]) -> None:
    model, reference = BehaviourModel.from_dict(document), unpacked(document)
    assert all(isinstance(cells, PackedCells) for levels in model.durations.values() for cells in levels.values())
    assert model.durations == reference.durations and model.visit_counts == reference.visit_counts
    assert model.daily == reference.daily and model.first == reference.first
    assert model.away == reference.away and model.bedtimes == reference.bedtimes
    assert model.to_dict() == reference.to_dict() == document  # and it writes the same document back
    cells = model.durations["bathroom"]["cell"]
    key = next(iter(cells))
    assert cells[key] == Sketch.from_json(document["durations"]["bathroom"]["cell"][key])
    assert cells.get("9:99") is None and "9:99" not in cells


def test_detection_on_the_packed_model_gives_identical_findings(document: dict[str, Any],
                                                                events: list[SensorEvent]) -> None:
    model, reference = BehaviourModel.from_dict(document), unpacked(document)
    # The days after training, with a fall in the bathroom on day 30 (no event after 10:05).
    fall = at(30, 10) + timedelta(minutes=5)
    stream = [e for e in events if e.time < fall or e.time >= at(31, 0)]
    compared = fired = 0
    now: datetime = at(TRAIN_DAYS, 0)
    while now < at(32, 0):
        recent = [e for e in stream if now - RECENT_WINDOW <= e.time <= now]
        packed_findings = [f.to_dict() for f in detect(model, recent, now)]
        assert packed_findings == [f.to_dict() for f in detect(reference, recent, now)], now
        compared += 1
        fired += bool(packed_findings)
        now += timedelta(minutes=20)
    assert compared == 4 * 72 and fired > 0  # the comparison saw findings, not only quiet checks


def _traced_kib(build: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return size / 1024


def test_a_packed_model_takes_a_fraction_of_the_memory(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    packed = _traced_kib(lambda: BehaviourModel.from_dict(json.loads(text)))
    reference = _traced_kib(lambda: unpacked(json.loads(text)))
    assert packed < reference / 2, (packed, reference)
