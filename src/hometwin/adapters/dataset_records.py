"""What every dataset importer returns and shares: the result, rejected lines, room mappings.

Its own module so that importers living elsewhere (home_assistant.py) use them without importing
datasets.py, which dispatches to them; `hometwin.adapters.datasets` re-exports every name.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hometwin.domain.events import Activity, SensorEvent, SensorKind

Progress = Callable[[int, int], None]  # (lines done, lines in total)


class DatasetError(ValueError):
    """The dataset or the room mapping cannot be read at all (missing file, unknown layout)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that could not be imported: 1-based line number, why, and the line itself."""

    line: int
    reason: str
    text: str
    file: str = ""


@dataclass(frozen=True, slots=True)
class RoomEntry:
    room: str
    kind: SensorKind | None = None


RoomMap = Mapping[str, RoomEntry]


@dataclass
class ImportResult:
    name: str
    fmt: str
    tz: str
    events: list[SensorEvent] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # a format's own summary lines (what was left out, why)
    item: str = "line"  # what a `Rejected.line` counts: a file's lines, or a database's row ids


# ---------------------------------------------------------------- room mappings

def load_room_map(path: str | Path) -> dict[str, RoomEntry]:
    """Read a room-mapping CSV with the header `sensor,room,kind` (kind optional)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"cannot read room mapping {path}: {exc.strerror}") from None
    return parse_room_map(text, str(path))


def parse_room_map(text: str, origin: str) -> dict[str, RoomEntry]:
    rows = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(rows, [])]
    if header[:2] != ["sensor", "room"] or len(header) > 3 or (len(header) == 3 and header[2] != "kind"):
        raise DatasetError(f"{origin} line 1: header must be 'sensor,room,kind' (kind optional), "
                           f"got {header}")
    mapping: dict[str, RoomEntry] = {}
    for lineno, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        sensor, room = row[0].strip(), (row[1].strip() if len(row) > 1 else "")
        if not sensor or not room:
            raise DatasetError(f"{origin} line {lineno}: sensor and room must not be empty")
        kind_text = row[2].strip().lower() if len(row) > 2 else ""
        try:
            kind = SensorKind(kind_text) if kind_text else None
        except ValueError:
            allowed = ", ".join(k.value for k in SensorKind)
            raise DatasetError(f"{origin} line {lineno}: kind {kind_text!r} is not one of {allowed}"
                               ) from None
        if sensor in mapping:
            raise DatasetError(f"{origin} line {lineno}: sensor {sensor!r} is mapped twice")
        mapping[sensor] = RoomEntry(room, kind)
    return mapping
