"""What both of the Kafka log's clients keep: the record header, and the consumer group
member that reads only from the caller's positions.

`pipeline.log.kafkalog` (kafka-python, and the choice of client) and
`pipeline.log.kafka_confluent` (confluent-kafka) build on this; neither imports the other's
client library to do so.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Iterable
from typing import Protocol

from pipeline.errors import LogError, RolecallError
from pipeline.log.base import (
    DamagedSpan,
    LogConsumer,
    LogItem,
    LogRecord,
    PartitionsReleased,
    PositionsProvider,
    ingest_time_from_ms,
)

log = logging.getLogger(__name__)

EVENT_TYPE_HEADER = "event_type"


class KafkaTopic(Protocol):
    """What a client needs of the Kafka log it serves (`kafkalog.KafkaLog`)."""

    bootstrap: str
    topic: str
    name: str
    unavailable_timeout: float

    def _where(self, partition: int | None = None, offset: int | None = None) -> str: ...


# A record as a client hands it over: partition, offset, key, value (None: a tombstone),
# timestamp in ms (None or negative: none).
Record = tuple[int, int, bytes | None, bytes | None, int | None]


class GroupMember(LogConsumer):
    """What both clients' consumers share: a group member that hands out records only from
    the positions the caller provides, and turns a gap in a partition into a dead letter."""

    def __init__(self, log: KafkaTopic, group: str) -> None:
        self.log = log
        self.group = group
        self._positions: PositionsProvider = lambda parts: {}
        self._released: PartitionsReleased | None = None
        self._expected: dict[int, int] = {}  # partition -> next offset we will hand out
        self._assigned_once = False
        self._unreachable_since: float | None = None
        self._failure: Exception | None = None

    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        self._positions = positions
        self._released = released
        self._subscribe()

    @abstractmethod
    def _subscribe(self) -> None: ...

    def _resume(self, partitions: list[int]) -> dict[int, int]:
        """The offsets to read newly assigned `partitions` from: the caller's positions."""
        resume = self._positions(sorted(partitions))
        offsets = {p: int(resume.get(p, 0)) for p in partitions}
        self._expected.update(offsets)
        self._assigned_once = True
        log.info("%s: assigned partitions %s at %s", self.log.name, partitions, resume)
        return offsets

    def _revoked(self, partitions: list[int]) -> None:
        for p in partitions:
            self._expected.pop(p, None)
        if self._released is not None and partitions:
            self._released(sorted(partitions))

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is None:
            return
        if isinstance(failure, RolecallError):
            raise failure
        raise LogError(f"resuming {self.log._where()} failed: {failure!r}") from failure

    def _items(self, records: Iterable[Record]) -> list[LogItem]:
        """The records a poll brought (partitions interleaved, each in order) as log items.

        One loop for every record, as the file log's read: a Kafka poll of 200,000 records
        spent more here than in librdkafka (a datetime and a named tuple made per record).
        """
        items: list[LogItem] = []
        append, expected_of = items.append, self._expected
        # A record made in C (what `LogRecord(...)` makes, without its Python-level __new__).
        new_record, record_type = tuple.__new__, LogRecord
        # A producer's batch shares one timestamp: each distinct one is made once.
        last_millis: int | None = -1
        last_at = ingest_time_from_ms(last_millis)
        for partition, offset, key, value, millis in records:
            expected = expected_of.get(partition)
            if expected is None:
                # Never consume from where Kafka says: only from a position we were given.
                raise LogError(
                    f"{self.log._where(partition, offset)}: records of a partition "
                    "that was not resumed from stored positions"
                )
            if offset > expected:
                # Never skip silently: a gap (retention, compaction) is a dead letter.
                append(
                    DamagedSpan(partition, expected, offset, "records missing from the Kafka topic")
                )
            if millis != last_millis:
                last_millis, last_at = millis, ingest_time_from_ms(millis)
            # A tombstone (no value) is not an event: empty, it becomes a dead letter.
            append(new_record(record_type, (partition, offset, key, value or b"", last_at)))
            expected_of[partition] = offset + 1
        return items

    def _wait_for_broker(self, exc: Exception) -> None:
        """The broker is unreachable: keep waiting (the client reconnects) up to a limit."""
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
            log.warning("%s unreachable, waiting for it: %r", self.log._where(), exc)
        elif now - self._unreachable_since > self.log.unavailable_timeout:
            raise LogError(
                f"{self.log._where()} unreachable for {now - self._unreachable_since:.0f} s: "
                f"{exc!r}"
            ) from exc
