"""Where the dashboard's queries come from: one DuckDB database, one cursor per request.

A DuckDB connection is not safe to share between threads; its cursors are (each is
its own connection to the same database instance). The web server answers each request
on its own thread, so every callback takes a fresh cursor and closes it after. In
`rolecall serve` the database instance is the materializer's, so readers see each
committed batch without a second process opening the file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dashboards.known_at import KnownAtPrefixes
from pipeline.errors import InputError
from pipeline.queries import Queries
from pipeline.store.reading import open_read_only

if TYPE_CHECKING:
    from pipeline.reports.model import KnownAt


OPEN_PREFIXES = 4  # stores of what was known at a moment, kept open at once


class QuerySource:
    """Hands out a `Queries` on a private cursor of one shared DuckDB connection.

    With `log_url` (the log the store was built from), it can also answer as known at a
    moment (`known_at`): see `dashboards.known_at`.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        spans_files: bool = False,
        log_url: str | None = None,
    ) -> None:
        self._con = con
        self._spans_files = spans_files
        self.log_url = log_url
        self._prefixes: KnownAtPrefixes | None = None
        # Prefix stores kept open, most recently asked last; older ones are let go (their
        # files stay cached).
        self._known: OrderedDict[Path, tuple[QuerySource, KnownAt]] = OrderedDict()
        self._known_lock = threading.Lock()

    @classmethod
    def open_read_only(cls, db_path: str | Path, *, log_url: str | None = None) -> QuerySource:
        """A database file or a directory store (`DIR/`), opened read-only."""
        store = open_read_only(db_path)
        return cls(store.con, spans_files=store.spans_files, log_url=log_url)

    def known_at(self, at: datetime) -> tuple[QuerySource, KnownAt]:
        """A source over what the log held at `at` (an error without a log)."""
        if self.log_url is None:
            raise InputError(
                "as known at needs the log: start the dashboard with --log URL "
                "(or use rolecall serve)"
            )
        with self._known_lock:
            if self._prefixes is None:
                self._prefixes = KnownAtPrefixes(self.log_url)
            path, what = self._prefixes.prefix(at)
            hit = self._known.get(path)
            if hit is None:
                hit = (QuerySource.open_read_only(path), what)
                self._known[path] = hit
                while len(self._known) > OPEN_PREFIXES:
                    # Dropped, not closed: a request may still be reading it; DuckDB
                    # closes it once the last reference is gone.
                    self._known.popitem(last=False)
            self._known.move_to_end(path)
            return hit[0], what

    @contextmanager
    def queries(self) -> Iterator[Queries]:
        cursor = self._con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            yield Queries(cursor, spans_files=self._spans_files)
        finally:
            cursor.close()

    def close(self) -> None:
        with self._known_lock:
            for src, _ in self._known.values():
                src.close()
            self._known.clear()
            if self._prefixes is not None:
                self._prefixes.close()
        self._con.close()
