"""What the materializer hands the store: one batch of decoded log items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.events import EVENT_TYPE_BY_NAME, Event
from pipeline.store.rows import record_of

# The column of a batch table holding each row's item position in the batch as decoded
# (rows kept by `BatchTables.keep` keep their positions).
POSITION = "_pos"


class Accepted(NamedTuple):
    """A record that decoded into a valid event: what the store needs of it, no model.

    `record` is the decoded Avro record (plain values, aware UTC times), written as the
    fact row without a second conversion; `model()` builds the event for the rare code
    that needs one.
    """

    partition: int
    offset: int
    event_id: str
    event_type: str
    event_time: datetime
    account_id: str
    record: Mapping[str, Any]
    body: bytes

    @classmethod
    def of_record(
        cls, partition: int, offset: int, event_type: str, record: Mapping[str, Any], body: bytes
    ) -> Accepted:
        return cls(
            partition,
            offset,
            record["event_id"],
            event_type,
            record["event_time"],
            record["account_id"],
            record,
            body,
        )

    @classmethod
    def of_event(cls, partition: int, offset: int, event: Event, body: bytes) -> Accepted:
        """From a model (its plain record, as the codec's decode gives it)."""
        return cls.of_record(partition, offset, event.event_type, record_of(event), body)

    def model(self) -> Event:
        return EVENT_TYPE_BY_NAME[self.event_type].model_validate(self.record)


@dataclass(frozen=True, slots=True)
class Rejected:
    """Log offsets `[offset, end_offset)` that will never become events, and why."""

    partition: int
    offset: int
    end_offset: int
    reason: str
    body: bytes | None = None


@dataclass(frozen=True)
class BatchTables:
    """The log rows (`events`) and the fact rows (by table) of a batch's accepted items."""

    events: pa.Table
    facts: dict[str, pa.Table]

    def keep(self, positions: Sequence[int]) -> BatchTables:
        """Only the rows of the items at `positions` (their `_pos`)."""
        wanted = pa.array(positions, pa.int64())
        return BatchTables(
            _keep(self.events, wanted), {t: _keep(v, wanted) for t, v in self.facts.items()}
        )


def _keep(table: pa.Table, wanted: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table[POSITION], value_set=wanted))


@dataclass
class Batch:
    """Everything consumed from one log since the last commit, applied atomically.

    The accepted events are the rows of `tables`, which the writer reads. `accepted` is
    the other way in, one tuple an event, for code that builds a batch from events it
    holds (re-derivation, tests); `columns.prepare` builds the tables from it. The
    materializer's decoder builds the tables directly and leaves `accepted` empty.
    """

    log_name: str
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    tables: BatchTables | None = None

    def advance(self, partition: int, next_offset: int) -> None:
        if next_offset > self.next_offsets.get(partition, -1):
            self.next_offsets[partition] = next_offset

    @property
    def accepted_count(self) -> int:
        return self.tables.events.num_rows if self.tables is not None else len(self.accepted)

    def __len__(self) -> int:
        return self.accepted_count + len(self.rejected)


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    duplicates: int
    conflicts: int
    dead_letters: int
