"""compose/kafka-local.sh, the script that runs a real local Kafka broker.

The fast tests check its argument handling and its care with processes that are not
its broker. The `kafka` tests run a second, private broker on free ports with its own
state directory (the session's broker is left alone) through start, status,
produce/consume, stop, start again from the same data, restart and reset; and check that
a test broker is stopped soon after the run that started it is killed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka.broker import Broker
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "compose" / "kafka-local.sh"
PROBE = ROOT / "compose" / "kafka" / "probe.py"


def run_script(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def private_env(tmp_path: Path) -> dict[str, str]:
    port, controller_port = free_ports(2)
    return {
        "ROLECALL_KAFKA_STATE": str(tmp_path / "kafka-state"),
        "ROLECALL_KAFKA_PORT": str(port),
        "ROLECALL_KAFKA_CONTROLLER_PORT": str(controller_port),
    }


def test_help_names_every_command_and_gives_examples() -> None:
    result = run_script("--help")
    assert result.returncode == 0, result.stderr
    for word in ("fetch", "start", "stop", "status", "restart", "reset", "Examples:"):
        assert word in result.stdout


def test_unknown_or_missing_command_is_a_usage_error() -> None:
    assert run_script("launch").returncode == 64
    assert run_script().returncode == 64


@pytest.mark.parametrize(
    ("port", "controller_port", "message"),
    [
        ("x", "9093", "invalid port"),
        ("70000", "9093", "invalid port"),
        ("19092", "19092", "must differ"),
    ],
)
def test_bad_ports_are_refused(
    tmp_path: Path, port: str, controller_port: str, message: str
) -> None:
    result = run_script(
        "start",
        env={
            "ROLECALL_KAFKA_STATE": str(tmp_path / "state"),
            "ROLECALL_KAFKA_PORT": port,
            "ROLECALL_KAFKA_CONTROLLER_PORT": controller_port,
        },
    )
    assert result.returncode == 1
    assert message in result.stderr


def test_status_and_stop_without_a_broker(private_env: dict[str, str]) -> None:
    status = run_script("status", env=private_env)
    assert status.returncode == 1
    assert "not running" in status.stdout
    stop = run_script("stop", env=private_env)
    assert stop.returncode == 0
    assert "not running" in stop.stdout


def test_a_pid_file_naming_another_process_is_dropped_not_killed(
    private_env: dict[str, str],
) -> None:
    state = Path(private_env["ROLECALL_KAFKA_STATE"])
    state.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "60"])
    try:
        (state / "kafka.pid").write_text(f"{other.pid}\n")
        assert run_script("status", env=private_env).returncode == 1
        assert not (state / "kafka.pid").exists()
        (state / "kafka.pid").write_text(f"{other.pid}\n")
        assert run_script("stop", env=private_env).returncode == 0
        assert other.poll() is None, "stop killed a process that is not its broker"
    finally:
        other.kill()
        other.wait()


def test_a_busy_port_is_reported(private_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(private_env["ROLECALL_KAFKA_PORT"])))
        busy.listen()
        result = run_script("start", env=private_env)
    assert result.returncode == 1
    assert "already in use" in result.stderr


@pytest.mark.parametrize("raw", [True, False])
def test_probe_fails_on_a_closed_port(raw: bool) -> None:
    (port,) = free_ports(1)
    args = [sys.executable, str(PROBE), f"127.0.0.1:{port}", "--timeout", "2"]
    result = subprocess.run(
        [*args, "--raw"] if raw else args,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "not ready" in result.stderr


@pytest.fixture
def private_broker(private_env: dict[str, str]) -> Iterator[dict[str, str]]:
    yield private_env
    run_script("stop", env=private_env, timeout=120)


def round_trip(bootstrap: str, topic: str, value: bytes, *, create: bool) -> list[bytes]:
    """Create the topic if asked, produce one value, read the topic from the start."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        if create:
            admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=b"k", value=value).get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    seen = []
    try:
        for message in consumer:
            seen.append(message.value)
            if message.value == value:
                break
    finally:
        consumer.close()
    return seen


@pytest.mark.kafka
# kafka-python 3.0 loads its protocol schemas with importlib.resources.read_text/open_text,
# which Python 3.11 deprecates; the suite turns warnings into errors.
@pytest.mark.filterwarnings(r"ignore:\w+ is deprecated. Use files\(\) instead:DeprecationWarning")
def test_lifecycle_of_a_private_broker(private_broker: dict[str, str]) -> None:
    env = private_broker
    bootstrap = f"127.0.0.1:{env['ROLECALL_KAFKA_PORT']}"
    state = Path(env["ROLECALL_KAFKA_STATE"])

    started = run_script("start", env=env, timeout=300)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "ready on" in started.stdout
    assert (state / "kafka.pid").exists()
    assert (state / "data" / "meta.properties").exists()

    again = run_script("start", env=env, timeout=60)
    assert again.returncode == 0
    assert "already running" in again.stdout
    assert run_script("status", env=env).returncode == 0
    assert run_script("bootstrap", env=env).stdout.strip() == bootstrap
    raw = subprocess.run(
        [sys.executable, str(PROBE), bootstrap, "--raw"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert raw.returncode == 0, raw.stderr

    first = round_trip(bootstrap, "lifecycle", b"one", create=True)
    assert first == [b"one"]

    stopped = run_script("stop", env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert not (state / "kafka.pid").exists()
    assert run_script("status", env=env).returncode == 1

    # Same data after a stop: the topic and its first message are still there.
    restarted = run_script("start", env=env, timeout=300)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "formatting" not in restarted.stdout
    second = round_trip(bootstrap, "lifecycle", b"two", create=False)
    assert second == [b"one", b"two"]

    cycled = run_script("restart", env=env, timeout=300)
    assert cycled.returncode == 0, cycled.stdout + cycled.stderr
    assert run_script("status", env=env).returncode == 0

    reset = run_script("reset", env=env, timeout=120)
    assert reset.returncode == 0, reset.stderr
    assert not state.exists()


@pytest.mark.kafka
def test_a_test_broker_stops_soon_after_the_run_that_started_it_is_killed(
    private_broker: dict[str, str], tmp_path: Path
) -> None:
    """A pytest killed by a signal runs no `finally`: the watchdog stops its broker, so
    that no broker is left holding ports for the next run (CI once failed on one). A run
    that ended normally stopped its broker itself and disarmed the watchdog, which then
    leaves alone whatever runs on that state next."""
    broker = Broker({**os.environ, "PYTHON": sys.executable, **private_broker})
    disarmed = tmp_path / "disarmed"

    def watched_run() -> subprocess.Popen[bytes]:
        run = subprocess.Popen(["sleep", "600"])  # stands for the pytest process
        broker.stop_when_gone(run.pid, disarmed)
        return run

    broker.start()
    run = watched_run()
    try:
        time.sleep(3)
        assert broker.run("status").returncode == 0, "the watchdog stopped a live run's broker"
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 120
    while broker.run("status").returncode == 0:
        assert time.monotonic() < deadline, "the broker still runs 2 minutes after its run died"
        time.sleep(1)

    broker.start()
    run = watched_run()
    disarmed.touch()
    run.kill()
    run.wait()
    time.sleep(6)  # three of the watchdog's rounds
    assert broker.run("status").returncode == 0, "a disarmed watchdog stopped the broker"
