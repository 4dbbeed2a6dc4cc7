"""Event log backends behind one interface, chosen by a URL.

file:./data/log                         the embedded log (default; no server)
./data/log                              the same
kafka://127.0.0.1:9092/rolecall.events  Apache Kafka, through confluent-kafka (librdkafka)
kafka://127.0.0.1:9092/rolecall.events?client=kafka-python
                                        the same topic through kafka-python
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

from pipeline.codec import EventCodec
from pipeline.errors import InputError
from pipeline.log.base import DamagedSpan, EventLog, LogConsumer, LogItem, LogRecord
from pipeline.log.filelog import FileLog
from pipeline.log.kafkalog import CLIENTS, DEFAULT_CLIENT, DEFAULT_TOPIC, KafkaLog

DEFAULT_LOG_URL = "file:./data/log"

__all__ = [
    "DEFAULT_LOG_URL",
    "DamagedSpan",
    "EventLog",
    "FileLog",
    "KafkaLog",
    "LogConsumer",
    "LogItem",
    "LogRecord",
    "open_log",
]


def open_log(
    url: str, *, partitions: int | None = None, codec: EventCodec | None = None, create: bool = True
) -> EventLog:
    """Open the log a URL names (see the module doc for the forms)."""
    if url.startswith("kafka://"):
        parsed = urlparse(url)
        try:
            port = parsed.port  # raises on a port that is not a number in 0..65535
        except ValueError:
            port = None
        if not parsed.hostname or not port:
            raise InputError(
                f"bad Kafka log URL {url!r}: want kafka://HOST:PORT/TOPIC, PORT in 1..65535"
            )
        topic = parsed.path.lstrip("/") or DEFAULT_TOPIC
        return KafkaLog(
            f"{parsed.hostname}:{port}",
            topic,
            partitions=partitions,
            create=create,
            codec=codec,
            client=_kafka_client(url, parsed.query),
        )
    if "://" in url:
        raise InputError(f"unknown log URL {url!r}: use file:DIR or kafka://HOST:PORT/TOPIC")
    path = url[len("file:") :] if url.startswith("file:") else url
    if not path:
        raise InputError("empty log path")
    return FileLog(os.path.expanduser(path), partitions=partitions or 4, codec=codec, create=create)


def _kafka_client(url: str, query: str) -> str:
    """The client a Kafka URL asks for (`?client=kafka-python`); confluent-kafka by default."""
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        options = {"": [query]}
    unknown = sorted(set(options) - {"client"})
    clients = options.get("client", [DEFAULT_CLIENT])
    if unknown or len(clients) != 1 or clients[0] not in CLIENTS:
        raise InputError(
            f"bad Kafka log URL {url!r}: its only option is ?client="
            f"{' or ?client='.join(CLIENTS)} (default {DEFAULT_CLIENT})"
        )
    return clients[0]
