"""Importers for public smart-home datasets: CASAS, van Kasteren (both formats), UCI ADL (Ordonez).

Every importer turns one home into sorted `SensorEvent`s (interval formats become an ON event at the
start, value 1, and an OFF event at the end, value 0), the labelled activities when the release has
them, and a list of rejected lines with their line numbers. Nothing is dropped silently.

Which path identifies a home (see docs/data.md):
- `casas`: the data file (`date time sensor [sensor2] value [label]`, space or tab separated).
- `kasteren`: original release: the `houseA_original` folder or its `kasterenSenseData.txt`;
  converted release: the prefix `.../houseB` or the file `.../houseB.sensors`.
- `ordonez`: the prefix `.../OrdonezA` or the file `.../OrdonezA_Sensors.txt`.

Datasets record local wall-clock time; each format has a default zone (`DEFAULT_TZ`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from operator import attrgetter
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.adapters.dataset_records import (  # the records every importer shares; importable from here too
    DatasetError,
    ImportResult,
    Progress,
    Rejected,
    RoomEntry,
    RoomMap,
    load_room_map,
    parse_room_map,
)
from hometwin.domain.errors import InvalidEvent
from hometwin.domain.events import Activity, SensorEvent, SensorKind

FORMATS = ("casas", "kasteren", "ordonez", "home-assistant")
DEFAULT_TZ = {"casas": "America/Los_Angeles", "kasteren": "Europe/Amsterdam", "ordonez": "Europe/Madrid",
              "home-assistant": "UTC"}  # its times are UTC epoch seconds; the zone only labels the home


@dataclass(frozen=True, slots=True)
class _Raw:
    """One parsed reading before the room mapping is applied."""

    line: int
    text: str
    start: datetime
    end: datetime | None  # interval formats
    sensor: str
    kind: SensorKind
    value: float = 1.0
    room: str = ""  # the room when no mapping is given; empty means "the sensor name"


# ---------------------------------------------------------------- room mappings

def builtin_room_map(name: str) -> dict[str, RoomEntry] | None:
    """Our own room mapping for a public home (`kasteren-A` ...), or None for an unknown home."""
    resource = resources.files("hometwin.adapters") / "rooms" / f"{name}.csv"
    if not resource.is_file():
        return None
    return parse_room_map(resource.read_text(encoding="utf-8"), f"built-in mapping {name}")


def public_homes(shared_data_dir: str | Path) -> list[tuple[str, Path, str]]:
    """The five public homes as (name, path, fmt), for the evaluation."""
    base = Path(shared_data_dir)
    tl = base / "kasteren" / "houseABC_tl_converted"
    uci = base / "uci_adl_ordonez"
    return [
        ("kasteren-A", tl / "houseA", "kasteren"),
        ("kasteren-B", tl / "houseB", "kasteren"),
        ("kasteren-C", tl / "houseC", "kasteren"),
        ("ordonez-A", uci / "OrdonezA", "ordonez"),
        ("ordonez-B", uci / "OrdonezB", "ordonez"),
    ]


# Activity labels that say the person was out (van Kasteren, UCI ADL, CASAS), compared lower-case with
# spaces and underscores as hyphens.
ABSENCE_LABELS = frozenset({"leave-house", "leaving", "leave-home", "out-of-home"})


def labelled_absences(activities: Sequence[Activity]) -> list[tuple[datetime, datetime]]:
    """The intervals a dataset's annotation marks as the person being out, sorted."""
    return sorted((a.start, a.end) for a in activities
                  if re.sub(r"[\s_]+", "-", a.label.strip().lower()) in ABSENCE_LABELS and a.end > a.start)


# ---------------------------------------------------------------- entry point

def load_dataset(path: str | Path, fmt: str, rooms: RoomMap | str | Path | None = None, *,
                 tz: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Import one home. `rooms`: a mapping, a mapping CSV, or None (the built-in mapping of a
    public home, else the sensor name is the room). A given mapping must cover every sensor;
    lines of unmapped sensors are rejected with that reason."""
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "home-assistant":  # a database, not a text file: its own module
        from hometwin.adapters.home_assistant import load_home_assistant

        return load_home_assistant(path, rooms, tz=tz, progress=progress)
    zone_name = tz or DEFAULT_TZ[fmt]
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError) as exc:
        raise DatasetError(f"unknown time zone {zone_name!r}") from exc
    path = Path(path)
    if fmt == "casas":
        if not path.is_file():
            raise DatasetError(f"CASAS data file not found: {path}")
        name, sensor_file, raws, rejected, activities = _casas(path, zone, progress)
    elif fmt == "kasteren":
        name, sensor_file, raws, rejected, activities = _kasteren(path, zone, progress)
    else:
        name, sensor_file, raws, rejected, activities = _ordonez(path, zone, progress)
    mapping = (builtin_room_map(name) if rooms is None else
               rooms if isinstance(rooms, Mapping) else load_room_map(rooms))
    result = ImportResult(name, fmt, zone_name, rejected=rejected, activities=activities)
    for raw in raws:
        entry = mapping.get(raw.sensor) if mapping is not None else RoomEntry(raw.room or raw.sensor)
        if entry is None:
            result.rejected.append(Rejected(raw.line, f"sensor {raw.sensor!r} is not in the room mapping",
                                            raw.text, sensor_file))
            continue
        kind = entry.kind or raw.kind
        try:
            if raw.end is None:
                result.events.append(SensorEvent(raw.start, raw.sensor, entry.room, kind, raw.value))
            else:
                result.events.append(SensorEvent(raw.start, raw.sensor, entry.room, kind, 1.0))
                result.events.append(SensorEvent(raw.end, raw.sensor, entry.room, kind, 0.0))
        except InvalidEvent as exc:
            result.rejected.append(Rejected(raw.line, str(exc), raw.text, sensor_file))
    result.events.sort(key=attrgetter("time"))  # stable: an ON stays before its OFF at equal times
    result.activities.sort(key=attrgetter("start"))
    result.rejected.sort(key=lambda r: (r.file, r.line))
    return result


_Parsed = tuple[str, str, list[_Raw], list[Rejected], list[Activity]]


def _lines(path: Path, progress: Progress | None) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for a text file of any line ending."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror}") from None
    lines = data.decode("utf-8", errors="replace").splitlines()
    total = len(lines)
    for i, line in enumerate(lines, start=1):
        if progress is not None and (i % 20000 == 0 or i == total):
            progress(i, total)
        yield i, line


def _local(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone)


def _interval(lineno: int, text: str, start: datetime, end: datetime, sensor: str,
              kind: SensorKind) -> _Raw | str:
    if end < start:
        return f"end {end.isoformat()} is before start {start.isoformat()}"
    return _Raw(lineno, text, start, end, sensor, kind)


# ---------------------------------------------------------------- CASAS

_CASAS_VALUES = {"ON": 1.0, "OPEN": 1.0, "PRESENT": 1.0, "OFF": 0.0, "CLOSE": 0.0, "ABSENT": 0.0}


def _casas_value(token: str) -> float | None:
    upper = token.upper()
    if upper in _CASAS_VALUES:
        return _CASAS_VALUES[upper]
    try:
        value = float(token)
    except ValueError:
        return None
    return value if value == value else None


def _casas_kind(sensor: str) -> SensorKind:
    # CASAS names sensors by type letter: M motion, MA area motion, D door, T temperature ...
    if re.match(r"^M[A]?\d", sensor):
        return SensorKind.MOTION
    if re.match(r"^D\d", sensor):
        return SensorKind.CONTACT  # a mapping says which doors lead outside
    return SensorKind.OTHER


def _casas(path: Path, zone: ZoneInfo, progress: Progress | None) -> _Parsed:
    raws: list[_Raw] = []
    rejected: list[Rejected] = []
    activities: list[Activity] = []
    open_labels: dict[str, datetime] = {}
    for lineno, line in _lines(path, progress):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 4:
            rejected.append(Rejected(lineno, "expected 'date time sensor value'", line, path.name))
            continue
        try:
            when = _local(datetime.fromisoformat(f"{tokens[0]} {tokens[1]}"), zone)
        except ValueError:
            rejected.append(Rejected(lineno, f"bad date/time {tokens[0]} {tokens[1]!r}", line, path.name))
            continue
        value = _casas_value(tokens[3])
        sensor, rest = tokens[2], tokens[4:]
        if value is None and len(tokens) >= 5:
            value = _casas_value(tokens[4])
            sensor, rest = tokens[3], tokens[5:]  # two names: the second is the one we use
        if value is None:
            rejected.append(Rejected(lineno, f"no ON/OFF/OPEN/CLOSE or number in {tokens[3:5]}", line,
                                     path.name))
            continue
        raws.append(_Raw(lineno, line, when, None, sensor, _casas_kind(sensor), value))
        if rest:
            label, _, edge = " ".join(rest).rpartition(" ")
            if edge.lower() == "begin" and label:
                open_labels[label] = when
            elif edge.lower() == "end" and label in open_labels:
                activities.append(Activity(label, open_labels.pop(label), when))
    return path.stem, path.name, raws, rejected, activities


# ---------------------------------------------------------------- van Kasteren

_TL_KINDS = (("pir", SensorKind.MOTION), ("press", SensorKind.PRESSURE), ("mat", SensorKind.PRESSURE),
             ("front", SensorKind.DOOR))


def _guess_kind(name: str) -> SensorKind:
    lowered = name.lower()
    for needle, kind in _TL_KINDS:
        if needle in lowered:
            return kind
    return SensorKind.CONTACT if ("door" in lowered or "cupboard" in lowered) else SensorKind.OTHER


def _kasteren(path: Path, zone: ZoneInfo, progress: Progress | None) -> _Parsed:
    if path.is_dir() and (path / "kasterenSenseData.txt").is_file():
        return _kasteren_original(path / "kasterenSenseData.txt", zone, progress)
    if path.name == "kasterenSenseData.txt" or (path.is_file() and _looks_original(path)):
        return _kasteren_original(path, zone, progress)
    prefix = path.with_suffix("") if path.suffix == ".sensors" else path
    sensors = prefix.with_name(prefix.name + ".sensors")
    if not sensors.is_file():
        raise DatasetError(f"no van Kasteren data at {path}: expected a houseA_original folder, "
                           f"kasterenSenseData.txt, or a prefix with a .sensors file ({sensors})")
    return _kasteren_tl(prefix, zone, progress)


def _looks_original(path: Path) -> bool:
    with path.open("rb") as handle:
        return re.search(rb"\d\d-[A-Za-z]{3}-\d{4} ", handle.read(4096)) is not None


def _names(path: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            ident, _, name = line.partition("\t")
            if ident.strip() and name.strip():
                names[ident.strip()] = name.strip()
    return names


def _kasteren_tl(prefix: Path, zone: ZoneInfo, progress: Progress | None) -> _Parsed:
    """Converted release: `start_epoch<TAB>duration<TAB>id`, epoch seconds of local wall-clock time."""
    names = _names(prefix.with_name(prefix.name + ".sensor_names"))
    sensors = prefix.with_name(prefix.name + ".sensors")
    raws: list[_Raw] = []
    rejected: list[Rejected] = []
    for lineno, line, start, end, ident in _tl_rows(sensors, zone, rejected, progress):
        if ident not in names:
            rejected.append(Rejected(lineno, f"sensor id {ident} has no name in {prefix.name}.sensor_names",
                                     line, sensors.name))
            continue
        raws.append(_Raw(lineno, line, start, end, names[ident], _guess_kind(names[ident])))
    activities: list[Activity] = []
    act_file = prefix.with_name(prefix.name + ".activities")
    if act_file.is_file():
        labels = _names(prefix.with_name(prefix.name + ".activity_names"))
        for _, _, start, end, ident in _tl_rows(act_file, zone, rejected, None):
            activities.append(Activity(labels.get(ident, f"activity {ident}"), start, end))
    return f"kasteren-{prefix.name.removeprefix('house')}", sensors.name, raws, rejected, activities


def _tl_rows(path: Path, zone: ZoneInfo, rejected: list[Rejected],
             progress: Progress | None) -> Iterator[tuple[int, str, datetime, datetime, str]]:
    for lineno, line in _lines(path, progress):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            if len(parts) != 3:
                raise ValueError("expected 3 tab-separated columns: start, duration, id")
            epoch, duration = int(parts[0]), int(parts[1])
            if duration < 0:
                raise ValueError(f"negative duration {duration}")
            start = _local(datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None), zone)
        except (ValueError, OverflowError, OSError) as exc:
            rejected.append(Rejected(lineno, str(exc), line, path.name))
            continue
        yield lineno, line, start, start + timedelta(seconds=duration), parts[2].strip()


_ORIGINAL_TIME = "%d-%b-%Y %H:%M:%S"


def _kasteren_original(sensors: Path, zone: ZoneInfo, progress: Progress | None) -> _Parsed:
    """Original release of house A: `dd-Mon-yyyy HH:MM:SS<TAB>dd-Mon-yyyy HH:MM:SS<TAB>id<TAB>value`
    with the id list (`[ 1]    'Microwave'`) in the file's header."""
    raws: list[_Raw] = []
    rejected: list[Rejected] = []
    names: dict[str, str] = {}
    for lineno, line, fields in _original_rows(sensors, names, rejected, progress):
        start, end, ident = fields[0], fields[1], fields[2]
        if ident not in names:
            rejected.append(Rejected(lineno, f"sensor id {ident} is not listed in the file header", line,
                                     sensors.name))
            continue
        raw = _interval(lineno, line, _local(start, zone), _local(end, zone), names[ident],
                        _guess_kind(names[ident]))
        if isinstance(raw, str):
            rejected.append(Rejected(lineno, raw, line, sensors.name))
        else:
            raws.append(raw)
    activities: list[Activity] = []
    act_file = sensors.with_name("kasterenActData.txt")
    if act_file.is_file():
        labels: dict[str, str] = {}
        for lineno, line, fields in _original_rows(act_file, labels, rejected, None):
            start, end = _local(fields[0], zone), _local(fields[1], zone)
            if end < start:
                rejected.append(Rejected(lineno, "activity ends before it starts", line, act_file.name))
                continue
            activities.append(Activity(labels.get(fields[2], f"activity {fields[2]}"), start, end))
    name = "kasteren-A" if sensors.name == "kasterenSenseData.txt" else f"kasteren-{sensors.stem}"
    return name, sensors.name, raws, rejected, activities


_ID_LINE = re.compile(r"^\s*\[?\s*(\d+)\s*\]?\s*:?\s*'([^']*)'")


def _original_rows(path: Path, names: dict[str, str], rejected: list[Rejected], progress: Progress | None,
                   ) -> Iterator[tuple[int, str, tuple[datetime, datetime, str]]]:
    """Data rows of an original-release file; header id lists go into `names`."""
    for lineno, line in _lines(path, progress):
        match = _ID_LINE.match(line)
        if match:
            names[match.group(1)] = match.group(2).strip()
            continue
        parts = [p.strip() for p in line.split("\t") if p.strip()]
        if not parts or not re.match(r"\d\d-[A-Za-z]{3}-\d{4}", parts[0]):
            continue  # header prose and separator lines
        try:
            if len(parts) < 3:
                raise ValueError("expected start, end, id")
            start = datetime.strptime(parts[0], _ORIGINAL_TIME)
            end = datetime.strptime(parts[1], _ORIGINAL_TIME)
        except ValueError as exc:
            rejected.append(Rejected(lineno, str(exc), line, path.name))
            continue
        yield lineno, line, (start, end, parts[2])


# ---------------------------------------------------------------- UCI ADL (Ordonez)

_ORDONEZ_KINDS = {"pir": SensorKind.MOTION, "magnetic": SensorKind.CONTACT, "pressure": SensorKind.PRESSURE,
                  "flush": SensorKind.OTHER, "electric": SensorKind.OTHER}


def _ordonez(path: Path, zone: ZoneInfo, progress: Progress | None) -> _Parsed:
    """`Start time, End time, Location, Type, Place`, tab-separated (runs of tabs), two header lines.
    The sensor is named `<Place> <Location>` (e.g. `Kitchen Door`: home B has PIRs called Door in
    three rooms); without a mapping its room is the Place, lower-case."""
    prefix = Path(str(path).removesuffix("_Sensors.txt"))
    sensors = prefix.with_name(prefix.name + "_Sensors.txt")
    if not sensors.is_file():
        raise DatasetError(f"no UCI ADL data at {path}: expected {sensors}")
    raws: list[_Raw] = []
    rejected: list[Rejected] = []
    for lineno, line, start, end, rest in _ordonez_rows(sensors, zone, rejected, progress, 3):
        location, typ, place = rest
        kind = _ORDONEZ_KINDS.get(typ.lower(), SensorKind.OTHER)
        if location.lower() == "maindoor":
            kind = SensorKind.DOOR
        raws.append(_Raw(lineno, line, start, end, f"{place} {location}", kind, room=place.lower()))
    activities: list[Activity] = []
    adl = prefix.with_name(prefix.name + "_ADLs.txt")
    if adl.is_file():
        for _, _, start, end, rest in _ordonez_rows(adl, zone, rejected, None, 1):
            activities.append(Activity(rest[0], start, end))
    name = f"ordonez-{prefix.name.removeprefix('Ordonez')}"
    return name, sensors.name, raws, rejected, activities


def _ordonez_rows(path: Path, zone: ZoneInfo, rejected: list[Rejected], progress: Progress | None,
                  n_rest: int) -> Iterator[tuple[int, str, datetime, datetime, list[str]]]:
    for lineno, line in _lines(path, progress):
        parts = [p.strip() for p in line.split("\t") if p.strip()]
        if not parts or parts[0].startswith(("Start time", "---")):
            continue
        try:
            if len(parts) != 2 + n_rest:
                raise ValueError(f"expected {2 + n_rest} columns, found {len(parts)}")
            start = _local(datetime.fromisoformat(parts[0]), zone)
            end = _local(datetime.fromisoformat(parts[1]), zone)
            if end < start:
                raise ValueError(f"end {parts[1]} is before start {parts[0]}")
        except ValueError as exc:
            rejected.append(Rejected(lineno, str(exc), line, path.name))
            continue
        yield lineno, line, start, end, parts[2:]
