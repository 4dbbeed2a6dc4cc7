"""Polled log items into a batch: decoded, checked against the contract, as tables.

The Avro schema vouches for each record's types; the contract's other rules are checked
on the batch's columns (`columns.doubtful`), and only a record they cannot vouch for is
built as its model, which refuses it with its reason or lets it through. Runs in the
materializer's process or in its decoding process (`decode_process`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import pyarrow as pa

from pipeline.codec import EventCodec, validate
from pipeline.errors import CodecError, EventValidationError
from pipeline.log.base import DamagedSpan, LogItem, LogRecord
from pipeline.store.batch import Batch, BatchTables, Rejected
from pipeline.store.columns import doubtful, tables_of


def decode_items(log_name: str, items: Sequence[LogItem], codec: EventCodec) -> Batch:
    """One batch from polled items: decoded events, dead letters, and positions reached.

    The Avro schema vouches for each record's types; the contract's other rules are
    checked on the batch's columns (`columns.doubtful`), and only a record they cannot
    vouch for is built as its model, which refuses it with its reason or lets it through.
    The batch comes with its tables built.

    Python runs per item only to decode it; the rest is done on whole columns, in C
    (this is the materializer's hot loop, the decoding process's whole work). The
    accepted events are the batch's tables; `Batch.accepted` is left empty.
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
        list(map(PARTITION_OF, records)),
        list(map(OFFSET_OF, records)),
        event_types,
        values,
        list(map(VALUE_OF, records)),
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


# Shared with `decode_process`, which hands a batch over as these three columns.
PARTITION_OF = attrgetter("partition")
OFFSET_OF = attrgetter("offset")
VALUE_OF = attrgetter("value")
