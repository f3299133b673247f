"""`hometwin ...`: the command line (Typer). Commands live in `hometwin.commands.*`."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from hometwin import __version__, commands

app = typer.Typer(
    name="hometwin",
    help="HomeTwin: a digital twin of a person living at home.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hometwin {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """HomeTwin: learns a person's routine from room sensors and alerts a caregiver."""


for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{info.name}").register(app)
