"""Avro single-object encoding: round trips, typed errors, and schema evolution."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.codec import MAGIC, EventCodec, default_codec, fingerprint
from pipeline.errors import CorruptMessageError, EventValidationError, UnknownSchemaError
from pipeline.events import Event, RoleAssumed
from tests import builders as b
from tests.strategies import any_event

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@settings(max_examples=300)
@given(any_event)
def test_round_trip(event: Event) -> None:
    codec = default_codec()
    message = codec.encode(event)
    assert message[:2] == MAGIC
    assert codec.decode(message) == event


_EMPTY64 = 0xC15D213AA4D7A795


def _spec_crc64_avro(data: bytes) -> int:
    """The Avro specification's 64-bit Rabin fingerprint, as the spec writes it."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_fingerprint_is_crc64_avro_of_canonical_form() -> None:
    # The Avro spec's published fingerprint of the schema "int" (Parsing Canonical Form).
    assert _spec_crc64_avro(b'"int"') == 0x7275D51A3F395C8F
    shipped = sorted(SCHEMAS.glob("*.avsc")) + sorted((SCHEMAS / "history").glob("*.avsc"))
    assert len(shipped) >= 7
    for path in shipped:
        schema = json.loads(path.read_text())
        canonical = fastavro.schema.to_parsing_canonical_form(schema)
        expected = _spec_crc64_avro(canonical.encode("utf-8")).to_bytes(8, "little")
        assert fingerprint(schema) == expected, path.name


def test_unknown_fingerprint_is_a_typed_error() -> None:
    message = bytearray(default_codec().encode(b.assumed("ASIA1", "R")))
    message[2:10] = b"\x01" * 8
    with pytest.raises(UnknownSchemaError, match="unknown schema fingerprint 0101"):
        default_codec().decode(bytes(message))


@pytest.mark.parametrize("message", [b"", b"\xc3", b"{}", b"\x00\x01" + b"\x00" * 20])
def test_not_single_object_encoding(message: bytes) -> None:
    with pytest.raises(CorruptMessageError, match="C3 01"):
        default_codec().decode(message)


def test_truncated_body_is_corrupt() -> None:
    message = default_codec().encode(b.assumed("ASIA1", "R", session_policy="x" * 50))
    with pytest.raises(CorruptMessageError, match="RoleAssumed body"):
        default_codec().decode(message[:-20])


def test_trailing_bytes_are_corrupt() -> None:
    message = default_codec().encode(b.assumed("ASIA1", "R"))
    with pytest.raises(CorruptMessageError, match="trailing"):
        default_codec().decode(message + b"\x00\x00")


@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data: bytes) -> None:
    codec = default_codec()
    for message in (data, MAGIC + data, default_codec().encode(b.assumed("K", "R"))[:10] + data):
        with contextlib.suppress(CorruptMessageError, UnknownSchemaError, EventValidationError):
            codec.decode(message)


def test_invalid_event_is_a_validation_error() -> None:
    codec = default_codec()
    good = b.assumed("ASIA1", "R")
    record = good.model_dump()
    record["account_id"] = "not-an-account"
    schema = fastavro.parse_schema(json.loads((SCHEMAS / "RoleAssumed.avsc").read_text()))
    import io

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    message = codec.encode(good)[:10] + buf.getvalue()
    with pytest.raises(EventValidationError, match="account_id"):
        codec.decode(message)


def test_message_from_older_schema_decodes_after_a_field_is_added() -> None:
    current = {p.stem: json.loads(p.read_text()) for p in SCHEMAS.glob("*.avsc")}
    # version 1 of RoleAssumed: without the (later added, defaulted) lifecycle_key field
    old = copy.deepcopy(current["RoleAssumed"])
    old["fields"] = [f for f in old["fields"] if f["name"] != "lifecycle_key"]
    old_codec = EventCodec({**current, "RoleAssumed": old})
    event = b.assumed("ASIAOLD", "Legacy")
    message = old_codec.encode(event)
    assert message[2:10] == fingerprint(old) != fingerprint(current["RoleAssumed"])

    # a codec that knows only the current schema cannot place the message ...
    with pytest.raises(UnknownSchemaError):
        EventCodec(current).decode(message)
    # ... one that keeps the old version in its history resolves it by Avro's rules
    decoded = EventCodec(current, history=[old]).decode(message)
    assert isinstance(decoded, RoleAssumed)
    assert decoded.lifecycle_key is None
    assert decoded.role_arn == event.role_arn


def _fastavro_message(codec: EventCodec, event: Event) -> bytes:
    import io

    buf = io.BytesIO()
    buf.write(MAGIC + codec._current_fp[event.event_type])
    fastavro.schemaless_writer(buf, codec._readers[event.event_type], event.model_dump())
    return buf.getvalue()


@settings(max_examples=300, deadline=None)
@given(any_event)
def test_the_quick_writer_writes_fastavros_bytes(event: Event) -> None:
    codec = default_codec()
    assert codec.encode(event) == _fastavro_message(codec, event)


@pytest.mark.parametrize(
    "value",
    [-1, 0, 63, 64, 8191, 8192, 16383, 16384, 1 << 40, -(1 << 63), (1 << 63) - 1],
)
def test_the_quick_writer_writes_any_long_as_fastavro_does(value: int) -> None:
    import io

    from pipeline.avrobinary import _zigzag_varint

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", value)
    assert _zigzag_varint(value) == buf.getvalue()


@settings(max_examples=300)
@given(
    st.one_of(
        st.datetimes(timezones=st.just(UTC)),
        # Either side of the unrolled range (2**42 and 2**55 microseconds after the epoch).
        st.sampled_from([0, 1, (1 << 42) - 1, 1 << 42, (1 << 55) - 1, 1 << 55]).map(
            lambda micros: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
        ),
    )
)
def test_the_quick_writer_writes_any_time_as_fastavro_does(value: datetime) -> None:
    """Written fresh and again from the times it keeps: fastavro's timestamp-micros bytes."""
    import io

    from pipeline.avrobinary import _TIMES, _time_bytes

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, {"type": "long", "logicalType": "timestamp-micros"}, value)
    _TIMES.pop(value, None)
    assert _time_bytes(value) == buf.getvalue()
    assert _TIMES[value] == buf.getvalue()


def test_a_value_the_quick_writer_refuses_is_fastavros_to_encode() -> None:
    codec = default_codec()
    event = b.assumed("ASIA1", "R", 0)
    record = event.model_dump()
    record["requested_duration_seconds"] = 1 << 70  # beyond a long: fastavro refuses it
    with pytest.raises((ValueError, OverflowError)):
        codec.encode_record("RoleAssumed", record)
