"""The Kafka backend against the shared log contract, on the real broker."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Iterator, Sequence

import pytest

from pipeline.errors import InputError, LogError, StoreLockedError
from pipeline.log import KafkaLog, LogRecord, open_log
from pipeline.log.base import EventLog
from tests import builders as b
from tests.kafka.broker import Broker
from tests.kafka.helpers import simulated
from tests.log_contract import LogContract

pytestmark = pytest.mark.kafka


class TestKafkaLogContract(LogContract):
    @pytest.fixture
    def log(self, kafka_broker: Broker, topic: str) -> Iterator[EventLog]:
        log = open_log(kafka_broker.url(topic, "kafka-python"), partitions=self.partitions)
        assert isinstance(log, KafkaLog) and log.client == "kafka-python"
        yield log
        log.close()


class TestConfluentKafkaLogContract(LogContract):
    @pytest.fixture
    def log(self, kafka_broker: Broker, topic: str) -> Iterator[EventLog]:
        log = open_log(kafka_broker.url(topic), partitions=self.partitions)
        assert isinstance(log, KafkaLog) and log.client == "confluent", "the default client"
        yield log
        log.close()


def test_topic_gets_the_chosen_partition_count(kafka_broker: Broker, topic: str) -> None:
    with open_log(kafka_broker.url(topic), partitions=3) as log:
        assert log.partition_count() == 3
        assert log.name == f"kafka:{topic}"


def test_a_failing_positions_provider_stops_reading(
    kafka_broker: Broker, topic: str, client: str
) -> None:
    """Never fall back to Kafka's committed offsets when stored positions are unavailable."""
    log = open_log(kafka_broker.url(topic, client), partitions=2)
    log.append([b.assumed(f"ASIA{i:04d}", "R", i) for i in range(10)])
    consumer = log.consumer(group=f"fail-{topic}")

    def unavailable(parts: Sequence[int]) -> dict[int, int]:
        raise StoreLockedError("partition file held by another process")

    consumer.start(unavailable)
    try:
        with pytest.raises(StoreLockedError, match="held by another"):
            for _ in range(100):
                assert not consumer.poll(100, timeout=0.5)
    finally:
        consumer.close()
        log.close()


def test_an_unreachable_broker_is_one_clear_error() -> None:
    with pytest.raises(LogError, match=r"cannot reach Kafka topic t at 127\.0\.0\.1:1"):
        KafkaLog("127.0.0.1:1", "t")


def test_both_clients_put_the_same_records_on_the_same_partitions(kafka_broker: Broker) -> None:
    """A session's events land on one partition whichever client wrote them (murmur2 of the
    key, as the Java client), so a topic may be written by both and read by either."""
    events = list(simulated(2_000))
    read: dict[str, dict[int, list[tuple[bytes | None, bytes]]]] = {}
    for writer in ("kafka-python", "confluent"):
        name = f"test.{uuid.uuid4().hex[:12]}"
        with open_log(kafka_broker.url(name, writer), partitions=4) as log:
            log.append(events)
        reader = "confluent" if writer == "kafka-python" else "kafka-python"
        with open_log(kafka_broker.url(name, reader), create=False) as log:
            read[writer] = by_partition(log, 2_000)
    assert sum(len(r) for r in read["confluent"].values()) == 2_000
    assert len(read["confluent"]) == 4, "the keys spread over every partition"
    assert read["confluent"] == read["kafka-python"]


def by_partition(log: EventLog, n: int) -> dict[int, list[tuple[bytes | None, bytes]]]:
    """Every record of `log` as (key, value) per partition, in offset order."""
    consumer = log.consumer(group=f"read-{uuid.uuid4().hex[:8]}")
    consumer.start(lambda parts: {})
    got: dict[int, list[tuple[bytes | None, bytes]]] = {}
    try:
        deadline = time.monotonic() + 60
        while sum(len(r) for r in got.values()) < n and time.monotonic() < deadline:
            for item in consumer.poll(1_000, timeout=0.5):
                assert isinstance(item, LogRecord)
                got.setdefault(item.partition, []).append((item.key, item.value))
    finally:
        consumer.close()
    return got


def test_the_default_client_without_its_package_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # as if not installed
    with pytest.raises(InputError, match=r"needs the confluent-kafka package.*client=kafka-python"):
        KafkaLog("127.0.0.1:1", "t")


@pytest.mark.parametrize("query", ["client=librdkafka", "clients=confluent", "client="])
def test_a_bad_client_in_the_url_is_one_clear_error(query: str) -> None:
    with pytest.raises(InputError, match=r"its only option is \?client=confluent or \?client=k"):
        open_log(f"kafka://127.0.0.1:1/t?{query}")


def test_a_broker_that_stays_away_is_one_clear_error_after_the_limit(
    kafka_broker: Broker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    """librdkafka retries for ever and logs every attempt; rolecall says it once, waits up
    to `unavailable_timeout`, then stops with one error naming the topic."""
    log = KafkaLog(kafka_broker.bootstrap, topic, unavailable_timeout=3.0)
    log.bootstrap = "127.0.0.1:1"  # the consumer's broker: nothing listens there
    consumer = log.consumer(group=f"away-{topic}")
    consumer.start(lambda parts: {})
    started = time.monotonic()
    try:
        with pytest.raises(LogError, match=rf"topic {topic} at 127\.0\.0\.1:1 unreachable for"):
            while time.monotonic() - started < 60:
                assert consumer.poll(100, timeout=0.5) == []
    finally:
        consumer.close()
        log.close()
    assert 3.0 <= time.monotonic() - started < 30
    # rolecall's own lines, librdkafka's included (other tests' kafka-python clients may log)
    loud = [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("pipeline.")
    ]
    assert len(loud) == 1 and "unreachable, waiting for it" in loud[0].getMessage()
