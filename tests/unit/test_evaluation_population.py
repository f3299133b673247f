"""The simulated population as evaluation homes: outages are no test time, absences no injection."""

from __future__ import annotations

import pytest

from hometwin.evaluation.sources import HomeLoadError, load_homes
from hometwin.sim import population


def test_population_homes_carry_outages_as_excluded_and_absences_as_absent() -> None:
    homes = load_homes([], "population", days=21, seed=2, sim_homes=4)
    drawn = population(2, 4, 21)
    assert [h.name for h in homes] == [d.name for d in drawn]
    for home, sim in zip(homes, drawn, strict=True):
        outages = [(f.start, f.end) for f in sim.faults if f.kind == "gateway_outage"]
        assert list(home.excluded) == outages
        assert home.absent == sim.excluded  # away, and outages: never an injection there
        assert list(home.events) == sim.events and home.tz == sim.tz
    assert any(h.excluded for h in homes) or not any(
        f.kind == "gateway_outage" for d in drawn for f in d.faults)


def test_population_homes_carry_dead_and_stuck_sensors_as_known_faults_in_their_rooms() -> None:
    homes = load_homes([], "population", days=21, seed=104, sim_homes=20)
    drawn = population(104, 20, 21)
    for home, sim in zip(homes, drawn, strict=True):
        room = {spec.name: r for r, spec in sim.layout.all_sensors()}
        expected = [(f.at, sim.events[-1].time, room[f.sensor]) if f.kind == "dead_sensor" else
                    (f.start, f.end, room[f.sensor]) for f in sim.faults if f.kind != "gateway_outage"]
        assert list(home.faults) == expected
    assert sum(len(h.faults) for h in homes) >= 5  # the population has dead and stuck sensors to notice


def test_population_refuses_too_few_days_and_bad_counts() -> None:
    with pytest.raises(HomeLoadError, match="at least 14"):
        load_homes([], "population", days=7, seed=2, sim_homes=2)
    with pytest.raises(HomeLoadError, match="count"):
        load_homes([], "population", days=21, seed=2, sim_homes=0)
