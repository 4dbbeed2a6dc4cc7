"""An event's fields -> the message the log takes: (partition key, Avro message, type).

The import's last step for every event. For the codec's own schemas the fields are held
to the contract and written in one pass (`contract.checked_writer`); whatever that pass
does not vouch for takes the general path, `contract.avro_record` (the model decides)
then the codec, so the bytes are those of `codec.encode_record(*avro_record(...))`
whichever path gives them (`tests/test_cloudtrail_contract.py`).
"""

from __future__ import annotations

from pipeline.avrobinary import RecordWriter, Unsupported
from pipeline.cloudtrail.contract import (
    _SHAPES,
    AvroRecord,
    avro_record,
    checked_writer,
    partition_key,
)
from pipeline.codec import (
    MAGIC,
    SCHEMA_DIR,
    EventCodec,
    default_codec,
    fingerprint,
    load_schema_file,
)
from pipeline.events import EVENT_TYPES
from pipeline.producer import Message

__all__ = ["MessageEncoder"]


class MessageEncoder:
    """Makes the log's messages of events from their fields, checked as `avro_record` does."""

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        # class -> (event type, message header, writer); only for the default codec, which
        # encodes with the schemas in `schemas/` (another codec may hold others).
        self._checked: dict[type, tuple[str, bytes, RecordWriter]] = {}
        if codec is default_codec():
            for cls in EVENT_TYPES:
                schema = load_schema_file(SCHEMA_DIR / f"{cls.event_type}.avsc")
                writer = checked_writer(_SHAPES[cls], schema)
                if writer is not None:
                    self._checked[cls] = (cls.event_type, MAGIC + fingerprint(schema), writer)

    @property
    def checked(self) -> frozenset[str]:
        """The event types written by the one-pass checked writer."""
        return frozenset(event_type for event_type, _, _ in self._checked.values())

    def message(self, cls: type, fields: AvroRecord) -> Message:
        """The message of the event of class `cls` with `fields` (envelope included).
        Raises pydantic's `ValidationError` exactly when `cls(**fields)` would."""
        checked = self._checked.get(cls)
        if checked is not None:
            event_type, head, write = checked
            out = bytearray(head)
            try:
                write(out, fields)
            except Unsupported:
                pass
            else:
                # A field the key reads is required or defaults to None: `fields` will do.
                return partition_key(event_type, fields).encode("utf-8"), bytes(out), event_type
        event_type, record = avro_record(cls, fields)
        key = partition_key(event_type, record).encode("utf-8")
        return key, self.codec.encode_record(event_type, record), event_type
