"""Apache Kafka as the event log.

One topic holds the events: key = the event's partition key (its session), value = the
Avro single-object message, the event type in an `event_type` header. The producer is
idempotent with `acks=all`, so a retried send never duplicates or reorders a record.

Consumers join a group but never trust Kafka's committed offsets: on every assignment
they seek to the positions the caller keeps (the materializer's DuckDB). Committed
offsets are written only so that the usual lag tooling can watch the group.

Two clients, which write the same records to the same partitions and read them the same
way, so a topic and a store may move from one to the other: confluent-kafka (librdkafka,
in C: `pipeline.log.kafka_confluent`), the default since it measured at about twice
kafka-python's end-to-end rate (BENCHMARKS.md), and kafka-python (pure Python, here), kept
as `?client=kafka-python` in the log URL. Topics and metadata go through kafka-python's
admin client for both.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from pipeline.codec import EventCodec
from pipeline.errors import InputError, LogError
from pipeline.log.base import EventLog, LogItem
from pipeline.log.kafka_contract import EVENT_TYPE_HEADER, GroupMember

if TYPE_CHECKING:
    from pipeline.log.kafka_confluent import ConfluentProducer

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "rolecall.events"
DEFAULT_PARTITIONS = 4

# Chosen by measurement with kafka-python (bench/kafka.py; best of 3 x 20,000 simulated
# events to the local broker, acks=all, idempotent): linger 0 ms / 16 KiB 8.3k/s, 5 ms /
# 64 KiB 10.0k/s, 20 ms / 256 KiB 11.5k/s; gzip cost 15-20% (the events are small and CPU
# is the limit). librdkafka takes the same settings; they were not swept for it.
PRODUCER_SETTINGS: dict[str, Any] = {
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "compression_type": None,
}

# How long a consumer waits for an unreachable broker before giving up.
DEFAULT_UNAVAILABLE_TIMEOUT = 600.0

KAFKA_PYTHON = "kafka-python"
CONFLUENT = "confluent"
CLIENTS = (CONFLUENT, KAFKA_PYTHON)
DEFAULT_CLIENT = CONFLUENT


class KafkaLog(EventLog):
    """A Kafka topic as rolecall's event log."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = DEFAULT_TOPIC,
        *,
        partitions: int | None = None,
        create: bool = True,
        codec: EventCodec | None = None,
        producer_settings: Mapping[str, Any] | None = None,
        unavailable_timeout: float = DEFAULT_UNAVAILABLE_TIMEOUT,
        client: str = DEFAULT_CLIENT,
    ) -> None:
        """`client`: "confluent" (confluent-kafka, the default) or "kafka-python"."""
        super().__init__(codec)
        if client not in CLIENTS:
            raise InputError(f"unknown Kafka client {client!r}: choose {' or '.join(CLIENTS)}")
        if client == CONFLUENT:
            from pipeline.log.kafka_confluent import require_confluent

            require_confluent()
        self.client = client
        self.bootstrap = bootstrap
        self.topic = topic
        self.name = f"kafka:{topic}"
        self.producer_settings = dict(PRODUCER_SETTINGS, **(producer_settings or {}))
        self.unavailable_timeout = unavailable_timeout
        self._producer: KafkaProducer | None = None
        self._confluent_producer: ConfluentProducer | None = None
        self._meta: KafkaConsumer | None = None
        self._ensure_topic(partitions or DEFAULT_PARTITIONS, create)

    def _where(self, partition: int | None = None, offset: int | None = None) -> str:
        where = f"Kafka topic {self.topic} at {self.bootstrap}"
        if partition is not None:
            where += f" partition {partition}"
        if offset is not None:
            where += f" offset {offset}"
        return where

    def _check_reachable(self) -> None:
        """Fail with one clear line when nothing listens (kafka-python would leak a socket)."""
        host, _, port = self.bootstrap.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except (OSError, ValueError) as exc:
            raise LogError(f"cannot reach {self._where()}: {exc}") from exc

    def _ensure_topic(self, partitions: int, create: bool) -> None:
        self._check_reachable()
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="rolecall-admin",
                bootstrap_timeout_ms=15_000,
            )
        except KafkaError as exc:
            raise LogError(f"cannot reach {self._where()}: {exc!r}") from exc
        try:
            if self.topic in admin.list_topics():
                return
            if not create:
                raise LogError(f"{self._where()} does not exist (run `rolecall simulate` first)")
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                admin.create_topics(
                    [NewTopic(self.topic, num_partitions=partitions, replication_factor=1)]
                )
        except KafkaError as exc:
            raise LogError(f"cannot create {self._where()}: {exc!r}") from exc
        finally:
            admin.close()

    # -- writing ---------------------------------------------------------------------

    def _producer_client(self) -> KafkaProducer:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id="rolecall-producer",
                    acks="all",
                    enable_idempotence=True,
                    max_in_flight_requests_per_connection=5,
                    **self.producer_settings,
                )
            except KafkaError as exc:
                raise LogError(f"cannot produce to {self._where()}: {exc!r}") from exc
        return self._producer

    def append_encoded(self, messages: Sequence[tuple[bytes | None, bytes, str]]) -> None:
        if self.client == CONFLUENT:
            if self._confluent_producer is None:
                from pipeline.log.kafka_confluent import ConfluentProducer

                self._confluent_producer = ConfluentProducer(self, self.producer_settings)
            self._confluent_producer.append(messages)
            return
        producer = self._producer_client()
        failures: list[BaseException] = []
        try:
            for key, value, event_type in messages:
                future = producer.send(
                    self.topic,
                    key=key,
                    value=value,
                    headers=[(EVENT_TYPE_HEADER, event_type.encode("utf-8"))],
                )
                future.add_errback(failures.append)
            producer.flush()
        except KafkaError as exc:
            raise LogError(f"cannot append to {self._where()}: {exc!r}") from exc
        if failures:
            raise LogError(
                f"{len(failures)} of {len(messages)} records not appended to {self._where()}: "
                f"{failures[0]!r}"
            ) from failures[0]

    # -- reading ---------------------------------------------------------------------

    def _metadata_client(self) -> KafkaConsumer:
        if self._meta is None:
            try:
                self._meta = KafkaConsumer(
                    bootstrap_servers=self.bootstrap, client_id="rolecall-metadata"
                )
            except KafkaError as exc:
                raise LogError(f"cannot reach {self._where()}: {exc!r}") from exc
        return self._meta

    def partition_count(self) -> int:
        try:
            parts = self._metadata_client().partitions_for_topic(self.topic)
        except KafkaError as exc:
            raise LogError(f"cannot read the partitions of {self._where()}: {exc!r}") from exc
        if not parts:
            raise LogError(f"{self._where()} has no partitions (does it exist?)")
        return len(parts)

    def end_offsets(self) -> dict[int, int]:
        tps = [TopicPartition(self.topic, p) for p in range(self.partition_count())]
        try:
            ends = self._metadata_client().end_offsets(tps)
        except KafkaError as exc:
            raise LogError(f"cannot read the end offsets of {self._where()}: {exc!r}") from exc
        return {tp.partition: int(o) for tp, o in ends.items()}

    def consumer(self, *, group: str = "rolecall-materializer") -> GroupMember:
        if self.client == CONFLUENT:
            from pipeline.log.kafka_confluent import ConfluentLogConsumer

            return ConfluentLogConsumer(self, group)
        return KafkaLogConsumer(self, group)

    def close(self) -> None:
        if self._confluent_producer is not None:
            self._confluent_producer.close()
            self._confluent_producer = None
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        if self._meta is not None:
            self._meta.close()
            self._meta = None


class _Resume(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks every newly assigned partition to the caller's stored position."""

    def __init__(self, owner: KafkaLogConsumer) -> None:
        self.owner = owner

    # kafka-python logs and swallows a listener's exception, and would then read from the
    # committed offsets: keep the failure and raise it from the next poll instead.
    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        try:
            self.owner._revoked([tp.partition for tp in revoked])
        except Exception as exc:
            self.owner._failure = exc

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        try:
            self.owner._assigned([tp.partition for tp in assigned])
        except Exception as exc:
            self.owner._failure = exc


class KafkaLogConsumer(GroupMember):
    """kafka-python's group member (`?client=kafka-python`)."""

    def __init__(self, log: KafkaLog, group: str) -> None:
        super().__init__(log, group)
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=log.bootstrap,
                group_id=group,
                client_id=f"rolecall-{group}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=4 * 1024 * 1024,
                reconnect_backoff_max_ms=2000,
                # A crashed member's partitions move on after 10 s, not the 45 s default.
                session_timeout_ms=10_000,
                heartbeat_interval_ms=2_000,
            )
        except KafkaError as exc:
            raise LogError(f"cannot join group {group} on {log._where()}: {exc!r}") from exc

    def _subscribe(self) -> None:
        self._consumer.subscribe(topics=[self.log.topic], listener=_Resume(self))

    def _assigned(self, partitions: list[int]) -> None:
        for p, offset in self._resume(partitions).items():
            self._consumer.seek(TopicPartition(self.log.topic, p), offset)

    def poll(self, max_records: int, timeout: float = 1.0) -> list[LogItem]:
        try:
            polled = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
            # Fill the batch from what is already fetched: one DuckDB transaction per
            # batch costs the same for 500 records as for 20,000.
            got = sum(len(r) for r in polled.values())
            while polled and got < max_records:
                more = self._consumer.poll(timeout_ms=0, max_records=max_records - got)
                if not more:
                    break
                for tp, records in more.items():
                    polled.setdefault(tp, []).extend(records)
                    got += len(records)
        except KafkaError as exc:
            # A broker that went away: wait (the client reconnects), up to a limit.
            self._wait_for_broker(exc)
            time.sleep(min(timeout, 1.0))
            return []
        self._raise_failure()
        return self._items(
            (tp.partition, r.offset, r.key, r.value, r.timestamp)
            for tp, records in polled.items()
            for r in records
        )

    def caught_up(self) -> bool:
        if not self._assigned_once:
            return False
        assigned = self._consumer.assignment()
        if not assigned:
            return True  # a group member with nothing to read (more members than partitions)
        try:
            ends = self._consumer.end_offsets(list(assigned), timeout_ms=5_000)
            positions = {tp: self._consumer.position(tp, timeout_ms=5_000) for tp in assigned}
        except KafkaError as exc:
            self._wait_for_broker(exc)
            return False
        self._unreachable_since = None
        return all(positions[tp] >= ends[tp] for tp in assigned)

    def commit(self, positions: Mapping[int, int]) -> None:
        """Commit offsets for lag monitoring only; resuming never reads them."""
        assigned = {tp.partition for tp in self._consumer.assignment()}
        offsets = {
            TopicPartition(self.log.topic, p): OffsetAndMetadata(o, "", -1)
            for p, o in positions.items()
            if p in assigned
        }
        if not offsets:
            return
        try:
            self._consumer.commit_async(offsets=offsets)
        except KafkaError as exc:  # lag monitoring is best effort
            log.warning("%s: committing offsets for monitoring failed: %r", self.log.name, exc)

    def close(self) -> None:
        try:
            self._consumer.close(autocommit=False)
        except KafkaError as exc:
            log.warning("%s: closing the consumer: %r", self.log.name, exc)
