"""A directory store read as one: its files' layout, and every file attached read-only.

The writing side (one materializer's files, opened and closed as partitions move) is
`pipeline.store.partitioned`; this module is all a reader needs, and imports nothing of
the write path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import duckdb

from pipeline.errors import InputError, StoreError, StoreLockedError

FILE_PATTERN = re.compile(r"^partition-(\d+)\.duckdb$")


def partition_file(directory: Path, partition: int) -> Path:
    return directory / f"partition-{partition}.duckdb"


def is_directory_store(path: str | Path) -> bool:
    """A `--db` naming a directory (existing, or written with a trailing slash)."""
    return Path(path).is_dir() or str(path).endswith(("/", "\\"))


def partition_files(directory: Path) -> dict[int, Path]:
    files = {}
    for path in directory.iterdir():
        m = FILE_PATTERN.match(path.name)
        if m:
            files[int(m.group(1))] = path
    return dict(sorted(files.items()))


def open_directory(directory: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB seeing every partition file through views named like the tables."""
    directory = Path(directory)
    files = partition_files(directory)
    if not files:
        raise InputError(
            f"no partition files (partition-N.duckdb) in {directory} "
            "(run `rolecall materialize --db DIR/` first)"
        )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:
        for p, path in files.items():
            con.execute(f"ATTACH '{path}' AS p{p} (READ_ONLY)")
        first = f"p{next(iter(files))}"
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = ? AND table_schema = 'main'",
                [first],
            ).fetchall()
        ]
        for table in tables:
            # names come from the files' own catalog and our partition numbers
            union = " UNION ALL BY NAME ".join(
                f"SELECT * FROM p{p}.main.{table}"  # noqa: S608
                for p in files
            )
            con.execute(f"CREATE VIEW {table} AS {union}")
    except duckdb.IOException as exc:
        con.close()
        if "lock" in str(exc).lower():
            raise StoreLockedError(
                f"a partition file in {directory} is being written; query again once "
                "materializing has stopped"
            ) from exc
        raise StoreError(f"cannot open the partition files in {directory}: {exc}") from exc
    except duckdb.Error as exc:
        con.close()
        raise StoreError(f"cannot open the partition files in {directory}: {exc}") from exc
    return con


def positions_of(directory: str | Path, log_name: str) -> Mapping[int, int]:
    """Every partition's stored position (for tests and status)."""
    con = open_directory(directory)
    try:
        rows = con.execute(
            "SELECT partition, next_offset FROM positions WHERE log_name = ?", [log_name]
        ).fetchall()
    finally:
        con.close()
    return {int(p): int(o) for p, o in rows}
