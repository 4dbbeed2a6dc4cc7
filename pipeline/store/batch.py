"""What the materializer hands the store: one batch of decoded log items."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.events import Event

if TYPE_CHECKING:
    from pipeline.store.columns import BatchTables


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record that decoded into a valid event."""

    partition: int
    offset: int
    event: Event
    body: bytes
    # The decoded Avro record (plain values, aware UTC times): written as the fact row
    # without a second conversion. Derived from `event` when absent.
    record: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """Log offsets `[offset, end_offset)` that will never become events, and why."""

    partition: int
    offset: int
    end_offset: int
    reason: str
    body: bytes | None = None


@dataclass
class Batch:
    """Everything consumed from one log since the last commit, applied atomically."""

    log_name: str
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    # The accepted items as Arrow tables, when built ahead of the write (`columns.prepare`).
    tables: BatchTables | None = None

    def advance(self, partition: int, next_offset: int) -> None:
        if next_offset > self.next_offsets.get(partition, -1):
            self.next_offsets[partition] = next_offset

    def __len__(self) -> int:
        return len(self.accepted) + len(self.rejected)


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    duplicates: int
    conflicts: int
    dead_letters: int
