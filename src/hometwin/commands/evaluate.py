"""`hometwin evaluate`: measure false alarms and detection delays on real (or simulated) homes."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        dataset: list[Path] = typer.Option(
            None, help="A home (file or prefix, see docs/data.md); repeat for several homes, or give the "
                       "shared data folder for the five public homes. Not needed for --format sim."),
        fmt: str = typer.Option("kasteren", "--format", help="casas | kasteren | ordonez | sim."),
        rooms: Path = typer.Option(None, help="Room-mapping CSV (sensor,room,kind) for every --dataset."),
        train_fraction: float = typer.Option(0.6, help="Share of each home's span used for training."),
        injections: int = typer.Option(200, help="Injected emergencies per home (half day, half night)."),
        injection: str = typer.Option("anchored", help="anchored (1 min after a real event) | random."),
        stuck: int = typer.Option(40, help="Stuck-in-the-bathroom injections per home."),
        seed: int = typer.Option(1, help="Seed of the injections (and of the simulator)."),
        cadence_min: float = typer.Option(5.0, help="Minutes between two monitoring checks in the replay."),
        days: int = typer.Option(60, help="--format sim: days to simulate per home."),
        sim_homes: int = typer.Option(1, help="--format sim: simulated homes (seeds seed, seed+1, ...)."),
        out: Path = typer.Option(None, help="Write result.json and sweep.png into this folder."),
    ) -> None:
        """Inject emergencies into real data and measure how fast HomeTwin notices, against baselines."""
        from datetime import timedelta

        from rich.console import Console

        from hometwin.config import DetectionSettings
        from hometwin.evaluation.harness import EvalConfig
        from hometwin.evaluation.report import evaluate as run
        from hometwin.evaluation.report import plot, table
        from hometwin.evaluation.sources import HomeLoadError, load_homes

        console = Console(stderr=True)
        if injection not in ("anchored", "random"):
            raise typer.BadParameter("must be anchored or random", param_hint="--injection")
        if not 0.05 <= train_fraction <= 0.95:
            raise typer.BadParameter("must be between 0.05 and 0.95", param_hint="--train-fraction")
        if cadence_min <= 0 or injections < 0 or stuck < 0:
            raise typer.BadParameter("cadence must be positive, counts not negative")
        try:
            params = DetectionSettings().params()
            homes = load_homes(dataset or [], fmt, rooms, days=days, seed=seed, sim_homes=sim_homes,
                               echo=lambda m: console.print(m))
        except (HomeLoadError, ValueError) as exc:
            typer.echo(f"hometwin evaluate: {exc}", err=True)
            raise typer.Exit(2) from None
        cfg = EvalConfig(train_fraction=train_fraction, injections=injections, stuck=stuck,
                         protocol=injection, seed=seed, cadence=timedelta(minutes=cadence_min), params=params)
        with console.status("replaying ...") as status:
            result = run(homes, cfg, lambda home, n: status.update(f"replaying {home} ..."))
        Console(width=max(Console().width, 130)).print(table(result))
        for name, cmp in result["equal_rate"].items():
            b = cmp["baseline_at_hometwin_rate"]
            Console().print(f"{result['methods'][name]['label']} at HomeTwin's false-alarm rate "
                            f"({b['false_alarms_per_day']}/day): median day {b['median_delay_day_min']} min, "
                            f"night {b['median_delay_night_min']} min; HomeTwin better: "
                            f"{'yes' if cmp['hometwin_beats_baseline'] else 'no'}")
        if out is not None:
            import json

            out.mkdir(parents=True, exist_ok=True)
            (out / "result.json").write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
            plot(result, out / "sweep.png")
            console.print(f"wrote {out / 'result.json'} and {out / 'sweep.png'}")
