"""Peak resident memory of a materializer process, measured from outside it."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from bench.results import Result


def peak_rss_mib(log_dir: Path, db: Path) -> float:
    """Materialize in a child process and return its peak RSS (MiB)."""
    db.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "materialize",
            "--log",
            f"file:{log_dir}",
            "--db",
            str(db),
            "--batch-size",
            "20000",
        ],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: run this first.
    return max(after, before) / 1024


def run(log_dir: Path, db: Path, events: int) -> list[Result]:
    peak = peak_rss_mib(log_dir, db)
    return [
        Result(
            name=f"materialize peak memory ({events:,} events)",
            value=peak,
            unit="MiB",
            goal="value <= 2048" if events >= 10_000_000 else None,
        )
    ]
