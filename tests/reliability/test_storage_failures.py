"""A full disk, a damaged database file and a hostile digest give one line, not a
traceback, and lose nothing (issue 18, finding 10).

Before: `materialize` on a full disk, `who-held` on a store with a damaged block and
`verify --against` a digest nested 100,000 deep each ended in a Python traceback.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from pipeline.log import FileLog
from pipeline.simulator import SimulationConfig, simulate
from pipeline.store import Store
from pipeline.store.writer import StoreWriter
from pipeline.timeutil import parse_time
from tests.conftest import state_of

SIM = list(simulate(SimulationConfig(start=parse_time("2026-01-05"), days=1, seed=11)))


def _one_line_error(r: Result) -> str:
    assert r.exit_code not in (0, 1) and isinstance(r.exception, SystemExit), r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rolecall: error:"), r.output
    return lines[0]


def _log(tmp: Path) -> Path:
    log = FileLog(tmp / "log", partitions=2, fsync=False)
    log.append(SIM)
    log.close()
    return tmp / "log"


def _no_space_duckdb() -> BaseException:
    return duckdb.IOException(
        'IO Error: Could not write file "db.duckdb.wal": No space left on device'
    )


def _no_space_os() -> BaseException:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _out_of_memory() -> BaseException:
    return duckdb.OutOfMemoryException(
        "Out of Memory Error: failed to pin block of size 256.0 KiB (953.8 MiB/953.6 MiB used)"
    )


@pytest.mark.parametrize(
    "error", [_no_space_duckdb, _no_space_os, _out_of_memory], ids=lambda f: f.__name__
)
def test_disk_full_during_materialize_is_one_line_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Callable[[], BaseException]
) -> None:
    log_dir, db = _log(tmp_path), tmp_path / "db.duckdb"
    real = StoreWriter._apply
    calls = 0

    def fills_the_disk(self: StoreWriter, batch: object, *rest: object) -> object:
        nonlocal calls
        calls += 1
        result = real(self, batch, *rest)  # type: ignore[arg-type]
        if calls == 3:  # inside the transaction, after the batch was written
            raise error()
        return result

    monkeypatch.setattr(StoreWriter, "_apply", fills_the_disk)
    args = ["materialize", "--log", f"file:{log_dir}", "--db", str(db), "--batch-size", "100"]
    line = _one_line_error(CliRunner().invoke(main, args))
    if error is _out_of_memory:
        assert "ROLECALL_MEMORY_LIMIT" in line and "out of the memory" in line
    else:
        assert "no space left on device" in line and str(db) in line
    monkeypatch.setattr(StoreWriter, "_apply", real)
    assert CliRunner().invoke(main, args).exit_code == 0
    reference = tmp_path / "ref.duckdb"
    assert CliRunner().invoke(main, [*args[:3], "--db", str(reference)]).exit_code == 0
    with Store(db) as store, Store(reference) as ref:
        assert state_of(store) == state_of(ref)
        assert store.con.execute("SELECT count(*) FROM events").fetchone() == (len(SIM),)
    assert CliRunner().invoke(main, ["verify", "--deep", "--db", str(db)]).exit_code == 0


def _damage_data_blocks(db: Path) -> None:
    """Eight bytes overwritten every 4 KiB past the first tenth of the file: the catalog
    (at the start) still opens, the blocks holding the tables' data fail their checksum."""
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        for at in range(size // 10, size, 4096):
            fh.seek(at)
            fh.write(b"\xa5" * 8)


@pytest.mark.parametrize(
    "command",
    [
        ["who-held", "--at", "2026-01-05T12:00:00Z"],
        ["session", "ASIAXXXXXXXXXXXXXXXX"],
        ["verify", "--deep"],
        ["materialize", "--log", "LOG"],
    ],
    ids=lambda c: c[0],
)
def test_a_damaged_database_file_is_one_line(tmp_path: Path, command: list[str]) -> None:
    log_dir, db = _log(tmp_path), tmp_path / "db.duckdb"
    ok = CliRunner().invoke(main, ["materialize", "--log", f"file:{log_dir}", "--db", str(db)])
    assert ok.exit_code == 0
    _damage_data_blocks(db)
    more = FileLog(log_dir, create=False, fsync=False)  # something new for materialize to write
    more.append(list(simulate(SimulationConfig(start=parse_time("2026-02-05"), days=1, seed=3))))
    more.close()
    args = [f"file:{log_dir}" if a == "LOG" else a for a in command]
    line = _one_line_error(CliRunner().invoke(main, [*args, "--db", str(db)]))
    assert "damaged" in line or "cannot open" in line, line


@pytest.mark.parametrize("nesting", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1"])
def test_a_deeply_nested_digest_is_one_line(tmp_path: Path, nesting: str) -> None:
    log_dir, db = _log(tmp_path), tmp_path / "db.duckdb"
    CliRunner().invoke(main, ["materialize", "--log", f"file:{log_dir}", "--db", str(db)])
    hostile = tmp_path / "digest.json"
    hostile.write_text(nesting)
    r = CliRunner().invoke(main, ["verify", "--db", str(db), "--against", str(hostile)])
    assert "digest" in _one_line_error(r)
