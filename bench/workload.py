"""Simulated data of a chosen size, built once per size and shared by the benchmarks.

One pass of the simulator writes both the embedded log rolecall reads and the same
events rendered as CloudTrail files (the S3 layout, gzipped): the raw material of the
"without rolecall" references.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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
    """A file log of `events` simulated events and their CloudTrail rendering (reused).

    The log and the CloudTrail files are written by two processes at once, each running
    the same deterministic simulation: half the wall time on two cores.
    """
    base = directory / f"sim-{events}-{seed}"
    log_dir, trail_dir, marker = base / "log", base / "trail", base / "complete.json"
    started = time.perf_counter()
    if not marker.exists():
        say(f"simulating {events:,} events (log and CloudTrail files) in {base} ...")
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.workload", str(trail_dir), str(events), str(seed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        log = FileLog(log_dir, fsync=False)
        with Producer(log, batch_size=20_000) as producer:
            producer.emit_many(_progress(simulate(_config(events, seed)), say))
        log.close()
        out, _ = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"rendering CloudTrail failed (exit {child.returncode})")
        marker.write_text(json.dumps({"events": events, "trail_records": int(out.split()[-1])}))
    meta = json.loads(marker.read_text())
    return Workload(
        events, log_dir, trail_dir, int(meta["trail_records"]), time.perf_counter() - started
    )


def _config(events: int, seed: int) -> SimulationConfig:
    return SimulationConfig(start=parse_time("2026-01-05"), days=DAYS, seed=seed, events=events)


def _progress(events: Iterator[Event], say: Callable[[str], object]) -> Iterator[Event]:
    for n, event in enumerate(events, 1):
        if n % 1_000_000 == 0:
            say(f"  {n:,} events")
        yield event


def _render(trail_dir: Path, events: int, seed: int) -> int:
    # Level 1: the files are read back by the benchmarks, not stored for long.
    trail = CloudTrailWriter(trail_dir, compresslevel=1)
    for event in simulate(_config(events, seed)):
        trail.add(event)
    trail.close()
    return trail.records


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


if __name__ == "__main__":
    print(_render(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
