"""Simulated data of a chosen size, built once per run and shared by the benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.log import FileLog
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.timeutil import parse_time


@dataclass(frozen=True)
class Workload:
    events: int
    log_dir: Path
    seconds_to_simulate: float


def simulated_log(directory: Path, events: int, *, seed: int = 11) -> Workload:
    """A file log holding `events` simulated events (reused when already there)."""
    log_dir = directory / f"log-{events}-{seed}"
    marker = log_dir / ".complete"
    started = time.perf_counter()
    if not marker.exists():
        log = FileLog(log_dir, fsync=False)
        config = SimulationConfig(start=parse_time("2026-01-05"), days=30, seed=seed, events=events)
        with Producer(log, batch_size=20_000) as producer:
            producer.emit_many(simulate(config))
        log.close()
        marker.write_text(str(events))
    return Workload(events, log_dir, time.perf_counter() - started)
