"""The Kafka backend against the shared log contract, on the real broker."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from pipeline.errors import LogError, StoreLockedError
from pipeline.log import KafkaLog, open_log
from pipeline.log.base import EventLog
from tests import builders as b
from tests.kafka.conftest import Broker
from tests.log_contract import LogContract

pytestmark = pytest.mark.kafka


class TestKafkaLogContract(LogContract):
    @pytest.fixture
    def log(self, kafka_broker: Broker, topic: str) -> Iterator[EventLog]:
        log = open_log(kafka_broker.url(topic), partitions=self.partitions)
        assert isinstance(log, KafkaLog)
        yield log
        log.close()


def test_topic_gets_the_chosen_partition_count(kafka_broker: Broker, topic: str) -> None:
    with open_log(kafka_broker.url(topic), partitions=3) as log:
        assert log.partition_count() == 3
        assert log.name == f"kafka:{topic}"


def test_a_failing_positions_provider_stops_reading(kafka_broker: Broker, topic: str) -> None:
    """Never fall back to Kafka's committed offsets when stored positions are unavailable."""
    log = open_log(kafka_broker.url(topic), partitions=2)
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
