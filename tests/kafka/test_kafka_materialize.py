"""Exactly-once materialization from the real Kafka broker.

Every test puts simulated events on a fresh topic and checks the materialized state
equals what the embedded log gives for the same events: nothing lost, nothing twice,
whatever happens on the way (a SIGKILL, a broker restart, a rebalance).
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

from pipeline.log import KafkaLog, open_log
from pipeline.materializer import materialize
from pipeline.queries import Queries
from pipeline.store import Store
from pipeline.store.directory import partition_files, positions_of
from tests.kafka.broker import Broker
from tests.kafka.helpers import (
    committed,
    embedded_state,
    finish,
    members,
    records_read,
    resolved,
    simulated,
    spawn_materialize,
    state_of_con,
    stop_quietly,
    wait_until,
)

pytestmark = pytest.mark.kafka


def _produce(
    broker: Broker, topic: str, events: int, client: str, partitions: int = 4
) -> dict[int, int]:
    with open_log(broker.url(topic, client), partitions=partitions) as log:
        log.append(list(simulated(events)))
        return log.end_offsets()


def _group() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def test_100k_events_give_the_embedded_logs_state(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    events = simulated(100_000)
    assert len(events) == 100_000
    ends = _produce(kafka_broker, topic, 100_000, client)
    assert sum(ends.values()) == 100_000
    log = open_log(kafka_broker.url(topic, client), create=False)
    with Store(tmp_path / "kafka.duckdb") as store:
        stats = materialize(log, store, batch_size=10_000, group=_group())
        assert store.writer.positions(log.name) == ends
        state = state_of_con(store.con)
    log.close()
    assert stats.read == 100_000 and stats.dead_letters == 0
    assert state == embedded_state(100_000)


def test_sigkill_mid_way_then_restart_loses_nothing_and_applies_nothing_twice(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    n = 20_000
    ends = _produce(kafka_broker, topic, n, client)
    db, group, url = tmp_path / "state.duckdb", _group(), kafka_broker.url(topic, client)
    proc = spawn_materialize(url, db, group, batch_size=200)
    try:
        wait_until("a first committed batch", lambda: committed(kafka_broker.bootstrap, group) > 0)
        proc.send_signal(signal.SIGKILL)
    finally:
        stop_quietly(proc)
    assert proc.returncode == -signal.SIGKILL
    with Store(db) as store:
        consumed_before = sum(store.writer.positions(f"kafka:{topic}").values())
    assert 0 < consumed_before < n, "the kill should land in the middle"
    finish(spawn_materialize(url, db, group, batch_size=5000))
    with Store(db, read_only=True) as store:
        assert store.writer.positions(f"kafka:{topic}") == ends
        assert store.con.execute("SELECT count(*) FROM events").fetchone() == (n,)
        state = state_of_con(store.con)
    assert state == embedded_state(n)


def test_broker_restart_mid_way_materializer_waits_and_finishes(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    n, events = 20_000, simulated(20_000)
    db, group, url = tmp_path / "state.duckdb", _group(), kafka_broker.url(topic, client)
    with open_log(url, partitions=4) as log:
        log.append(list(events[: n // 2]))
    proc = spawn_materialize(url, db, group, follow=True, batch_size=200)
    try:
        wait_until("a first committed batch", lambda: committed(kafka_broker.bootstrap, group) > 0)
        stopped = kafka_broker.run("stop", timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        time.sleep(2)
        assert proc.poll() is None, "the materializer should wait for the broker"
        kafka_broker.start()
        # the second half only arrives after the restart: it must reconnect to see it
        with open_log(url, create=False) as log:
            log.append(list(events[n // 2 :]))
            ends = log.end_offsets()
        wait_until(
            "everything consumed after the restart",
            lambda: committed(kafka_broker.bootstrap, group) == n,
            timeout=180,
        )
        proc.send_signal(signal.SIGTERM)
        assert records_read(finish(proc, timeout=60)) == n  # nothing read twice
    finally:
        kafka_broker.start()  # idempotent: the broker runs for the next tests
        stop_quietly(proc)
    with Store(db, read_only=True) as store:
        assert store.writer.positions(f"kafka:{topic}") == ends
        state = state_of_con(store.con)
    assert state == embedded_state(n)


def test_two_materializers_in_one_group_with_a_rebalance(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    n = 30_000
    ends = _produce(kafka_broker, topic, n, client, partitions=6)
    parts, group, url = tmp_path / "parts", _group(), kafka_broker.url(topic, client)
    first = spawn_materialize(url, f"{parts}/", group, follow=True, batch_size=200)
    second = spawn_materialize(url, f"{parts}/", group, follow=True, batch_size=200)
    try:
        wait_until("two group members", lambda: members(kafka_broker.bootstrap, group) == 2)
        wait_until(
            "progress by the group", lambda: committed(kafka_broker.bootstrap, group) > 2_000
        )
        first.send_signal(signal.SIGTERM)  # a rebalance: its partitions move to the other
        first_read = records_read(finish(first, timeout=60))
        wait_until(
            "the remaining materializer to consume everything",
            lambda: committed(kafka_broker.bootstrap, group) == n,
            timeout=180,
        )
        second.send_signal(signal.SIGTERM)
        second_read = records_read(finish(second, timeout=60))
    finally:
        stop_quietly(first)
        stop_quietly(second)
    # the survivor resumed the handed-over partitions from their stored positions
    assert first_read + second_read == n and second_read > 0
    assert sorted(partition_files(parts)) == list(range(6))
    assert positions_of(parts, f"kafka:{topic}") == ends
    q = Queries.open(parts)
    try:
        state = state_of_con(q.con, per_file=True)
        state["resolved"] = resolved(q)  # chains across the files, completed when read
        assert q.con.execute("SELECT count(*) FROM events").fetchone() == (n,)
    finally:
        q.close()
    expected = embedded_state(n, per_file=True)
    for table in expected:  # table by table, no diff: pytest's diff of 30k rows takes minutes
        same = state[table] == expected[table]
        assert same, f"{table}: {len(state[table])} rows, expected {len(expected[table])}"


def test_a_message_that_does_not_decode_is_a_dead_letter(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    log = open_log(kafka_broker.url(topic, client), partitions=1)
    assert isinstance(log, KafkaLog)
    good = list(simulated(50))
    log.append(good[:20])
    log.append_encoded([(b"ASIAGARBAGE", b"\xc3\x01not avro at all", "RoleAssumed")])
    log.append(good[20:])
    with Store(tmp_path / "state.duckdb") as store:
        stats = materialize(log, store, group=_group())
        rows = store.con.execute(
            'SELECT log_name, partition, "offset", end_offset, reason FROM dead_letters'
        ).fetchall()
        applied = store.con.execute("SELECT count(*) FROM events").fetchone()
    log.close()
    assert stats.dead_letters == 1 and applied == (50,)
    [(log_name, partition, offset, end_offset, reason)] = rows
    assert (log_name, partition, offset, end_offset) == (f"kafka:{topic}", 0, 20, 21)
    assert reason


def test_sigterm_stops_a_follower_after_its_last_batch(
    kafka_broker: Broker, topic: str, tmp_path: Path, client: str
) -> None:
    url, db, group = kafka_broker.url(topic, client), tmp_path / "state.duckdb", _group()
    with open_log(url, partitions=4):
        pass
    proc = spawn_materialize(url, db, group, follow=True, batch_size=300)
    ends = _produce(kafka_broker, topic, 5_000, client)
    try:
        wait_until("everything consumed", lambda: committed(kafka_broker.bootstrap, group) == 5_000)
        proc.send_signal(signal.SIGTERM)
        err = finish(proc, timeout=60)
    finally:
        stop_quietly(proc)
    assert "materialized 5,000 records" in err
    with Store(db, read_only=True) as store:
        assert store.writer.positions(f"kafka:{topic}") == ends
        assert store.con.execute("SELECT count(*) FROM events").fetchone() == (5_000,)
