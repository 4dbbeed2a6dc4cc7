"""The pydantic models and the Avro schemas in schemas/ say the same thing."""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import fastavro
import pytest

from pipeline.events import EVENT_TYPES, Event

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
ENVELOPE = ("event_id", "event_time", "account_id", "source")


def _expected_avro(annotation: Any) -> tuple[Any, bool]:
    """(Avro type, nullable) that a model annotation must map to."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _expected_avro(args[0])
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        assert len(inner) == 1, f"only X | None unions are allowed, got {annotation}"
        return _expected_avro(inner[0])[0], True
    if annotation is str:
        return "string", False
    if annotation is bool:
        return "boolean", False
    if annotation is int:
        return "long", False
    if annotation is datetime:
        return ("long", "timestamp-micros"), False
    if origin is list:
        return ("array", "string"), False
    if origin is dict:
        return ("map", "string"), False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ("enum", tuple(m.value for m in annotation)), False
    raise AssertionError(f"no Avro mapping for {annotation}")


def _actual_avro(avro: Any) -> tuple[Any, bool]:
    if isinstance(avro, list):
        assert avro[0] == "null" and len(avro) == 2, f"unions must be [null, T]: {avro}"
        return _actual_avro(avro[1])[0], True
    if isinstance(avro, str):
        return avro, False
    kind = avro["type"]
    if kind == "long" and avro.get("logicalType") == "timestamp-micros":
        return ("long", "timestamp-micros"), False
    if kind == "array":
        return ("array", avro["items"]), False
    if kind == "map":
        return ("map", avro["values"]), False
    if kind == "enum":
        return ("enum", tuple(avro["symbols"])), False
    return kind, False


@pytest.mark.parametrize("model", EVENT_TYPES, ids=lambda m: m.event_type)
def test_model_mirrors_schema(model: type[Event]) -> None:
    schema = json.loads((SCHEMAS / f"{model.event_type}.avsc").read_text())
    fastavro.parse_schema(schema)
    assert schema["namespace"] == "rolecall.events"
    assert schema["name"] == model.event_type
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == list(model.model_fields), "same fields, same order"
    assert tuple(fields)[:4] == ENVELOPE
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        expected, nullable = _expected_avro(hints[name])
        actual, actual_nullable = _actual_avro(fields[name]["type"])
        assert actual == expected, f"{model.event_type}.{name}"
        assert actual_nullable == nullable, f"{model.event_type}.{name} nullability"
        # a field the model can omit must have a default in the schema, for evolution
        if not info.is_required():
            assert "default" in fields[name], f"{model.event_type}.{name} needs a default"


def test_every_schema_file_has_a_model() -> None:
    names = {p.stem for p in SCHEMAS.glob("*.avsc")}
    assert names == {m.event_type for m in EVENT_TYPES}
