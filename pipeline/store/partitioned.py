"""The directory store: one DuckDB file per log partition, for several materializers.

DuckDB allows one writing process per file, and a Kafka consumer group spreads a
topic's partitions over several materializer processes. So each partition gets its own
file, `<dir>/partition-<p>.duckdb`, holding that partition's facts, its position and its
hash chain. A materializer opens the files of the partitions it is assigned and closes
them when they are revoked; the next owner waits for the lock until they are released.

Every event of a session carries the session's key, so a session never spans two
files; what does span them is completed at read time, in batches, never level by level:
- a chain: each file's writer resolves chains inside its file; a session whose caller's
  key is held in another file is stored with `origin_missing_key`, and the read model
  (`pipeline.sessions`) carries such rows on with one lookup of every missing key per
  file boundary crossed (a principal filter then also matches the completed origins);
- a revocation: it is keyed by its role, so it may sit in another file than the role's
  sessions; a directory store's reads derive ends from every file's revocations;
- `verify --deep` re-derives each file from its own events.
- findings: each file's writer keeps the findings of its own facts, merged when read;
  evidence spread over files is not combined (see `pipeline.findings.projection`).
Readers attach every file read-only and see views named like the tables
(`pipeline.store.directory`, through `pipeline.store.reading`), so every query runs unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import StopRequested, StoreLockedError
from pipeline.store import Store
from pipeline.store.batch import POSITION, ApplyResult, Batch
from pipeline.store.columns import prepare
from pipeline.store.directory import partition_file

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 120.0


def split_batch(batch: Batch) -> dict[int, Batch]:
    """One batch per partition, each with only that partition's rows and positions."""
    parts: dict[int, Batch] = {}
    for p, offset in batch.next_offsets.items():
        parts.setdefault(p, Batch(batch.log_name)).advance(p, offset)
    tables = prepare(batch).tables
    assert tables is not None  # `prepare` built them
    positions: dict[int, list[int]] = {}
    for p, pos in zip(
        tables.events["partition"].to_pylist(), tables.events[POSITION].to_pylist(), strict=True
    ):
        positions.setdefault(p, []).append(pos)
    for p, kept in positions.items():
        parts.setdefault(p, Batch(batch.log_name)).tables = tables.keep(kept)
    for r in batch.rejected:
        parts.setdefault(r.partition, Batch(batch.log_name)).rejected.append(r)
    return parts


class PartitionedStore:
    """The partition files one materializer currently owns."""

    def __init__(self, directory: str | Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = lock_timeout
        self.open: dict[int, Store] = {}

    def acquire(self, partition: int, stop: threading.Event | None = None) -> Store:
        """Open a partition's file, waiting while its previous owner still holds it.

        The wait runs inside the consumer's poll (a Kafka assignment) and lasts up to
        `lock_timeout`: a set `stop` ends it at once with `StopRequested`, or a SIGTERM
        would wait for the file's owner (the whole timeout, when the owner keeps it).
        """
        store = self.open.get(partition)
        if store is not None:
            return store
        deadline = time.monotonic() + self.lock_timeout
        path = partition_file(self.directory, partition)
        while True:
            try:
                store = Store(path)
                break
            except StoreLockedError:
                if stop is not None and stop.is_set():
                    raise StopRequested(
                        f"stopped while waiting for {path}, held by another process"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                # Not stop.wait(): the SIGTERM handler sets `stop` on this very thread, and
                # Event.set would block on the lock Event.wait holds when it lands there.
                time.sleep(0.2)
        self.open[partition] = store
        return store

    def positions(
        self, log_name: str, partitions: Sequence[int], stop: threading.Event | None = None
    ) -> dict[int, int]:
        out: dict[int, int] = {}
        for p in partitions:
            stored = self.acquire(p, stop).writer.positions(log_name)
            out.update({k: v for k, v in stored.items() if k == p})
        return out

    def release(self, partitions: Sequence[int]) -> None:
        """Hand partitions over (a rebalance): each file is left at rest, then closed."""
        for p in partitions:
            store = self.open.get(p)
            if store is not None:
                store.writer.settle_findings()
                del self.open[p]
                store.close()

    def apply(self, batch: Batch, *, settle: bool = True) -> ApplyResult:
        totals = [0, 0, 0, 0]
        for p, part in split_batch(batch).items():
            r = self.acquire(p).writer.apply(part, settle=settle)
            for i, n in enumerate((r.applied, r.duplicates, r.conflicts, r.dead_letters)):
                totals[i] += n
        return ApplyResult(*totals)

    def settle_findings(self) -> int:
        """Settle the findings each open file left pending (see `StoreWriter.apply`)."""
        return sum(store.writer.settle_findings() for store in self.open.values())

    def close(self) -> None:
        """Close every file as it is (what a batch left pending is settled by its next
        writer)."""
        while self.open:
            self.open.popitem()[1].close()

    def __enter__(self) -> PartitionedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
