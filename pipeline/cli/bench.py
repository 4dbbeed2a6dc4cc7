"""`rolecall bench`: the benchmark suite (a thin layer over `bench.suite`)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import out as terminal
from pipeline.errors import InputError

# Named here too: the CLI must not import the benchmarks (outside the package) to print help.
SECTIONS = (
    "materialize",
    "queries",
    "cloudtrail",
    "kafka",
    "policy",
    "dashboard",
    "cli",
    "compliance",
)


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
@click.option(
    "--only",
    default=",".join(SECTIONS),
    show_default=True,
    help="Comma-separated sections to run.",
)
def bench_command(events: int, scratch: Path | None, out: Path | None, only: str) -> None:
    """Run the benchmarks; print a table and record them in bench/results.json.

    Each figure is recorded with its reference (measured in the same run on the same
    data), the ratio, the goal and whether it is met; a run of some sections replaces
    only their figures. Benchmarks assert nothing: they measure.

    \b
    Sections: materialize, queries, cloudtrail, kafka, policy, dashboard, cli, compliance.
    Examples:
      rolecall bench --events 100000                  # a quick look (minutes)
      rolecall bench                                  # what BENCHMARKS.md shows
      rolecall bench --events 10000000 --only materialize,queries --scratch /var/tmp/rb
      rolecall bench --only cli                       # start-up and a demo query
    """
    try:
        from bench.suite import RESULTS, run_suite
    except ImportError as exc:
        raise InputError(f"the benchmarks live in the source tree's bench/: {exc}") from exc
    sections = [s.strip() for s in only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise InputError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    run_suite(
        events=events,
        scratch=scratch,
        out=out or RESULTS,
        sections=sections,
        say=lambda line: terminal().print(line, markup=False, highlight=False),
    )
