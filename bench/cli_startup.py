"""The CLI's start-up: `rolecall --help`, `--version` and a query on a small demo store.

Each is a whole process, timed from outside (start to exit, interpreter start-up
included), as a user waits for it. The demo store (simulated, 2 days, the demo's seed) is
built once in the scratch directory. Wall time is the figure; the CPU time of the same
runs is in the notes, because a busy machine stretches wall time and not CPU time.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.results import Result

RUNS = 11
WARMUP = 2
DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)
QUERY_AT = "2026-01-05T12:00:00Z"


def rolecall_command() -> list[str]:
    """The installed `rolecall` script beside this interpreter, else `python -m pipeline`."""
    script = Path(sys.executable).parent / "rolecall"
    if script.exists():
        return [str(script)]
    found = shutil.which("rolecall")
    return [found] if found else [sys.executable, "-m", "pipeline"]


def demo_store(scratch: Path) -> Path:
    """A small demo store (2 simulated days), built once per scratch directory."""
    from pipeline.cli.materialize import run_materialize
    from pipeline.cli.produce import write_simulation
    from pipeline.simulator import SimulationConfig

    base = scratch / "cli-demo"
    db = base / "rolecall.duckdb"
    if db.exists():
        return db
    shutil.rmtree(base, ignore_errors=True)
    log_url = f"file:{base / 'log'}"
    write_simulation(SimulationConfig(start=DEMO_START, days=2, seed=7), log_url)
    run_materialize(log_url, str(db))
    return db


def time_runs(
    args: list[str], runs: int = RUNS, warmup: int = WARMUP
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of `runs` whole processes (after `warmup` uncounted)."""
    walls: list[float] = []
    cpus: list[float] = []
    env = {**os.environ, "COLUMNS": "120"}
    for i in range(warmup + runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(args, capture_output=True, env=env, check=False)
        wall = (time.perf_counter() - t0) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-300:]!r}")
        if i >= warmup:
            walls.append(wall)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cpus.append(cpu * 1000)
    return walls, cpus


def _result(name: str, args: list[str], goal_ms: int, what: str) -> Result:
    walls, cpus = time_runs(args)
    return Result(
        name=name,
        value=statistics.median(walls),
        unit="ms",
        goal=f"value <= {goal_ms}",
        notes=(
            f"{what}; whole process, median of {len(walls)} runs (min {min(walls):,.0f}, "
            f"max {max(walls):,.0f} ms wall); CPU median {statistics.median(cpus):,.0f} ms"
        ),
    )


def run(scratch: Path) -> list[Result]:
    db = demo_store(scratch)
    cli = rolecall_command()
    query = [*cli, "who-held", "--at", QUERY_AT, "--db", str(db)]
    return [
        _result("cli --help", [*cli, "--help"], 300, "`rolecall --help`"),
        _result("cli --version", [*cli, "--version"], 300, "`rolecall --version`"),
        _result(
            "cli who-held on the demo store",
            query,
            700,
            f"`rolecall who-held --at {QUERY_AT}` on a 2-day simulated store, printed for a "
            "120-column terminal",
        ),
    ]
