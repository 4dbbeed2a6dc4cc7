"""The Kafka backend against the shared log contract, on the real broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.log import KafkaLog, open_log
from pipeline.log.base import EventLog
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
