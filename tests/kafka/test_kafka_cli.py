"""The CLI on Kafka URLs: simulate onto a topic, materialize into a directory store, query it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.log import open_log
from tests.kafka.broker import Broker

pytestmark = pytest.mark.kafka


def test_simulate_materialize_and_query_through_kafka_urls(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    url, parts, single = (
        kafka_broker.url(topic, client),
        f"{tmp_path}/parts/",
        tmp_path / "one.duckdb",
    )
    r = CliRunner().invoke(main, ["simulate", "--events", "3000", "--log", url])
    assert r.exit_code == 0, r.output
    with open_log(url, create=False) as log:
        assert sum(log.end_offsets().values()) == 3000
    for db, group in ((parts, "cli-a"), (str(single), "cli-b")):
        r = CliRunner().invoke(
            main, ["materialize", "--log", url, "--db", db, "--group", f"{group}-{topic}"]
        )
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in Path(parts).iterdir()) == [
        f"partition-{p}.duckdb" for p in range(4)
    ]
    answers = []
    for db in (parts, str(single)):
        r = CliRunner().invoke(
            main, ["who-held", "--at", "2026-01-05T12:00:00Z", "--db", db, "--json"]
        )
        assert r.exit_code == 0, r.output
        answers.append(json.loads(r.output))
    assert answers[0] and answers[0] == answers[1]


def test_a_missing_topic_or_broker_is_one_clear_line(tmp_path: Path, kafka_broker: Broker) -> None:
    db = str(tmp_path / "x.duckdb")
    r = CliRunner().invoke(
        main, ["materialize", "--log", kafka_broker.url("no.such.topic"), "--db", db]
    )
    assert r.exit_code == 2 and "does not exist" in r.output
    r = CliRunner().invoke(main, ["materialize", "--log", "kafka://127.0.0.1/t", "--db", db])
    assert r.exit_code == 2 and "kafka://HOST:PORT/TOPIC" in r.output
    url = f"{kafka_broker.url('no.such.topic', 'confluent')}&client=kafka-python"  # two clients
    r = CliRunner().invoke(main, ["materialize", "--log", url, "--db", db])
    assert r.exit_code == 2 and "its only option is ?client=" in r.output
    assert "Traceback" not in r.output
