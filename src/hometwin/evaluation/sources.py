"""Homes for the evaluation: dataset files through the importers, or the simulator.

A dataset's annotated absences ("leave house") become the home's `absent` intervals: no emergency is
injected while the person is out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from hometwin.evaluation.harness import HomeData


class HomeLoadError(ValueError):
    """A home could not be loaded; the message names the file and the reason."""


def load_homes(paths: Sequence[Path], fmt: str, rooms: Path | None = None, *, days: int = 60, seed: int = 1,
               sim_homes: int = 1, echo: Callable[[str], None] = lambda m: None) -> list[HomeData]:
    """`paths` are homes; a folder holding the public datasets stands for the five public homes."""
    if fmt == "sim":
        from hometwin.sim import simulate

        if days < 3:
            raise HomeLoadError("--days must be at least 3 for a simulated home")
        homes = []
        for i in range(sim_homes):
            res = simulate(days, seed=seed + i)
            homes.append(HomeData(f"sim-{seed + i}", res.events, res.layout.tz))
        return homes
    if fmt == "population":
        return population_homes(seed, sim_homes, days)
    from hometwin.adapters.datasets import DatasetError, labelled_absences, load_dataset, public_homes

    if not paths:
        raise HomeLoadError("give --dataset (or --format sim / population)")
    homes = []
    for path in paths:
        if path.is_dir() and (path / "kasteren").is_dir() and (path / "uci_adl_ordonez").is_dir():
            items = [(name, p, f) for name, p, f in public_homes(path)]
        else:
            items = [(path.name, path, fmt)]
        for name, p, f in items:
            try:
                imported = load_dataset(p, f, rooms)
            except DatasetError as exc:
                raise HomeLoadError(f"{p}: {exc}") from None
            if imported.rejected:
                first = imported.rejected[0]
                echo(f"{name}: {len(imported.rejected)} line(s) rejected, "
                     f"e.g. {first.file}:{first.line}: {first.reason}")
            if len(imported.events) < 10:
                raise HomeLoadError(f"{p}: only {len(imported.events)} events")
            homes.append(HomeData(imported.name or name, imported.events, imported.tz,
                                  absent=tuple(labelled_absences(imported.activities))))
    return homes


def population_homes(seed: int, count: int, days: int) -> list[HomeData]:
    """The simulated population of `seed` (hometwin.sim.population): gateway outages are no test time;
    the person away (trips, outings the door may miss) is test time without injections, since an
    alarm while nobody is home still reaches the family; a dead or stuck sensor is a known fault that
    a technical finding in its room notices (no false alarm)."""
    from hometwin.sim import population
    from hometwin.sim.faults import DeadSensor, GatewayOutage, StuckSensor

    if days < 14:
        raise HomeLoadError("--days must be at least 14 for a simulated population (two weekly models)")
    try:
        drawn = population(seed, count, days)
    except ValueError as exc:
        raise HomeLoadError(f"simulated population: {exc}") from None
    homes = []
    for home in drawn:
        outages = tuple((f.start, f.end) for f in home.faults if isinstance(f, GatewayOutage))
        room = {spec.name: r for r, spec in home.layout.all_sensors()}
        end = home.events[-1].time
        faults = tuple((f.at, end, room[f.sensor]) if isinstance(f, DeadSensor) else (f.start, f.end, room[f.sensor])
                       for f in home.faults if isinstance(f, DeadSensor | StuckSensor))
        homes.append(HomeData(home.name, home.events, home.tz, excluded=outages, absent=home.excluded,
                              faults=faults))
    return homes
