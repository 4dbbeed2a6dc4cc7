"""Findings settled once for several batches while catching up (issue 15): the same
findings as settling after every batch, and none lost when a run stops in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipeline.materializer as materializer
from pipeline.cli import main
from pipeline.findings import projection
from pipeline.log import FileLog
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.store import Store
from pipeline.store.writer import StoreWriter
from tests.cloudtrail_helpers import COMPOSED, OTRF, STRATUS, import_and_materialize
from tests.findings.helpers import all_findings

SOURCES = (OTRF, STRATUS, COMPOSED)


class Stop(Exception):
    """Ends a run between two batches, as a crash would."""


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """A log of every sample and composed record, and its findings settled per batch."""
    base = tmp_path_factory.mktemp("settle")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(materializer, "SETTLE_EVERY", 1)
        done = import_and_materialize(base, *SOURCES, batches=50)
    found = [f.as_json() for f in all_findings(done.db_path)]
    assert len(found) > 10
    return done.log_dir, found


def _settles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the projection's settles that had something to do."""
    calls: list[int] = []
    real = projection.settle

    def counted(con: object, *args: object, **kwargs: object) -> int:
        calls.append(projection.pending(con))  # type: ignore[arg-type]
        return real(con, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(projection, "settle", counted)
    return calls


def test_settling_once_for_many_batches_gives_the_findings_of_settling_each(
    imported: tuple[Path, list[dict[str, object]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_dir, per_batch = imported
    calls = _settles(monkeypatch)
    log = FileLog(log_dir, partitions=4, fsync=False)
    try:
        with Store(tmp_path / "s.duckdb") as store:
            stats = materialize(log, store, batch_size=20)
            assert projection.pending(store.con) == 0
    finally:
        log.close()
    assert stats.batches > 3 * materializer.SETTLE_EVERY
    busy = [n for n in calls if n]
    # once every SETTLE_EVERY full batches, and once at the end, not once a batch
    assert 1 < len(busy) <= stats.batches // materializer.SETTLE_EVERY + 2
    assert [f.as_json() for f in all_findings(tmp_path / "s.duckdb")] == per_batch


def test_a_run_stopped_with_findings_pending_says_so_and_the_next_one_settles_them(
    imported: tuple[Path, list[dict[str, object]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_dir, per_batch = imported
    monkeypatch.setattr(materializer, "SETTLE_EVERY", 1000)  # nothing settles mid-run
    db = tmp_path / "s.duckdb"

    def crash(stats: materializer.MaterializeStats) -> None:
        if stats.batches == 6:
            raise Stop

    log = FileLog(log_dir, partitions=4, fsync=False)
    try:
        with Store(db) as store, pytest.raises(Stop):
            materialize(log, store, batch_size=20, on_batch=crash)
        with Queries.open(db) as q:
            waiting = q.findings_pending()
        assert waiting > 0
        result = CliRunner().invoke(main, ["findings", "--json", "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [f.as_json() for f in all_findings(db)]
        assert f"not yet recomputed for {waiting} recently stored" in result.stderr
        with Store(db) as store:  # the rest of the log, then at rest
            materialize(log, store, batch_size=20)
    finally:
        log.close()
    with Queries.open(db) as q:
        assert q.findings_pending() == 0
    assert [f.as_json() for f in all_findings(db)] == per_batch
    again = CliRunner().invoke(main, ["findings", "--json", "--db", str(db)])
    assert "not yet recomputed" not in again.stderr


def test_settling_with_nothing_pending_writes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        writer: StoreWriter = store.writer
        assert writer.settle_findings() == 0
        assert projection.pending(store.con) == 0
