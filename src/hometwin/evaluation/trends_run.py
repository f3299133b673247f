"""`hometwin evaluate --trends`: parse the options, load the public homes, run, show and write."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer


def _numbers(text: str, what: str, kind: type = float) -> list[Any]:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers", param_hint=what) from None
    if not values:
        raise typer.BadParameter("give at least one number", param_hint=what)
    return values


def run_trends(dataset: Sequence[Path], fmt: str, rooms: Path | None, seeds_text: str, homes: int,
               days_text: str, sweep_text: str, out: Path | None) -> None:
    from rich.console import Console

    from hometwin.domain.change import ChangeParams
    from hometwin.evaluation.sources import HomeLoadError, load_homes
    from hometwin.evaluation.trends import TrendsEvalConfig, evaluate_trends
    from hometwin.evaluation.trends_tables import markdown, rich_tables

    console = Console(stderr=True)
    seeds = _numbers(seeds_text, "--trend-seeds", int)
    days = _numbers(days_text, "--trend-days", int)
    sweep = _numbers(sweep_text, "--trend-sweep")
    if len(days) != 2:
        raise typer.BadParameter("give two numbers: days unchanged, days after the change", param_hint="--trend-days")
    if any(s < 0 for s in seeds) or not 1 <= homes <= 1000:
        raise typer.BadParameter("seeds must not be negative and --trend-homes must be 1 to 1000")
    public: list[tuple[str, Any, str]] = []
    note = ""
    existing = [p for p in dataset if p.exists()]
    if not dataset:
        note = "skipped: no --dataset given"
    elif not existing:
        note = f"skipped: {', '.join(str(p) for p in dataset)} not found"
    else:
        try:
            loaded = load_homes(existing, fmt, rooms, echo=lambda m: console.print(m))
        except (HomeLoadError, ValueError) as exc:
            typer.echo(f"hometwin evaluate: {exc}", err=True)
            raise typer.Exit(2) from None
        public = [(h.name, h.events, h.tz) for h in loaded]
    try:
        cfg = TrendsEvalConfig(population_seeds=tuple(seeds), homes_per_seed=homes, baseline_days=days[0],
                               follow_days=days[1], sweep=tuple(sweep), params=ChangeParams(),
                               public=tuple(public))
    except ValueError as exc:
        typer.echo(f"hometwin evaluate: {exc}", err=True)
        raise typer.Exit(2) from None
    if ChangeParams().h not in cfg.sweep:
        cfg = replace(cfg, sweep=tuple(sorted((*cfg.sweep, ChangeParams().h))))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("simulating and tracking", total=None)
        result = evaluate_trends(cfg, lambda _name, done, total: bar.update(task, completed=done, total=total))
    if note:
        result["public_note"] = note
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        (out / "result.md").write_text(markdown(result))
        console.print(f"wrote {out / 'result.json'} and {out / 'result.md'}")
    wide = Console(width=max(Console().width, 160))
    for table in rich_tables(result):
        wide.print(table)
