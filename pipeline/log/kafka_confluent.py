"""confluent-kafka (librdkafka) as the Kafka log's client, the default.

kafka-python builds and parses every record in Python; librdkafka does it in C.
BENCHMARKS.md measured it end to end at about twice kafka-python's rate, which is why it
became the default; kafka-python stays as `?client=kafka-python` in the log URL.

It keeps kafka-python's contract exactly: `acks=all` and idempotence, the same header,
the same partition for a key (librdkafka's `murmur2_random` is the Java client's and
kafka-python's murmur2), and a consumer that reads only from the caller's positions.
A topic written by one client is read the same by the other, and a store's positions
stay valid when the client changes (the log's name does not depend on it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.errors import InputError, LogError
from pipeline.log.base import LogItem
from pipeline.log.kafka_contract import EVENT_TYPE_HEADER, GroupMember, KafkaTopic

log = logging.getLogger(__name__)

# A send fails after 2 minutes, as kafka-python's (librdkafka would wait 5). Linger, batch
# size and compression come from PRODUCER_SETTINGS, as for kafka-python.
DELIVERY_TIMEOUT_MS = 120_000
# While the broker is unreachable, check this often whether it is back.
REACHABLE_PROBE_SECONDS = 2.0


def require_confluent() -> None:
    """Fail with one clear line when confluent-kafka is not installed."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "the Kafka log's default client needs the confluent-kafka package, a dependency "
            "of rolecall: pip install 'confluent-kafka>=2.3,<3' (or add ?client=kafka-python "
            "to the kafka:// URL)"
        ) from exc


def _unreachable(code: int) -> bool:
    from confluent_kafka import KafkaError

    return code in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE)


class _ClientLog:
    """librdkafka's own log lines, at debug level (`rolecall -vv` shows them).

    While a broker is away it logs a line per connection attempt, about 18 a second here;
    rolecall says so once, and gives up with one clear error after its limit (errors and
    fatal states reach it through `error_cb`, not through these lines).
    """

    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(f"{__name__}.{name}")

    def log(self, level: int, message: str, *args: object) -> None:
        self._log.debug(message, *args)


class ConfluentProducer:
    """Appends encoded messages with librdkafka, as KafkaLog's kafka-python producer does."""

    def __init__(self, kafka_log: KafkaTopic, settings: Mapping[str, Any]) -> None:
        from confluent_kafka import KafkaException, Producer

        self.log = kafka_log
        try:
            self._producer = Producer(
                {
                    "bootstrap.servers": kafka_log.bootstrap,
                    "client.id": "rolecall-producer",
                    "acks": "all",
                    "enable.idempotence": True,
                    "max.in.flight.requests.per.connection": 5,
                    "linger.ms": settings["linger_ms"],
                    "batch.size": settings["batch_size"],
                    "compression.type": settings["compression_type"] or "none",
                    "partitioner": "murmur2_random",  # kafka-python's key -> partition
                    "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                    # Only failures call back: a Python call per delivered record cost more
                    # than the rest of the send.
                    "delivery.report.only.error": True,
                    "logger": _ClientLog("producer"),
                }
            )
        except KafkaException as exc:
            raise LogError(f"cannot produce to {kafka_log._where()}: {exc!r}") from exc

    def append(self, messages: Sequence[tuple[bytes | None, bytes, str]]) -> None:
        from confluent_kafka import KafkaException

        failures: list[Any] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(error)

        producer, topic = self._producer, self.log.topic
        headers: dict[str, list[tuple[str, str | bytes | None]]] = {}
        try:
            for key, value, event_type in messages:
                header = headers.get(event_type)
                if header is None:
                    header = headers[event_type] = [(EVENT_TYPE_HEADER, event_type.encode())]
                while True:
                    try:
                        producer.produce(
                            topic, value=value, key=key, headers=header, on_delivery=delivered
                        )
                        break
                    except BufferError:  # the local queue is full: let it drain
                        producer.poll(0.05)
            left = producer.flush()
        except KafkaException as exc:
            raise LogError(f"cannot append to {self.log._where()}: {exc!r}") from exc
        if left or failures:
            first = failures[0] if failures else f"{left} still queued"
            raise LogError(
                f"{len(failures) + left} of {len(messages)} records not appended to "
                f"{self.log._where()}: {first}"
            )

    def close(self) -> None:
        self._producer.flush()


class ConfluentLogConsumer(GroupMember):
    """librdkafka's group member: the same resuming and gap rules as kafka-python's."""

    def __init__(self, kafka_log: KafkaTopic, group: str) -> None:
        super().__init__(kafka_log, group)
        from confluent_kafka import Consumer, KafkaException

        self._closing = False
        self._last_probe = 0.0
        try:
            self._consumer = Consumer(
                {
                    "bootstrap.servers": kafka_log.bootstrap,
                    "group.id": group,
                    "client.id": f"rolecall-{group}",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                    "max.partition.fetch.bytes": 4 * 1024 * 1024,
                    "reconnect.backoff.max.ms": 2000,
                    # A crashed member's partitions move on after 10 s, not the 45 s default.
                    "session.timeout.ms": 10_000,
                    "heartbeat.interval.ms": 2_000,
                    "error_cb": self._on_error,
                    "logger": _ClientLog("consumer"),
                }
            )
        except KafkaException as exc:
            raise LogError(f"cannot join group {group} on {kafka_log._where()}: {exc!r}") from exc

    def _subscribe(self) -> None:
        self._consumer.subscribe(
            [self.log.topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    # Exceptions are kept and raised from the next poll, as with kafka-python: a
    # callback's own exception would surface from librdkafka's poll at a place of its choosing.
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        if self._closing:
            # close() serves an assignment still pending (librdkafka calls back from
            # consumer_close, after it may already have left the group): nothing will be
            # read, and opening the partitions' files would wait for their next owner.
            consumer.assign([])
            return
        try:
            offsets = self._resume([tp.partition for tp in partitions])
            for tp in partitions:
                tp.offset = offsets[tp.partition]
            # Assigned with their offsets: nothing is ever read from the committed ones.
            consumer.assign(partitions)
        except Exception as exc:
            self._failure = exc
            consumer.assign([])  # confluent-kafka would otherwise assign them itself

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        if self._closing:
            return  # kafka-python does not hand partitions back on close either
        try:
            self._revoked([tp.partition for tp in partitions])
        except Exception as exc:
            self._failure = exc

    def _on_error(self, error: Any) -> None:
        if _unreachable(error.code()):
            if self._unreachable_since is None:
                self._unreachable_since = time.monotonic()
                log.warning("%s unreachable, waiting for it: %s", self.log._where(), error)
        elif error.fatal():
            self._failure = LogError(f"{self.log._where()}: {error}")
        else:  # the client retries it
            log.warning("%s: %s", self.log._where(), error)

    def _still_unreachable(self) -> None:
        """While the broker is away: see now and then whether it is back (librdkafka says
        when it goes, not when it returns), and give up after the limit."""
        from confluent_kafka import KafkaException

        now = time.monotonic()
        if now - self._last_probe < REACHABLE_PROBE_SECONDS:
            return
        self._last_probe = now
        try:
            self._consumer.list_topics(self.log.topic, timeout=1.0)
        except KafkaException as exc:
            self._wait_for_broker(exc)  # raises once the limit is passed
        else:
            self._unreachable_since = None

    def poll(self, max_records: int, timeout: float = 1.0) -> list[LogItem]:
        from confluent_kafka import KafkaException

        try:
            messages = self._consumer.consume(num_messages=max_records, timeout=timeout)
            # Fill the batch from what is already fetched (as kafka-python's consumer).
            while messages and len(messages) < max_records:
                more = self._consumer.consume(num_messages=max_records - len(messages), timeout=0)
                if not more:
                    break
                messages.extend(more)
        except KafkaException as exc:
            self._wait_for_broker(exc)
            return []
        self._raise_failure()
        if not messages and self._unreachable_since is not None:
            self._still_unreachable()
            return []
        if messages:
            self._unreachable_since = None
        # Records only, whose partition and offset are always set.
        records: list[Any] = messages
        if any(m.error() is not None for m in messages):
            records = self._without_errors(messages)
        return self._items(
            (m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1]) for m in records
        )

    def _without_errors(self, messages: list[Any]) -> list[Any]:
        """The records of a poll that also brought errors: a retried one is waited for, any
        other stops the run."""
        from confluent_kafka import KafkaError

        kept = []
        for m in messages:
            error = m.error()
            if error is None:
                kept.append(m)
            elif error.code() == KafkaError._PARTITION_EOF:
                continue
            elif _unreachable(error.code()) or error.retriable():
                self._on_error(error)  # the client retries: wait for it, up to the limit
            else:
                raise LogError(f"{self.log._where(m.partition())}: {error}")
        return kept

    def caught_up(self) -> bool:
        from confluent_kafka import KafkaException

        if not self._assigned_once:
            return False
        assigned = self._consumer.assignment()
        if not assigned:
            return True  # a group member with nothing to read (more members than partitions)
        # The ends the last fetches brought: librdkafka keeps fetching an assigned partition,
        # so they are at most a fetch wait (500 ms) old. Asking the broker instead waits
        # behind that fetch, about half a second a partition, and the materializer asks
        # after every short poll. Only a partition not yet fetched is asked for.
        try:
            ends = {
                tp.partition: self._consumer.get_watermark_offsets(tp, 5.0, True)[1]
                for tp in assigned
            }
            for tp in assigned:
                if ends[tp.partition] < 0:
                    live = self._consumer.get_watermark_offsets(tp, 5.0, False)
                    if live is None:
                        return False  # no answer in time: not known to be caught up
                    ends[tp.partition] = live[1]
        except KafkaException as exc:
            self._wait_for_broker(exc)
            return False
        self._unreachable_since = None
        # What this member handed out, not librdkafka's position: it may have fetched ahead.
        return all(self._expected.get(p, 0) >= end for p, end in ends.items())

    def commit(self, positions: Mapping[int, int]) -> None:
        """Commit offsets for lag monitoring only; resuming never reads them."""
        from confluent_kafka import KafkaException, TopicPartition

        assigned = {tp.partition for tp in self._consumer.assignment()}
        offsets = [
            TopicPartition(self.log.topic, p, o) for p, o in positions.items() if p in assigned
        ]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # lag monitoring is best effort
            log.warning("%s: committing offsets for monitoring failed: %r", self.log.name, exc)

    def close(self) -> None:
        from confluent_kafka import KafkaException

        self._closing = True
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("%s: closing the consumer: %r", self.log.name, exc)
