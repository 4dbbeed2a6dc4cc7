"""`rolecall simulate`: put a simulated organization's activity on the log."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import click

from pipeline.cli.common import TIME, log_option, stderr
from pipeline.errors import InputError
from pipeline.events import EARLIEST, LATEST
from pipeline.log import open_log
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import CloudTrailWriter, write_cloudtrail
from pipeline.timeutil import iso

incidents_option = click.option(
    "--incidents/--no-incidents",
    default=True,
    show_default=True,
    help="Stage one case of each finding rule (a leaked instance key, root use, ...); "
    "--no-incidents simulates a normal week.",
)


@click.command("simulate")
@click.option("--seed", default=7, show_default=True, help="Random seed: same seed, same events.")
@click.option(
    "--start",
    type=TIME,
    default="2026-01-05T00:00:00Z",
    show_default=True,
    help="First simulated day (UTC).",
)
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 3660))
@click.option(
    "--events",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many events, sizing the organization to reach them (for benchmarks).",
)
@click.option(
    "--scale",
    default=1,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Multiply people, users, repositories and instances.",
)
@click.option(
    "--cloudtrail",
    "cloudtrail_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write CloudTrail log files (S3 layout, gzipped) into DIR instead of the log.",
)
@incidents_option
@log_option
def simulate_command(
    seed: int,
    start: datetime,
    days: int,
    events: int | None,
    scale: int,
    cloudtrail_dir: str | None,
    incidents: bool,
    log_url: str,
) -> None:
    """Simulate an organization's role activity and put it on the log.

    With --cloudtrail the activity is written as real-shaped CloudTrail files instead,
    for `rolecall import-cloudtrail`.

    \b
    Examples:
      rolecall simulate --seed 7 --start 2026-01-05T00:00:00Z --days 2 --log file:./data/log
      rolecall simulate --events 1000000 --log file:/tmp/big-log
      rolecall simulate --days 2 --cloudtrail ./data/cloudtrail
      rolecall simulate --days 7 --no-incidents --log file:./data/normal-week
    """
    check_span(start, days)
    config = SimulationConfig(
        start=start, days=days, seed=seed, scale=scale, events=events, incidents=incidents
    )
    if cloudtrail_dir is not None:
        writer = write_cloudtrail_simulation(config, cloudtrail_dir)
        stderr.print(
            f"simulated {writer.records:,} CloudTrail records in {writer.files:,} files "
            f"(seed {seed}, from {iso(start)}) -> {cloudtrail_dir}"
        )
        return
    count = write_simulation(config, log_url)
    stderr.print(f"simulated {count:,} events (seed {seed}, from {iso(start)}) -> {log_url}")


# Past the last simulated day: the longest credentials issued on it (36 hours) expire.
_TAIL = timedelta(days=2)


def check_span(start: datetime, days: int) -> None:
    """Every simulated time (expiries included) must be one an event accepts."""
    if start < EARLIEST or start + timedelta(days=days) + _TAIL > LATEST:
        raise InputError(
            f"--start {iso(start)} with --days {days} leaves the times events accept "
            f"({EARLIEST.year} to {LATEST.year}): choose a start between {iso(EARLIEST)} "
            f"and {iso(LATEST - timedelta(days=days) - _TAIL)}"
        )


def write_simulation(config: SimulationConfig, log_url: str) -> int:
    with open_log(log_url) as event_log, Producer(event_log, batch_size=5000) as producer:
        with stderr.status("simulating...") if stderr.is_terminal else _Null():
            producer.emit_many(simulate(config))
        producer.flush()
        return producer.emitted


def write_cloudtrail_simulation(config: SimulationConfig, directory: str) -> CloudTrailWriter:
    with stderr.status("simulating CloudTrail...") if stderr.is_terminal else _Null():
        return write_cloudtrail(simulate(config), Path(directory))


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
