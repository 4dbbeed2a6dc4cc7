"""A parallel CloudTrail import onto the real broker: the embedded log's events.

The workers pack their events for the file log's partitions; a Kafka topic places them
with its own partitioner, so the import must hand it the events as they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cloudtrail import import_cloudtrail
from pipeline.log import FileLog, LogRecord, open_log
from pipeline.log.base import EventLog
from pipeline.producer import Producer
from pipeline.simulator import SimulationConfig, simulate
from pipeline.simulator.cloudtrail import write_cloudtrail
from pipeline.timeutil import parse_time
from tests.kafka.broker import Broker
from tests.log_contract import drain

pytestmark = pytest.mark.kafka


def _by_key(log: EventLog) -> dict[bytes | None, list[bytes]]:
    """Each key's values in their order (one key, one partition, on either log)."""
    out: dict[bytes | None, list[bytes]] = {}
    records = [i for i in drain(log) if isinstance(i, LogRecord)]
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        out.setdefault(record.key, []).append(record.value)
    return out


def test_a_parallel_import_puts_the_embedded_logs_events_on_kafka(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    config = SimulationConfig(start=parse_time("2026-01-05"), days=1, seed=5)
    write_cloudtrail(simulate(config), tmp_path / "trail")
    trail = [str(tmp_path / "trail")]
    file_log = FileLog(tmp_path / "log", partitions=4, fsync=False)
    embedded = import_cloudtrail(trail, Producer(file_log, batch_size=500), jobs=2)
    expected = _by_key(file_log)
    file_log.close()
    with open_log(kafka_broker.url(topic, client), partitions=3) as kafka:
        summary = import_cloudtrail(trail, Producer(kafka, batch_size=500), jobs=2)
        got = _by_key(kafka)
    assert summary.events_total == embedded.events_total > 500
    assert summary.events_emitted == embedded.events_emitted
    assert got == expected
