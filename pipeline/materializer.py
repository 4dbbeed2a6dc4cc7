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
thread it would hold the GIL the writer's statements wait for), and the one after is
polled and queued for decoding, so that neither side waits for the other's slower
batches (a checkpoint, a settling of the findings). Whatever was polled is applied
before the store is asked for positions or a partition is released, so a Kafka
rebalance always sees it; a stop drops what was polled and not yet applied (the next
start reads it again from the stored positions).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from pipeline.codec import default_codec
from pipeline.decode_process import Decoder, Decoding
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
    """The batches handed to the writer thread, applied one after another in that order,
    and what to do when each is done."""

    def __init__(self, target: _SingleFile | PartitionedStore) -> None:
        self.target = target
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rolecall-apply")
        self._pending: deque[tuple[Future[ApplyResult], Batch, int]] = deque()

    def submit(self, batch: Batch, read: int, *, settle: bool) -> None:
        future = self._pool.submit(self.target.apply, batch, settle=settle)
        self._pending.append((future, batch, read))

    def settle_findings(self) -> None:
        """Bring the findings up to date (nothing may be in flight: call `finish` first)."""
        assert not self._pending, "finish the batches in flight first"
        self.target.settle_findings()

    def finish(self) -> tuple[ApplyResult, Batch, int] | None:
        """Wait for the oldest batch in flight (re-raising its error); None when there is
        none."""
        if not self._pending:
            return None
        future, batch, read = self._pending.popleft()
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
        # Called from inside the consumer's poll: the results are taken later by `finish`.
        for future, _, _ in self._pending:
            future.exception()

    def close(self) -> None:
        self._wait()  # never leave a write running behind the caller's back
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class _Polled:
    """A polled batch being decoded, not yet handed to the writer."""

    decoding: Decoding
    read: int  # items polled
    near_end: bool  # the log's end was reached with it: settle the findings


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
        """Take the results of every batch the writer was handed."""
        while (finished := in_flight.finish()) is not None:
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

    unsettled = 0  # batches handed over since the findings were last settled
    ahead: _Polled | None = None  # polled and decoding while the writer applies

    def hand_over() -> None:
        """The batch decoding ahead, once decoded, to the writer."""
        nonlocal ahead, unsettled
        if ahead is None:
            return
        polled, ahead = ahead, None
        batch = prepare(polled.decoding.result())
        settle = polled.near_end or unsettled + 1 >= SETTLE_EVERY
        unsettled = 0 if settle else unsettled + 1
        in_flight.submit(batch, polled.read, settle=settle)

    def positions(parts: Sequence[int]) -> dict[int, int]:
        # What was polled before a (Kafka) assignment is applied before the store is asked.
        hand_over()
        # A stop ends a wait for a partition's file (`PartitionedStore.acquire`).
        found = in_flight.positions(event_log.name, parts, stop)
        # A log that lost what the store consumed would hand the next events the lost
        # offsets, and they would be skipped as applied: refuse, naming what is missing.
        missing = event_log.behind(found)
        if missing:
            raise LogError(behind_message(event_log.name, missing))
        return found

    def release(parts: Sequence[int]) -> None:
        # What was polled from partitions being revoked is applied before they are let go.
        hand_over()
        in_flight.release(parts)

    # Asked again on every (Kafka) assignment, so a rebalance resumes from DuckDB.
    consumer.start(positions, release)
    try:
        waiting = follow  # catching up, a poll need not wait when the log is read to its end
        while stop is None or not stop.is_set():
            try:
                items = consumer.poll(batch_size, timeout=poll_timeout if waiting else 0.0)
            except StopRequested:
                # Stopped while an assignment waited for a partition's file (its previous
                # owner still held it): nothing was read from it, so stop as after a batch.
                break
            if not items:
                hand_over()
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
            # A short poll alone does not say the log's end is near: the file log fills a
            # batch partition by partition, and Kafka from what one fetch brought.
            near_end = len(items) < batch_size and consumer.caught_up()
            polled = _Polled(decoder.start(event_log.name, items), len(items), near_end)
            # While this one decodes, the one before goes to the writer as soon as the
            # writer is done with its own: both sides stay busy (BENCHMARKS.md).
            if ahead is not None:
                done()
                hand_over()
            ahead = polled
            # At the log's end, or following it with nothing more at hand: applied now,
            # not after the next poll (which may wait for new events).
            if near_end or (follow and len(items) < batch_size):
                done()
                hand_over()
        # Stopped with a batch polled and not applied: dropped (the decoder's close drops
        # its queued work), so that a revocation as the consumer closes does not apply it;
        # the next start reads it again from the stored positions.
        ahead = None
        done()
        in_flight.settle_findings()
    finally:
        in_flight.close()
        decoder.close()
        consumer.close()
    stats.seconds = time.perf_counter() - started
    return stats
