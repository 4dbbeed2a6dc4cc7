"""CloudTrail import rate, next to DuckDB's own `read_json` over the same files.

Times `import_cloudtrail` (read, map, validate, encode, append to an embedded log) over
a simulated CloudTrail tree (the S3 layout, gzipped), then DuckDB reading every record of
the same files with `read_json`, the rate a user gets from loading the raw JSON.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb

from bench.results import Result
from bench.workload import Workload
from pipeline.cloudtrail import import_cloudtrail
from pipeline.log import FileLog
from pipeline.producer import Producer


def run(work: Workload, scratch: Path) -> list[Result]:
    log_dir = scratch / "cloudtrail-import-log"
    shutil.rmtree(log_dir, ignore_errors=True)
    log = FileLog(log_dir, partitions=4, fsync=False)
    try:
        summary = import_cloudtrail([str(work.trail_dir)], Producer(log, batch_size=5000))
    finally:
        log.close()
    shutil.rmtree(log_dir, ignore_errors=True)
    import_rate = summary.records_read / summary.seconds

    started = time.perf_counter()
    con = duckdb.connect()
    row = con.execute(
        "SELECT count(*) FROM (SELECT unnest(Records) FROM read_json(?, "
        "columns = {'Records': 'JSON[]'}, maximum_object_size = 1073741824))",
        [str(work.trail_dir / "AWSLogs" / "**" / "*.json.gz")],
    ).fetchone()
    con.close()
    assert row is not None
    read_json_rate = int(row[0]) / (time.perf_counter() - started)
    return [
        Result(
            name=f"CloudTrail import ({summary.records_read:,} records)",
            value=import_rate,
            unit="records/s",
            reference="DuckDB read_json over the same files",
            reference_value=read_json_rate,
            goal="ratio >= 0.5",
            notes=f"{summary.events_total:,} events emitted onto an embedded log",
        )
    ]
