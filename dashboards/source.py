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
from pipeline.store import connect


class QuerySource:
    """Hands out a `Queries` on a private cursor of one shared DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    @classmethod
    def open_read_only(cls, db_path: str | Path) -> QuerySource:
        return cls(connect(db_path, read_only=True))

    @contextmanager
    def queries(self) -> Iterator[Queries]:
        cursor = self._con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            yield Queries(cursor)
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()
