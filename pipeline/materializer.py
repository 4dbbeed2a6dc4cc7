"""Turns the log into DuckDB state, exactly once, whatever order events arrive in.

Each poll of the log becomes one batch: records are decoded and validated, bad ones
become dead letters with their position and reason, and the store applies the batch
and the positions it consumed in one transaction. On start (and on every Kafka
assignment) the consumer resumes from the positions stored in DuckDB, so a crash at any
point loses nothing and applies nothing twice.

The findings projection is kept in the same transactions, settled once every
`SETTLE_EVERY` batches while catching up and at once when the log's end is reached (what a
batch could change waits in `findings_pending` meanwhile, so a crash loses none of it).

Decoding (Python, holding the GIL) and applying (mostly DuckDB, which releases it) overlap:
one batch is applied on a writer thread while the next is decoded. At most one batch is
in flight, and it is finished before the store is asked for positions or a partition is
released, so a Kafka rebalance always sees what was applied.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import pyarrow as pa

from pipeline.codec import EventCodec, default_codec, validate
from pipeline.errors import CodecError, EventValidationError, LogError
from pipeline.log.base import DamagedSpan, EventLog, LogItem, LogRecord, behind_message
from pipeline.store import Accepted, ApplyResult, Batch, Rejected, Store
from pipeline.store.batch import BatchTables
from pipeline.store.columns import accepted_items, doubtful, prepare, tables_of
from pipeline.store.partitioned import PartitionedStore

log = logging.getLogger(__name__)

# Events per transaction while catching up. Each batch pays fixed costs (the findings
# projection's scope, probes of the stored history), so larger batches go faster; 20,000
# costs about 1.3 GiB at its peak, measured at 10M events too (BENCHMARKS.md).
DEFAULT_BATCH_SIZE = 20_000
DEFAULT_GROUP = "rolecall-materializer"
# While catching up, the findings are settled once for this many batches rather than
# after each: a refresh's scope is mostly long-lived sessions that every batch touches
# (BENCHMARKS.md). The batch that reaches the log's end, an empty poll and the end of a
# run settle them at once, so a store at rest is always up to date.
SETTLE_EVERY = 10


@dataclass
class MaterializeStats:
    batches: int = 0
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    conflicts: int = 0
    dead_letters: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def decode_items(log_name: str, items: Sequence[LogItem], codec: EventCodec) -> Batch:
    """One batch from polled items: decoded events, dead letters, and positions reached.

    The Avro schema vouches for each record's types; the contract's other rules are
    checked on the batch's columns (`columns.doubtful`), and only a record they cannot
    vouch for is built as its model, which refuses it with its reason or lets it through.
    The batch comes with its tables built.

    Python runs per item only to decode it; the rest is done on whole columns, in C
    (this is the materializer's hot loop, and it shares the GIL with the writer).
    """
    batch = Batch(log_name)
    decode = codec.decode_record
    # Each dead letter with its item's index: the model's refusals join them in log order.
    rejected: list[tuple[int, Rejected]] = []
    records: list[LogRecord] = []  # the items that decoded, in order
    # What they decoded to, apart: a (type, record) pair kept per event would be one more
    # container for the garbage collector to walk until the batch is built.
    event_types: list[str] = []
    values: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, DamagedSpan):
            reason = f"damaged log: {item.reason}"
            rejected.append((i, Rejected(item.partition, item.start, item.end, reason)))
            continue
        try:
            event_type, value = decode(item.value)
        except CodecError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            rejected.append(
                (i, Rejected(item.partition, item.offset, item.offset + 1, reason, item.value))
            )
            continue
        event_types.append(event_type)
        values.append(value)
        records.append(item)
    accepted = _Columns(
        list(map(_PARTITION, records)),
        list(map(_OFFSET, records)),
        event_types,
        values,
        list(map(_VALUE, records)),
    )
    tables = accepted.tables()
    if rejected:  # rare: every item says how far its partition got
        for item in items:
            if isinstance(item, DamagedSpan):
                batch.advance(item.partition, item.end)
            else:
                batch.advance(item.partition, item.offset + 1)
    else:  # every item is an accepted record: its columns say it
        batch.next_offsets = _reached(tables.events)
    doubted = doubtful(tables)
    if doubted:  # rare: the model decides these, and the tables are built without its refusals
        item_of = _unrejected(len(items), rejected)
        refused: set[int] = set()
        for pos in doubted:
            try:
                validate(accepted.event_types[pos], accepted.records[pos])
            except EventValidationError as exc:
                refused.add(pos)
                reason = f"{type(exc).__name__}: {exc}"
                offset = accepted.offsets[pos]
                rejected.append(
                    (
                        item_of[pos],
                        Rejected(
                            accepted.partitions[pos],
                            offset,
                            offset + 1,
                            reason,
                            accepted.bodies[pos],
                        ),
                    )
                )
        if refused:
            accepted = accepted.without(refused)
            tables = accepted.tables()
            rejected.sort(key=lambda r: r[0])
    batch.accepted = accepted.items()
    batch.rejected = [r for _, r in rejected]
    batch.tables = tables
    return batch


@dataclass
class _Columns:
    """The accepted records of a batch, column by column (position `i` in each)."""

    partitions: list[int]
    offsets: list[int]
    event_types: list[str]
    records: list[dict[str, Any]]
    bodies: list[bytes]

    def tables(self) -> BatchTables:
        return tables_of(self.partitions, self.offsets, self.event_types, self.records, self.bodies)

    def items(self) -> list[Accepted]:
        return accepted_items(
            self.partitions, self.offsets, self.event_types, self.records, self.bodies
        )

    def without(self, positions: set[int]) -> _Columns:
        kept = [pos for pos in range(len(self.records)) if pos not in positions]
        return _Columns(
            [self.partitions[pos] for pos in kept],
            [self.offsets[pos] for pos in kept],
            [self.event_types[pos] for pos in kept],
            [self.records[pos] for pos in kept],
            [self.bodies[pos] for pos in kept],
        )


def _unrejected(count: int, rejected: list[tuple[int, Rejected]]) -> list[int]:
    """The indices of the items not (yet) rejected: each accepted position's item."""
    gone = {i for i, _ in rejected}
    return [i for i in range(count) if i not in gone]


def _reached(events: pa.Table) -> dict[int, int]:
    """Each partition's next offset after the batch's events, partitions in the order
    they first appear (as `Batch.advance` leaves them)."""
    if not events.num_rows:
        return {}
    # Without threads, the groups keep the order in which they first appear.
    reached = (
        events.select(["partition", "offset"])
        .group_by("partition", use_threads=False)
        .aggregate([("offset", "max")])
    )
    return {
        int(p): int(o) + 1
        for p, o in zip(
            reached["partition"].to_pylist(), reached["offset_max"].to_pylist(), strict=True
        )
    }


_PARTITION = attrgetter("partition")
_OFFSET = attrgetter("offset")
_VALUE = attrgetter("value")


class _SingleFile:
    """A single-file store seen the way the loop sees a directory store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def positions(self, log_name: str, partitions: Sequence[int]) -> dict[int, int]:
        return self.store.writer.positions(log_name)

    def release(self, partitions: Sequence[int]) -> None:
        pass  # one file holds every partition: nothing to hand over

    def apply(self, batch: Batch, *, settle: bool = True) -> ApplyResult:
        return self.store.writer.apply(batch, settle=settle)

    def settle_findings(self) -> int:
        return self.store.writer.settle_findings()


class _InFlight:
    """The one batch being applied on the writer thread, and what to do when it is done."""

    def __init__(self, target: _SingleFile | PartitionedStore) -> None:
        self.target = target
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rolecall-apply")
        self._pending: tuple[Future[ApplyResult], Batch, int] | None = None

    def submit(self, batch: Batch, read: int, *, settle: bool) -> None:
        assert self._pending is None, "finish the batch in flight first"
        future = self._pool.submit(self.target.apply, batch, settle=settle)
        self._pending = (future, batch, read)

    def settle_findings(self) -> None:
        """Bring the findings up to date (nothing may be in flight: call `finish` first)."""
        assert self._pending is None, "finish the batch in flight first"
        self.target.settle_findings()

    def finish(self) -> tuple[ApplyResult, Batch, int] | None:
        """Wait for the batch in flight (re-raising its error); None when there is none."""
        if self._pending is None:
            return None
        future, batch, read = self._pending
        self._pending = None
        return future.result(), batch, read

    def positions(self, log_name: str, partitions: Sequence[int]) -> dict[int, int]:
        self._wait()
        return self.target.positions(log_name, partitions)

    def release(self, partitions: Sequence[int]) -> None:
        self._wait()
        self.target.release(partitions)

    def _wait(self) -> None:
        # Called from inside the consumer's poll: the result is taken later by `finish`.
        if self._pending is not None:
            self._pending[0].exception()

    def close(self) -> None:
        self._wait()  # never leave a write running behind the caller's back
        self._pool.shutdown(wait=True)


def materialize(
    event_log: EventLog,
    store: Store | PartitionedStore,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    follow: bool = False,
    stop: threading.Event | None = None,
    on_batch: Callable[[MaterializeStats], None] | None = None,
    poll_timeout: float = 1.0,
    group: str = DEFAULT_GROUP,
) -> MaterializeStats:
    """Consume `event_log` into `store` until caught up (or, with `follow`, until `stop`)."""
    codec = event_log.codec or default_codec()
    stats = MaterializeStats()
    started = time.perf_counter()
    in_flight = _InFlight(store if isinstance(store, PartitionedStore) else _SingleFile(store))
    consumer = event_log.consumer(group=group)

    def done() -> None:
        finished = in_flight.finish()
        if finished is None:
            return
        result, batch, read = finished
        consumer.commit(batch.next_offsets)
        stats.batches += 1
        stats.read += read
        stats.applied += result.applied
        stats.duplicates += result.duplicates
        stats.conflicts += result.conflicts
        stats.dead_letters += result.dead_letters
        stats.seconds = time.perf_counter() - started
        if on_batch is not None:
            on_batch(stats)

    def positions(parts: Sequence[int]) -> dict[int, int]:
        found = in_flight.positions(event_log.name, parts)
        # A log that lost what the store consumed would hand the next events the lost
        # offsets, and they would be skipped as applied: refuse, naming what is missing.
        missing = event_log.behind(found)
        if missing:
            raise LogError(behind_message(event_log.name, missing))
        return found

    # Asked again on every (Kafka) assignment, so a rebalance resumes from DuckDB.
    consumer.start(positions, in_flight.release)
    try:
        waiting = follow  # catching up, a poll need not wait when the log is read to its end
        unsettled = 0  # batches applied since the findings were last settled
        while stop is None or not stop.is_set():
            items = consumer.poll(batch_size, timeout=poll_timeout if waiting else 0.0)
            if not items:
                done()
                in_flight.settle_findings()
                unsettled = 0
                if not follow and consumer.caught_up():
                    break
                waiting = True
                if follow and poll_timeout == 0:
                    time.sleep(0.05)
                continue
            waiting = follow
            batch = prepare(decode_items(event_log.name, items, codec))
            done()
            # A short poll alone does not say the log's end is near: the file log fills a
            # batch partition by partition, and Kafka from what one fetch brought.
            near_end = len(items) < batch_size and consumer.caught_up()
            settle = near_end or unsettled + 1 >= SETTLE_EVERY
            unsettled = 0 if settle else unsettled + 1
            in_flight.submit(batch, len(items), settle=settle)
        done()
        in_flight.settle_findings()
    finally:
        in_flight.close()
        consumer.close()
    stats.seconds = time.perf_counter() - started
    return stats
