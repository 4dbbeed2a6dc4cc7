"""Materialize from the embedded log into DuckDB, against fastavro's raw decode rate."""

from __future__ import annotations

import io
import time
from pathlib import Path

import fastavro

from bench.results import Result
from bench.workload import Workload, log_records
from pipeline.codec import HEADER_SIZE, default_codec
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.store import Store


def raw_decode_rate(messages: list[bytes]) -> float:
    """Messages per second fastavro alone decodes (schema looked up by fingerprint)."""
    codec = default_codec()
    writers = {fp: codec._writers[fp].parsed for fp in codec.known_fingerprints()}
    started = time.perf_counter()
    for m in messages:
        fastavro.schemaless_reader(io.BytesIO(m[HEADER_SIZE:]), writers[m[2:HEADER_SIZE]], None)
    return len(messages) / (time.perf_counter() - started)


def run(work: Workload, scratch: Path) -> list[Result]:
    messages = [r.value for r in log_records(work.log_dir)]
    decode = raw_decode_rate(messages)
    db = scratch / f"materialize-{work.events}.duckdb"
    db.unlink(missing_ok=True)
    log = FileLog(work.log_dir, create=False)
    with Store(db) as store:
        stats = materialize(log, store, batch_size=20_000)
    log.close()
    return [
        Result(
            name="materialize (embedded log -> DuckDB)",
            value=stats.rate,
            unit="events/s",
            reference="fastavro raw decode",
            reference_value=decode,
            goal="ratio >= 0.5",
            notes=f"{work.events:,} events, {db.stat().st_size / 1e6:.0f} MB database",
        ),
    ]
