"""Findings depend on the stored events only: the same ids whatever the order, batching,
repetition or rebuild (issue 13)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

from pipeline.findings import RULES
from pipeline.findings.projection import rebuild
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.store import Store
from tests.cloudtrail_helpers import COMPOSED, OTRF, STRATUS, import_and_materialize
from tests.findings.helpers import all_findings, records

SOURCES = (OTRF, STRATUS, COMPOSED)


def _snapshot(db: Path) -> list[dict[str, object]]:
    return [f.as_json() for f in all_findings(db)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    imported = import_and_materialize(tmp_path_factory.mktemp("ref"), *SOURCES)
    found = _snapshot(imported.db_path)
    assert {f["rule"] for f in found} == set(RULES)
    return found


def test_the_same_run_twice_gives_the_same_findings(
    reference: list[dict[str, object]], tmp_path: Path
) -> None:
    again = import_and_materialize(tmp_path, *SOURCES)
    assert _snapshot(again.db_path) == reference


@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_records_and_other_batch_sizes_give_the_same_findings(
    reference: list[dict[str, object]], tmp_path: Path, seed: int
) -> None:
    recs = records(*SOURCES)
    random.Random(seed).shuffle(recs)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("".join(json.dumps(r) + "\n" for r in recs))
    # batches of 10 and of 76 events: the facts of one finding arrive across batches
    imported = import_and_materialize(tmp_path / "run", shuffled, batches=100 if seed == 1 else 13)
    assert _snapshot(imported.db_path) == reference


def test_a_store_rebuilt_from_the_log_and_materializing_again(
    reference: list[dict[str, object]], tmp_path: Path
) -> None:
    first = import_and_materialize(tmp_path / "a", *SOURCES)
    log = FileLog(first.log_dir, partitions=4, fsync=False)
    try:
        with Store(tmp_path / "rebuilt.duckdb") as store:
            materialize(log, store, batch_size=17)
        with Store(first.db_path) as store:  # again, on the store that has every event
            materialize(log, store, batch_size=17)
    finally:
        log.close()
    assert _snapshot(tmp_path / "rebuilt.duckdb") == reference
    assert _snapshot(first.db_path) == reference


def test_the_projection_from_scratch_equals_the_incremental_one(
    reference: list[dict[str, object]], tmp_path: Path
) -> None:
    imported = import_and_materialize(tmp_path, *SOURCES)
    con = duckdb.connect(str(imported.db_path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("DELETE FROM findings")
        rebuild(con)
    finally:
        con.close()
    assert _snapshot(imported.db_path) == reference


def test_a_schema_5_store_gets_its_findings_when_migrated(
    reference: list[dict[str, object]], tmp_path: Path
) -> None:
    imported = import_and_materialize(tmp_path, *SOURCES)
    con = duckdb.connect(str(imported.db_path))
    try:
        con.execute("DROP TABLE findings")
        con.execute("UPDATE store_meta SET value = '5' WHERE key = 'schema_version'")
    finally:
        con.close()
    Store(imported.db_path).close()  # opening for writing migrates
    assert _snapshot(imported.db_path) == reference
