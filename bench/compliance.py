"""A quarter's privileged-access report (issue 17) on a materialized store, and what an
"as known at" answer costs: reading the log's ingest times, rebuilding the prefix.

The store is the materialize section's when it ran in this scratch directory, else it is
materialized here once from the same simulated log. The report covers 90 days from the
data's first day (the simulated history is shorter: every session is in the quarter).
The reference of the report is streaming every session of the quarter through the
session reader (what a report would cost if it read each session whole).

    python -m bench.compliance --events 1000000 --scratch /var/tmp/rb
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bench.results import Result
from bench.workload import Workload, simulated_log
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.reports import Period, Privilege, cutoffs, privileged_report
from pipeline.reports.known_at import build_prefix_store
from pipeline.sessions import Selection
from pipeline.store import Store

T = TypeVar("T")
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
REBUILD_EVENTS = 100_000  # the prefix an as-known-at rebuild is timed on


def store_for(work: Workload, scratch: Path) -> Path:
    """The materialize section's store if it is there, else one built here (once)."""
    db = scratch / f"materialize-{work.events}.duckdb"
    if db.exists():
        return db
    db = scratch / f"compliance-{work.events}.duckdb"
    marker = db.with_suffix(".complete")
    if not marker.exists():
        db.unlink(missing_ok=True)
        log = FileLog(work.log_dir, create=False)
        with Store(db) as store:
            materialize(log, store)
        log.close()
        marker.touch()
    return db


def _timed(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), last


def run(work: Workload, scratch: Path, *, repeats: int = 3) -> list[Result]:
    db = store_for(work, scratch)
    size = f"{work.events:,} events"
    with Queries.open(db) as q:
        span = q.time_range()
        assert span is not None, "an empty store"
        start = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
        quarter = Period(start, start + timedelta(days=90))
        stream_s, count = _timed(
            lambda: sum(
                1 for _ in q.sessions.stream(Selection(overlapping=(quarter.start, quarter.end)))
            ),
            1,
        )
        admin_s, admin = _timed(
            lambda: privileged_report(
                q, quarter, Privilege(), command="bench", generated_at=datetime.now(UTC)
            ),
            repeats,
        )
        policy_s, _ = _timed(
            lambda: privileged_report(
                q,
                quarter,
                Privilege(kind="policy", policy_arn=ADMIN),
                command="bench",
                generated_at=datetime.now(UTC),
            ),
            repeats,
        )
    held = len(admin.sessions)
    log = FileLog(work.log_dir, create=False)
    scan_started = time.perf_counter()
    known = cutoffs(log, datetime.now(UTC))
    scan_s = time.perf_counter() - scan_started
    share = min(1.0, REBUILD_EVENTS / max(1, work.events))
    prefix = {p: int(o * share) for p, o in known.positions.items()}
    rebuilt = scratch / "compliance-known-at.duckdb"
    rebuild_started = time.perf_counter()
    build_prefix_store(log, prefix, rebuilt)
    rebuild_s = time.perf_counter() - rebuild_started
    rebuilt.unlink(missing_ok=True)
    log.close()
    prefix_events = sum(prefix.values())
    return [
        Result(
            name=f"report privileged, a quarter ({size}; IAM administration)",
            value=admin_s,
            unit="s",
            reference=f"streaming the quarter's {count:,} sessions whole",
            reference_value=stream_s,
            goal="value <= 60",
            notes=f"{held:,} privileged sessions; median of {repeats}",
        ),
        Result(
            name=f"report privileged, a quarter ({size}; --policy AdministratorAccess)",
            value=policy_s,
            unit="s",
            notes=f"median of {repeats}",
        ),
        Result(
            name=f"as known at: reading the log's ingest times ({size})",
            value=scan_s,
            unit="s",
            notes="one pass over every record's header, to find each partition's prefix",
        ),
        Result(
            name=f"as known at: rebuilding a log prefix ({prefix_events:,} events)",
            value=prefix_events / rebuild_s if rebuild_s else 0.0,
            unit="events/s",
            notes=f"{rebuild_s:.1f} s: the materializer into a new store file",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scratch", type=Path, default=Path("/var/tmp/rolecall-bench"))
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    work = simulated_log(args.scratch, args.events, say=print)
    for r in run(work, args.scratch):
        print(r.as_json())


if __name__ == "__main__":
    main()
