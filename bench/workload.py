"""Simulated data of a chosen size, built once per run and shared by the benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.log import FileLog, LogRecord
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


def log_records(log_dir: Path) -> list[LogRecord]:
    """Every record of a file log, in partition order (what the benchmarks replay)."""
    log = FileLog(log_dir, create=False)
    consumer = log.consumer()
    consumer.start(lambda parts: dict.fromkeys(parts, 0))
    out: list[LogRecord] = []
    while batch := consumer.poll(50_000):
        out.extend(i for i in batch if isinstance(i, LogRecord))
    log.close()
    return out
