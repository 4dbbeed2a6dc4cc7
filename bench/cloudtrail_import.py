"""CloudTrail import rate, next to DuckDB's own `read_json` over the same files.

Times `import_cloudtrail` (read, map, check, encode, append to an embedded log) over a
simulated CloudTrail tree (the S3 layout, gzipped), with one worker process per core and
with one process, then DuckDB reading every record of the same files with `read_json`,
the rate a user gets from loading the raw JSON. Twice: on the simulator's tree (files of
a few dozen records, as CloudTrail writes for quiet accounts) and on the same records in
delivered-size files (up to 500 records each, as CloudTrail writes for busy ones). Each
rate is recorded with the CPU utilisation it took (CPU seconds per wall second).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb

from bench.results import CpuMeter, Result
from bench.workload import Workload
from pipeline.cloudtrail import import_cloudtrail
from pipeline.cloudtrail.importer import worker_count
from pipeline.log import FileLog
from pipeline.producer import Producer

GOAL = "ratio >= 1.0"
DELIVERED_RECORDS = 500


def run(work: Workload, scratch: Path) -> list[Result]:
    results = _compare(work.trail_dir, scratch, "")
    delivered = delivered_tree(work, scratch)
    results += _compare(delivered, scratch, f", files of up to {DELIVERED_RECORDS} records")
    return results


def _compare(tree: Path, scratch: Path, label: str) -> list[Result]:
    jobs = worker_count()
    rates = {n: _import(tree, scratch, n) for n in sorted({jobs, 1}, reverse=True)}
    with CpuMeter() as meter:
        con = duckdb.connect()
        row = con.execute(
            "SELECT count(*) FROM (SELECT unnest(Records) FROM read_json(?, "
            "columns = {'Records': 'JSON[]'}, maximum_object_size = 1073741824))",
            [str(tree / "AWSLogs" / "**" / "*.json.gz")],
        ).fetchone()
        con.close()
    assert row is not None
    read_json_rate = int(row[0]) / meter.seconds
    records, events, _, _ = rates[jobs]
    out = []
    for n, (_, _, rate, cpu) in rates.items():
        out.append(
            Result(
                name=f"CloudTrail import ({records:,} records{label}), --jobs {n}",
                value=rate,
                unit="records/s",
                reference="DuckDB read_json over the same files",
                reference_value=read_json_rate,
                goal=GOAL if n == jobs else None,
                notes=f"{events:,} events emitted onto an embedded log; CPU utilisation "
                f"{cpu:.2f} (read_json {meter.utilisation:.2f})",
                cpu=round(cpu, 2),
                reference_cpu=round(meter.utilisation, 2),
            )
        )
    return out


def _import(tree: Path, scratch: Path, jobs: int) -> tuple[int, int, float, float]:
    """(records, events, records/s, CPU utilisation) of one import of `tree`."""
    log_dir = scratch / "cloudtrail-import-log"
    shutil.rmtree(log_dir, ignore_errors=True)
    log = FileLog(log_dir, partitions=4, fsync=False)
    try:
        with CpuMeter() as meter:
            summary = import_cloudtrail([str(tree)], Producer(log, batch_size=5000), jobs=jobs)
    finally:
        log.close()
    shutil.rmtree(log_dir, ignore_errors=True)
    rate = summary.records_read / meter.seconds
    cpu = (meter.cpu_seconds + summary.worker_cpu_seconds) / meter.seconds
    return summary.records_read, summary.events_total, rate, cpu


def delivered_tree(work: Workload, scratch: Path) -> Path:
    """The workload's records in files of up to DELIVERED_RECORDS, per directory (reused)."""
    out = scratch / f"delivered-{work.events}"
    marker = out / "complete"
    if marker.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    for directory in sorted({p.parent for p in work.trail_dir.rglob("*.json.gz")}):
        records: list[object] = []
        target = out / directory.relative_to(work.trail_dir)
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for file in sorted(directory.glob("*.json.gz")):
            records += json.loads(gzip.decompress(file.read_bytes()))["Records"]
            while len(records) >= DELIVERED_RECORDS:
                _write(target / f"part-{count:05d}.json.gz", records[:DELIVERED_RECORDS])
                records, count = records[DELIVERED_RECORDS:], count + 1
        if records:
            _write(target / f"part-{count:05d}.json.gz", records)
    marker.write_text("")
    return out


def _write(path: Path, records: list[object]) -> None:
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), compresslevel=1))
