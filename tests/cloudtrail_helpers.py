"""Shared by the CloudTrail tests: import paths onto a fresh log and materialize."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.cloudtrail import ImportSummary, import_cloudtrail
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.producer import Producer
from pipeline.queries import Queries
from pipeline.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cloudtrail"
STRATUS = FIXTURES / "stratus-red-team_detonation-logs"
OTRF = FIXTURES / "otrf_security-datasets"
COMPOSED = FIXTURES / "composed"


@dataclass
class Imported:
    summary: ImportSummary
    log_dir: Path
    db_path: Path

    def queries(self) -> Queries:
        return Queries.open(self.db_path)


def import_and_materialize(base: Path, *paths: str | Path, batches: int = 1) -> Imported:
    """Import `paths` (in the given order) onto a new log under `base`, then materialize."""
    base.mkdir(parents=True, exist_ok=True)
    log = FileLog(base / "log", partitions=4, fsync=False)
    try:
        summary = import_cloudtrail([str(p) for p in paths], Producer(log, batch_size=50))
        with Store(base / "state.duckdb") as store:
            materialize(log, store, batch_size=max(1, 1000 // batches))
    finally:
        log.close()
    return Imported(summary, base / "log", base / "state.duckdb")
