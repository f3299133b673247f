"""Homes: who HomeTwin watches. One deployment serves one home or a fleet of them (docs/fleet.md).

A home has an id (in every key: models, alert book, e-mail outbox), a name, a time zone, its sensor
selection, an optional room mapping and its caregivers in escalation order. A fleet is declared in
a YAML file (`HOMETWIN_HOMES_FILE`)::

    homes:
      - id: anna
        name: Anna Berger
        tz: Europe/Vienna
        caregivers: [daughter@example.org, nurse@example.org]
        sensors: {influx_user: anna}          # buckets anna_<device>_<sensor>
        rooms: {pir_3: kitchen}               # optional: sensor -> room, over what the store says

Without the file there is one implicit home built from today's settings (`HOMETWIN_HOME_ID`,
`HOMETWIN_TZ`, `HOMETWIN_CAREGIVERS`), which reads the configured events store as it is: a single
home deployment behaves exactly as before homes existed.

Every problem in the file is a `HomesFileError` naming the file, the line, the home and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hometwin.atomic_file import write_atomically
from hometwin.domain.addresses import check_address
from hometwin.domain.localtime import known_zone

HOME_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"  # the same rule as HOMETWIN_HOME_ID (an object-key segment)
_INFLUX_USER = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"  # no `_`: it separates user, device and sensor


class HomesFileError(ValueError):
    """The homes file is unusable; the message names the file, the line, the home and the field."""


class HomeSensors(BaseModel):
    """Which events are this home's. All optional: without any, the home's own store is derived from
    `HOMETWIN_EVENTS` (docs/fleet.md, "Sensor selection")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: str | None = Field(None, description="The home's own events URL (any scheme HOMETWIN_EVENTS takes).")
    influx_user: str | None = Field(None, pattern=_INFLUX_USER,
                                    description="InfluxDB: the course's user, reading buckets `<user>_*`.")
    influx_buckets: tuple[str, ...] = Field((), description="InfluxDB: exactly these buckets.")
    influx_bucket_pattern: str | None = Field(None, description="InfluxDB: buckets matching this expression.")

    @field_validator("influx_bucket_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_selection(self) -> HomeSensors:
        given = [n for n in ("influx_user", "influx_buckets", "influx_bucket_pattern") if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"give one bucket selection, not {' and '.join(given)}")
        return self

    def bucket_selection(self, home_id: str) -> tuple[tuple[str, ...], str]:
        """(listed buckets, pattern) for InfluxDB; by default the course's `<home id>_<device>_<sensor>`."""
        if self.influx_buckets:
            return self.influx_buckets, r"^[^_]"
        if self.influx_bucket_pattern:
            return (), self.influx_bucket_pattern
        return (), f"^{re.escape(self.influx_user or home_id)}_"


class Home(BaseModel):
    """One home: its identity, where its events are and whom to tell."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=HOME_ID)
    name: str = Field("", max_length=200)
    tz: str = "Europe/Berlin"
    sensors: HomeSensors = HomeSensors()
    rooms: dict[str, str] = Field(default_factory=dict)
    caregivers: tuple[str, ...] = ()

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("caregivers")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        checked = tuple(check_address(a) for a in value)
        if len({a.lower() for a in checked}) != len(checked):
            raise ValueError("a caregiver is listed twice")
        return checked

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, value: dict[str, str]) -> dict[str, str]:
        for sensor, room in value.items():
            if not str(sensor).strip() or not str(room).strip():
                raise ValueError(f"sensor {sensor!r} -> room {room!r}: both must be non-empty")
        return value

    @model_validator(mode="after")
    def _named(self) -> Home:
        if not self.name:
            object.__setattr__(self, "name", self.id)
        return self


@dataclass(frozen=True)
class Homes:
    """The homes one deployment serves, in file order. `implicit`: no homes file, today's single home."""

    homes: tuple[Home, ...]
    implicit: bool = False

    def __iter__(self) -> Iterator[Home]:
        return iter(self.homes)

    def __len__(self) -> int:
        return len(self.homes)

    def ids(self) -> list[str]:
        return [h.id for h in self.homes]

    def get(self, home_id: str) -> Home | None:
        return next((h for h in self.homes if h.id == home_id), None)

    @property
    def default(self) -> Home:
        """The home an event that names none belongs to (the first; with no file, the only one)."""
        return self.homes[0]


def implicit_home(home_id: str, tz: str, caregivers: Sequence[str]) -> Homes:
    """The single home of a deployment without a homes file, from today's settings."""
    return Homes((Home(id=home_id, name=home_id, tz=tz, caregivers=tuple(caregivers)),), implicit=True)


def load_homes(path: Path, *, default_tz: str = "Europe/Berlin") -> Homes:
    """Read and validate a homes file; HomesFileError names the line, home and field of any problem."""
    import yaml

    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HomesFileError(f"homes file {name}: cannot read it: {exc.strerror or exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise HomesFileError(f"homes file {name}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    items = _homes_node(root, name)
    homes: list[Home] = []
    first_line: dict[str, int] = {}
    for node in items.value:
        line = node.start_mark.line + 1
        row = yaml.safe_load(yaml.serialize(node))
        if not isinstance(row, dict):
            raise HomesFileError(f"homes file {name} line {line}: each home is a mapping of id, name, tz, ...")
        row.setdefault("tz", default_tz)
        label = _label(row)
        try:
            home = Home.model_validate(row)
        except ValidationError as exc:
            at = _line_of(node, exc.errors()[0]["loc"]) or line
            raise HomesFileError(f"homes file {name} line {at}, {label}, {_problem(exc)}") from None
        if home.id in first_line:
            raise HomesFileError(f"homes file {name} line {line}: home id {home.id!r} is declared already "
                                 f"on line {first_line[home.id]}")
        first_line[home.id] = line
        homes.append(home)
    if not homes:
        raise HomesFileError(f"homes file {name}: it declares no home")
    return Homes(tuple(homes))


def _label(row: Mapping[str, Any]) -> str:
    return f"home {row.get('id')!r}" if row.get("id") is not None else "a home without an id"


def _problem(exc: ValidationError) -> str:
    """`field <name>: <what is wrong>`, the first of a home's problems, as the file's errors say it."""
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "home"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return f"field {field}: {error['msg'].removeprefix('Value error, ')}{more}"


def check_home(row: Mapping[str, Any], *, default_tz: str = "Europe/Berlin") -> Home:
    """One home's declaration, validated as an entry of the homes file (the dashboard's API declares
    homes this way); HomesFileError names the home and the field."""
    row = {"tz": default_tz, **row}
    try:
        return Home.model_validate(row)
    except ValidationError as exc:
        raise HomesFileError(f"{_label(row)}, {_problem(exc)}") from None


def save_homes(path: Path, homes: Sequence[Home]) -> None:
    """Write `homes` as a homes file that `load_homes` reads back as they are. Atomic: a reader sees the
    old file or the new one, never half of it. Comments in the old file are not kept."""
    import yaml

    rows = []
    for home in homes:
        row = home.model_dump(mode="json", exclude_defaults=True)
        rows.append({"id": home.id, "name": home.name, "tz": home.tz, **row})  # tz: the default may differ
    text = "# Written by the HomeTwin dashboard (PUT /api/homes/<id>); see docs/fleet.md.\n" + yaml.safe_dump(
        {"homes": rows}, sort_keys=False, allow_unicode=True)
    # Readable by whoever could read the old file.
    write_atomically(path, text.encode("utf-8"), mode=path.stat().st_mode & 0o777 if path.exists() else None)


def _homes_node(root: Any, name: str) -> Any:
    import yaml

    if isinstance(root, yaml.MappingNode):
        root = next((v for k, v in root.value if getattr(k, "value", None) == "homes"), None)
    if not isinstance(root, yaml.SequenceNode):
        raise HomesFileError(f"homes file {name}: expected a top-level `homes:` list (see docs/fleet.md)")
    return root


def _line_of(node: Any, loc: Sequence[Any]) -> int | None:
    """The line of the value at `loc` inside a YAML node (the home's line when the field is missing)."""
    import yaml

    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def configured_homes(homes_file: Path | None, *, home_id: str, tz: str, caregivers: Sequence[str]) -> Homes:
    """The homes of `HOMETWIN_HOMES_FILE`, or without it the implicit home of today's settings."""
    if homes_file is None:
        return implicit_home(home_id, tz, caregivers)
    return load_homes(homes_file, default_tz=tz)


def replica_of(home_id: str, replicas: int) -> int:
    """Which of `replicas` monitoring replicas checks this home: a stable hash of its id, so every
    replica agrees without talking to the others, and a home moves only when the count changes."""
    import hashlib

    digest = hashlib.sha256(home_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % replicas


def share(homes: Homes, index: int, count: int) -> Homes:
    """The homes replica `index` of `count` serves."""
    if count == 1:
        return homes
    return Homes(tuple(h for h in homes if replica_of(h.id, count) == index), homes.implicit)
