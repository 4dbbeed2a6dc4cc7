"""A mapped record's drafts -> Avro records, held to the event contract without models.

The pydantic models in `pipeline.events` are the contract. Building one per event and
dumping it again cost the import about half its time, so each draft is checked against
the rules `pipeline.contract_rules` reads from those models once (lengths, patterns,
ranges, enums, UTC times in range, the model validators), and a draft that passes
becomes the Avro record as it is: the same dict `model_dump()` would give. A draft the
quick rules cannot vouch for is built through its model after all, which then decides
exactly as before (the record, or the same error), so the quick rules need only be
sufficient, never complete. `tests/test_cloudtrail_contract.py` holds the two paths equal.

`Shape.vouch` walks a record's fields and looks each one's rule up; the import vouches
for two events a record, so each shape's rules are also written out once as a function
of their own (`vouch_function`): one straight run of checks, the common ones inline,
deciding exactly as `Shape.vouch` does (held equal by tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.avrobinary import RecordWriter, Unsupported, WriterSource, write_value
from pipeline.contract_rules import (
    SHAPES,
    AvroRecord,
    Shape,
    encodable,
    is_account,
    is_bool,
    is_utc_in_range,
)
from pipeline.events import EVENT_TYPES, partition_stem
from pipeline.timeutil import EARLIEST, LATEST

__all__ = ["AvroRecord", "avro_record", "checked_writer", "partition_key", "vouch_function"]

_SHAPES: dict[type, Shape] = {cls: SHAPES[cls.event_type] for cls in EVENT_TYPES}
Vouch = Callable[[AvroRecord], AvroRecord | None]


# The inline form of a rule `contract_rules` gives as a function (`v`: the value).
_INLINE: dict[Callable[[Any], bool], str] = {
    is_account: "type(v) is str and len(v) == 12 and v.isascii() and v.isdigit()",
    is_utc_in_range: "type(v) is datetime and v.tzinfo is UTC and EARLIEST <= v < LATEST",
    is_bool: "v is True or v is False",
}


def _names(shape: Shape) -> dict[str, Any]:
    return {
        "REQUIRED": shape.required,
        "KNOWN": frozenset(shape.checks),
        "DEFAULTS": shape.defaults,
        "VALIDATORS": tuple(shape.validators),
        "MISSING": object(),
        "ENCODABLE": encodable,
        "datetime": datetime,
        "UTC": UTC,
        "EARLIEST": EARLIEST,
        "LATEST": LATEST,
    }


def _rule_lines(shape: Shape, name: str, names: dict[str, Any], fail: str) -> list[str]:
    """Lines checking `v`, the value of field `name` (present), as `Shape.vouch` does;
    `fail` where it would return None. At one indent, after an `if` on the value."""
    check, optional = shape.checks[name]
    lines = []
    bounds = shape.texts.get(name)
    if bounds is not None:
        lines += [
            "elif type(v) is str:",
            f"    if not {bounds[0]} <= len(v) <= {bounds[1]}: {fail}",
            f"    if not v.isascii() and not ENCODABLE(v): {fail}",
        ]
    lines += ["elif v is None:", "    pass" if optional else f"    {fail}"]
    inline = _INLINE.get(check)
    if inline is None:
        rule = f"RULE_{len(names)}"
        names[rule] = check
        inline = f"{rule}(v)"
    lines.append(f"elif not ({inline}): {fail}")
    return lines


def vouch_function(shape: Shape) -> Vouch:
    """`shape.vouch` written out for its fields: the same answer for every input."""
    names = _names(shape)
    lines = [
        "def vouch(fields):",
        "    keys = fields.keys()",
        "    if not REQUIRED <= keys or not keys <= KNOWN:",
        "        return None",  # a field missing, or one the model does not have
    ]
    for name in shape.checks:
        lines.append(f"    v = fields.get({name!r}, MISSING)")
        lines.append("    if v is MISSING: pass")  # the default, as `vouch` leaves it
        lines += ["    " + line for line in _rule_lines(shape, name, names, "return None")]
    lines += [
        "    record = {**DEFAULTS, **fields}",
        "    for validator in VALIDATORS:",
        "        if not validator(record): return None",
    ]
    for name in shape.fresh:  # defaults are fresh per record, as `model_dump()` gives them
        kind = type(shape.defaults[name]).__name__
        lines.append(f"    if {name!r} not in fields: record[{name!r}] = {kind}()")
    lines.append("    return record")
    exec("\n".join(lines), names)
    function: Vouch = names["vouch"]
    return function


_TEXT = ("string", ["null", "string"])


def checked_writer(shape: Shape, schema: Mapping[str, Any]) -> RecordWriter | None:
    """A writer of the Avro body of `fields` (an event's fields, its envelope included)
    that first holds each field to `shape`'s rules: what `vouch` then the codec's writer
    do, in one pass and without the record's copy. It raises `Unsupported` wherever
    `vouch` would return None or the writer would refuse (the caller then takes that
    path, which decides). None when the schema's fields are not the model's, or a type
    is not one `pipeline.avrobinary` writes."""
    fields = [str(field["name"]) for field in schema["fields"]]
    if set(fields) != set(shape.checks):
        return None
    src = WriterSource()
    names = _names(shape)
    clash = {k for k in names.keys() & src.names.keys() if names[k] is not src.names[k]}
    assert not clash, clash  # the two sets of names mean the same where they meet
    src.names.update(names)
    src.add(0, "def write(out, fields):")
    src.add(1, "missing = 0")  # of the model's fields, not in `fields`
    src.add(1, "try:")
    try:
        for field in schema["fields"]:
            name = str(field["name"])
            src.add(2, f"v = fields.get({name!r}, MISSING)")
            depth = 2
            bounds = shape.texts.get(name)
            if bounds is not None and bounds[1] < 1 << 14 and field["type"] in _TEXT:
                # The common case first: ASCII text within its bounds, as the lines below
                # would write it (its length is its byte count, one or two bytes long).
                low, high = bounds
                src.add(2, f"if type(v) is str and v.isascii() and {low} <= len(v) <= {high}:")
                if field["type"] != "string":
                    src.add(3, "out.append(2)")  # the union's string branch
                src.add(3, "out += SMALL[len(v)]")
                src.add(3, "out += v.encode()")
                if field["type"] != "string" and shape.checks[name][1]:
                    src.add(2, "elif v is None:")  # an optional text not given: the null branch
                    src.add(3, "out.append(0)")
                src.add(2, "else:")
                depth = 3
            src.add(depth, "if v is MISSING:")
            if name in shape.required:
                src.add(depth + 1, "raise Unsupported('a required field is missing')")
            else:
                # A default: as `vouch` leaves it (unchecked); fresh or not, the same bytes.
                src.add(depth + 1, "missing += 1")
                src.add(depth + 1, f"v = DEFAULTS[{name!r}]")
            fail = "raise Unsupported('a rule does not hold')"
            for line in _rule_lines(shape, name, src.names, fail):
                src.add(depth, line)
            write_value(src, depth, "v", field["type"])
    except (Unsupported, KeyError, TypeError):
        return None
    src.add(1, "except (KeyError, TypeError):")
    src.add(2, "raise Unsupported('a field is not of its type') from None")
    # Every key of `fields` was one of the model's fields: none the model lacks.
    src.add(1, f"if len(fields) != {len(fields)} - missing:")
    src.add(2, "raise Unsupported('a field the model lacks')")
    if shape.validators:
        src.add(1, "record = {**DEFAULTS, **fields}")
        src.add(1, "for validator in VALIDATORS:")
        src.add(2, "if not validator(record): raise Unsupported('a validator does not hold')")
    exec("\n".join(src.lines), src.names)
    writer: RecordWriter = src.names["write"]
    return writer


_VOUCH: dict[type, tuple[str, Vouch, Shape]] = {
    cls: (shape.event_type, vouch_function(shape), shape) for cls, shape in _SHAPES.items()
}


def avro_record(cls: type, fields: AvroRecord) -> tuple[str, AvroRecord]:
    """(event type, Avro record) of an event of class `cls` with `fields` (envelope
    included). Raises pydantic's `ValidationError` exactly when `cls(**fields)` would.
    """
    event_type, vouch, shape = _VOUCH[cls]
    record = vouch(fields)
    if record is None:
        record = shape.cls(**fields).model_dump()
    return event_type, record


def partition_key(event_type: str, record: AvroRecord) -> str:
    """The log key of a record: what the model's `partition_key()` gives."""
    if event_type in ("RoleAssumed", "CredentialIssued"):
        return partition_stem(record["session_id"])
    if event_type == "RoleExited":
        sid = record.get("session_id")
        return partition_stem(sid) if sid is not None else str(record["lifecycle_key"])
    if event_type == "SessionsRevoked":
        return str(record["role_arn"])
    if event_type == "PolicyChanged":
        return str(record["target_arn"])
    if event_type == "AccessRecorded":
        sid = record.get("session_id")
        if sid is not None:
            return partition_stem(sid)
        return str(record.get("access_key_id") or record.get("principal_arn") or record["event_id"])
    raise KeyError(event_type)
