"""One way to open a store for reading: a DuckDB file, or a directory store.

Every reader (the CLI, the dashboard, `verify`, the benchmarks) opens through here, so
a directory of partition files (`--db DIR/`) reads like one file: `spans_files` tells
the session read model that a chain may cross files there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.errors import InputError
from pipeline.store import connect
from pipeline.store.directory import is_directory_store, open_directory


@dataclass(frozen=True)
class ReadOnlyStore:
    """A read-only connection to a store, and whether it spans several files."""

    con: duckdb.DuckDBPyConnection
    spans_files: bool

    def close(self) -> None:
        self.con.close()


def open_read_only(path: str | Path) -> ReadOnlyStore:
    """Open a database file, or a directory of partition files, read-only."""
    if is_directory_store(path):
        if not Path(path).is_dir():
            raise InputError(f"no rolecall directory store at {path} (run `rolecall materialize`)")
        return ReadOnlyStore(open_directory(path), spans_files=True)
    return ReadOnlyStore(connect(path, read_only=True), spans_files=False)
