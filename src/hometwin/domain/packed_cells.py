"""A level's cells packed into one array: how a parsed model stays small in a fleet's memory.

A parsed behaviour model has about a thousand cells (room x weekday x time-of-day bin x pooling
level), each a `Sketch` of 17 numbers or a `CountStats` of 3. As Python objects (a frozen
dataclass, a tuple, a float object per number, a dict entry and a key string per cell) they took
about 0.7 MiB a home; a monitoring holding the models of thousands of homes ran out of memory
first (docs/fleet.md). `PackedCells` keeps one level's numbers in one array, one row a cell, and
builds the `Sketch` or `CountStats` when a cell is asked for (a check asks for a few dozen). The
key -> row index is shared by every level with the same keys (most homes have a cell for every
hour of every weekday), so the keys cost nothing per home.

32 bits a number, exact: the model document rounds each number to a fixed number of decimals
(`Sketch.to_json`, `CountStats.to_json`), so a column holds integers once multiplied by its power
of ten, and `integer / 10**d` (one correctly rounded division) is the very float that parsing the
document's decimal text gave. The rows are kept as those int32 integers when every value of the
level comes back bit for bit (checked when packing, by the same division `__getitem__` does);
otherwise (a document written with more decimals, a count beyond int32) the level keeps float64
rows. Either way a packed cell answers the same numbers as the cell it packs, and detection does
not change (tests/unit/test_packed_cells.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import numpy as np

from hometwin.domain.distributions import QUANTILE_GRID, CountStats, Sketch

Cell = TypeVar("Cell", Sketch, CountStats)
_INT32_MAX = float(np.iinfo(np.int32).max)


@dataclass(frozen=True, slots=True)
class Layout(Generic[Cell]):
    """How one kind of cell becomes a row of numbers and back.

    `scales`: per column, the power of ten the stored integer is divided by (10**decimals, the
    document's rounding); all ones for float64 rows, where dividing by 1.0 changes no bit."""

    width: int
    row: Callable[[Cell], list[float]]
    cell: Callable[[list[float]], Cell]
    scales: np.ndarray
    dtype: np.dtype[Any] = np.dtype(np.int32)

    def as_float64(self) -> Layout[Cell]:
        return dataclasses.replace(self, scales=np.ones(self.width), dtype=np.dtype(np.float64))


def _powers_of_ten(decimals: tuple[int, ...]) -> np.ndarray:
    return np.array([10.0 ** d for d in decimals])  # exact doubles up to 10**22


# The decimals are those of Sketch.to_json (n, mean 2, mu 4, sigma 4, quantiles 1) and
# CountStats.to_json (n, mean 4, var 4).
SKETCH_LAYOUT: Layout[Sketch] = Layout(
    4 + len(QUANTILE_GRID),
    lambda s: [s.n, s.mean, s.log_mu, s.log_sigma, *s.q],
    lambda r: Sketch(int(r[0]), r[1], r[2], r[3], tuple(r[4:])),
    _powers_of_ten((0, 2, 4, 4, *[1] * len(QUANTILE_GRID))))
COUNTS_LAYOUT: Layout[CountStats] = Layout(
    3, lambda c: [c.n, c.mean, c.var], lambda r: CountStats(int(r[0]), r[1], r[2]), _powers_of_ten((0, 4, 4)))
_FLOAT64_LAYOUTS: dict[int, Layout[Any]] = {id(SKETCH_LAYOUT): SKETCH_LAYOUT.as_float64(),
                                            id(COUNTS_LAYOUT): COUNTS_LAYOUT.as_float64()}


@lru_cache(maxsize=4096)
def shared_index(keys: tuple[str, ...]) -> dict[str, int]:
    """One key -> position dict per distinct key set, for every home (never mutated)."""
    return {key: row for row, key in enumerate(keys)}


def scaled_int32(rows: np.ndarray, scales: np.ndarray) -> np.ndarray | None:
    """`rows` (float64) as int32 multiples of 1/`scales`, or None unless every value comes back
    bit for bit (the sign of a zero included) from `int32 / scales`."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.rint(rows * scales)
        if not np.all(np.abs(scaled) <= _INT32_MAX):  # NaN and infinities fail here too
            return None
    packed = scaled.astype(np.int32)
    back = np.ascontiguousarray(packed / scales)
    return packed if np.array_equal(back.view(np.uint64), np.ascontiguousarray(rows).view(np.uint64)) else None


class PackedCells(Mapping[str, Cell]):
    """A read-only mapping cell key -> `Sketch` / `CountStats`, stored as one array."""

    __slots__ = ("_index", "_layout", "_rows")
    _index: dict[str, int]
    _layout: Layout[Cell]
    # The rows' bytes, int32 (scaled by the layout's powers of ten) or float64 (the layout's dtype):
    # most levels have a handful of cells, and an array object would cost twice their numbers.
    _rows: bytes

    def __init__(self, cells: Mapping[str, Cell], layout: Layout[Cell]) -> None:
        keys = tuple(cells)
        self._index = shared_index(keys)
        rows = np.array([layout.row(cells[key]) for key in keys], dtype=np.float64).reshape(len(keys), layout.width)
        packed = scaled_int32(rows, layout.scales)
        if packed is None:
            self._layout, self._rows = _FLOAT64_LAYOUTS.get(id(layout)) or layout.as_float64(), rows.tobytes()
        else:
            self._layout, self._rows = layout, packed.tobytes()

    @property
    def dtype(self) -> np.dtype[Any]:
        """How the numbers are held: int32 (scaled, exact) or float64 (the fallback)."""
        return self._layout.dtype

    def __getitem__(self, key: str) -> Cell:
        layout = self._layout
        offset = self._index[key] * layout.width * layout.dtype.itemsize
        row = np.frombuffer(self._rows, layout.dtype, layout.width, offset)
        return layout.cell((row / layout.scales).tolist())

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
