"""The simulator: a realistic organization's role activity, deterministic per seed."""

from pipeline.simulator.activity import SimulationConfig, simulate

__all__ = ["SimulationConfig", "simulate"]
