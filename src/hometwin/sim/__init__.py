"""Resident simulator: realistic sensor streams with ground truth and injected emergencies."""

from hometwin.sim.layout import Emergency, Fall, HomeLayout, NotComingHome, SensorSpec, StuckInBathroom
from hometwin.sim.resident import GroundTruth, Resident, SimResult, simulate

__all__ = ["Emergency", "Fall", "GroundTruth", "HomeLayout", "NotComingHome", "Resident", "SensorSpec",
           "SimResult", "StuckInBathroom", "simulate"]
