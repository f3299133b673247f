"""Home Assistant's recorder database (`home-assistant_v2.db`) as a dataset.

`hometwin import --format home-assistant PATH` reads the months of history Home Assistant already
keeps. The file is opened read-only (`mode=ro`, `query_only`): nothing is ever written to it.

What is read, recorder schema versions `MIN_SCHEMA`..`NEWEST_SCHEMA` (docs/data.md):
- `schema_changes`: the version is that of the row with the highest `change_id`;
- `states_meta`: `metadata_id` -> `entity_id` (entity ids left `states` in schema 38);
- `states`: one row per state write: `state` text, `last_updated_ts` (epoch seconds, UTC),
  `last_changed_ts` (NULL when the state itself changed in that row), `metadata_id`, `attributes_id`;
- `state_attributes.shared_attrs`: JSON with `device_class` and `friendly_name`.

Which entities and rooms: see `home_assistant_rooms.py`. `on` becomes value 1 (motion, open),
`off` 0; `unavailable`/`unknown` rows and attribute-only writes are skipped and counted; any other
state or an unreadable time is a rejected row, reported with its `state_id`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hometwin.adapters import home_assistant_rooms as rules
from hometwin.adapters.dataset_records import (
    DatasetError,
    ImportResult,
    Progress,
    Rejected,
    RoomEntry,
    parse_room_map,
)
from hometwin.domain.errors import InvalidEvent
from hometwin.domain.events import SensorEvent, SensorKind

MIN_SCHEMA = 38  # states_meta (Home Assistant 2023.4)
NEWEST_SCHEMA = 52  # the newest checked against Home Assistant's db_schema.py (Home Assistant 2025.11)
VALUES = {"on": 1.0, "off": 0.0}
NOT_A_READING = frozenset({"unavailable", "unknown", ""})  # "" is written when an entity is removed
# Plausible epoch seconds (2000-01-01 .. 2100-01-01): anything else is a broken row, not a time.
_FIRST_TS, _LAST_TS = 946_684_800.0, 4_102_444_800.0
_NEEDED_COLUMNS = {
    "states": {"state_id", "metadata_id", "state", "last_updated_ts", "last_changed_ts", "attributes_id"},
    "states_meta": {"metadata_id", "entity_id"},
    "state_attributes": {"attributes_id", "shared_attrs"},
}


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an imported entity goes, and from what that was decided (shown in the summary)."""

    entity_id: str
    room: str
    kind: SensorKind
    source: str  # "mapping", "area 'Kitchen'", "guessed from 'kitchen'"


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """The recorder database, read-only; clear errors for a missing, locked or foreign file.

    With Home Assistant running (a `-wal` file beside the database) SQLite's read-only mode shares
    its write-ahead log and sees every committed row. A database at rest (a copy, a backup, Home
    Assistant stopped) is opened `immutable`: read-only mode would leave `-wal`/`-shm` files behind."""
    at_rest = not path.with_name(path.name + "-wal").exists()
    uri = path.resolve().as_uri() + ("?mode=ro&immutable=1" if at_rest else "?mode=ro")
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise DatasetError(f"cannot open {path} read-only: {exc}") from None
    with closing(db):
        try:
            db.execute("PRAGMA query_only = ON")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatasetError(f"{path} is not a readable SQLite database ({exc}); if Home Assistant is "
                               "writing to it, import a copy (e.g. from a backup)") from None
        yield db


def schema_version(db: sqlite3.Connection, path: Path) -> int:
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_changes'").fetchone():
        raise DatasetError(f"{path} is not a Home Assistant recorder database (no schema_changes table)")
    row = db.execute("SELECT schema_version FROM schema_changes ORDER BY change_id DESC LIMIT 1").fetchone()
    if row is None or not isinstance(row[0], int):
        raise DatasetError(f"{path}: the schema_changes table records no schema version")
    return int(row[0])


def check_schema(version: int, path: Path, accept_newer: bool) -> None:
    supported = f"HomeTwin reads recorder schema versions {MIN_SCHEMA} to {NEWEST_SCHEMA}"
    if version < MIN_SCHEMA:
        raise DatasetError(f"{path} has recorder schema version {version}, too old: {supported}. Start Home "
                           "Assistant 2023.4 or newer on it once (it upgrades the database), then import again.")
    if version > NEWEST_SCHEMA and not accept_newer:
        raise DatasetError(f"{path} has recorder schema version {version}, newer than any HomeTwin was checked "
                           f"against: {supported}. To try anyway, add --accept-newer-schema (the import still "
                           "stops if a table or column it reads is missing).")


def check_columns(db: sqlite3.Connection, path: Path) -> None:
    for table, needed in _NEEDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if missing := sorted(needed - have):
            what = f"table {table} has no column {', '.join(missing)}" if have else f"there is no table {table}"
            raise DatasetError(f"{path}: {what}; not the recorder schema HomeTwin reads")


def load_room_mapping(rooms: Mapping[str, RoomEntry] | str | Path | None) -> dict[str, RoomEntry]:
    """A mapping CSV `entity_id,room,kind` (or `sensor,room,kind`); room `-` leaves an entity out."""
    if rooms is None:
        return {}
    if isinstance(rooms, Mapping):
        return dict(rooms)
    path = Path(rooms)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"cannot read room mapping {path}: {exc.strerror}") from None
    head, _, rest = text.partition("\n")
    if head.strip().lower().startswith("entity_id"):
        text = "sensor" + head.strip()[len("entity_id"):] + "\n" + rest
    return parse_room_map(text, str(path))


def _attributes(db: sqlite3.Connection, ids: str) -> dict[int, dict[str, str]]:
    """metadata_id -> device_class and friendly_name, newest attribute set first (they rarely change)."""
    found: dict[int, dict[str, str]] = {}
    query = (f"SELECT s.metadata_id, a.shared_attrs FROM (SELECT DISTINCT metadata_id, attributes_id FROM states "
             f"WHERE metadata_id IN ({ids}) AND attributes_id IS NOT NULL) s JOIN state_attributes a "
             "ON a.attributes_id = s.attributes_id ORDER BY s.attributes_id DESC")
    for metadata_id, shared in db.execute(query):
        try:
            attrs = json.loads(shared) if shared else {}
        except (TypeError, json.JSONDecodeError):
            continue
        if not isinstance(attrs, dict):
            continue
        known = found.setdefault(metadata_id, {})
        for key in ("device_class", "friendly_name"):
            if isinstance(attrs.get(key), str) and key not in known:
                known[key] = attrs[key]
    return found


def place(entity_id: str, device_class: str, friendly: str, mapping: Mapping[str, RoomEntry],
          config: rules.HomeAssistantConfig | None) -> Placement | str:
    """Where one binary sensor goes, or why it is left out ("ignored: ...", "no room: ...")."""
    entry = mapping.get(entity_id)
    kind = rules.kind_of(device_class, entity_id, friendly)
    if entry is not None:
        if entry.room == "-":
            return "ignored: left out by the mapping"
        if (entry.kind or kind) is None:
            return f"ignored: device class {device_class or 'none'}; give a kind in the mapping to import it"
        return _checked(Placement(entity_id, entry.room, entry.kind or kind or SensorKind.OTHER, "mapping"))
    if kind is None:
        return f"ignored: device class {device_class or 'none'}"
    if config is not None and entity_id in config.areas:
        area = config.areas[entity_id]
        return _checked(Placement(entity_id, rules.room_of_area(area), kind, f"area {area!r}"))
    guess = rules.guess_room(entity_id, friendly)
    if guess is not None:
        return _checked(Placement(entity_id, guess[0], kind, f"guessed from {guess[1]!r}"))
    return f"no room: {kind.value} sensor {friendly or entity_id!r} has no area and no room word in its names"


def _checked(placement: Placement) -> Placement | str:
    """The placement, if an event of it passes `SensorEvent`'s checks (rows are then built unchecked)."""
    try:
        SensorEvent(datetime.now(UTC), placement.entity_id, placement.room, placement.kind, 1.0)
    except InvalidEvent as exc:
        return f"no room: {exc}"
    return placement


def load_home_assistant(path: str | Path, rooms: Mapping[str, RoomEntry] | str | Path | None = None, *,
                        tz: str | None = None, ha_config: str | Path | None = None, accept_newer_schema: bool = False,
                        progress: Progress | None = None) -> ImportResult:
    """Import the binary sensors of a recorder database; `.notes` tells what was taken from where
    and what was left out, `.rejected` the unreadable rows (`line` = `state_id`)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Home Assistant database not found: {path}")
    mapping = load_room_mapping(rooms)
    config = rules.read_ha_config(ha_config) if ha_config is not None else None
    zone_name = tz or (config.tz if config else None) or "UTC"
    try:
        ZoneInfo(zone_name)
    except (ValueError, KeyError):
        raise DatasetError(f"unknown time zone {zone_name!r}") from None
    result = ImportResult(path.stem, "home-assistant", zone_name, item="row")
    with open_read_only(path) as db:
        version = schema_version(db, path)
        check_schema(version, path, accept_newer_schema)
        check_columns(db, path)
        binary = dict(db.execute("SELECT metadata_id, entity_id FROM states_meta "
                                 "WHERE entity_id LIKE 'binary\\_sensor.%' ESCAPE '\\'"))
        others = db.execute("SELECT count(*) FROM states_meta WHERE entity_id NOT LIKE 'binary\\_sensor.%' "
                            "ESCAPE '\\'").fetchone()[0]
        attrs = _attributes(db, ",".join(str(int(i)) for i in binary)) if binary else {}
        placed: dict[int, Placement] = {}
        left_out: dict[str, list[str]] = {"ignored": [], "no room": []}
        for metadata_id, entity_id in sorted(binary.items(), key=lambda item: item[1]):
            known = attrs.get(metadata_id, {})
            device_class = known.get("device_class") or (config.device_classes.get(entity_id, "") if config else "")
            verdict = place(entity_id, device_class, known.get("friendly_name", ""), mapping, config)
            if isinstance(verdict, Placement):
                placed[metadata_id] = verdict
            else:
                reason, _, why = verdict.partition(": ")
                left_out[reason].append(f"{entity_id} ({why})")
        counts = _read_states(db, placed, result, progress)
    result.events.sort(key=lambda e: e.time)
    result.rejected.sort(key=lambda r: r.line)
    result.notes.extend(_notes(version, placed, left_out, others, counts, mapping, set(binary.values())))
    return result


def _read_states(db: sqlite3.Connection, placed: dict[int, Placement], result: ImportResult,
                 progress: Progress | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    counts["not migrated"] = db.execute("SELECT count(*) FROM states WHERE metadata_id IS NULL").fetchone()[0]
    if not placed:
        return counts
    where = f"metadata_id IN ({','.join(str(i) for i in placed)})"
    total = db.execute(f"SELECT count(*) FROM states WHERE {where}").fetchone()[0]
    rows = db.execute(f"SELECT state_id, metadata_id, state, last_updated_ts, last_changed_ts FROM states "
                      f"WHERE {where}")
    events, rejected = result.events, result.rejected
    for done, (state_id, metadata_id, state, updated, changed) in enumerate(rows, start=1):
        if progress is not None and (done % 20000 == 0 or done == total):
            progress(done, total)
        entity = placed[metadata_id]
        if state is None or state in NOT_A_READING:
            counts["unavailable"] += 1
            continue
        if changed is not None and changed != updated:
            counts["attribute updates"] += 1  # the state itself did not change in this row
            continue
        value = VALUES.get(state)
        text = f"{entity.entity_id} state={state!r} last_updated_ts={updated!r}"
        if value is None:
            rejected.append(Rejected(state_id, f"state {state!r} is not on/off", text, "states"))
            continue
        if not isinstance(updated, int | float) or not _FIRST_TS <= updated <= _LAST_TS:
            rejected.append(Rejected(state_id, f"last_updated_ts {updated!r} is not a time", text, "states"))
            continue
        # Name, room and kind were validated once per entity (`place`), the time is aware UTC and the
        # value 0 or 1: validating a million events again would double the import time.
        events.append(SensorEvent.trusted(datetime.fromtimestamp(updated, UTC), entity.entity_id, entity.room,
                                          entity.kind, value))
    counts["rows"] = total
    return counts


def _notes(version: int, placed: dict[int, Placement], left_out: dict[str, list[str]], others: int,
           counts: Counter[str], mapping: Mapping[str, RoomEntry], present: set[str]) -> list[str]:
    lines = [f"recorder schema version {version} (HomeTwin reads {MIN_SCHEMA} to {NEWEST_SCHEMA}); "
             f"{counts['rows']} state rows of {len(placed)} binary sensors read"]
    lines += [f"  {p.entity_id} -> {p.room} ({p.kind.value}; {p.source})"
              for p in sorted(placed.values(), key=lambda p: (p.room, p.entity_id))]
    if left_out["no room"]:
        lines.append(f"skipped {len(left_out['no room'])} binary sensors without a room (give them one in a "
                     "mapping file: --rooms FILE with entity_id,room,kind):")
        lines += [f"  {entry}" for entry in left_out["no room"]]
    by_class = Counter(entry.rpartition("(")[2].rstrip(")") for entry in left_out["ignored"])
    ignored = ", ".join(f"{n} {why}" for why, n in sorted(by_class.items()))
    lines.append(f"ignored {len(left_out['ignored'])} other binary sensors ({ignored or '-'}) and {others} "
                 "entities that are not binary sensors")
    lines.append(f"skipped {counts['unavailable']} unavailable/unknown rows and {counts['attribute updates']} "
                 "rows where only attributes changed")
    if counts["not migrated"]:
        lines.append(f"skipped {counts['not migrated']} rows Home Assistant has not yet moved to states_meta "
                     "(no metadata_id): let it finish its database migration and import again")
    if missing := sorted(set(mapping) - present):
        lines.append(f"the mapping names {len(missing)} entities this database has no binary sensor for: "
                     + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    return lines
