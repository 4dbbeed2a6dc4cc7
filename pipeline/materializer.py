"""Turns the log into DuckDB state, exactly once, whatever order events arrive in.

Each poll of the log becomes one batch: records are decoded and validated, bad ones
become dead letters with their position and reason, and the store applies the batch
and the positions it consumed in one transaction. On start (and on every Kafka
assignment) the consumer resumes from the positions stored in DuckDB, so a crash at any
point loses nothing and applies nothing twice.

The findings projection is kept in the same transactions, settled once every
`SETTLE_EVERY` batches while catching up and at once when the log's end is reached (what a
batch could change waits in `findings_pending` meanwhile, so a crash loses none of it).

Decoding and applying overlap: one batch is applied on a writer thread while the next is
decoded, a large one in a second process (`decode_process`: decoding is Python, and on a
thread it would hold the GIL the writer's statements wait for). At most one batch is in
flight, and it is finished before the store is asked for positions or a partition is
released, so a Kafka rebalance always sees what was applied.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pipeline.codec import default_codec
from pipeline.decode_process import Decoder
from pipeline.errors import LogError, StopRequested
from pipeline.log.base import EventLog, behind_message
from pipeline.store import ApplyResult, Batch, Store
from pipeline.store.columns import prepare
from pipeline.store.partitioned import PartitionedStore

log = logging.getLogger(__name__)

# Events per transaction while catching up. Each batch pays fixed costs (the findings
# projection's scope, probes of the stored history), so larger batches go faster: 50,000
# ran 1.45 times as fast as 20,000 at 10M events, with a peak of 1.9 GiB, both processes
# counted (BENCHMARKS.md).
DEFAULT_BATCH_SIZE = 50_000
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


class _SingleFile:
    """A single-file store seen the way the loop sees a directory store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def positions(
        self, log_name: str, partitions: Sequence[int], stop: threading.Event | None = None
    ) -> dict[int, int]:
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

    def positions(
        self, log_name: str, partitions: Sequence[int], stop: threading.Event | None = None
    ) -> dict[int, int]:
        self._wait()
        return self.target.positions(log_name, partitions, stop)

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
    decode_process: bool | None = None,
) -> MaterializeStats:
    """Consume `event_log` into `store` until caught up (or, with `follow`, until `stop`).

    `decode_process`: decode in a second process (`pipeline.decode_process`); None, the
    default, does so for large batches only.
    """
    decoder = Decoder(event_log.codec or default_codec(), offload=decode_process)
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
        # A stop ends a wait for a partition's file (`PartitionedStore.acquire`).
        found = in_flight.positions(event_log.name, parts, stop)
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
            try:
                items = consumer.poll(batch_size, timeout=poll_timeout if waiting else 0.0)
            except StopRequested:
                # Stopped while an assignment waited for a partition's file (its previous
                # owner still held it): nothing was read from it, so stop as after a batch.
                break
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
            batch = prepare(decoder.decode(event_log.name, items))
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
        decoder.close()
        consumer.close()
    stats.seconds = time.perf_counter() - started
    return stats
