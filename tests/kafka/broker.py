"""The local Kafka broker the tests start (compose/kafka-local.sh), and its environment.

Free ports picked at the start and a state directory of the caller's, so a test broker
meets neither a developer's broker nor one that a killed run left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ports import free_ports

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
        _fail_unless_started(self.run("start"))

    def stop_when_gone(self, pid: int, disarmed: Path) -> None:
        """Stops the broker once process `pid` has ended, unless file `disarmed` exists by
        then (the run stopped its broker itself): a pytest killed by a signal runs no
        `finally`, and its broker would hold the ports for the next run."""
        watchdog = (
            f'while kill -0 {pid} 2>/dev/null; do sleep 2; done; [ -e "$1" ] || exec bash "$0" stop'
        )
        # setsid --fork: the watchdog is nobody's child here, and outlives a signal sent
        # to pytest's process group.
        subprocess.run(
            ["setsid", "--fork", "bash", "-c", watchdog, str(SCRIPT), str(disarmed)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )


def broker_env(state: Path) -> dict[str, str]:
    pinned = os.environ.get("ROLECALL_TEST_KAFKA_PORT")
    port, controller = (int(pinned), int(pinned) + 1) if pinned else free_ports(2)
    return dict(
        os.environ,
        ROLECALL_KAFKA_PORT=str(port),
        ROLECALL_KAFKA_CONTROLLER_PORT=str(controller),
        ROLECALL_KAFKA_STATE=os.environ.get("ROLECALL_TEST_KAFKA_STATE", str(state)),
        PYTHON=sys.executable,  # the probe lists topics through this venv's kafka-python
    )


def started_broker(state: Path) -> Broker:
    """A broker started with state in `state`, on free ports: picked again, twice, when
    one is taken between the pick and the bind (a pinned port is tried once)."""
    broker = Broker(broker_env(state))
    started = broker.run("start")
    for _ in range(2):
        if "already in use" not in started.stderr or "ROLECALL_TEST_KAFKA_PORT" in os.environ:
            break
        broker = Broker(broker_env(state))
        started = broker.run("start")
    if started.returncode != 0:
        broker.run("stop", timeout=120)  # whatever half started
    _fail_unless_started(started)
    return broker


def _fail_unless_started(started: subprocess.CompletedProcess[str]) -> None:
    if started.returncode != 0:
        pytest.fail(
            f"the Kafka broker did not start:\n{started.stdout}\n{started.stderr}",
            pytrace=False,
        )
