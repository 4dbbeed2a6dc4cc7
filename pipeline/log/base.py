"""The `EventLog` interface that every backend implements (embedded file log, Kafka)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from pipeline.codec import EventCodec, default_codec
from pipeline.events import Event
from pipeline.log.packed import PackedMessages

# Called when partitions are assigned to a consumer: partition -> next offset to read.
PositionsProvider = Callable[[Sequence[int]], Mapping[int, int]]
# Called when partitions are taken away from a consumer (a Kafka rebalance).
PartitionsReleased = Callable[[Sequence[int]], None]


class LogRecord(NamedTuple):
    """One message as stored in the log, with its position.

    `ingested_at` is when the record reached the log (UTC), separate from its event's
    time; None when the log did not record it (a file log written before it was kept).
    A named tuple, not a dataclass: a log read makes one per record, and a tuple is made
    (and, holding no containers, dropped from the garbage collector's watch) for less.
    """

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    ingested_at: datetime | None = None


def ingest_time_from_ms(millis: int | None) -> datetime | None:
    """A Kafka record's timestamp as its ingest time (None when the broker gave none: -1).

    The Kafka log maps the record timestamp: LogAppendTime when the topic is configured
    with it (the broker's clock at append, the true ingest time), else CreateTime, which
    rolecall's producer leaves to kafka-python: the moment of the send, within the
    producer's linger of the broker's append. Either way it is when the record entered
    the log, never the event's own time.
    """
    if millis is None or millis < 0:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)


@dataclass(frozen=True, slots=True)
class DamagedSpan:
    """Offsets `[start, end)` of a partition that could not be read intact.

    The reader skips them and says why; the materializer records them as dead letters
    so that nothing damaged is ever applied as if it were good.
    """

    partition: int
    start: int
    end: int
    reason: str


LogItem = LogRecord | DamagedSpan


def behind_message(log_name: str, missing: Sequence[DamagedSpan]) -> str:
    """One line saying that a log lost offsets a store had consumed (first partition first)."""
    first = missing[0]
    more = f" (and {len(missing) - 1} more partitions)" if len(missing) > 1 else ""
    return (
        f"the log {log_name} is behind the store: partition {first.partition} ends at offset "
        f"{first.start} but the store has consumed up to offset {first.end - 1}; offsets "
        f"{first.start}-{first.end - 1} are missing from the log (a deleted or truncated "
        f"segment?){more}"
    )


class LogConsumer(ABC):
    """Reads records from the partitions assigned to it, from positions the caller keeps."""

    @abstractmethod
    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        """Join and resume: on every assignment, ask `positions` where to resume;
        on every revocation, tell `released` which partitions are gone."""

    @abstractmethod
    def poll(self, max_records: int, timeout: float = 1.0) -> list[LogItem]:
        """Up to `max_records` items; an empty list when nothing is there yet."""

    @abstractmethod
    def caught_up(self) -> bool:
        """True when every assigned partition has been read to its current end."""

    def commit(self, positions: Mapping[int, int]) -> None:  # noqa: B027 - optional hook
        """Tell the log how far we got (Kafka: committed offsets, for lag monitoring only)."""

    @abstractmethod
    def close(self) -> None: ...


class EventLog(ABC):
    """An append-only, partitioned log of encoded events."""

    #: Stable identity of this log, stored beside the positions consumed from it.
    name: str

    def __init__(self, codec: EventCodec | None = None) -> None:
        self.codec = codec or default_codec()

    def append(self, events: Sequence[Event]) -> None:
        """Encode and append events, each keyed by its session so one session stays ordered."""
        self.append_encoded(
            [
                (e.partition_key().encode("utf-8"), self.codec.encode(e), e.event_type)
                for e in events
            ]
        )

    @abstractmethod
    def append_encoded(self, messages: Sequence[tuple[bytes | None, bytes, str]]) -> None:
        """Append (key, value, event type) triples that are already encoded."""

    def pack_partitions(self) -> int:
        """The partition count to pack messages for (`pipeline.log.packed.pack`): the file
        log's own; 1 for a log that places messages itself (Kafka's partitioner), which
        `append_packed` then gives the messages as triples."""
        return 1

    def append_packed(self, packed: PackedMessages) -> None:
        """Append messages packed by `pipeline.log.packed.pack` (the file log frames them
        as they are; another log takes them as triples)."""
        self.append_encoded(packed.messages())

    @abstractmethod
    def partition_count(self) -> int: ...

    @abstractmethod
    def end_offsets(self) -> dict[int, int]:
        """Partition -> the offset the next appended record will get."""

    def behind(self, positions: Mapping[int, int]) -> list[DamagedSpan]:
        """The offsets `[end, position)` a store consumed that this log no longer holds.

        `positions` maps partitions to the next offset a store will read. The file log
        checks what is on disk; other backends (Kafka, with its own retention) report none.
        """
        return []

    @abstractmethod
    def consumer(self, *, group: str = "rolecall-materializer") -> LogConsumer: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
