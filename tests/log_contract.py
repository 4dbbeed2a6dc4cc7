"""One behaviour, every backend: subclass `LogContract` once per EventLog backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.log.base import DamagedSpan, EventLog, LogItem, LogRecord
from tests import builders as b


def drain(
    log: EventLog, start: dict[int, int] | None = None, max_polls: int = 200
) -> list[LogItem]:
    consumer = log.consumer(group="contract-tests")
    consumer.start(lambda parts: {p: (start or {}).get(p, 0) for p in parts})
    items: list[LogItem] = []
    try:
        for _ in range(max_polls):
            got = consumer.poll(500, timeout=0.5)
            items.extend(got)
            if not got and consumer.caught_up():
                break
    finally:
        consumer.close()
    return items


class LogContract:
    """The behaviour every EventLog backend must have."""

    partitions = 4

    @pytest.fixture
    def log(self) -> Iterator[EventLog]:
        raise NotImplementedError

    def test_append_then_read_everything_once(self, log: EventLog) -> None:
        events = [e for i in range(50) for e in b.session(f"ASIA{i:04d}", "R", i)]
        log.append(events)
        items = drain(log)
        assert all(isinstance(i, LogRecord) for i in items)
        decoded = sorted(
            (log.codec.decode(i.value) for i in items if isinstance(i, LogRecord)),
            key=lambda e: e.event_id,
        )
        assert decoded == sorted(events, key=lambda e: e.event_id)

    def test_offsets_are_dense_per_partition(self, log: EventLog) -> None:
        log.append([b.assumed(f"ASIA{i:04d}", "R", i) for i in range(40)])
        items = [i for i in drain(log) if isinstance(i, LogRecord)]
        for p in range(log.partition_count()):
            offsets = [i.offset for i in items if i.partition == p]
            assert offsets == list(range(len(offsets)))
        assert sum(log.end_offsets().values()) == 40

    def test_one_session_stays_on_one_partition_in_order(self, log: EventLog) -> None:
        key = "ASIASAMEKEY00001"
        events = [
            b.assumed(key, "R", 0),
            b.issued(key, 0),
            b.call(key, 1),
            b.call(key, 2),
            b.exited(3, session_id=key),
        ]
        log.append(events)
        items = [i for i in drain(log) if isinstance(i, LogRecord)]
        parts = {i.partition for i in items}
        assert len(parts) == 1
        assert [log.codec.decode(i.value).event_id for i in items] == [e.event_id for e in events]
        assert all(i.key == key.encode() for i in items if i.key is not None)

    def test_resume_from_positions(self, log: EventLog) -> None:
        log.append([b.assumed(f"ASIA{i:04d}", "R", i) for i in range(30)])
        first = [i for i in drain(log) if isinstance(i, LogRecord)]
        ends = {
            p: max(i.offset for i in first if i.partition == p) + 1
            for p in {i.partition for i in first}
        }
        log.append([b.assumed(f"ASIB{i:04d}", "R", i) for i in range(10)])
        rest = [i for i in drain(log, ends) if isinstance(i, LogRecord)]
        assert len(rest) == 10
        assert all(i.offset >= ends.get(i.partition, 0) for i in rest)

    def test_no_damage_on_a_healthy_log(self, log: EventLog) -> None:
        log.append([b.assumed(f"ASIA{i:04d}", "R", i) for i in range(20)])
        assert not [i for i in drain(log) if isinstance(i, DamagedSpan)]

    def test_every_record_says_when_it_reached_the_log(self, log: EventLog) -> None:
        """The ingest time (#17): when the record was appended, not the event's own time
        (the builders' events are from 2026-01-05; Kafka's timestamps have milliseconds)."""
        from datetime import UTC, datetime, timedelta

        before = datetime.now(UTC) - timedelta(milliseconds=1)
        log.append([b.assumed(f"ASIA{i:04d}", "R", i) for i in range(8)])
        after = datetime.now(UTC) + timedelta(milliseconds=1)
        items = [i for i in drain(log) if isinstance(i, LogRecord)]
        assert len(items) == 8
        for item in items:
            assert item.ingested_at is not None
            assert before <= item.ingested_at <= after
