"""A mapped record's drafts -> Avro records, held to the event contract without models.

The pydantic models in `pipeline.events` are the contract. Building one per event and
dumping it again cost the import about half its time, so each draft is checked here
against rules read from those models once (lengths, patterns, ranges, enums, UTC times
in range, the model validators), and a draft that passes becomes the Avro record as it
is: the same dict `model_dump()` would give. A draft the quick rules cannot vouch for is
built through its model after all, which then decides exactly as before (the record, or
the same error), so the quick rules need only be sufficient, never complete.
`tests/test_cloudtrail_contract.py` holds the two paths equal.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic.fields import FieldInfo

from pipeline.events import (
    EVENT_TYPES,
    CredentialIssued,
    Event,
    RoleExited,
    partition_stem,
)
from pipeline.timeutil import EARLIEST, LATEST

# An Avro record as `model_dump()` gives it: field name -> value.
AvroRecord = dict[str, Any]
_Check = Callable[[Any], bool]


def _is_str_of(low: int, high: int) -> _Check:
    def check(value: Any) -> bool:
        return (
            type(value) is str
            and low <= len(value) <= high
            and (value.isascii() or _encodable(value))  # isascii: a flag, no scan
        )

    check.bounds = (low, high)  # type: ignore[attr-defined]
    return check


def _encodable(value: str) -> bool:
    # A lone surrogate is refused by the model (and could not be encoded).
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_account(value: Any) -> bool:
    # Twelve ASCII digits; anything else (Unicode digits too) goes to the model.
    return type(value) is str and len(value) == 12 and value.isascii() and value.isdigit()


def _is_utc_in_range(value: Any) -> bool:
    return type(value) is datetime and value.tzinfo is UTC and EARLIEST <= value < LATEST


def _is_int_in(low: int, high: int) -> _Check:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= high

    return check


def _is_bool(value: Any) -> bool:
    return value is True or value is False


def _is_str_map(value: Any) -> bool:
    return type(value) is dict and all(
        type(k) is str and type(v) is str and _encodable(k + v) for k, v in value.items()
    )


def _is_str_list(value: Any) -> bool:
    return type(value) is list and all(type(v) is str and _encodable(v) for v in value)


def _check_of(info: FieldInfo) -> tuple[_Check, bool]:
    """The quick rule of one model field, and whether None is allowed.

    A type or a constraint this does not know fails loudly at import: a new field kind
    needs its rule here before the import can vouch for it.
    """
    annotation: Any = info.annotation
    metadata: list[Any] = list(info.metadata)
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional, annotation = True, inner[0]
        if len(inner) != 1:
            raise TypeError(f"no quick rule for {info.annotation}")
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        for item in extra:
            metadata += item.metadata if isinstance(item, FieldInfo) else [item]
    bounds = {type(m): m for m in metadata}
    if annotation is str:
        patterns = [getattr(m, "pattern", None) for m in metadata if hasattr(m, "pattern")]
        if patterns == [r"^\d{12}$"]:
            return _is_account, optional
        if set(bounds) - {MinLen, MaxLen}:
            raise TypeError(f"no quick rule for {info.annotation} {metadata}")
        low = bounds[MinLen].min_length if MinLen in bounds else 0
        high = bounds[MaxLen].max_length if MaxLen in bounds else 1 << 62
        return _is_str_of(low, high), optional
    if annotation is datetime:
        if [getattr(m, "func", None) for m in metadata] != [_utc_in_range_func()]:
            raise TypeError(f"no quick rule for {info.annotation} {metadata}")
        return _is_utc_in_range, optional
    if annotation is bool and not metadata:
        return _is_bool, optional
    if annotation is int and set(bounds) == {Ge, Le}:
        return _is_int_in(int(bounds[Ge].ge), int(bounds[Le].le)), optional
    if isinstance(annotation, type) and issubclass(annotation, Enum) and not metadata:
        enum: type[Enum] = annotation
        return (lambda value: type(value) is enum), optional
    if annotation == dict[str, str] and not metadata:
        return _is_str_map, optional
    if annotation == list[str] and not metadata:
        return _is_str_list, optional
    raise TypeError(f"no quick rule for {info.annotation} {metadata}")


def _utc_in_range_func() -> Any:
    from pipeline.timeutil import utc_in_range

    return utc_in_range


# The model validators, as checks on the record (a model with another one is refused at
# import: its rule must be written here first).
def _expiry_after_issue(record: AvroRecord) -> bool:
    expires = record.get("expires_at")
    return expires is None or expires >= record["issued_at"]


def _names_a_session(record: AvroRecord) -> bool:
    return record.get("session_id") is not None or record.get("lifecycle_key") is not None


_VALIDATORS: dict[type[Event], dict[str, Callable[[AvroRecord], bool]]] = {
    CredentialIssued: {"_expiry_after_issue": _expiry_after_issue},
    RoleExited: {"_names_a_session": _names_a_session},
}


class _Shape:
    """What one event type's record must hold, read from its model."""

    def __init__(self, cls: type[Event]) -> None:
        self.cls = cls
        self.event_type = cls.event_type
        self.checks: dict[str, tuple[_Check, bool]] = {}
        self.defaults: AvroRecord = {}
        self.required: frozenset[str] = frozenset(
            name for name, info in cls.model_fields.items() if info.is_required()
        )
        for name, info in cls.model_fields.items():
            self.checks[name] = _check_of(info)
            if not info.is_required():
                self.defaults[name] = info.get_default(call_default_factory=True)
        declared = set(cls.__pydantic_decorators__.model_validators)
        declared |= set(cls.__pydantic_decorators__.field_validators)
        self.fresh = [n for n, d in self.defaults.items() if isinstance(d, dict | list)]
        # name -> (min, max length) of the text fields, for the inline check in `vouch`
        self.texts: dict[str, tuple[int, int]] = {
            name: bounds
            for name, (check, _) in self.checks.items()
            if (bounds := getattr(check, "bounds", None)) is not None
        }
        self.validators = list(_VALIDATORS.get(cls, {}).values())
        if declared != set(_VALIDATORS.get(cls, {})):
            raise TypeError(f"{cls.__name__}: no quick rule for validators {sorted(declared)}")

    def vouch(self, fields: AvroRecord) -> AvroRecord | None:
        """The Avro record when every quick rule holds, else None (the model decides)."""
        checks = self.checks
        if not self.required <= fields.keys():
            return None
        texts = self.texts
        for name, value in fields.items():
            bounds = texts.get(name)
            if bounds is not None and type(value) is str:
                # Most fields are text: checked here, without a call (the hot path).
                if not bounds[0] <= len(value) <= bounds[1]:
                    return None
                if not value.isascii() and not _encodable(value):
                    return None
                continue
            rule = checks.get(name)
            if rule is None:
                return None  # not a field of the model: the model says so
            check, optional = rule
            if value is None:
                if not optional:
                    return None
            elif not check(value):
                return None
        record = {**self.defaults, **fields}
        for validator in self.validators:
            if not validator(record):
                return None
        # Defaults are fresh per record, as `model_dump()` gives them.
        for name in self.fresh:
            if name not in fields:
                record[name] = type(self.defaults[name])()
        return record


_SHAPES: dict[type, _Shape] = {cls: _Shape(cls) for cls in EVENT_TYPES}


def avro_record(cls: type, fields: AvroRecord) -> tuple[str, AvroRecord]:
    """(event type, Avro record) of an event of class `cls` with `fields` (envelope
    included). Raises pydantic's `ValidationError` exactly when `cls(**fields)` would.
    """
    shape = _SHAPES[cls]
    record = shape.vouch(fields)
    if record is None:
        record = shape.cls(**fields).model_dump()
    return shape.event_type, record


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
