"""Resident simulator: realistic sensor streams with ground truth and injected emergencies."""

from hometwin.sim.changes import CHANGE_KINDS, BehaviourChange
from hometwin.sim.faults import DeadSensor, Fault, GatewayOutage, StuckSensor
from hometwin.sim.layout import Emergency, Fall, HomeLayout, NotComingHome, SensorSpec, StuckInBathroom
from hometwin.sim.population import (
    DEVELOPMENT_SEEDS,
    HELD_OUT_SEEDS,
    SimulatedHome,
    iter_population,
    population,
    simulated_home,
)
from hometwin.sim.resident import GroundTruth, Resident, SimResult, simulate
from hometwin.sim.routine import Lifestyle, Trip

__all__ = ["CHANGE_KINDS", "DEVELOPMENT_SEEDS", "BehaviourChange",
           "HELD_OUT_SEEDS", "DeadSensor", "Emergency", "Fall", "Fault", "GatewayOutage",
           "GroundTruth", "HomeLayout", "Lifestyle", "NotComingHome", "Resident", "SensorSpec", "SimResult",
           "SimulatedHome", "StuckInBathroom", "StuckSensor", "Trip", "iter_population", "population",
           "simulate", "simulated_home"]
