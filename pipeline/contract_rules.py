"""The event contract's rules, read once from the models, to check records without them.

The pydantic models in `pipeline.events` are the contract. Building one per event costs
more than everything else an event costs, so each event type's rules (lengths, patterns,
ranges, enums, UTC times in range, the model validators) are read here from its model
once, in two forms: a check of one record (`Shape.vouch`, the CloudTrail import's drafts)
and a check of whole Arrow columns (`Shape.vouched_rows`, the materializer's batches).
Both only need to be sufficient, never complete: a record they cannot vouch for is built
through its model after all, which then decides exactly as before.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic.fields import FieldInfo

from pipeline.events import EVENT_TYPES, CredentialIssued, Event, RoleExited
from pipeline.timeutil import EARLIEST, LATEST

# An Avro record as `model_dump()` gives it: field name -> value.
AvroRecord = dict[str, Any]
_Check = Callable[[Any], bool]
# Whole-column form of a rule: for each non-null value, whether it holds (null stays
# null). None: every non-null value the Avro schema lets through holds.
_Column = Callable[[pa.ChunkedArray], pa.ChunkedArray] | None
_ACCOUNT = r"^\d{12}$"


def _is_str_of(low: int, high: int) -> _Check:
    def check(value: Any) -> bool:
        return (
            type(value) is str
            and low <= len(value) <= high
            and (value.isascii() or encodable(value))  # isascii: a flag, no scan
        )

    check.bounds = (low, high)  # type: ignore[attr-defined]
    return check


def encodable(value: str) -> bool:
    # A lone surrogate is refused by the model (and could not be encoded).
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_account(value: Any) -> bool:
    # Twelve ASCII digits; anything else (Unicode digits too) goes to the model.
    return type(value) is str and len(value) == 12 and value.isascii() and value.isdigit()


def is_utc_in_range(value: Any) -> bool:
    return type(value) is datetime and value.tzinfo is UTC and EARLIEST <= value < LATEST


def _is_int_in(low: int, high: int) -> _Check:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= high

    return check


def is_bool(value: Any) -> bool:
    return value is True or value is False


def _is_str_map(value: Any) -> bool:
    return type(value) is dict and all(
        type(k) is str and type(v) is str and encodable(k + v) for k, v in value.items()
    )


def _is_str_list(value: Any) -> bool:
    return type(value) is list and all(type(v) is str and encodable(v) for v in value)


# Column forms. A column's values come from fastavro's strict decode of the Avro schema
# (a string is valid UTF-8, a time is aware UTC): only what the schema cannot say is
# checked here.
def _column_str_of(low: int, high: int) -> _Column:
    def column(values: pa.ChunkedArray) -> pa.ChunkedArray:
        lengths = pc.utf8_length(values)  # code points, as `len` counts them
        return pc.and_(pc.greater_equal(lengths, low), pc.less_equal(lengths, high))

    return column


def _column_account(values: pa.ChunkedArray) -> pa.ChunkedArray:
    # ASCII digits only (RE2's class is explicit here); Unicode digits go to the model.
    return pc.match_substring_regex(values, "^[0-9]{12}$")


def _micros(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def _column_utc_in_range(values: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_timestamp(values.type) or values.type.unit != "us":
        raise TypeError(f"not a microsecond time column: {values.type}")
    micros = values.cast(pa.int64())  # the instant since the epoch, whatever the zone label
    return pc.and_(pc.greater_equal(micros, _micros(EARLIEST)), pc.less(micros, _micros(LATEST)))


def _column_int_in(low: int, high: int) -> _Column:
    def column(values: pa.ChunkedArray) -> pa.ChunkedArray:
        if not pa.types.is_integer(values.type):
            raise TypeError(f"not an integer column: {values.type}")
        return pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high))

    return column


def _column_enum(enum: type[Enum]) -> _Column:
    allowed = pa.array([str(m.value) for m in enum], pa.string())

    def column(values: pa.ChunkedArray) -> pa.ChunkedArray:
        # An Avro enum decodes to its symbol, the model's value (a symbol the reader
        # schema lacks fails the decode): checked anyway, it costs nothing.
        return pc.is_in(values, value_set=allowed)

    return column


def _check_of(info: FieldInfo) -> tuple[_Check, bool, _Column]:
    """The quick rule of one model field (one value, and a column), and whether None is
    allowed.

    A type or a constraint this does not know fails loudly at import: a new field kind
    needs its rule here before the import or the materializer can vouch for it.
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
        if patterns == [_ACCOUNT]:
            return is_account, optional, _column_account
        if set(bounds) - {MinLen, MaxLen}:
            raise TypeError(f"no quick rule for {info.annotation} {metadata}")
        low = bounds[MinLen].min_length if MinLen in bounds else 0
        high = bounds[MaxLen].max_length if MaxLen in bounds else 1 << 62
        return _is_str_of(low, high), optional, _column_str_of(low, high)
    if annotation is datetime:
        if [getattr(m, "func", None) for m in metadata] != [_utc_in_range_func()]:
            raise TypeError(f"no quick rule for {info.annotation} {metadata}")
        return is_utc_in_range, optional, _column_utc_in_range
    if annotation is bool and not metadata:
        return is_bool, optional, None
    if annotation is int and set(bounds) == {Ge, Le}:
        low, high = int(bounds[Ge].ge), int(bounds[Le].le)
        return _is_int_in(low, high), optional, _column_int_in(low, high)
    if isinstance(annotation, type) and issubclass(annotation, Enum) and not metadata:
        enum: type[Enum] = annotation
        return (lambda value: type(value) is enum), optional, _column_enum(enum)
    # Tags reach a fact table as canonical JSON and lists as Arrow lists: the Avro
    # schema's map and array of strings are the model's types.
    if annotation == dict[str, str] and not metadata:
        return _is_str_map, optional, None
    if annotation == list[str] and not metadata:
        return _is_str_list, optional, None
    raise TypeError(f"no quick rule for {info.annotation} {metadata}")


def _utc_in_range_func() -> Any:
    from pipeline.timeutil import utc_in_range

    return utc_in_range


# The model validators, as checks on the record and on a table's columns (a model with
# another one is refused at import: its rule must be written here first).
def _expiry_after_issue(record: AvroRecord) -> bool:
    expires = record.get("expires_at")
    return expires is None or expires >= record["issued_at"]


def _expiry_after_issue_columns(table: pa.Table) -> pa.ChunkedArray:
    expires = table["expires_at"]
    if expires.type == pa.null():
        return pa.chunked_array([pa.repeat(True, len(table))])
    return pc.fill_null(
        pc.greater_equal(expires.cast(pa.int64()), table["issued_at"].cast(pa.int64())), True
    )


def _names_a_session(record: AvroRecord) -> bool:
    return record.get("session_id") is not None or record.get("lifecycle_key") is not None


def _names_a_session_columns(table: pa.Table) -> pa.ChunkedArray:
    return pc.or_(pc.is_valid(table["session_id"]), pc.is_valid(table["lifecycle_key"]))


_Validator = tuple[Callable[[AvroRecord], bool], Callable[[pa.Table], pa.ChunkedArray]]
_VALIDATORS: dict[type[Event], dict[str, _Validator]] = {
    CredentialIssued: {"_expiry_after_issue": (_expiry_after_issue, _expiry_after_issue_columns)},
    RoleExited: {"_names_a_session": (_names_a_session, _names_a_session_columns)},
}


class Shape:
    """What one event type's record must hold, read from its model."""

    def __init__(self, cls: type[Event]) -> None:
        self.cls = cls
        self.event_type = cls.event_type
        self.checks: dict[str, tuple[_Check, bool]] = {}
        self.columns: dict[str, tuple[_Column, bool]] = {}
        self.defaults: AvroRecord = {}
        self.required: frozenset[str] = frozenset(
            name for name, info in cls.model_fields.items() if info.is_required()
        )
        for name, info in cls.model_fields.items():
            check, optional, column = _check_of(info)
            self.checks[name] = (check, optional)
            self.columns[name] = (column, optional)
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
        validators = list(_VALIDATORS.get(cls, {}).values())
        self.validators = [record for record, _ in validators]
        self.column_validators = [columns for _, columns in validators]
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
                if not value.isascii() and not encodable(value):
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

    def vouched_rows(self, table: pa.Table, ignore: frozenset[str] = frozenset()) -> pa.Array:
        """For each row of `table` (one column per model field, decoded by the Avro
        schema, plus the columns in `ignore`), whether every quick rule holds.

        A row that fails, or a table this cannot read (a column missing, unknown or of
        an unexpected type), is for the model to decide: False.
        """
        nothing = pa.array([False] * table.num_rows, pa.bool_())
        if set(table.column_names) - ignore != self.columns.keys():
            return nothing
        ok: Any = None
        try:
            for name, (column, optional) in self.columns.items():
                values = table[name]
                if values.type == pa.null():  # every value null
                    held: Any = pa.repeat(optional, table.num_rows)
                elif column is None:
                    held = pc.is_valid(values) if not optional else None
                else:
                    held = pc.fill_null(column(values), optional)
                if held is not None:
                    ok = held if ok is None else pc.and_(ok, held)
            for validator in self.column_validators:
                held = validator(table)
                ok = held if ok is None else pc.and_(ok, held)
        except (pa.ArrowException, TypeError):
            return nothing
        if ok is None:
            return pa.array([True] * table.num_rows, pa.bool_())
        if isinstance(ok, pa.ChunkedArray):
            ok = ok.combine_chunks()
        return ok


SHAPES: dict[str, Shape] = {cls.event_type: Shape(cls) for cls in EVENT_TYPES}
