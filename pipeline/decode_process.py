"""Decoding a large batch in a process of its own, while this one writes the last one.

Decoding is Python and holds the GIL. The writer's DuckDB statements need the GIL to
start, to scan the batch's Arrow tables and to return, so with the decoding on a thread
of this process the two ran mostly one at a time: the writer's statements took 1.7 times
as long as they do alone, and a run used one core of two (BENCHMARKS.md). In a second
process the decoding has a core of its own.

A batch crosses as three columns (partitions, offsets, message bytes) and comes back as
its tables: both are cheap to pickle, unlike a dict a record. The process is started
for the first large batch only (a catch-up): for a few records, its start (about a
second) would cost more than it saves. Should it die, the batch is decoded here and so
is every later one: nothing is lost, the run is only slower.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pipeline.codec import EventCodec
from pipeline.decoding import OFFSET_OF, PARTITION_OF, VALUE_OF, decode_items
from pipeline.log.base import DamagedSpan, LogItem, LogRecord
from pipeline.store.batch import Batch

log = logging.getLogger(__name__)

# Batches of fewer records are decoded in this process.
OFFLOAD_MIN = 5_000


class Decoder:
    """Decodes each polled batch here or in the decoding process, the same either way.

    `offload`: None decodes a batch of at least `OFFLOAD_MIN` records in the process;
    True every batch of records (tests compare the two ways); False none.
    """

    def __init__(self, codec: EventCodec, *, offload: bool | None = None) -> None:
        self.codec = codec
        self.offload = offload
        self._pool: ProcessPoolExecutor | None = None

    def decode(self, log_name: str, items: Sequence[LogItem]) -> Batch:
        return self.start(log_name, items).result()

    def start(self, log_name: str, items: Sequence[LogItem]) -> Decoding:
        """Start decoding `items`: in the process, the caller goes on meanwhile (the
        materializer polls the next batch); here, it is done before this returns."""
        if not self._offloads(items):
            return Decoding(self, log_name, items, decode_items(log_name, items, self.codec))
        try:
            future = self._process().submit(
                _decode_columns,
                log_name,
                list(map(PARTITION_OF, items)),
                list(map(OFFSET_OF, items)),
                list(map(VALUE_OF, items)),
            )
        except BrokenProcessPool as exc:
            return Decoding(self, log_name, items, self.fall_back(log_name, items, exc))
        return Decoding(self, log_name, items, future)

    def fall_back(self, log_name: str, items: Sequence[LogItem], exc: BaseException) -> Batch:
        """`items` decoded here, the process having died (and every later batch too)."""
        if self.offload is not False:  # said once: a batch queued behind it lands here too
            log.warning("the decoding process stopped (%s); decoding in this process", exc)
        self.close()
        self.offload = False
        return decode_items(log_name, items, self.codec)

    @property
    def offloading(self) -> bool:
        """Whether the decoding process is running."""
        return self._pool is not None

    def process_id(self) -> int:
        """The decoding process's id (it must be running)."""
        assert self._pool is not None, "not offloading"
        return self._pool.submit(os.getpid).result()

    def _offloads(self, items: Sequence[LogItem]) -> bool:
        if self.offload is False or not items:
            return False
        if self.offload is None and len(items) < OFFLOAD_MIN:
            return False
        # A damaged span (rare) says where its partition got in its own way: decoded here.
        return not any(isinstance(item, DamagedSpan) for item in items)

    def _process(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Spawned, not forked: this process runs DuckDB's threads.
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.codec,),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class Decoding:
    """A batch being decoded (or decoded already)."""

    def __init__(
        self,
        decoder: Decoder,
        log_name: str,
        items: Sequence[LogItem],
        outcome: Batch | Future[Batch],
    ) -> None:
        self._decoder = decoder
        self._log_name = log_name
        self._items = items  # kept until decoded: should the process die, decoded here
        self._outcome = outcome

    def result(self) -> Batch:
        """The decoded batch (waiting for the process if it is still at it)."""
        if isinstance(self._outcome, Future):
            try:
                self._outcome = self._outcome.result()
            # Cancelled: by the shutdown of a process that died with this batch queued.
            except (BrokenProcessPool, CancelledError) as exc:
                self._outcome = self._decoder.fall_back(self._log_name, self._items, exc)
            self._items = ()
        return self._outcome


_codec: EventCodec | None = None  # the decoding process's codec, set by `_start`


def _start(codec: EventCodec) -> None:
    global _codec
    _codec = codec
    # Ctrl-C is the materializer's to handle: it stops the run, then this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _decode_columns(
    log_name: str, partitions: list[int], offsets: list[int], values: list[bytes]
) -> Batch:
    assert _codec is not None, "started by `_start`"
    items = [LogRecord(p, o, None, v) for p, o, v in zip(partitions, offsets, values, strict=True)]
    return decode_items(log_name, items, _codec)
