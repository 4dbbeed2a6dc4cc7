"""The real local Kafka broker every Kafka test runs against.

Started once per test session with compose/kafka-local.sh and stopped when the session
ends, also after failures. Its ports are free ones picked at the start and its state is
this session's own, so it meets neither a developer's broker nor one a killed run left
behind; a watchdog stops it if pytest itself is killed. A broker that cannot start fails
the tests: it never skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.kafka.broker import Broker, started_broker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    state = tmp_path_factory.mktemp("kafka-state")
    disarmed = tmp_path_factory.mktemp("kafka-watchdog") / "disarmed"
    broker = started_broker(state)
    try:
        broker.stop_when_gone(os.getpid(), disarmed)
        yield broker
    finally:
        broker.run("stop", timeout=120)
        # Stopped here: the watchdog must not stop a later run's broker on the same state.
        disarmed.touch()


@pytest.fixture(params=["confluent", "kafka-python"])
def client(request: pytest.FixtureRequest) -> str:
    """Each Kafka client rolecall offers."""
    return str(request.param)


@pytest.fixture
def topic() -> str:
    """A fresh topic name: every test starts from an empty log."""
    return f"test.{uuid.uuid4().hex[:12]}"
