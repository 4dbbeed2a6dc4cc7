"""Simulated data of a chosen size, built once per size and shared by the benchmarks.

One pass of the simulator writes both the embedded log rolecall reads and the same
events rendered as CloudTrail files (the S3 layout, gzipped): the raw material of the
"without rolecall" references.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.events import Event
from pipeline.log import FileLog, LogRecord
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import CloudTrailWriter
from pipeline.timeutil import parse_time

DAYS = 30


@dataclass(frozen=True)
class Workload:
    events: int
    log_dir: Path
    trail_dir: Path
    trail_records: int
    seconds_to_simulate: float


def simulated_log(
    directory: Path,
    events: int,
    *,
    seed: int = 11,
    say: Callable[[str], object] = lambda _: None,
) -> Workload:
    """A file log of `events` simulated events and their CloudTrail rendering (reused)."""
    base = directory / f"sim-{events}-{seed}"
    log_dir, trail_dir, marker = base / "log", base / "trail", base / "complete.json"
    started = time.perf_counter()
    if not marker.exists():
        say(f"simulating {events:,} events (log and CloudTrail files) in {base} ...")
        log = FileLog(log_dir, fsync=False)
        trail = CloudTrailWriter(trail_dir)
        config = SimulationConfig(
            start=parse_time("2026-01-05"), days=DAYS, seed=seed, events=events
        )

        def both() -> Iterator[Event]:
            for n, event in enumerate(simulate(config), 1):
                trail.add(event)
                if n % 1_000_000 == 0:
                    say(f"  {n:,} events")
                yield event

        with Producer(log, batch_size=20_000) as producer:
            producer.emit_many(both())
        trail.close()
        log.close()
        marker.write_text(json.dumps({"events": events, "trail_records": trail.records}))
    meta = json.loads(marker.read_text())
    return Workload(
        events, log_dir, trail_dir, int(meta["trail_records"]), time.perf_counter() - started
    )


def log_records(log_dir: Path, limit: int | None = None) -> list[LogRecord]:
    """The records of a file log, in partition order (what the benchmarks replay)."""
    log = FileLog(log_dir, create=False)
    consumer = log.consumer()
    consumer.start(lambda parts: dict.fromkeys(parts, 0))
    out: list[LogRecord] = []
    while (limit is None or len(out) < limit) and (batch := consumer.poll(50_000)):
        out.extend(i for i in batch if isinstance(i, LogRecord))
    log.close()
    return out if limit is None else out[:limit]
