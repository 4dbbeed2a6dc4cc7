"""A stop is honoured while a directory store waits for a partition's file.

A Kafka assignment opens the assigned partitions' files inside the consumer's poll, and
waits (up to `lock_timeout`, 120 s by default) while another materializer still holds one.
A SIGTERM landing in that wait only sets the stop flag: the wait must see it, or the
materializer outlives its stop by as long as the file's owner keeps it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from pipeline.errors import StopRequested, StoreLockedError
from pipeline.log.base import (
    EventLog,
    LogConsumer,
    LogItem,
    PartitionsReleased,
    PositionsProvider,
)
from pipeline.materializer import materialize
from pipeline.store.directory import partition_file
from pipeline.store.partitioned import PartitionedStore

_HOLD = (
    "import sys, duckdb; con = duckdb.connect(sys.argv[1]); "
    "print('held', flush=True); sys.stdin.read()"
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A directory whose partition 0 file another process holds open for writing."""
    directory = tmp_path / "parts"
    directory.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(partition_file(directory, 0))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield directory
    finally:
        holder.communicate(timeout=30)  # closing its stdin lets it go


def test_a_set_stop_ends_the_wait_for_a_held_partition(held: Path) -> None:
    stop = threading.Event()
    stop.set()
    # Without the stop, the wait would last the 30 s and end in StoreLockedError.
    with PartitionedStore(held, lock_timeout=30) as store:
        with pytest.raises(StopRequested):
            store.positions("log", [0], stop)
        assert store.open == {}


def test_a_stop_set_during_the_wait_ends_it(held: Path) -> None:
    stop = threading.Event()
    with PartitionedStore(held, lock_timeout=30) as store:
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        try:
            with pytest.raises(StopRequested):
                store.acquire(0, stop)
        finally:
            timer.cancel()


def test_without_a_stop_the_wait_ends_at_the_lock_timeout(held: Path) -> None:
    with PartitionedStore(held, lock_timeout=0.5) as store, pytest.raises(StoreLockedError):
        store.acquire(0, threading.Event())


class _AssignedInPoll(LogConsumer):
    """A group member whose poll brings an assignment of partition 0 while a SIGTERM lands
    (as librdkafka's consume() calls on_assign)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.polls = 0
        self.positions: PositionsProvider = lambda parts: {}

    def start(
        self, positions: PositionsProvider, released: PartitionsReleased | None = None
    ) -> None:
        self.positions = positions

    def poll(self, max_records: int, timeout: float = 1.0) -> list[LogItem]:
        self.polls += 1
        self.stop.set()  # the signal handler, run during the poll
        self.positions([0])  # GroupMember raises a RolecallError from on_assign as it is
        return []

    def caught_up(self) -> bool:
        return True

    def close(self) -> None:
        pass


class _OneMemberLog(EventLog):
    name = "test:assigned-in-poll"

    def __init__(self, member: _AssignedInPoll) -> None:
        super().__init__()
        self.member = member

    def append_encoded(self, messages: Sequence[tuple[bytes | None, bytes, str]]) -> None:
        raise NotImplementedError

    def partition_count(self) -> int:
        return 1

    def end_offsets(self) -> dict[int, int]:
        return {0: 0}

    def consumer(self, *, group: str = "rolecall-materializer") -> LogConsumer:
        return self.member

    def close(self) -> None:
        pass


def test_materialize_ends_cleanly_when_stopped_in_an_assignment(held: Path) -> None:
    stop = threading.Event()
    member = _AssignedInPoll(stop)
    # Before the fix the run waited out the lock timeout, then failed with StoreLockedError.
    with PartitionedStore(held, lock_timeout=3) as store:
        stats = materialize(_OneMemberLog(member), store, follow=True, stop=stop)
    assert member.polls == 1 and stats.read == 0


def test_a_closing_confluent_consumer_opens_no_partition_it_is_assigned() -> None:
    from confluent_kafka import TopicPartition

    from pipeline.log.kafka_confluent import ConfluentLogConsumer

    class Topic:
        bootstrap, topic, name, unavailable_timeout = "127.0.0.1:9", "t", "kafka:t", 1.0

        def _where(self, partition: int | None = None, offset: int | None = None) -> str:
            return "t"

    class Client:
        def __init__(self) -> None:
            self.assigned: list[list[object]] = []

        def assign(self, partitions: list[object]) -> None:
            self.assigned.append(partitions)

    asked: list[Sequence[int]] = []

    def positions(parts: Sequence[int]) -> Mapping[int, int]:
        asked.append(parts)
        return {p: 0 for p in parts}

    member = ConfluentLogConsumer(Topic(), "g")
    try:
        member._positions = positions
        client = Client()
        member._on_assign(client, [TopicPartition("t", 0)])
        assert asked == [[0]] and client.assigned[-1][0].offset == 0  # type: ignore[attr-defined]
        # What close() serves (an assignment still pending) opens nothing and reads nothing.
        member._closing = True
        member._on_assign(client, [TopicPartition("t", 1)])
        assert asked == [[0]] and client.assigned[-1] == []
        assert member._failure is None
    finally:
        member.close()
