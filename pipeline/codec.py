"""Avro single-object encoding of events (the one place that knows Avro).

A message is `C3 01`, the writer schema's 8-byte CRC-64-AVRO fingerprint
(little-endian, over the schema's Parsing Canonical Form), then the Avro binary body.
Every message so names its writer schema without a registry service. Old writer
schemas live in `schemas/history/` and are resolved against the current reader schema
by Avro's rules, so a message written before a field was added still decodes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as schema_fingerprint
from fastavro.schema import to_parsing_canonical_form
from pydantic import ValidationError

from pipeline.avrobinary import RecordWriter, Unsupported, record_writer
from pipeline.errors import CorruptMessageError, EventValidationError, UnknownSchemaError
from pipeline.events import EVENT_TYPE_BY_NAME, Event

MAGIC = b"\xc3\x01"
_schemaless_reader = fastavro.schemaless_reader  # looked up once: it runs per message
HEADER_SIZE = 10
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def fingerprint(schema: Mapping[str, Any]) -> bytes:
    """The 8 bytes that follow the marker: CRC-64-AVRO of the canonical form, little-endian.

    fastavro's hex digest is already in that byte order (`tests/test_codec.py` checks it
    against the specification's algorithm for every shipped schema).
    """
    canonical = to_parsing_canonical_form(dict(schema))
    return bytes.fromhex(schema_fingerprint(canonical, "CRC-64-AVRO"))


@dataclass(frozen=True)
class _Writer:
    event_type: str
    parsed: Any
    # The reader schema to resolve against; None when it is the writer schema itself
    # (the current version), which fastavro would otherwise compare on every decode.
    reader: Any = None


def load_schema_file(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


class EventCodec:
    """Encodes events to single-object Avro and decodes them back into models."""

    def __init__(
        self,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        history: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        history = list(history)
        # What built it, so that another process can build it again (`__reduce__`).
        self._built_from = (None if schemas is None else dict(schemas), history)
        if schemas is None:
            schemas = {
                name: load_schema_file(SCHEMA_DIR / f"{name}.avsc") for name in EVENT_TYPE_BY_NAME
            }
            history = [
                *history,
                *(load_schema_file(p) for p in sorted((SCHEMA_DIR / "history").glob("*.avsc"))),
            ]
        self._readers: dict[str, Any] = {}
        self._current_fp: dict[str, bytes] = {}
        self._writers: dict[bytes, _Writer] = {}
        self._fast: dict[str, tuple[bytes, RecordWriter]] = {}
        for name, schema in schemas.items():
            parsed = fastavro.parse_schema(dict(schema), named_schemas={})
            self._readers[name] = parsed
            fp = fingerprint(schema)
            self._current_fp[name] = fp
            fast = record_writer(schema)
            if fast is not None:
                self._fast[name] = (MAGIC + fp, fast)
            self._writers[fp] = _Writer(name, parsed)
        for schema in history:
            name = str(schema["name"])
            if name not in self._readers:
                raise UnknownSchemaError(f"history schema {name!r} has no current version")
            self._writers.setdefault(
                fingerprint(schema),
                _Writer(
                    name,
                    fastavro.parse_schema(dict(schema), named_schemas={}),
                    self._readers[name],
                ),
            )

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as what built it: its parsed schemas and writers are rebuilt on arrival.
        schemas, history = self._built_from
        return (_rebuild_codec, (schemas, history))

    def known_fingerprints(self) -> dict[bytes, str]:
        return {fp: w.event_type for fp, w in self._writers.items()}

    def encode(self, event: Event) -> bytes:
        return self.encode_record(event.event_type, event.model_dump())

    def encode_record(self, event_type: str, record: Mapping[str, Any]) -> bytes:
        """One message from an event's Avro record (what `model_dump()` gives), unchecked:
        the caller vouches for it (the CloudTrail import checks it against the contract).

        Written by `pipeline.avrobinary` when it can (the same bytes, faster), by fastavro
        otherwise."""
        fast = self._fast.get(event_type)
        if fast is not None:
            out = bytearray(fast[0])
            try:
                fast[1](out, record)
            except Unsupported:
                pass
            else:
                return bytes(out)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(self._current_fp[event_type])
        fastavro.schemaless_writer(buf, self._readers[event_type], record)
        return buf.getvalue()

    def decode_record(self, message: bytes) -> tuple[str, dict[str, Any]]:
        """Decode to (event type, Avro record) without model validation."""
        if len(message) < HEADER_SIZE or message[:2] != MAGIC:
            raise CorruptMessageError("not an Avro single-object message (missing C3 01 marker)")
        fp = bytes(message[2:HEADER_SIZE])
        writer = self._writers.get(fp)
        if writer is None:
            raise UnknownSchemaError(f"unknown schema fingerprint {fp.hex()}")
        body = io.BytesIO(message)
        body.seek(HEADER_SIZE)  # not a slice: the body is not copied
        try:
            record = _schemaless_reader(body, writer.parsed, writer.reader)
        except Exception as exc:  # fastavro raises many kinds on bad bytes
            raise CorruptMessageError(
                f"{writer.event_type} body does not decode: {type(exc).__name__}: {exc}"
            ) from exc
        if body.tell() != len(message):
            raise CorruptMessageError(
                f"{writer.event_type} body has {len(message) - body.tell()} trailing bytes"
            )
        if not isinstance(record, dict):
            raise CorruptMessageError(f"{writer.event_type} body is not a record")
        return writer.event_type, record

    def decode(self, message: bytes) -> Event:
        """Decode and validate one message into its event model."""
        return self.decode_full(message)[0]

    def decode_full(self, message: bytes) -> tuple[Event, dict[str, Any]]:
        """The validated event and its plain Avro record (what the store writes as a row)."""
        event_type, record = self.decode_record(message)
        return validate(event_type, record), record


def _rebuild_codec(
    schemas: Mapping[str, Mapping[str, Any]] | None, history: list[Mapping[str, Any]]
) -> EventCodec:
    return (
        default_codec() if schemas is None and not history else EventCodec(schemas, history=history)
    )


def validate(event_type: str, record: Mapping[str, Any]) -> Event:
    """The event model of a decoded record, or `EventValidationError` naming its first
    broken rule (the reason a dead letter gives)."""
    try:
        return EVENT_TYPE_BY_NAME[event_type].model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or event_type
        raise EventValidationError(
            f"invalid {event_type}: {where}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        ) from exc


_DEFAULT: EventCodec | None = None


def default_codec() -> EventCodec:
    """The codec over the schemas shipped in `schemas/` (built once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = EventCodec()
    return _DEFAULT
