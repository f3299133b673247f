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

import numpy as np
import pytest

from hometwin.domain.detection import RECENT_WINDOW, detect
from hometwin.domain.distributions import CountStats, Sketch
from hometwin.domain.events import SensorEvent
from hometwin.domain.model import BehaviourModel, train_model
from hometwin.domain.packed_cells import COUNTS_LAYOUT, SKETCH_LAYOUT, PackedCells
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


def _numbers(cell: Sketch | CountStats) -> list[str]:
    """Every number of a cell as its exact bits (float.hex tells 0.0 from -0.0, and any last bit)."""
    values = [cell.n, cell.mean, cell.log_mu, cell.log_sigma, *cell.q] if isinstance(cell, Sketch) else \
        [cell.n, cell.mean, cell.var]
    return [type(v).__name__ + float(v).hex() for v in values]


def _every_level(document: dict[str, Any]) -> list[tuple[dict[str, Any], Callable[[Any], Any], Callable[[Any], Any]]]:
    """(document level, parse, the packed model's level) for every level of every table."""
    model, sk, cs = BehaviourModel.from_dict(document), Sketch.from_json, CountStats.from_json
    tables = [(document["durations"][r], model.durations[r], sk) for r in document["durations"]]
    tables += [(document["visits"][r], model.visit_counts[r], cs) for r in document["visits"]]
    tables += [(document["daily_visits"][r][p], model.daily[r][p], cs)
               for r in document["daily_visits"] for p in document["daily_visits"][r]]
    tables += [(document["first_activity"], model.first, sk), (document["away"], model.away, sk),
               (document["bedtime"], model.bedtimes, sk)]
    return [(levels[lv], parse, packed[lv]) for levels, packed, parse in tables for lv in levels]


def test_every_packed_value_comes_back_bit_for_bit_as_the_document_has_it(document: dict[str, Any]) -> None:
    levels = _every_level(document)
    assert len(levels) > 20
    numbers = 0
    for cells, parse, packed in levels:
        assert isinstance(packed, PackedCells) and packed.dtype == np.int32  # a trained model packs in 32 bits
        assert list(packed) == list(cells)
        for key, value in cells.items():
            assert _numbers(packed[key]) == _numbers(parse(value)), (key, value)
            numbers += len(_numbers(packed[key]))
    # 4 bytes a number: half of what float64 rows took
    assert sum(len(packed._rows) for _, _, packed in levels) == 4 * numbers


def test_a_level_whose_numbers_do_not_fit_the_documents_rounding_keeps_them_in_float64() -> None:
    # Written by hand or by another tool: more decimals than to_json keeps, a negative zero, a huge count.
    odd = {"a": Sketch(3, 12.345678, 0.1, 0.2, tuple(float(i) for i in range(13))),
           "b": Sketch(2, 1.5, -0.0, 0.3, tuple(float(i) for i in range(13)))}
    fine = {"a": Sketch(3, 12.34, 0.1234, 0.2, tuple(i / 10 for i in range(13)))}
    for cells, dtype in ((odd, np.float64), ({"a": odd["b"]}, np.float64), (fine, np.int32),
                         ({"x": CountStats(2**40, 1.0, 0.5)}, np.float64), ({"x": CountStats(7, 1.0, 0.5)}, np.int32)):
        packed = PackedCells(cells, SKETCH_LAYOUT if isinstance(next(iter(cells.values())), Sketch) else COUNTS_LAYOUT)
        assert packed.dtype == dtype, cells
        assert {k: _numbers(v) for k, v in packed.items()} == {k: _numbers(v) for k, v in cells.items()}


def test_a_document_with_an_unrounded_number_parses_to_the_same_cells(document: dict[str, Any]) -> None:
    changed = json.loads(json.dumps(document))
    cells = changed["durations"]["bathroom"]["cell"]
    key = next(iter(cells))
    cells[key]["mean"] += 1e-7
    model = BehaviourModel.from_dict(changed)
    assert model.durations["bathroom"]["cell"].dtype == np.float64  # this level only
    assert model.durations["bathroom"]["daytype"].dtype == np.int32
    assert _numbers(model.durations["bathroom"]["cell"][key]) == _numbers(Sketch.from_json(cells[key]))
