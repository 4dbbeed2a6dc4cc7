"""The simulator: a realistic organization's role activity, deterministic per seed."""

from pipeline.findings.model import RULES  # the rules its incidents stage, one case each
from pipeline.simulator.activity import Simulation, SimulationConfig, simulate
from pipeline.simulator.incidents import Incident

__all__ = ["RULES", "Incident", "Simulation", "SimulationConfig", "simulate"]
