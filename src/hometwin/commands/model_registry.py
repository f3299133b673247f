"""`hometwin train` (learn the routine from a sensor source and register the model) and
`hometwin models list|show|promote` (the registry: every version ever trained, none deleted).

With a homes file (HOMETWIN_HOMES_FILE, docs/fleet.md) `--home ID` names one of its homes: an id
the file does not declare is refused, and `train` reads that home's events in its time zone, as
the modeling does."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from hometwin.domain.model import MODEL_KIND

if TYPE_CHECKING:
    from hometwin.config import StoreSettings
    from hometwin.domain.events import SensorEvent
    from hometwin.ports import SensorSource
    from hometwin.registry import ModelRegistry, ModelVersion
    from hometwin.services.homes import Home

DEFAULT_WEEKS = 8
models_app = typer.Typer(help="The model registry: every trained version, kept forever.",
                         no_args_is_help=True)

STORE = typer.Option("", "--store", help="Model store URL (default: HOMETWIN_MODEL_STORE).")
HOME = typer.Option("", "--home", help="Home id (default: HOMETWIN_HOME_ID); with HOMETWIN_HOMES_FILE, one "
                    "of its homes.")
KIND = typer.Option(MODEL_KIND, "--kind", help="Model kind.")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(1)


def store_settings(store: str, home: str) -> StoreSettings:
    """The settings for `--store` and `--home`; a home the homes file does not declare is refused."""
    return home_settings(store, home)[0]


def home_settings(store: str, home: str) -> tuple[StoreSettings, Home | None]:
    """The settings, and the homes file's home they name (None without a homes file)."""
    from pydantic import ValidationError

    from hometwin.config import StoreSettings
    from hometwin.services.homes import HomesFileError, load_homes

    overrides: dict[str, Any] = {k: v for k, v in {"model_store": store, "home_id": home}.items() if v}
    try:
        settings = StoreSettings(**overrides)
    except ValidationError as exc:
        raise _fail(f"bad setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    if settings.homes_file is None:
        return settings, None
    try:
        homes = load_homes(settings.homes_file, default_tz=settings.tz)
    except HomesFileError as exc:
        raise _fail(str(exc)) from None
    found = homes.get(settings.home_id)
    if found is None:
        ids = homes.ids()
        listed = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        named = "--home" if home else "HOMETWIN_HOME_ID (give --home)"
        raise _fail(f"{named} {settings.home_id!r} is not a home of the homes file {settings.homes_file} "
                    f"(HOMETWIN_HOMES_FILE); its homes: {listed}")
    return settings, found


def open_registry(settings: StoreSettings) -> ModelRegistry:
    from hometwin.components.wiring import open_store
    from hometwin.registry import ModelRegistry

    try:
        return ModelRegistry(open_store(settings.model_store, settings), settings.home_id)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _when(text: str | None, tz: str, what: str) -> datetime | None:
    """ISO date or date-time; without a zone it is the home's local time (a date: local midnight)."""
    from zoneinfo import ZoneInfo

    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{what} {text!r} is not an ISO date (2024-03-01) or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))


def _read_events(source: SensorSource, start: datetime, end: datetime) -> list[SensorEvent]:
    """All events in [start, end), with a progress bar over the time covered."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    events: list[SensorEvent] = []
    span = max((end - start).total_seconds(), 1.0)
    columns = (TextColumn("reading events"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("{task.fields[count]:,} events"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("read", total=span, count=0)
        for event in source.stream(start, end):
            events.append(event)
            if len(events) % 2000 == 0:
                progress.update(task, completed=(event.time - start).total_seconds(), count=len(events))
        progress.update(task, completed=span, count=len(events))
    return events


def train(
    source: str = typer.Option("", "--source", help="Sensor events URL (default: HOMETWIN_EVENTS)."),
    start_text: str = typer.Option(None, "--from", help="Start of the training period (ISO date/time; "
                                   f"default: {DEFAULT_WEEKS} weeks before --to)."),
    end_text: str = typer.Option(None, "--to", help="End of the training period, exclusive "
                                 "(default: just after the newest event)."),
    store: str = STORE,
    home: str = HOME,
    tz: str = typer.Option("", "--tz", help="The home's time zone (default: HOMETWIN_TZ)."),
) -> None:
    """Train the behaviour model on a period of sensor data and register it as a new version."""
    from zoneinfo import ZoneInfoNotFoundError

    from hometwin.components.wiring import home_events, open_events
    from hometwin.config import SourceSettings
    from hometwin.ports import PortError
    from hometwin.services.training import train_and_register

    settings, fleet_home = home_settings(store, home)
    zone = tz or (fleet_home.tz if fleet_home is not None else settings.tz)
    try:
        start, end = _when(start_text, zone, "--from"), _when(end_text, zone, "--to")  # bad input first
        if fleet_home is not None and not source:  # the home's own selection, as the modeling reads it
            events_source, named = home_events(fleet_home, SourceSettings()), f"of home {fleet_home.id}"
        else:
            events_source, named = open_events(source, SourceSettings()), source or "HOMETWIN_EVENTS"
        if end is None:
            newest = events_source.latest()
            if newest is None:
                raise _fail(f"the source {named} holds no events")
            end = newest.time + timedelta(microseconds=1)
        start = start or end - timedelta(weeks=DEFAULT_WEEKS)
        if start >= end:
            raise _fail(f"--from {start.isoformat()} is not before --to {end.isoformat()}")
        registry = open_registry(settings)
        events = _read_events(events_source, start, end)
        if not events:
            raise _fail(f"no sensor events between {start.isoformat()} and {end.isoformat()}")
        typer.echo(f"training on {len(events):,} events ...", err=True)
        trained = train_and_register(events, registry, tz=zone, start=start, end=end)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise _fail(str(exc)) from None
    except PortError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None
    version, meta = trained.version, trained.version.metadata
    typer.echo(f"registered {version.version}  period {meta['training_start']} .. {meta['training_end']}  "
               f"events {meta.get('n_events', len(events))}  stays {meta.get('n_stays', '?')}  "
               f"store {settings.model_store}" + (f"  home {fleet_home.id}" if fleet_home is not None else ""))
    for line in (trained.change or {}).get("lines", []):
        typer.echo(f"  change since {trained.previous}: {line}")


def _line(model: ModelVersion, latest: str | None) -> str:
    meta = model.metadata
    mark = "*" if model.version == latest else " "
    return (f"{mark} {model.version}  trained on {meta['training_start'][:16]} .. {meta['training_end'][:16]}"
            f"  events {meta.get('n_events', '?')}  stays {meta.get('n_stays', '?')}"
            f"  created {model.created_at.isoformat(timespec='seconds')}")


@models_app.command("list")
def list_models(store: str = STORE, home: str = HOME, kind: str = KIND) -> None:
    """One line per version, oldest first, with its training period (`*` marks `latest`)."""
    from hometwin.ports import PortError

    settings = store_settings(store, home)
    registry = open_registry(settings)
    try:
        history = registry.history(kind)
        latest = registry.latest(kind) if history else None
    except (PortError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if not history:
        typer.echo(f"no {kind} models for home {registry.home_id} in {settings.model_store}")
        return
    for model in history:
        typer.echo(_line(model, latest.version if latest else None))


def pick_version(registry: ModelRegistry, kind: str, version: str) -> ModelVersion:
    from hometwin.ports import NotFound, PortError

    try:
        found = registry.latest(kind) if version == "latest" else registry.get(kind, version)
    except NotFound as exc:
        raise _fail(f"{exc} (see `hometwin models list`)") from None
    except (PortError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if found is None:
        raise _fail(f"no {kind} model registered yet; run `hometwin train`")
    return found


@models_app.command("show")
def show(version: str = typer.Argument("latest", help="A version from `models list`, or `latest`."),
         store: str = STORE, home: str = HOME, kind: str = KIND,
         as_json: bool = typer.Option(False, "--json", help="Print the metadata as JSON.")) -> None:
    """The metadata of one version: when and on what it was trained, with which settings."""
    model = pick_version(open_registry(store_settings(store, home)), kind, version)
    if as_json:
        typer.echo(json.dumps(model.metadata, indent=2, sort_keys=True))
        return
    meta: dict[str, Any] = dict(model.metadata)
    for name in ("version", "id", "kind", "home_id", "created_at", "training_start", "training_end", "tz",
                 "n_events", "n_stays", "fingerprint", "document_sha256", "hometwin_version"):
        if name in meta:
            typer.echo(f"{name:<17} {meta.pop(name)}")
    for name in ("events_per_room", "stays_per_room"):
        counts = meta.pop(name, None)
        if isinstance(counts, dict):
            typer.echo(f"{name:<17} " + ", ".join(f"{room} {n}" for room, n in sorted(counts.items())))
    for name, value in sorted(meta.items()):
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
        typer.echo(f"{name:<17} {text}")


@models_app.command("promote")
def promote(version: str = typer.Argument(..., help="The version `latest` should point at."),
            store: str = STORE, home: str = HOME, kind: str = KIND) -> None:
    """Point `latest` at an older version (a rollback). Nothing is deleted; the change is recorded."""
    registry = open_registry(store_settings(store, home))
    model = pick_version(registry, kind, version)
    registry.promote(kind, model.version)
    typer.echo(f"latest {kind} model is now {model.version}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
