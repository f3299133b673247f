"""`hometwin import` (public datasets into an event store) and `hometwin simulate` (a resident)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class DatasetFormat(StrEnum):
    casas = "casas"
    kasteren = "kasteren"
    ordonez = "ordonez"
    home_assistant = "home-assistant"


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _write(events: list[Any], to: str, label: str) -> int:
    """Append in batches behind a progress bar; returns how many were new."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hometwin.components.wiring import open_events_sink
    from hometwin.ports import PortError

    try:
        sink = open_events_sink(to)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    new = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as progress:
        task = progress.add_task(label, total=len(events))
        for i in range(0, len(events), 50_000):
            batch = events[i:i + 50_000]
            try:
                new += sink.append(batch)
            except PortError as exc:
                raise _fail(f"writing to {to or 'the default store'} failed after {i} events: {exc}") from None
            progress.advance(task, len(batch))
    return new


def import_dataset(
    file: Path = typer.Argument(..., help="The home: a data file, a folder (kasteren houseA_original) "
                                          "or a prefix (…/houseB, …/OrdonezA), or Home Assistant's "
                                          "home-assistant_v2.db; see docs/data.md."),
    fmt: DatasetFormat = typer.Option(..., "--format", "-f", help="Dataset format."),
    rooms: Path | None = typer.Option(None, "--rooms", help="Room-mapping CSV `sensor,room,kind` "
                                      "(default: built-in for the public homes, else sensor name = room; "
                                      "home-assistant: `entity_id,room,kind`, default areas or a guess)."),
    to: str = typer.Option("", "--to", help="Event store URL (default: HOMETWIN_EVENTS, sqlite under "
                                            "the data dir)."),
    tz: str | None = typer.Option(None, "--tz", help="Zone of the file's wall-clock times "
                                                     "(default per format, see docs/data.md)."),
    show_rejected: int = typer.Option(10, "--show-rejected", help="How many rejected lines to list."),
    ha_config: Path | None = typer.Option(None, "--ha-config", help="home-assistant: its configuration folder "
                                          "(holding .storage), for the entities' areas and the time zone."),
    accept_newer_schema: bool = typer.Option(False, "--accept-newer-schema", help="home-assistant: try a "
                                             "recorder schema newer than the newest HomeTwin was checked against."),
) -> None:
    """Import a public dataset (CASAS, van Kasteren, UCI ADL) or Home Assistant's history into an event store."""
    from rich.console import Console
    from rich.progress import Progress

    from hometwin.adapters.datasets import DatasetError, load_dataset
    from hometwin.adapters.home_assistant import load_home_assistant

    console = Console(stderr=True)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"reading {file.name}", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if fmt is DatasetFormat.home_assistant:
                result = load_home_assistant(file, rooms, tz=tz, ha_config=ha_config,
                                             accept_newer_schema=accept_newer_schema, progress=advance)
            elif ha_config is not None or accept_newer_schema:
                raise DatasetError("--ha-config and --accept-newer-schema are for --format home-assistant")
            else:
                result = load_dataset(file, fmt.value, rooms, tz=tz, progress=advance)
    except DatasetError as exc:
        raise _fail(str(exc)) from None
    new = _write(result.events, to, f"writing {len(result.events)} events")
    first = result.events[0].time.isoformat() if result.events else "-"
    last = result.events[-1].time.isoformat() if result.events else "-"
    rooms_seen = sorted({e.room for e in result.events})
    typer.echo(f"{result.name}: {len(result.events)} events ({new} new) from {first} to {last} "
               f"[{result.tz}], rooms: {', '.join(rooms_seen) or '-'}; "
               f"{len(result.activities)} labelled activities; {len(result.rejected)} {result.item}s rejected")
    for note in result.notes:
        typer.echo(note)
    for r in result.rejected[:show_rejected]:
        typer.echo(f"  {r.file or file.name} {result.item} {r.line}: {r.reason}: {r.text.strip()[:80]}")
    if len(result.rejected) > show_rejected:
        typer.echo(f"  ... and {len(result.rejected) - show_rejected} more")


def simulate_resident(
    days: int = typer.Option(28, "--days", min=1, max=3660, help="How many days to simulate."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same events."),
    start: str | None = typer.Option(None, "--start", help="First day, ISO date or datetime (local to "
                                     "--tz); default: that many days before today."),
    tz: str | None = typer.Option(None, "--tz", help="The home's zone (default HOMETWIN_TZ)."),
    to: str = typer.Option("", "--to", help="Event store URL (default: HOMETWIN_EVENTS)."),
    ground_truth: Path | None = typer.Option(None, "--ground-truth", help="Write stays, activities and "
                                             "emergencies here (JSON)."),
    fall: list[str] = typer.Option([], "--fall", help="Inject a fall at this local ISO time (repeatable)."),
    stuck: list[str] = typer.Option([], "--stuck", help="Stuck in the bathroom at this local ISO time, "
                                    "for 4 hours (repeatable)."),
    not_home: list[str] = typer.Option([], "--not-home", help="Not coming home from the first outing "
                                       "after this local ISO time (repeatable)."),
    change: list[str] = typer.Option([], "--change", help="Inject a behaviour change KIND@DATE (local ISO "
                                     "date; repeatable), KIND one of night_toilet_x2, wake_later_90, kitchen_half, "
                                     "outings_stop, more_bed (docs/trends.md)."),
    population: int = typer.Option(0, "--population", min=0, max=1000, help="Draw this many homes "
                                   "(layouts, lifestyles, faults) from --seed instead of one resident; "
                                   "see docs/data.md."),
    casas: Path | None = typer.Option(None, "--casas", help="With --population: write each home as CASAS "
                                      "files (events, room mapping, ground truth) into this folder."),
) -> None:
    """Simulate one resident and write the sensor events (course layout) to an event store."""
    from zoneinfo import ZoneInfo

    if population:
        _simulate_population(population, seed, days, to, casas, ground_truth,
                             given=[name for name, value in (("--start", start), ("--tz", tz), ("--fall", fall),
                                    ("--stuck", stuck), ("--not-home", not_home), ("--change", change)) if value])
        return
    if casas is not None:
        raise _fail("--casas needs --population")

    from hometwin.config import CommonSettings
    from hometwin.sim import BehaviourChange, Fall, HomeLayout, NotComingHome, StuckInBathroom, simulate

    zone_name = tz or CommonSettings().tz
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, KeyError):
        raise _fail(f"--tz: unknown time zone {zone_name!r}") from None

    def local(text: str, option: str) -> datetime:
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise _fail(f"{option}: {text!r} is not an ISO date or datetime") from None
        return t if t.tzinfo else t.replace(tzinfo=zone)

    if start is None:
        today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        begin = today - timedelta(days=days)
    else:
        begin = local(start, "--start")
    emergencies = ([Fall(local(t, "--fall")) for t in fall] + [StuckInBathroom(local(t, "--stuck")) for t in stuck]
                   + [NotComingHome(local(t, "--not-home")) for t in not_home])
    changes = []
    for text in change:
        kind, _, when = text.partition("@")
        try:
            changes.append(BehaviourChange(kind, local(when, "--change").date()))
        except ValueError as exc:
            raise _fail(f"--change {text!r}: {exc}") from None
    result = simulate(days, seed=seed, start=begin, layout=HomeLayout.default(zone_name), emergencies=emergencies,
                      changes=changes)
    new = _write(result.events, to, f"writing {len(result.events)} events")
    if ground_truth is not None:
        ground_truth.parent.mkdir(parents=True, exist_ok=True)
        ground_truth.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    typer.echo(f"simulated {days} days from {begin.isoformat()} (seed {seed}): {len(result.events)} events "
               f"({new} new), {len(result.ground_truth.stays)} stays, "
               f"{len(result.ground_truth.emergencies)} emergencies"
               + (f"; ground truth in {ground_truth}" if ground_truth else ""))


def _simulate_population(count: int, seed: int, days: int, to: str, casas: Path | None,
                         ground_truth: Path | None, given: list[str]) -> None:
    """Draw `count` homes; write each into its own event store (`--to` with `{home}`) and/or as
    CASAS files, with its ground truth."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hometwin.adapters.sources import open_sink
    from hometwin.ports import PortError
    from hometwin.sim import DEVELOPMENT_SEEDS, HELD_OUT_SEEDS, iter_population
    from hometwin.sim.casas import write_casas

    if given:
        raise _fail(f"{', '.join(given)}: not with --population (each home draws its own zone, start "
                    "and faults)")
    if to and "{home}" not in to:
        raise _fail("with --population, --to must name one store per home with {home}, "
                    "e.g. sqlite:///tmp/pop/{home}.sqlite")
    if not to and casas is None:
        raise _fail("with --population, give --casas DIR and/or --to URL with {home}")
    if seed in HELD_OUT_SEEDS:
        typer.secho(f"note: seed {seed} is held out for validation (docs/evaluation.md): do not develop with it",
                    fg=typer.colors.YELLOW, err=True)
    elif seed not in DEVELOPMENT_SEEDS:
        typer.secho(f"note: seed {seed} is neither a development nor a held-out seed", err=True)
    written: list[str] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as progress:
        task = progress.add_task(f"simulating {count} homes", total=count)
        for home in iter_population(seed, count, days):
            new = 0
            if to:
                url = to.replace("{home}", home.name)
                if url.startswith("sqlite:///"):
                    Path(url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
                try:
                    sink = open_sink(url)
                    for i in range(0, len(home.events), 50_000):
                        new += sink.append(home.events[i:i + 50_000])
                except ValueError as exc:
                    raise _fail(str(exc)) from None
                except PortError as exc:
                    raise _fail(f"writing {home.name} to {url} failed: {exc}") from None
            if casas is not None:
                write_casas(home, casas)
            if ground_truth is not None:
                ground_truth.mkdir(parents=True, exist_ok=True)
                (ground_truth / f"{home.name}.json").write_text(json.dumps(home.to_dict(), indent=1),
                                                                encoding="utf-8")
            written.append(f"{home.name}: {len(home.events)} events ({new} new), {home.tz}, from "
                           f"{home.start.date()}, {' '.join(home.variant.tags())}")
            progress.advance(task)
    for line in written:
        typer.echo(line)
    where = [f"stores {to}"] if to else []
    where += [f"CASAS files in {casas} (hometwin import --format casas DIR/NAME.txt --rooms "
              "DIR/NAME.rooms.csv --tz ZONE)"] if casas else []
    typer.echo(f"simulated {count} homes of {days} days (population seed {seed}) into {'; '.join(where)}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_dataset)
    app.command("simulate")(simulate_resident)
