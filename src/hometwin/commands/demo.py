"""`hometwin demo`: the whole system on 127.0.0.1 with a simulated home (see hometwin.demo)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        directory: Path = typer.Option(Path(".demo"), "--dir", help="Where this run's data goes (a new "
                                       "sub-folder per run; nothing is deleted)."),
        speed: float = typer.Option(60.0, min=1.0, help="How many times faster than real time the home lives."),
        history_days: int = typer.Option(28, min=7, max=365, help="Days of simulated history to learn from."),
        inject_after: float = typer.Option(3.0, min=0.0, help="Real minutes until the person falls."),
        seed: int = typer.Option(7, help="Seed of the simulated person."),
        duration: float | None = typer.Option(None, help="Stop after this many real seconds (default: Ctrl-C)."),
    ) -> None:
        """Run HomeTwin end to end with a simulated person: history, training, a fall, the alert e-mail."""
        from datetime import timedelta

        from hometwin.demo import DemoPlan, run

        run_dir = directory.resolve() / datetime.now().strftime("run-%Y%m%d-%H%M%S")
        plan = DemoPlan(run_dir, history_days=history_days, speed=speed,
                        inject_after=timedelta(minutes=inject_after), seed=seed)
        run(plan, duration=duration)
