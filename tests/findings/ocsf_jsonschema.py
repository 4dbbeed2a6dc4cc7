"""A JSON Schema for one OCSF event class, generated from the schema's published sources.

The sources are vendored in tests/fixtures/ocsf (ocsf/ocsf-schema, Apache-2.0, see its
LICENSE and README): the dictionary, the class and the classes it extends, and the
objects rolecall writes. Attributes resolve through the dictionary to a type or an
object; `extends` merges parents; requirements become `required`, enums `enum`, arrays
`items`. Objects not vendored stay plain JSON objects; attributes of included profiles
are allowed (where a definition has `$include`) but not typed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OCSF = Path(__file__).resolve().parents[1] / "fixtures" / "ocsf"

_PRIMITIVE = {
    "string_t": {"type": "string"},
    "integer_t": {"type": "integer"},
    "long_t": {"type": "integer"},
    "float_t": {"type": "number"},
    "boolean_t": {"type": "boolean"},
    "json_t": {},
}


def _load(rel: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OCSF / rel).read_text())
    return data


class Generator:
    def __init__(self) -> None:
        self.dictionary = _load("dictionary.json")
        self.types = self.dictionary["types"]["attributes"]
        self.definitions: dict[str, Any] = {}

    def _type(self, name: str) -> dict[str, Any]:
        while name not in _PRIMITIVE:
            t = self.types[name]
            if "regex" in t:  # e.g. datetime_t: keep the pattern over its base type
                return {**self._type(t["type"]), "pattern": t["regex"]}
            name = t["type"]
        return dict(_PRIMITIVE[name])

    def _merged(self, kind: str, name: str) -> dict[str, Any]:
        """A class or object with the attributes of what it extends merged in."""
        data = _load(f"{kind}/{name}.json")
        parent = data.get("extends")
        if not parent:
            return data
        pdata = self._merged(kind, parent)
        attrs = dict(pdata.get("attributes", {}))
        for key, value in data.get("attributes", {}).items():
            if key == "$include":
                attrs["$include"] = [*attrs.get("$include", []), *value]
            else:
                attrs[key] = {**attrs.get(key, {}), **value}
        return {**pdata, **data, "attributes": attrs}

    def _attribute(self, key: str, spec: dict[str, Any]) -> dict[str, Any]:
        entry = {**self.dictionary["attributes"].get(key, {}), **spec}
        kind = entry["type"]
        if kind in self.types or kind in _PRIMITIVE:
            schema = self._type(kind)
        else:
            schema = self._object(kind)
        if "enum" in entry and schema.get("type") == "integer":
            schema["enum"] = sorted(int(v) for v in entry["enum"])
        if entry.get("is_array"):
            schema = {"type": "array", "items": schema}
        return schema

    def _object(self, name: str) -> dict[str, Any]:
        if name == "object" or not (OCSF / "objects" / f"{name}.json").exists():
            return {"type": "object"}  # OCSF's `object`: any attributes, by definition
        if name not in self.definitions:
            self.definitions[name] = {}  # a placeholder breaks cycles
            self.definitions[name] = self._schema(self._merged("objects", name))
        return {"$ref": f"#/$defs/{name}"}

    def _schema(self, data: dict[str, Any]) -> dict[str, Any]:
        attrs = data.get("attributes", {})
        props = {k: self._attribute(k, v) for k, v in attrs.items() if k != "$include"}
        required = sorted(
            k for k, v in attrs.items() if k != "$include" and v.get("requirement") == "required"
        )
        schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if "$include" not in attrs:
            schema["additionalProperties"] = False
        at_least_one = data.get("constraints", {}).get("at_least_one")
        if at_least_one:
            schema["anyOf"] = [{"required": [k]} for k in at_least_one]
        return schema

    def event_class(self, rel: str, uid: int, category_uid: int) -> dict[str, Any]:
        data = self._merged_event(rel)
        schema = self._schema(data)
        schema["properties"]["class_uid"] = {"const": uid}
        schema["properties"]["category_uid"] = {"const": category_uid}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema,
            "$defs": self.definitions,
        }

    def _merged_event(self, rel: str) -> dict[str, Any]:
        data = _load(f"{rel}.json")
        parent = data.get("extends")
        if not parent:
            return data
        parent_rel = {"base_event": "events/base_event", "finding": "events/findings/finding"}[
            parent
        ]
        pdata = self._merged_event(parent_rel)
        attrs = dict(pdata.get("attributes", {}))
        for key, value in data.get("attributes", {}).items():
            if key == "$include":
                attrs["$include"] = [*attrs.get("$include", []), *value]
            else:
                attrs[key] = {**attrs.get(key, {}), **value}
        return {**pdata, **data, "attributes": attrs}


def detection_finding_schema() -> dict[str, Any]:
    return Generator().event_class("events/findings/detection_finding", 2004, 2)
