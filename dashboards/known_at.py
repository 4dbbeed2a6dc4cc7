"""Replay as known at a moment: the dashboard's answers from what the log held then.

The dashboard answers from its store. Given the log the store was built from
(`rolecall dashboard --log URL`, or `rolecall serve`), the Replay's table can also
answer as known at K: the log prefix ingested by K, materialized once into a cache
folder of this process (`pipeline.reports.known_at`: a later K extends the nearest
cached earlier prefix), which `dashboards.source` then opens read-only for every step.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from pipeline.reports.model import KnownAt
from pipeline.timeutil import iso_z


class KnownAtPrefixes:
    """The store file of the log prefix known at each asked moment, built on first use."""

    def __init__(self, log_url: str) -> None:
        self.log_url = log_url
        self._cache = Path(tempfile.mkdtemp(prefix="rolecall-dashboard-known-at-"))
        self._built: dict[str, tuple[Path, KnownAt]] = {}
        self._lock = threading.Lock()

    def prefix(self, at: datetime) -> tuple[Path, KnownAt]:
        """The prefix store's path for `at`, and what it selected."""
        from pipeline.log import open_log
        from pipeline.reports.known_at import cutoffs, prefix_store

        key = iso_z(at)
        with self._lock:  # one build at a time: two steps asking the same moment share it
            hit = self._built.get(key)
            if hit is not None:
                return hit
            with ExitStack() as stack:
                event_log = stack.enter_context(open_log(self.log_url, create=False))
                c = cutoffs(event_log, at)
                path = stack.enter_context(prefix_store(event_log, c, cache_dir=self._cache))
            self._built[key] = (path, c.known_at())
            return self._built[key]

    def close(self) -> None:
        shutil.rmtree(self._cache, ignore_errors=True)
