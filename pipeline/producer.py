"""The producer API: how the simulator, the CloudTrail importer and applications emit events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.events import Event, EventSource
from pipeline.log.base import EventLog
from pipeline.log.packed import PackedMessages

# An event as the log takes it: (partition key, single-object Avro message, event type).
Message = tuple[bytes, bytes, str]


class Producer:
    """Buffers events and appends them to a log in batches, secrets redacted.

    >>> with Producer(open_log("file:./data/log")) as producer:   # doctest: +SKIP
    ...     producer.emit(RoleAssumed(...))
    """

    def __init__(self, log: EventLog, *, batch_size: int = 2000) -> None:
        # Imported here: the CloudTrail package imports this module.
        from pipeline.cloudtrail.redact import redact_event

        self._redact = redact_event
        self.log = log
        self.batch_size = batch_size
        self._buffer: list[Event] = []
        self._encoded: list[Message] = []
        self._packed: PackedMessages | None = None
        self.emitted = 0

    def emit(self, event: Event) -> None:
        if self._encoded:
            self._flush_encoded()
        if self._packed:
            self._flush_packed()
        self._buffer.append(event)
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def emit_encoded(self, messages: Sequence[Message]) -> None:
        """Events already encoded, in order, after those emitted before (no redaction:
        the CloudTrail importer encodes events it built from records it redacted)."""
        if self._buffer:
            self._flush_events()
        if self._packed:
            self._flush_packed()
        self._encoded.extend(messages)
        if len(self._encoded) >= self.batch_size:
            self._flush_encoded()

    def emit_packed(self, packed: PackedMessages) -> None:
        """Like `emit_encoded`, for messages packed by an import worker (`packed` is the
        producer's from then on: later ones may be joined to it)."""
        if self._buffer:
            self._flush_events()
        if self._encoded:
            self._flush_encoded()
        if self._packed is not None and self._packed.partitions != packed.partitions:
            self._flush_packed()
        if self._packed is None:
            self._packed = packed
        else:
            self._packed.extend(packed)
        if len(self._packed) >= self.batch_size:
            self._flush_packed()

    def emit_many(self, events: Iterable[Event]) -> int:
        before = self.emitted + self._pending()
        for event in events:
            self.emit(event)
        return self.emitted + self._pending() - before

    def flush(self) -> None:
        # At most one of the three holds messages: each emit flushes the other two first.
        self._flush_events()
        self._flush_encoded()
        self._flush_packed()

    def _pending(self) -> int:
        return len(self._buffer) + len(self._encoded) + len(self._packed or ())

    def _flush_encoded(self) -> None:
        if self._encoded:
            self.log.append_encoded(self._encoded)
            self.emitted += len(self._encoded)
            self._encoded = []

    def _flush_packed(self) -> None:
        if self._packed is not None:
            packed, self._packed = self._packed, None
            self.log.append_packed(packed)
            self.emitted += len(packed)

    def _flush_events(self) -> None:
        if self._buffer:
            # No value that looks like a session token or a secret key reaches the log
            # (see redact.py). CloudTrail events are not checked again: the importer built
            # them from records it redacted whole, and it is the hot path (the check costs
            # a few microseconds an event).
            self.log.append(
                [
                    event if event.source is EventSource.CLOUDTRAIL else self._redact(event)
                    for event in self._buffer
                ]
            )
            self.emitted += len(self._buffer)
            self._buffer = []

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.flush()
