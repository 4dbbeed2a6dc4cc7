"""Avro binary encoding of the contract's records, for the schemas `schemas/` holds.

fastavro's `schemaless_writer` costs about 15 us an event, most of it finding its way
through the schema (unions are matched branch by branch) for each record; the import
encodes a few events a record. The contract's schemas are flat and use a handful of
types, so each one is turned once into a Python function that appends the fields one
after another, type checks inline: under half of fastavro's time. `pipeline.codec` uses
it for the records it knows, and fastavro for anything else: a schema with a type not
handled here, or a value that does not fit (the caller then gets fastavro's bytes, or
fastavro's error).
`tests/test_codec.py` holds the bytes equal to fastavro's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICRO = timedelta(microseconds=1)


class Unsupported(Exception):
    """A value or a schema this encoder does not handle: fastavro encodes it instead."""


def _varint(n: int) -> bytes:
    """The varint of `n` >= 0, seven bits a byte, low bits first."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Varints of 0..16383 (one or two bytes), and 14 bits as two bytes that go on: a large
# value (a time in microseconds: eight bytes) is written 14 bits a step, not 7.
_RAW = [_varint(i) for i in range(1 << 14)]
_GOES_ON = [bytes(((i & 0x7F) | 0x80, (i >> 7) | 0x80)) for i in range(1 << 14)]


def _zigzag_varint(n: int) -> bytes:
    if not -(1 << 63) <= n < (1 << 63):
        raise Unsupported("long out of range")
    n = (n << 1) ^ (n >> 63)
    out = b""
    while n >= 1 << 14:
        out += _GOES_ON[n & 0x3FFF]
        n >>= 14
    return out + _RAW[n]


_SMALL = [_zigzag_varint(i) for i in range(1 << 14)]


def _long(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < (1 << 14) else _zigzag_varint(n)


# The bytes of times written lately, by time: a record's events share its time and a
# file's records their seconds, and a time's eight bytes cost a loop in Python.
_TIMES: dict[datetime, bytes] = {}
_TIMES_KEPT = 1 << 16


def _time_bytes(value: datetime) -> bytes:
    """`value` (aware) as timestamp-micros: its microseconds since the epoch, a long."""
    n = (value - _EPOCH) // _ONE_MICRO
    if (1 << 42) <= n < (1 << 55):  # 1970-02-21 to 3111: `_zigzag_varint`'s loop, unrolled
        z = n << 1
        data = _GOES_ON[z & 0x3FFF] + _GOES_ON[(z >> 14) & 0x3FFF]
        data += _GOES_ON[(z >> 28) & 0x3FFF] + _RAW[z >> 42]
    else:
        data = _long(n)
    if len(_TIMES) >= _TIMES_KEPT:
        _TIMES.clear()
    _TIMES[value] = data  # equal aware times are the same instant: the same bytes
    return data


class WriterSource:
    """The lines of a generated writer, and the constants they name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "SMALL": _SMALL,
            "LONG": _zigzag_varint,
            "TIMES": _TIMES,
            "TIME": _time_bytes,
            "Unsupported": Unsupported,
            "datetime": datetime,
        }

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def constant(self, value: Any) -> str:
        name = f"C{len(self.names)}"
        self.names[name] = value
        return name


def _length(src: WriterSource, depth: int, expr: str) -> None:
    src.add(depth, f"n = {expr}")
    src.add(depth, "out += SMALL[n] if 0 <= n < 16384 else LONG(n)")


def _string(src: WriterSource, depth: int, var: str) -> None:
    src.add(depth, f"if type({var}) is not str: raise Unsupported('not a string')")
    src.add(depth, f"b = {var}.encode('utf-8')")  # a lone surrogate raises: fastavro says so
    _length(src, depth, "len(b)")
    src.add(depth, "out += b")


def write_value(src: WriterSource, depth: int, var: str, schema: Any) -> None:
    """Lines appending `var` as `schema` says, or raising Unsupported."""
    if schema == "string":
        _string(src, depth, var)
    elif schema == "long":
        src.add(depth, f"if type({var}) is not int: raise Unsupported('not an int')")
        _length(src, depth, var)
    elif schema == "boolean":
        src.add(depth, f"if {var} is True: out.append(1)")
        src.add(depth, f"elif {var} is False: out.append(0)")
        src.add(depth, "else: raise Unsupported('not a boolean')")
    elif isinstance(schema, list) and len(schema) == 2 and schema[0] == "null":
        src.add(depth, f"if {var} is None: out.append(0)")
        src.add(depth, "else:")
        src.add(depth + 1, "out.append(2)")  # branch 1, zigzag
        write_value(src, depth + 1, var, schema[1])
    elif isinstance(schema, dict) and schema.get("logicalType") == "timestamp-micros":
        if schema.get("type") != "long":
            raise Unsupported(f"no writer for {schema!r}")
        src.add(depth, f"if type({var}) is not datetime or {var}.tzinfo is None:")
        src.add(depth + 1, "raise Unsupported('not an aware datetime')")
        src.add(depth, f"t = TIMES.get({var})")
        src.add(depth, f"out += t if t is not None else TIME({var})")
    elif isinstance(schema, dict) and schema.get("type") == "enum":
        index = {symbol: _long(i) for i, symbol in enumerate(schema["symbols"])}
        src.add(depth, f"out += {src.constant(index)}[{var}]")  # StrEnum hashes as its value
    elif isinstance(schema, dict) and schema.get("type") == "map" and schema["values"] == "string":
        src.add(depth, f"if type({var}) is not dict: raise Unsupported('not a map')")
        src.add(depth, f"if {var}:")
        _length(src, depth + 1, f"len({var})")
        src.add(depth + 1, f"for k, x in {var}.items():")
        _string(src, depth + 2, "k")
        _string(src, depth + 2, "x")
        src.add(depth, "out.append(0)")
    elif isinstance(schema, dict) and schema.get("type") == "array" and schema["items"] == "string":
        src.add(depth, f"if type({var}) is not list: raise Unsupported('not an array')")
        src.add(depth, f"if {var}:")
        _length(src, depth + 1, f"len({var})")
        src.add(depth + 1, f"for x in {var}:")
        _string(src, depth + 2, "x")
        src.add(depth, "out.append(0)")
    else:
        raise Unsupported(f"no writer for {schema!r}")


RecordWriter = Callable[[bytearray, Mapping[str, Any]], None]


def record_writer(schema: Mapping[str, Any]) -> RecordWriter | None:
    """A function appending a record's body to a bytearray (raising `Unsupported` for a
    value it does not handle, a missing field included), or None when a field's type is
    not handled here. Generated once per schema: one straight run of lines per field."""
    src = WriterSource()
    src.add(0, "def write(out, r):")
    src.add(1, "try:")
    try:
        for field in schema["fields"]:
            src.add(2, f"v = r[{str(field['name'])!r}]")
            write_value(src, 2, "v", field["type"])
    except (Unsupported, KeyError, TypeError):
        return None
    src.add(1, "except (KeyError, TypeError):")  # a missing field, an unknown symbol
    src.add(2, "raise Unsupported('a field is missing or not of its type') from None")
    scope = dict(src.names)
    exec("\n".join(src.lines), scope)
    writer: RecordWriter = scope["write"]
    return writer
