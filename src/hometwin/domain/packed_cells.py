"""A level's cells packed into one array: how a parsed model stays small in a fleet's memory.

A parsed behaviour model has about a thousand cells (room x weekday x time-of-day bin x pooling
level), each a `Sketch` of 17 numbers or a `CountStats` of 3. As Python objects (a frozen
dataclass, a tuple, a float object per number, a dict entry and a key string per cell) they took
about 0.7 MiB a home; a monitoring holding the models of thousands of homes ran out of memory
first (docs/fleet.md). `PackedCells` keeps one level's numbers in one float64 array, one row a
cell, and builds the `Sketch` or `CountStats` when a cell is asked for (a check asks for a few
dozen). The key -> row index is shared by every level with the same keys (most homes have a cell
for every hour of every weekday), so the keys cost nothing per home.

Exact: a row holds the very floats the cell was built from (float64 to float64), and `n` is below
2**53, so a packed cell answers the same numbers as the cell it packs and detection does not
change (tests/unit/test_packed_cells.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import numpy as np

from hometwin.domain.distributions import QUANTILE_GRID, CountStats, Sketch

Cell = TypeVar("Cell", Sketch, CountStats)


@dataclass(frozen=True, slots=True)
class Layout(Generic[Cell]):
    """How one kind of cell becomes a row of floats and back."""

    width: int
    row: Callable[[Cell], list[float]]
    cell: Callable[[list[float]], Cell]


SKETCH_LAYOUT: Layout[Sketch] = Layout(
    4 + len(QUANTILE_GRID),
    lambda s: [s.n, s.mean, s.log_mu, s.log_sigma, *s.q],
    lambda r: Sketch(int(r[0]), r[1], r[2], r[3], tuple(r[4:])))
COUNTS_LAYOUT: Layout[CountStats] = Layout(
    3, lambda c: [c.n, c.mean, c.var], lambda r: CountStats(int(r[0]), r[1], r[2]))


@lru_cache(maxsize=4096)
def _shared_index(keys: tuple[str, ...]) -> dict[str, int]:
    """One key -> row dict per distinct key set, for every home (never mutated)."""
    return {key: row for row, key in enumerate(keys)}


class PackedCells(Mapping[str, Cell]):
    """A read-only mapping cell key -> `Sketch` / `CountStats`, stored as one array."""

    __slots__ = ("_index", "_layout", "_rows")
    _index: dict[str, int]
    _layout: Layout[Cell]
    _rows: np.ndarray

    def __init__(self, cells: Mapping[str, Cell], layout: Layout[Cell]) -> None:
        keys = tuple(cells)
        self._index = _shared_index(keys)
        self._layout = layout
        self._rows = np.array([layout.row(cells[key]) for key in keys], dtype=np.float64).reshape(len(keys),
                                                                                                  layout.width)

    def __getitem__(self, key: str) -> Cell:
        return self._layout.cell(self._rows[self._index[key]].tolist())

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"PackedCells({dict(self.items())!r})"


_LAYOUTS: dict[type, Layout[Any]] = {Sketch: SKETCH_LAYOUT, CountStats: COUNTS_LAYOUT}


def packed_levels(levels: Mapping[str, Mapping[str, Any]], parse: Callable[[Any], Cell]
                  ) -> dict[str, Mapping[str, Cell]]:
    """A model document's levels (level -> key -> JSON cell), each cell read by `parse`, packed."""
    packed: dict[str, Mapping[str, Cell]] = {}
    for level, cells in levels.items():
        parsed = {key: parse(value) for key, value in cells.items()}
        kind = type(next(iter(parsed.values()))) if parsed else Sketch
        packed[level] = PackedCells(parsed, _LAYOUTS[kind])
    return packed
