"""Benchmark: CloudTrail import rate next to DuckDB's own `read_json` over the same files.

    python bench/cloudtrail_import.py --events 1300000 --dir /tmp/ct-bench

Simulates a CloudTrail tree (S3 layout, gzipped) of at least `--records` records, then
times (1) `rolecall import-cloudtrail` onto an embedded log and (2) DuckDB reading every
record of the same files with `read_json`, and prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.cloudtrail import import_cloudtrail
from pipeline.log import FileLog
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import write_cloudtrail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_900_000, help="simulator events")
    parser.add_argument("--records", type=int, default=1_000_000, help="minimum records")
    parser.add_argument("--dir", default="/tmp/rolecall-ct-bench")
    parser.add_argument("--keep", action="store_true", help="reuse an existing tree")
    args = parser.parse_args()
    base = Path(args.dir)
    trail, log_dir = base / "trail", base / "log"
    meta = base / "trail.json"
    if not (args.keep and meta.exists()):
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        t0 = time.perf_counter()
        config = SimulationConfig(
            start=datetime(2026, 1, 5, tzinfo=UTC), days=3, seed=7, events=args.events
        )
        writer = write_cloudtrail(simulate(config), trail)
        meta.write_text(json.dumps({"records": writer.records, "files": writer.files}))
        print(
            f"simulated {writer.records:,} records in {writer.files:,} files "
            f"in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
    tree = json.loads(meta.read_text())
    if tree["records"] < args.records:
        sys.exit(f"only {tree['records']:,} records: raise --events")

    shutil.rmtree(log_dir, ignore_errors=True)
    log = FileLog(log_dir, partitions=4)
    try:
        summary = import_cloudtrail([str(trail)], Producer(log, batch_size=5000))
    finally:
        log.close()
    import_rate = summary.records_read / summary.seconds

    t0 = time.perf_counter()
    con = duckdb.connect()
    pattern = str(trail / "AWSLogs" / "**" / "*.json.gz")
    (count,) = con.execute(
        "SELECT count(*) FROM (SELECT unnest(Records) AS r FROM read_json(?, format = 'auto', "
        "maximum_object_size = 1073741824))",
        [pattern],
    ).fetchone()  # type: ignore[misc]
    duck_seconds = time.perf_counter() - t0
    duck_rate = count / duck_seconds

    result = {
        "files": tree["files"],
        "records": summary.records_read,
        "events_emitted": summary.events_total,
        "import_seconds": round(summary.seconds, 1),
        "import_records_per_second": round(import_rate),
        "duckdb_read_json_records": count,
        "duckdb_read_json_seconds": round(duck_seconds, 1),
        "duckdb_read_json_records_per_second": round(duck_rate),
        "import_to_read_json_ratio": round(import_rate / duck_rate, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
