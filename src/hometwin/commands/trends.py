"""`hometwin trends [--weeks N] [--plot FILE.png]`: the daily health indicators and their changes.

Reads the sensor events of the configured store (`HOMETWIN_EVENTS`, or `--source`), computes the
daily indicators of the last weeks (domain/indicators.py), tracks each against the person's own
normal (domain/change.py) and prints a table: the latest value, the normal band and the change
found, then each change in plain words. `--plot` draws the same as small multiples
(services/trend_images.py, which draws the weekly e-mail's charts too).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from hometwin.domain.change import TrendReport


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(1)


def trends_table(report: TrendReport, weeks: int) -> Table:
    """One row per indicator: the latest value (and its day), the normal band, the latest change."""
    from rich.table import Table

    from hometwin.domain.trends_wording import band_text, change_summary, value_text

    table = Table(title=f"Daily indicators to {report.now.date().isoformat()} ({report.tz})")
    for column in ("indicator", "last", "day", "normal", "change"):
        table.add_column(column)
    today = report.now.date()
    for trend in report.trends:
        if trend.unsupported:
            table.add_row(trend.spec.label, "–", "", "[dim]" + trend.unsupported + "[/]", "")
            continue
        i = trend.last_index
        recent = [c for c in trend.changes if (today - c.detected).days <= 7 * weeks]
        change = "[red]" + change_summary(recent[-1]) + "[/]" if recent else ""
        if i is None:
            table.add_row(trend.spec.label, "–", "", "no data", change)
            continue
        table.add_row(trend.spec.label, value_text(trend.spec, float(trend.values[i])), f"{trend.days[i]:%a %d %b}",
                      band_text(trend.spec, float(trend.low[i]), float(trend.high[i])), change)
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def trends(
        source: str = typer.Option("", "--source", help="Sensor events URL (default: HOMETWIN_EVENTS)."),
        end_text: str = typer.Option(None, "--to", help="Show the trends as they were at this moment (ISO "
                                     "date/time, local time of the home; default: just after the newest event)."),
        weeks: int = typer.Option(8, help="Weeks to show (the baseline reads 8 more weeks before them)."),
        tz: str = typer.Option("", "--tz", help="The home's time zone (default: HOMETWIN_TZ)."),
        sensitivity: float = typer.Option(None, "--sensitivity", help="The change detector's threshold h "
                                          "(default 8; larger: fewer, later reports; docs/trends.md)."),
        plot: Path = typer.Option(None, "--plot", help="Also draw the indicators as small charts into this PNG."),
    ) -> None:
        """Daily health indicators (toilet at night, getting up, outings, kitchen ...) against the
        person's own normal, with the changes found in plain words."""
        from zoneinfo import ZoneInfoNotFoundError

        from rich.console import Console

        from hometwin.commands.model_registry import _read_events, _when
        from hometwin.components.wiring import open_events
        from hometwin.config import SourceSettings
        from hometwin.domain.change import ChangeParams, trend_report_from_events
        from hometwin.domain.trends_wording import change_sentence
        from hometwin.ports import PortError

        if not 1 <= weeks <= 104:
            raise typer.BadParameter("must be 1 to 104", param_hint="--weeks")
        if sensitivity is not None and not (math.isfinite(sensitivity) and sensitivity > 0):
            raise typer.BadParameter("must be a positive number", param_hint="--sensitivity")
        settings = SourceSettings()
        zone = tz or settings.tz
        try:
            params = ChangeParams() if sensitivity is None else ChangeParams(h=sensitivity)
            end = _when(end_text, zone, "--to")
            events_source = open_events(source, settings)
            if end is None:
                newest = events_source.latest()
                if newest is None:
                    raise _fail(f"the source {source or 'HOMETWIN_EVENTS'} holds no events")
                end = newest.time + timedelta(microseconds=1)
            start = end - timedelta(days=7 * weeks + params.window_days)
            events = _read_events(events_source, start, end)
            if not events:
                raise _fail(f"no sensor events between {start.isoformat()} and {end.isoformat()}")
            report = trend_report_from_events(events, tz=zone, now=end, params=params)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise _fail(str(exc)) from None
        except PortError as exc:
            raise _fail(f"{type(exc).__name__}: {exc}") from None
        console = Console(width=max(Console().width, 120))
        console.print(trends_table(report, weeks))
        shown = [c for c in report.changes if (end.date() - c.detected).days <= 7 * weeks]
        for change in shown:
            console.print(f"- {change_sentence(change)} (noticed {change.detected:%a %d %b})")
        if not shown:
            console.print(f"No change from the personal normal in the last {weeks} weeks.")
        for room in report.unvisited:
            console.print(f"- {room.room}: not visited for {room.days:.0f} days (usually on "
                          f"{room.usual_share:.0%} of days).")
        if plot is not None:
            _write_plot(report, weeks, plot, end)


def _write_plot(report: TrendReport, weeks: int, plot: Path, end: datetime) -> None:
    from hometwin.services.trend_images import trends_png

    try:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(trends_png(report.trends, weeks=weeks))
    except OSError as exc:
        raise _fail(f"cannot write {plot}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {plot}", err=True)
