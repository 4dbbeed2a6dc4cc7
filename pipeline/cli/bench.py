"""`rolecall bench`: the benchmark suite (a thin layer over `bench.suite`)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import stdout
from pipeline.errors import InputError


@click.command("bench")
@click.option(
    "--events",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(1000),
    help="Size of the simulated history.",
)
@click.option(
    "--scratch",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep generated data (reused across runs); a temp dir by default.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file (default bench/results.json in the source tree).",
)
def bench_command(events: int, scratch: Path | None, out: Path | None) -> None:
    """Run the benchmarks and write bench/results.json.

    \b
    Examples:
      rolecall bench --events 100000
      rolecall bench --events 10000000 --scratch /tmp/rolecall-bench
    """
    try:
        from bench.suite import RESULTS, run_suite
    except ImportError as exc:
        raise InputError(f"the benchmarks live in the source tree's bench/: {exc}") from exc
    run_suite(
        events=events,
        scratch=scratch,
        out=out or RESULTS,
        say=lambda line: stdout.print(line, markup=False, highlight=False),
    )
