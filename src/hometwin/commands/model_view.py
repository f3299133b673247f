"""`hometwin model show [VERSION] [--room R] [--plot FILE.png]`: what the behaviour model learned.

Prints the average duration per room and, for a room, the visits and average time per visit by
weekday and time of day (the questions of the course slides); `--plot` draws weekday-by-hour heat
maps with matplotlib. The model comes from the registry (`HOMETWIN_MODEL_STORE`, version or
`latest`) or from a JSON file (`--file`: a model document or a registry object).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hometwin.domain.wording import clock_text

if TYPE_CHECKING:
    from rich.table import Table

    from hometwin.domain.model import BehaviourModel

model_app = typer.Typer(help="What the behaviour model learned.", no_args_is_help=True)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(1)


def load_model_file(path: Path) -> tuple[BehaviourModel, dict[str, Any]]:
    """A model from a JSON file: a bare model document or a registry object {metadata, document}."""
    from hometwin.domain.model import BehaviourModel

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _fail(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(f"{path} holds no model (a JSON object is expected)")
    meta: dict[str, Any] = data.get("metadata", {}) if "document" in data else {}
    document = data.get("document", data)
    try:
        return BehaviourModel.from_dict(document), meta
    except ValueError as exc:
        raise _fail(f"{path}: {exc}") from None


def _load(version: str, file: Path | None, store: str, home: str) -> tuple[BehaviourModel, dict[str, Any]]:
    if file is not None:
        return load_model_file(file)
    from hometwin.commands.model_registry import open_registry, pick_version, store_settings
    from hometwin.domain.model import MODEL_KIND, BehaviourModel

    found = pick_version(open_registry(store_settings(store, home)), MODEL_KIND, version)
    try:
        return BehaviourModel.from_dict(found.document), found.metadata
    except ValueError as exc:
        raise _fail(f"model {found.version}: {exc}") from None


def fmt_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def rooms_table(model: BehaviourModel) -> Table:
    """Average duration per room, with visits per day and the spread of a visit's length."""
    from rich.table import Table

    table = Table(title="Average duration per room")
    for name in ("room", "visits/day", "average", "median", "p90", "p99", "stays trained"):
        table.add_column(name, justify="left" if name == "room" else "right")
    averages = model.room_average_duration()
    stays = model.training.get("stays_per_room", {})
    for room in model.rooms:
        s = model.durations.get(room, {}).get("room", {}).get("")
        parts = model.daily.get(room, {})
        per_day = sum(c.mean for p in ("night", "day") if (c := parts.get(p, {}).get("hour", {}).get("")))
        q = dict(zip((0.5, 0.9, 0.99), (s.q[6], s.q[10], s.q[12]), strict=True)) if s else {}
        table.add_row(room, f"{per_day:.1f}", fmt_seconds(averages[room]),
                      *(fmt_seconds(q.get(p, math.nan)) for p in (0.5, 0.9, 0.99)), str(stays.get(room, 0)))
    return table


def room_table(model: BehaviourModel, room: str) -> Table:
    """Visits per day and average time per visit, by weekday (columns) and time of day (rows)."""
    from rich.table import Table

    visits = model.grid(room, "visits")
    durations = model.grid(room, "mean_duration")
    table = Table(title=f"{room}: visits per day × average time per visit ({model.tz})")
    table.add_column("time", no_wrap=True)
    for day in DAYS:
        table.add_column(day, justify="right", no_wrap=True)
    for b in range(model.params.bins):
        minute = b * model.bin_minutes
        cells = []
        for w in range(7):
            v, d = visits[w][b], durations[w][b]
            if not math.isfinite(v):
                cells.append("[dim]n/a[/dim]")
            elif v == 0:
                cells.append("[dim]0[/dim]")
            else:
                cells.append(f"{v:.1f}×{fmt_seconds(d)}")
        table.add_row(clock_text(minute), *cells)
    return table


def plot_heatmaps(model: BehaviourModel, rooms: list[str], path: Path) -> None:
    """Weekday (rows, Monday first) x time-of-day heat maps: visits per day and mean visit length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(rooms), 2, figsize=(13, 2.2 * len(rooms) + 0.6), squeeze=False)
    hours = [b * model.bin_minutes / 60 for b in range(model.params.bins)]
    step = max(1, model.params.bins // 12)
    for row, room in enumerate(rooms):
        for col, (stat, label, cmap) in enumerate((("visits", "visits per day", "Blues"),
                                                   ("mean_duration", "mean visit (min)", "Oranges"))):
            grid = np.asarray(model.grid(room, stat), dtype=np.float64)  # type: ignore[arg-type]
            if stat == "mean_duration":
                grid = grid / 60
            ax = axes[row][col]
            finite = grid[np.isfinite(grid)]
            # one very long visit in one cell should not wash out the others: clip the colour scale
            top = float(np.percentile(finite, 98)) if len(finite) else 1.0
            image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, interpolation="nearest",
                              vmin=0, vmax=max(top, 1e-9))
            ax.set_yticks(range(7), DAYS)
            ax.set_xticks(range(0, len(hours), step), [f"{h:.0f}" for h in hours[::step]])
            ax.set_title(f"{room}: {label}", fontsize=10)
            fig.colorbar(image, ax=ax, fraction=0.025)
    axes[-1][0].set_xlabel(f"local hour ({model.tz})")
    axes[-1][1].set_xlabel(f"local hour ({model.tz})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_text(model: BehaviourModel) -> str:
    """What the per-home calibration found (domain/calibration.py), in a few lines."""
    cal = model.calibration
    if cal is None:
        return ("Not calibrated: the detectors use the default limits (train with "
                "HOMETWIN_DETECT_FALSE_ALARM_BUDGET > 0 and at least a week of data).")
    share = cal.budget / max(len(cal.shifts), 1)
    if cal.days == 0:  # too little history to cross-validate: the prior's limits (domain/calibration_prior.py)
        return "\n".join([f"Too little history to calibrate: the prior's limits for {cal.budget:g} false alarms a "
                          f"day ({share:.3g} per detector), as in a typical home's first week:",
                          *(f"  {name}: limit {shift:+.2f}" for name, shift in sorted(cal.shifts.items()))])
    prior = f", shrunk toward the prior as {cal.prior_days:g} days" if cal.prior_days else ""
    split = "shared out where it buys delay" if cal.shares else f"{share:.3g} per detector"
    lines = [f"Calibrated to {cal.budget:g} false alarms a day ({split}) on {cal.days:g} "
             f"held-out days ({cal.folds} folds{prior}):"]
    for name, shift in sorted(cal.shifts.items()):
        part = f" (share {cal.shares[name]:.3g} a day)" if name in cal.shares else ""
        lines.append(f"  {name}: limit {shift:+.2f}{part}; false alarms in the held-out days "
                     f"{cal.at_default.get(name, 0)} at the default limit, {cal.at_shift.get(name, 0)} calibrated")
    return "\n".join(lines)


@model_app.command("show")
def show(
    version: str = typer.Argument("latest", help="A version from `hometwin models list`, or `latest`."),
    room: str = typer.Option("", "--room", help="Also print visits and time per visit by weekday and hour."),
    plot: Path | None = typer.Option(None, "--plot", help="Draw weekday-by-hour heat maps into this PNG."),
    file: Path | None = typer.Option(None, "--file", help="Read the model from this JSON file instead."),
    store: str = typer.Option("", "--store", help="Model store URL (default: HOMETWIN_MODEL_STORE)."),
    home: str = typer.Option("", "--home", help="Home id (default: HOMETWIN_HOME_ID)."),
) -> None:
    """Average duration per room; visits and average time per visit by weekday and time of day."""
    from rich.console import Console

    model, meta = _load(version, file, store, home)
    console = Console()
    period = model.training.get("period", {})
    console.print(f"[bold]Behaviour model[/bold] {meta.get('version', '(file)')}  home {model.home_id}  "
                  f"trained on {period.get('start', '?')} .. {period.get('end', '?')}  "
                  f"({model.training.get('n_events', '?')} events, {model.training.get('n_stays', '?')} stays)")
    console.print(rooms_table(model))
    first = model.first.get("hour", {}).get("")
    if first is not None:
        console.print(f"The day usually starts at {clock_text(first.q[6])} "  # the median over all days
                      f"(the first activity after the night's rest, median of {first.n} days).")
    console.print(calibration_text(model))
    chosen = model.canonical_room(room) if room else None
    if room and chosen is None:
        raise _fail(f"no room {room!r} in this model; rooms: {', '.join(model.rooms)}")
    if chosen:
        console.print(room_table(model, chosen))
    elif not plot:
        console.print("[dim]Add --room ROOM for visits by weekday and time of day, "
                      "--plot FILE.png for heat maps.[/dim]")
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise _fail(f"--plot {plot}: the file name must end in .png")
        try:
            plot_heatmaps(model, [chosen] if chosen else list(model.rooms), plot)
        except OSError as exc:
            raise _fail(f"cannot write {plot}: {exc.strerror or exc}") from None
        console.print(f"Heat maps written to {plot}")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
