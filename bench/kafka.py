"""Kafka end to end: produce simulated events, consume, materialize; against the embedded log.

Both of the Kafka log's clients are run end to end: confluent-kafka (librdkafka, the
default) and kafka-python (`?client=kafka-python`). Also: the broker's start time, the
producer settings tried with kafka-python (linger, batch size, compression), and each
client's consumer against librdkafka's raw rate on the same topic.

    python -m bench.kafka --events 200000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.results import CpuMeter, Result, table
from bench.workload import Workload, log_records, simulated_log
from pipeline.log import FileLog, KafkaLog
from pipeline.log.kafkalog import CONFLUENT, DEFAULT_CLIENT, KAFKA_PYTHON, PRODUCER_SETTINGS
from pipeline.materializer import materialize
from pipeline.store import Store

ROOT = Path(__file__).resolve().parents[1]
Message = tuple[bytes | None, bytes, str]

# What was tried for the producer (PRODUCER_SETTINGS is the one chosen).
SETTINGS_TRIED: list[dict[str, Any]] = [
    {"linger_ms": 0, "batch_size": 16 * 1024, "compression_type": None},
    {"linger_ms": 5, "batch_size": 64 * 1024, "compression_type": None},
    PRODUCER_SETTINGS,
    {**PRODUCER_SETTINGS, "compression_type": "gzip"},
]


@contextmanager
def local_broker(state: Path, port: int = 49092) -> Iterator[tuple[str, float]]:
    """A private broker from compose/kafka-local.sh: (bootstrap, seconds it took to start)."""
    env = dict(
        os.environ,
        ROLECALL_KAFKA_PORT=str(port),
        ROLECALL_KAFKA_CONTROLLER_PORT=str(port + 1),
        ROLECALL_KAFKA_STATE=str(state),
        PYTHON=os.environ.get("PYTHON", "python3"),
    )
    script = ["bash", str(ROOT / "compose" / "kafka-local.sh")]
    started = time.perf_counter()
    done = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    try:
        if done.returncode != 0:
            raise RuntimeError(f"the broker did not start: {done.stderr}")
        yield f"127.0.0.1:{port}", seconds
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, check=False)


def _messages(log_dir: Path) -> list[Message]:
    return [(r.key, r.value, "") for r in log_records(log_dir)]


def _produce(
    bootstrap: str, messages: Sequence[Message], settings: dict[str, Any], client: str
) -> tuple[float, float]:
    """(seconds, CPU utilisation) to produce `messages` to a fresh topic with these settings."""
    log = KafkaLog(
        bootstrap, f"bench.{uuid.uuid4().hex[:8]}", producer_settings=settings, client=client
    )
    with CpuMeter() as meter:
        for i in range(0, len(messages), 20_000):
            log.append_encoded(messages[i : i + 20_000])
    log.close()
    return meter.seconds, meter.utilisation


class Phases:
    """Wall and CPU time of an end-to-end run, appending and materializing apart."""

    def __init__(self) -> None:
        self.append = CpuMeter()
        self.materialize = CpuMeter()

    @property
    def seconds(self) -> float:
        return self.append.seconds + self.materialize.seconds

    @property
    def cpu(self) -> float:
        """CPU utilisation of the Python process over the run (a broker's JVM is apart)."""
        cpu = self.append.cpu_seconds + self.materialize.cpu_seconds
        return cpu / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        a, m = self.append, self.materialize
        return (
            f"append {a.seconds:.1f} s (CPU {a.utilisation:.2f}), "
            f"consume and materialize {m.seconds:.1f} s (CPU {m.utilisation:.2f})"
        )


def end_to_end_kafka(
    bootstrap: str, messages: Sequence[Message], db: Path, client: str
) -> tuple[float, str, Phases]:
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    phases = Phases()
    with phases.append:
        log = KafkaLog(bootstrap, topic, partitions=4, client=client)
        for i in range(0, len(messages), 20_000):
            log.append_encoded(messages[i : i + 20_000])
    with phases.materialize, Store(db) as store:
        materialize(log, store, batch_size=20_000, group=f"bench-{topic}")
    log.close()
    return len(messages) / phases.seconds, topic, phases


def end_to_end_embedded(
    messages: Sequence[Message], scratch: Path, db: Path
) -> tuple[float, Phases]:
    phases = Phases()
    with phases.append:
        log = FileLog(scratch / f"e2e-{uuid.uuid4().hex[:8]}", partitions=4)
        for i in range(0, len(messages), 20_000):
            log.append_encoded(messages[i : i + 20_000])
    with phases.materialize, Store(db) as store:
        materialize(log, store, batch_size=20_000)
    log.close()
    return len(messages) / phases.seconds, phases


def consume_rate(bootstrap: str, topic: str, n: int, client: str) -> tuple[float, float]:
    """(records/s, CPU utilisation) of the Kafka log's consumer reading `n` records."""
    log = KafkaLog(bootstrap, topic, create=False, client=client)
    consumer = log.consumer(group=f"bench-{client}-{uuid.uuid4().hex[:6]}")
    consumer.start(lambda parts: dict.fromkeys(parts, 0))
    got = 0
    meter: CpuMeter | None = None
    while got < n:
        items = consumer.poll(20_000, timeout=1.0)
        if items and meter is None:
            meter = CpuMeter().__enter__()  # from the first record: group join excluded
        got += len(items)
    assert meter is not None
    meter.__exit__()
    consumer.close()
    log.close()
    return got / meter.seconds, meter.utilisation


def consume_rate_confluent(bootstrap: str, topic: str, n: int) -> tuple[float, float] | None:
    """(records/s, CPU utilisation) of librdkafka's consumer alone: the reference."""
    try:
        from confluent_kafka import Consumer
    except ImportError:
        return None
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-ck-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = 0
    meter: CpuMeter | None = None
    while got < n:
        batch = consumer.consume(num_messages=20_000, timeout=1.0)
        if batch and meter is None:
            meter = CpuMeter().__enter__()
        got += sum(1 for m in batch if m.error() is None)
    assert meter is not None
    meter.__exit__()
    consumer.close()
    return got / meter.seconds, meter.utilisation


def run(work: Workload, scratch: Path, bootstrap: str | None = None) -> list[Result]:
    messages = _messages(work.log_dir)
    if bootstrap is None:
        with local_broker(scratch / "kafka") as (address, start_seconds):
            return _run(address, messages, scratch, start_seconds)
    return _run(bootstrap, messages, scratch, None)


def _run(
    bootstrap: str, messages: list[Message], scratch: Path, start_seconds: float | None
) -> list[Result]:
    n = len(messages)
    results: list[Result] = []
    if start_seconds is not None:
        results.append(
            Result(
                name="Kafka broker start (kafka-local.sh start)",
                value=start_seconds,
                unit="s",
                notes="single-node KRaft 4.3.1 from cached Maven Central jars",
            )
        )
    sample = messages[: min(n, 20_000)]
    for settings in SETTINGS_TRIED:
        # best of three: the producer is CPU-bound and the machine may be shared
        seconds, cpu = min(_produce(bootstrap, sample, settings, KAFKA_PYTHON) for _ in range(3))
        chosen = " (chosen)" if settings is PRODUCER_SETTINGS else ""
        results.append(
            Result(
                name=f"Kafka produce linger={settings['linger_ms']}ms "
                f"batch={settings['batch_size'] // 1024}KiB "
                f"compression={settings['compression_type']}{chosen}",
                value=len(sample) / seconds,
                unit="events/s",
                notes=f"best of 3 x {len(sample):,} events, kafka-python, acks=all, idempotent",
                cpu=round(cpu, 2),
            )
        )
    clients = [DEFAULT_CLIENT, *(c for c in (CONFLUENT, KAFKA_PYTHON) if c != DEFAULT_CLIENT)]
    # The same settings through librdkafka (linger, batch size, no compression).
    seconds, cpu = min(_produce(bootstrap, sample, PRODUCER_SETTINGS, CONFLUENT) for _ in range(3))
    results.append(
        Result(
            name="Kafka produce, confluent-kafka (librdkafka), same settings",
            value=len(sample) / seconds,
            unit="events/s",
            notes=f"best of 3 x {len(sample):,} events through the Kafka log's confluent "
            "client (the default): acks=all, idempotent, murmur2 partitioner (the keys' "
            "partitions as kafka-python's)",
            cpu=round(cpu, 2),
        )
    )
    embedded_db = scratch / "e2e-embedded.duckdb"
    embedded_db.unlink(missing_ok=True)
    embedded, on_file = end_to_end_embedded(messages, scratch, embedded_db)
    topics: dict[str, str] = {}
    for client in clients:
        db = scratch / f"e2e-kafka-{client}.duckdb"
        db.unlink(missing_ok=True)
        kafka, topics[client], on_kafka = end_to_end_kafka(bootstrap, messages, db, client)
        results.append(
            Result(
                # The default client's row keeps its name: results.json's history follows it
                # (kafka-python's until #15 made confluent-kafka the default).
                name="end to end on Kafka (produce, consume, materialize)"
                if client == DEFAULT_CLIENT
                else f"end to end on Kafka, {client} client (produce, consume, materialize)",
                value=kafka,
                unit="events/s",
                reference="embedded log, same events",
                reference_value=embedded,
                goal="ratio >= 0.8" if client == DEFAULT_CLIENT else None,  # #15's is the default's
                notes=f"{n:,} events, 4 partitions, {client}; Kafka: {on_kafka.describe()}; "
                f"embedded: {on_file.describe()}; CPU of the Python process only",
                cpu=round(on_kafka.cpu, 2),
                reference_cpu=round(on_file.cpu, 2),
            )
        )
    topic = topics[DEFAULT_CLIENT]
    ck = consume_rate_confluent(bootstrap, topic, n)
    for client in clients:
        rate, cpu = consume_rate(bootstrap, topic, n, client)
        results.append(
            Result(
                name="Kafka consume, kafka-python"
                if client == KAFKA_PYTHON
                else "Kafka consume, confluent-kafka (the default client)",
                value=rate,
                unit="events/s",
                reference="confluent-kafka (librdkafka) alone" if ck else None,
                reference_value=ck[0] if ck else None,
                notes=f"{n:,} records of one topic, through the Kafka log's consumer"
                + ("" if ck else "; confluent-kafka not installed"),
                cpu=round(cpu, 2),
                reference_cpu=round(ck[1], 2) if ck else None,
            )
        )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bootstrap", help="an existing broker (default: start a private one)")
    parser.add_argument("--scratch", type=Path)
    args = parser.parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="rolecall-bench-kafka-"))
    scratch.mkdir(parents=True, exist_ok=True)
    work = simulated_log(scratch, args.events)
    print(table(run(work, scratch, args.bootstrap)))


if __name__ == "__main__":
    main()
