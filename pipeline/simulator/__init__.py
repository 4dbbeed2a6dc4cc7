"""The simulator: a realistic organization's role activity, deterministic per seed."""

from pipeline.simulator.activity import Simulation, SimulationConfig, simulate
from pipeline.simulator.incidents import RULES, Incident

__all__ = ["RULES", "Incident", "Simulation", "SimulationConfig", "simulate"]
