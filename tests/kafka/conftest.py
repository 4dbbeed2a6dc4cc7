"""The real local Kafka broker every Kafka test runs against.

Started once per test session with compose/kafka-local.sh (on private ports and state,
so it never meets a developer's own broker) and stopped when the session ends, also
after failures. A broker that cannot start fails the tests: it never skips them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "compose" / "kafka-local.sh"


@dataclass(frozen=True)
class Broker:
    env: dict[str, str]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.env['ROLECALL_KAFKA_PORT']}"

    def url(self, topic: str, client: str | None = None) -> str:
        """The log URL of `topic` on this broker, read and written through `client` (None:
        the default client)."""
        url = f"kafka://{self.bootstrap}/{topic}"
        return url if client is None else f"{url}?client={client}"

    def run(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        started = self.run("start")
        if started.returncode != 0:
            pytest.fail(
                f"the Kafka broker did not start:\n{started.stdout}\n{started.stderr}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    port = int(os.environ.get("ROLECALL_TEST_KAFKA_PORT", "39092"))
    env = dict(
        os.environ,
        ROLECALL_KAFKA_PORT=str(port),
        ROLECALL_KAFKA_CONTROLLER_PORT=str(port + 1),
        ROLECALL_KAFKA_STATE=os.environ.get(
            "ROLECALL_TEST_KAFKA_STATE", f"/tmp/rolecall-kafka-tests-{os.getuid()}"
        ),
        PYTHON=sys.executable,  # the probe lists topics through this venv's kafka-python
    )
    broker = Broker(env)
    try:
        broker.start()
        yield broker
    finally:
        broker.run("stop", timeout=120)


@pytest.fixture(params=["confluent", "kafka-python"])
def client(request: pytest.FixtureRequest) -> str:
    """Each Kafka client rolecall offers."""
    return str(request.param)


@pytest.fixture
def topic() -> str:
    """A fresh topic name: every test starts from an empty log."""
    return f"test.{uuid.uuid4().hex[:12]}"
