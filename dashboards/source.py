"""Where the dashboard's queries come from: one DuckDB database, one cursor per request.

A DuckDB connection is not safe to share between threads; its cursors are (each is
its own connection to the same database instance). The web server answers each request
on its own thread, so every callback takes a fresh cursor and closes it after. In
`rolecall serve` the database instance is the materializer's, so readers see each
committed batch without a second process opening the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline.queries import Queries
from pipeline.store.reading import open_read_only


class QuerySource:
    """Hands out a `Queries` on a private cursor of one shared DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, spans_files: bool = False) -> None:
        self._con = con
        self._spans_files = spans_files

    @classmethod
    def open_read_only(cls, db_path: str | Path) -> QuerySource:
        """A database file or a directory store (`DIR/`), opened read-only."""
        store = open_read_only(db_path)
        return cls(store.con, spans_files=store.spans_files)

    @contextmanager
    def queries(self) -> Iterator[Queries]:
        cursor = self._con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            yield Queries(cursor, spans_files=self._spans_files)
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()
