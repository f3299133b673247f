"""`hometwin evaluate`: measure false alarms and detection delays on real (or simulated) homes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from hometwin.evaluation.harness import EvalConfig, HomeData


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        dataset: list[Path] = typer.Option(
            None, help="A home (file or prefix, see docs/data.md); repeat for several homes, or give the "
                       "shared data folder for the five public homes. Not needed for --format sim."),
        fmt: str = typer.Option("kasteren", "--format", help="casas | kasteren | ordonez | sim | population "
                                                                 "(hometwin.sim.population of --seed)."),
        rooms: Path = typer.Option(None, help="Room-mapping CSV (sensor,room,kind) for every --dataset."),
        protocol: str = typer.Option(
            "rolling", help="rolling: a new model every --retrain-days on all data so far, each tested on the "
                            "following days, honest counting, knobs chosen leaving the home out; split: the "
                            "earlier protocol (one --train-fraction split, plain counting, knobs chosen pooled)."),
        counting: str = typer.Option(
            None, help="honest | plain; default: the protocol's own. Honest leaves data gaps out, counts a "
                       "technical alarm once per day, weights homes by test days, reports reachable falls."),
        faults_as_false_alarms: bool = typer.Option(
            False, help="Honest counting: count a technical finding during a known sensor fault (a simulated "
                        "dead or stuck sensor, in its room) as a false alarm, as before, not as the fault noticed."),
        train_fraction: float = typer.Option(0.6, help="--protocol split: share of each home's span used for "
                                                       "training."),
        min_train_days: float = typer.Option(7.0, help="--protocol rolling: days of data before the first model."),
        retrain_days: float = typer.Option(7.0, help="--protocol rolling: days between two models."),
        target_rate: float = typer.Option(0.1, help="False alarms per day the leave-one-home-out knobs aim at."),
        budget: float = typer.Option(
            None, help="--protocol rolling: calibrate each model to this many false alarms a day on its own "
                       "training days, as the modeling does (default HOMETWIN_DETECT_FALSE_ALARM_BUDGET; 0: off)."),
        injections: int = typer.Option(200, help="Injected emergencies per home (half day, half night)."),
        injection: str = typer.Option("anchored", help="anchored (1 min after a real event) | random."),
        stuck: int = typer.Option(40, help="Stuck-in-the-bathroom injections per home."),
        seed: int = typer.Option(1, help="Seed of the injections (and of the simulator)."),
        cadence_min: float = typer.Option(5.0, help="Minutes between two monitoring checks in the replay."),
        days: int = typer.Option(60, help="--format sim / population: days to simulate per home."),
        sim_homes: int = typer.Option(1, help="--format sim: simulated homes (seeds seed, seed+1, ...); "
                                                 "--format population: homes drawn from population --seed."),
        out: Path = typer.Option(None, help="Write result.json, result.md and sweep.png into this folder."),
        jobs: int = typer.Option(1, help="Homes replayed at once, each in its own process (the result is the "
                                         "same for any value)."),
        trends: bool = typer.Option(False, "--trends", help="Evaluate the change detector instead (docs/trends.md): "
                                    "behaviour changes injected into simulated populations, false change reports "
                                    "on them unchanged and on the --dataset homes."),
        trend_seeds: str = typer.Option("9000,9001", help="--trends: population seeds (default: held out)."),
        trend_homes: int = typer.Option(20, help="--trends: homes per population seed."),
        trend_days: str = typer.Option("56,21", help="--trends: days unchanged, then days after the change."),
        trend_sweep: str = typer.Option("3,4,5,6,7,8,10", help="--trends: the detector thresholds h to sweep."),
    ) -> None:
        """Inject emergencies into real data and measure how fast HomeTwin notices, against baselines."""
        from datetime import timedelta

        from rich.console import Console

        if trends:
            from hometwin.evaluation.trends_run import run_trends

            run_trends(dataset or [], fmt, rooms, trend_seeds, trend_homes, trend_days, trend_sweep, out)
            return

        from hometwin.config import DetectionSettings, ModelingSettings
        from hometwin.evaluation.harness import EvalConfig
        from hometwin.evaluation.sources import HomeLoadError, load_homes

        console = Console(stderr=True)
        if injection not in ("anchored", "random"):
            raise typer.BadParameter("must be anchored or random", param_hint="--injection")
        if protocol not in ("rolling", "split"):
            raise typer.BadParameter("must be rolling or split", param_hint="--protocol")
        if counting not in (None, "honest", "plain"):
            raise typer.BadParameter("must be honest or plain", param_hint="--counting")
        if not 0.05 <= train_fraction <= 0.95:
            raise typer.BadParameter("must be between 0.05 and 0.95", param_hint="--train-fraction")
        if min_train_days <= 0 or retrain_days <= 0:
            raise typer.BadParameter("--min-train-days and --retrain-days must be positive")
        if budget is not None and budget < 0:
            raise typer.BadParameter("must not be negative", param_hint="--budget")
        if jobs < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--jobs")
        if cadence_min <= 0 or injections < 0 or stuck < 0 or target_rate < 0:
            raise typer.BadParameter("cadence must be positive, counts and the target rate not negative")
        try:
            params = DetectionSettings().params()
            homes = load_homes(dataset or [], fmt, rooms, days=days, seed=seed, sim_homes=sim_homes,
                               echo=lambda m: console.print(m))
        except (HomeLoadError, ValueError) as exc:
            typer.echo(f"hometwin evaluate: {exc}", err=True)
            raise typer.Exit(2) from None
        cfg = EvalConfig(train_fraction=train_fraction, injections=injections, stuck=stuck, injection=injection,
                         protocol=protocol, counting=counting, faults_as_false_alarms=faults_as_false_alarms,
                         min_train=timedelta(days=min_train_days),
                         retrain_every=timedelta(days=retrain_days), target_rate=target_rate, seed=seed,
                         cadence=timedelta(minutes=cadence_min), params=params,
                         false_alarm_budget=ModelingSettings().detect_false_alarm_budget if budget is None else budget)
        try:
            result = _run(homes, cfg, console, jobs)
        except ValueError as exc:  # e.g. a home shorter than the minimum training span
            typer.echo(f"hometwin evaluate: {exc}", err=True)
            raise typer.Exit(2) from None
        _show(result, out)


def _run(homes: list[HomeData], cfg: EvalConfig, console: Console, jobs: int) -> dict[str, Any]:
    """Replay every home with a progress bar (one task per home)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from hometwin.evaluation.report import evaluate as run

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(home: str, done: int, total: int) -> None:
            if home not in tasks:
                tasks[home] = bar.add_task(f"replaying {home}", total=None)
            bar.update(tasks[home], completed=done, total=total)

        return run(homes, cfg, progress, jobs)


def _show(result: dict[str, Any], out: Path | None) -> None:
    from rich.console import Console

    from hometwin.evaluation.report import plot
    from hometwin.evaluation.tables import markdown, rich_tables

    if out is not None:  # written first: a long run is never lost to a display problem
        import json

        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
        (out / "result.md").write_text(markdown(result))
        plot(result, out / "sweep.png")
        Console(stderr=True).print(f"wrote {out / 'result.json'}, {out / 'result.md'} and {out / 'sweep.png'}")
    wide = Console(width=max(Console().width, 150))
    for table in rich_tables(result):
        wide.print(table)
